"""AMI accounts of ``manager.conf`` as Asterisk 22 applies them to a session: ``read=`` classes and
``eventfilter`` lines (tests/fixtures/pbx-traces fact 35, ``eventfilter-shipped``).

Filter semantics of manager.c (``manager_add_filter`` / ``filter_cmp_fn`` / ``should_send_event``):

* legacy ``eventfilter = <regex>`` includes, ``eventfilter = !<regex>`` excludes; the POSIX extended
  regex is matched against the whole event text (``Event: X\\r\\nPrivilege: ...\\r\\n...``);
* advanced ``eventfilter(action(include|exclude),name(<Event>),header(<Header>),method(<m>)) = <pattern>``
  (Asterisk 20.8/21.3/22+): ``name`` compares the event name exactly; ``header`` applies the pattern
  to the value of every line that starts with ``<Header>:``; ``method`` is regex (the default with a
  pattern) / exact / starts_with / ends_with / contains / none (the default without a pattern: match);
  a leading ``!`` in the pattern also means exclude, ``action()`` wins;
* no filters: everything passes; only includes: an event must match one; only excludes: it must match
  none; both: it must match an include and no exclude.

``write=`` gates actions: one needing classes the account lacks gets ``Permission denied`` (the
shipped account has no ``command``/``user``: ``Command`` and ``UserEvent`` are refused).

Before the filters, an event is only sent if every class of its ``Privilege`` is in the account's
``read=`` (``DTMFBegin`` needs ``dtmf``, ``AGIExecStart`` ``agi``, ``SuccessfulAuth`` ``security``).

``SHIPPED_MANAGER_CONF`` is the ``[callcenter]`` account of the project's ``dialplan/manager.conf``
(``tests/sim/test_eventfilter.py`` checks it against the file, so the two cannot drift apart).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from callcenter.sim.classes import ACTION_AUTHORITY, EV_ALL, EVENT_CLASSES

METHODS = ("regex", "exact", "starts_with", "ends_with", "contains", "none")

#: the [callcenter] section of dialplan/manager.conf (the AMI account the service logs in with)
SHIPPED_MANAGER_CONF = """\
[callcenter]
read = system,call,agent,user,cdr,dialplan
write = system,call,originate,agent
writetimeout = 5000
eventfilter(action(exclude),name(Newexten)) =
eventfilter(action(exclude),name(AGIExecStart)) =
eventfilter(action(exclude),name(AGIExecEnd)) =
eventfilter(action(exclude),name(VarSet),header(Variable),method(regex)) = ^[^CIMQ_]
eventfilter(action(exclude),name(VarSet),header(Variable),method(regex)) = ^C([^C]|C[^_])
eventfilter(action(exclude),name(VarSet),header(Variable),method(regex)) = ^I([^V]|V[^R]|VR[^_])
eventfilter(action(exclude),name(VarSet),header(Variable),method(regex)) = ^M([^I]|I[^X])
eventfilter(action(exclude),name(VarSet),header(Variable),method(regex)) = ^Q([^U]|U[^E])
eventfilter(action(exclude),name(VarSet),header(Variable),method(regex)) = ^_+[^C_]
"""


class FilterError(ValueError):
    """An eventfilter line Asterisk would refuse (it logs a warning and ignores the line)."""


@dataclass(frozen=True, slots=True)
class EventFilter:
    exclude: bool
    event_name: bytes | None
    header: bytes | None  # "Variable:" (with the colon)
    method: str
    pattern: bytes
    regex: re.Pattern[bytes] | None

    def _match_value(self, value: bytes) -> bool:
        m = self.method
        if m == "regex":
            assert self.regex is not None
            return self.regex.search(value) is not None
        if m == "starts_with":
            return value.startswith(self.pattern)
        if m == "ends_with":
            return value.endswith(self.pattern)
        if m == "contains":
            return self.pattern in value
        if m == "exact":
            return value == self.pattern
        return True  # none

    def matches(self, name: bytes, data: bytes) -> bool:
        if self.event_name is not None and name != self.event_name:
            return False
        if self.header is None:
            return self._match_value(data)
        for line in data.split(b"\r\n"):
            if line.startswith(self.header):
                value = line[len(self.header) :].lstrip(b" \t")
                if value and self._match_value(value):
                    return True
        return False


def parse_filter(criteria: str, pattern: str) -> EventFilter:
    """One ``eventfilter[(options)] = pattern`` line, as ``manager_add_filter`` reads it."""
    exclude = False
    if pattern.startswith("!"):
        exclude = True
        pattern = pattern[1:]
    method = "regex"
    name: str | None = None
    header: str | None = None
    start = criteria.find("(")
    if start < 0:
        if not pattern:
            raise FilterError(f"{criteria} = {pattern}: legacy filter with no filter pattern")
    else:
        method = "none"
        options = criteria[start + 1 :].strip()
        if not options or not options.endswith(")"):
            raise FilterError(f"{criteria}: filter options not formatted correctly")
        found = False
        for option in (o for o in re.split(r"[ ,)]+", options) if o):
            key, paren, value = option.partition("(")
            value = value.strip()
            if not paren or not value:
                raise FilterError(f"{criteria}: '{option}' not formatted correctly")
            if key == "action":
                if value not in ("include", "exclude"):
                    raise FilterError(f"{criteria}: 'action' option '{value}' is unknown")
                exclude = value == "exclude"
            elif key == "name":
                name = value
            elif key == "header":
                header = value if value.endswith(":") else value + ":"
            elif key == "method":
                if value not in METHODS:
                    raise FilterError(f"{criteria}: 'method' option '{value}' is unknown")
                method = value
            else:
                raise FilterError(f"{criteria}: filter option '{option}' is unknown")
            found = True
        if not found:
            raise FilterError(f"{criteria}: no action, name, header, or method option found")
        if not pattern and method != "none":
            raise FilterError(f"{criteria}: method can't be '{method}' with no filter pattern")
        if pattern and method == "none":
            raise FilterError(f"{criteria}: method can't be 'none' with a filter pattern")
        if name is None and header is None and method == "none":
            raise FilterError(f"{criteria}: no name or header option found and no filter pattern")
    regex = None
    if pattern and method == "regex":
        try:
            regex = re.compile(pattern.encode())
        except re.error as exc:
            raise FilterError(f"{criteria} = {pattern}: unable to compile regex filter") from exc
    return EventFilter(
        exclude,
        name.encode() if name is not None else None,
        header.encode() if header is not None else None,
        method,
        pattern.encode(),
        regex,
    )


def read_mask(spec: str) -> int:
    """``read = system,call,...`` (or ``write =``) -> the simulator's class mask (``all`` = everything)."""
    mask = 0
    for part in spec.split(","):
        part = part.strip().lower()
        if part == "all":
            return EV_ALL
        mask |= EVENT_CLASSES.get(part, 0)
    return mask


