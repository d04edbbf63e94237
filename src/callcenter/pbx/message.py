"""One AMI message in its normal form.

The normal form (used everywhere inside ``pbx/``; raw messages never leave ``pbx/``):

* a message is an ordered list of ``(key, value)`` pairs exactly as received, split on the first
  ``": "`` only; values keep leading/trailing spaces and may be empty (traces README fact 4);
* ``msg[key]`` / ``msg.get(key)`` match keys **case-insensitively** (``UniqueID`` in Cdr and ``Uniqueid``
  elsewhere are the same key, fact 16) and return the *first* value;
* ``msg.get_all(key)`` returns every value of a repeated key (``ChanVariable``, ``Output``, ``Variable``);
* ``msg.as_dict()`` gives a plain dict keyed by the key as first spelled: a key seen once maps to a
  ``str``, a key seen several times to a ``list[str]`` in arrival order. This is what
  ``PbxControl.send_action`` returns.
* a line without ``": "`` (for example ``Output:`` with nothing after the colon) is kept with the text
  before the colon as key and ``""`` as value; a line with no colon at all is kept under the key ``""``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from callcenter.domain.errors import AmiProtocolError


class AmiMessage:
    """One message. Built by :func:`parse_message` from text, the index comes first and the ordered
    ``pairs`` are only split out when asked for (most events are only ever looked up by key)."""

    __slots__ = ("_index", "_multi", "_pairs", "_text")

    def __init__(self, pairs: Sequence[tuple[str, str]]) -> None:
        self._pairs: tuple[tuple[str, str], ...] | None = tuple(pairs)
        self._text: str | None = None
        index: dict[str, str] = {}
        multi: dict[str, list[str]] | None = None
        for key, value in self._pairs:
            lowered = key.lower()
            if lowered in index:
                multi = _add_repeat(multi, index, lowered, value)
            else:
                index[lowered] = value
        self._index = index
        self._multi = multi

    @classmethod
    def _from_text(cls, text: str, index: dict[str, str], multi: dict[str, list[str]] | None) -> AmiMessage:
        """A message whose index ``parse_message`` built; ``pairs`` come from ``text`` on demand."""
        msg = cls.__new__(cls)
        msg._pairs = None
        msg._text = text
        msg._index = index
        msg._multi = multi
        return msg

    @property
    def pairs(self) -> tuple[tuple[str, str], ...]:
        """Every ``(key, value)`` exactly as received, in order."""
        pairs = self._pairs
        if pairs is None:
            assert self._text is not None
            pairs = self._pairs = tuple(_split_lines(self._text))
        return pairs

    # --- lookup ---------------------------------------------------------------------------
    def get(self, key: str, default: str | None = None) -> str | None:
        return self._index.get(key.lower(), default)

    def __getitem__(self, key: str) -> str:
        try:
            return self._index[key.lower()]
        except KeyError:
            raise KeyError(key) from None

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._index

    def get_all(self, key: str) -> list[str]:
        lowered = key.lower()
        multi = self._multi
        if multi is not None:
            values = multi.get(lowered)
            if values is not None:
                return list(values)
        value = self._index.get(lowered)
        return [] if value is None else [value]

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self.pairs)

    # --- kinds ----------------------------------------------------------------------------
    @property
    def event(self) -> str | None:
        return self._index.get("event")

    @property
    def response(self) -> str | None:
        return self._index.get("response")

    @property
    def action_id(self) -> str | None:
        return self._index.get("actionid")

    def as_dict(self) -> dict[str, str | list[str]]:
        out: dict[str, str | list[str]] = {}
        spelled: dict[str, str] = {}
        for key, value in self.pairs:
            first = spelled.setdefault(key.lower(), key)
            current = out.get(first)
            if current is None:
                out[first] = value
            elif isinstance(current, list):
                current.append(value)
            else:
                out[first] = [current, value]
        return out

    def __repr__(self) -> str:
        kind = self.event or self.response or "?"
        return f"AmiMessage({kind!r}, {len(self.pairs)} fields)"


def _add_repeat(
    multi: dict[str, list[str]] | None, index: dict[str, str], lowered: str, value: str
) -> dict[str, list[str]]:
    """Record one more value of a repeated key (``ChanVariable``): every value, in arrival order."""
    if multi is None:
        multi = {}
    values = multi.get(lowered)
    if values is None:
        multi[lowered] = [index[lowered], value]
    else:
        values.append(value)
    return multi


def _split_line(line: str) -> tuple[str, str]:
    key, sep, value = line.partition(": ")
    if sep:
        return key, value
    if line.endswith(":"):
        return line[:-1], ""
    return "", line


def _split_lines(text: str) -> list[tuple[str, str]]:
    return [_split_line(line) for line in text.split("\r\n") if line]


def parse_message(text: str) -> AmiMessage:
    """Parse one message (without its terminating blank line) from already-decoded text.

    This runs for every AMI event: one pass builds the case-insensitive index (first value of each key,
    every value of a repeated one); the ordered pairs are split out of ``text`` only if asked for."""
    index: dict[str, str] = {}
    multi: dict[str, list[str]] | None = None
    for line in text.split("\r\n"):
        if not line:
            continue
        key, sep, value = line.partition(": ")
        if not sep:
            key, value = _split_line(line)
        lowered = key.lower()
        if lowered in index:
            multi = _add_repeat(multi, index, lowered, value)
        else:
            index[lowered] = value
    if not index:
        raise AmiProtocolError("empty AMI message")
    return AmiMessage._from_text(text, index, multi)


def parse_frame(frame: bytes) -> AmiMessage:
    """Decode one whole message (UTF-8, undecodable bytes replaced, never per-chunk) and parse it."""
    return parse_message(frame.decode("utf-8", errors="replace"))


def format_action(action: str, fields: Sequence[tuple[str, str]]) -> bytes:
    """Serialise an action; ``fields`` may repeat keys (``Variable``). CR/LF in values are refused."""
    lines = [f"Action: {action}"]
    for key, value in fields:
        if "\r" in value or "\n" in value or "\r" in key or "\n" in key:
            raise AmiProtocolError(f"AMI field {key!r} contains a line break")
        lines.append(f"{key}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")