@dataclass(frozen=True, slots=True)
class AmiAccount:
    """What a session logged in as this user may see."""

    username: str
    secret: str
    read: int = EV_ALL
    write: int = EV_ALL
    includes: tuple[EventFilter, ...] = ()
    excludes: tuple[EventFilter, ...] = ()

    @property
    def filtered(self) -> bool:
        return bool(self.includes or self.excludes) or self.read != EV_ALL

    def may_read(self, cls: int) -> bool:
        return self.read & cls == cls

    def may_write(self, action: str) -> bool:
        """manager.c: an action is allowed if it needs nothing or shares a class with ``write=``."""
        need = ACTION_AUTHORITY.get(action.lower(), 0)
        return need == 0 or bool(self.write & need)

    def passes(self, data: bytes) -> bool:
        """``should_send_event`` for one event (the bytes of ``Event: ...`` up to the blank line)."""
        if not self.includes and not self.excludes:
            return True
        end = data.find(b"\r\n")
        name = data[7:end] if data.startswith(b"Event: ") else b""
        if self.includes and not any(f.matches(name, data) for f in self.includes):
            return False
        return not any(f.matches(name, data) for f in self.excludes)


def parse_manager_conf(text: str) -> dict[str, dict[str, list[str]]]:
    """``manager.conf`` text -> {section: {key: [values]}} (keys lower-case, comments dropped)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for raw in text.splitlines():
        line = re.sub(r"(?<!\\);.*$", "", raw).replace("\\;", ";").strip()
        if not line:
            continue
        m = re.fullmatch(r"\[([^\]]+)\].*", line)
        if m:
            current = sections.setdefault(m.group(1).strip(), {})
            continue
        if current is None:
            continue
        key, sep, value = line.partition("=")
        if not sep:
            continue
        value = value[1:] if value.startswith(">") else value
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def account_from_section(username: str, secret: str, section: dict[str, list[str]]) -> AmiAccount:
    includes: list[EventFilter] = []
    excludes: list[EventFilter] = []
    for key, values in section.items():
        if not key.lower().startswith("eventfilter"):
            continue
        for value in values:
            f = parse_filter(key, value)
            (excludes if f.exclude else includes).append(f)
    read = section.get("read", ["all"])[-1]
    write = section.get("write", ["all"])[-1]
    return AmiAccount(username, secret, read_mask(read), read_mask(write), tuple(includes), tuple(excludes))


def account_for(username: str, secret: str, spec: str) -> AmiAccount:
    """``spec``: ``"all"`` (read=all, no filter), ``"shipped"`` (``SHIPPED_MANAGER_CONF``) or the path
    of a manager.conf (its ``[username]`` section, else its ``[callcenter]`` section)."""
    if spec == "all":
        return AmiAccount(username, secret)
    text = SHIPPED_MANAGER_CONF if spec == "shipped" else Path(spec).read_text(encoding="utf-8")
    sections = parse_manager_conf(text)
    section = sections.get(username) or sections.get("callcenter")
    if section is None:
        raise FilterError(f"{spec}: no [{username}] or [callcenter] section")
    return account_from_section(username, secret, section)
