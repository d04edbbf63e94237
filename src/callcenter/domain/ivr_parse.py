"""Flow files → :class:`~callcenter.domain.ivr.Flow`, and the checks a whole flow set must pass.

YAML is read with a loader that keeps every scalar as a string (no YAML 1.1 surprises: ``08:00`` is not
480, ``no`` is not False, ``1:`` keys stay "1") and remembers the line of every mapping and key, so each
problem is reported as ``file:line: message``. Functions here take text, never paths: reading the files
is the caller's business (``services/ivr_flows.py`` does it off the event loop).

Checks (``check_flows``): unknown node types and keys, missing or wrong values, targets that do not
exist (in the flow, or another flow for goto/subflow), nodes no flow start reaches, loops that never wait
for the caller, prompts missing from the sounds catalogue for a language of the flow, unknown queues.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from datetime import time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from callcenter.domain.cases import DONE, CaseStage
from callcenter.domain.ivr import (
    VALIDATORS,
    WAITING_NODES,
    WEEKDAYS,
    BranchNode,
    CallbackNode,
    Case,
    CaseStatusNode,
    Catalog,
    CollectNode,
    Condition,
    CondOp,
    Flow,
    FlowSet,
    GotoNode,
    HangupNode,
    Holiday,
    HoursNode,
    IvrOutcome,
    LanguageNode,
    LookupNode,
    MenuNode,
    Node,
    NodeType,
    PlayNode,
    Problem,
    QueueNode,
    Retry,
    ReturnNode,
    Schedule,
    SetNode,
    SubflowNode,
    SurveyNode,
    TransferNode,
    VoicemailNode,
)

_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
_VAR_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SOUND_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_/.-]*$")
_DIGITS_RE = re.compile(r"^[0-9*#]+$")
_LANG_RE = re.compile(r"^[a-z]{2,3}([_-][A-Za-z]{2,4})?$")


class Located(dict[str, Any]):
    """A YAML mapping that knows its own line and the line of each key."""

    line: int = 0
    key_lines: dict[str, int]

    def line_of(self, key: str) -> int:
        return self.key_lines.get(key, self.line)


class LocatedList(list[Any]):
    line: int = 0
    item_lines: list[int]


class _Loader(yaml.BaseLoader):
    """Strings, lists and :class:`Located` mappings only."""


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> Located:
    out = Located()
    out.line = node.start_mark.line + 1
    out.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str):
            raise yaml.constructor.ConstructorError(
                None, None, "a key must be a plain value", key_node.start_mark
            )
        if key in out:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_lines[key] = key_node.start_mark.line + 1
    return out


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> LocatedList:
    out = LocatedList(loader.construct_object(child, deep=True) for child in node.value)
    out.line = node.start_mark.line + 1
    out.item_lines = [child.start_mark.line + 1 for child in node.value]
    return out


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)
_Loader.add_constructor("tag:yaml.org,2002:seq", _construct_sequence)


def load_yaml(text: str, file: str) -> tuple[Any, list[Problem]]:
    """Parse YAML text; syntax errors become problems with the line where they were found."""
    try:
        return yaml.load(text, Loader=_Loader), []  # _Loader builds strings, lists and dicts only
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        return None, [Problem(file, line, f"YAML error: {exc.problem or exc}")]
    except yaml.YAMLError as exc:
        return None, [Problem(file, 1, f"YAML error: {exc}")]


# ------------------------------------------------------------------------------------------ parsing


class _Ctx:
    """Per-file parsing context: collects problems instead of stopping at the first."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []

    def error(self, line: int, message: str) -> None:
        self.problems.append(Problem(self.file, line, message))

    # typed getters ---------------------------------------------------------------------------
    def text(self, m: Located, key: str, *, required: bool = False, default: str | None = None) -> str | None:
        if key not in m:
            if required:
                self.error(m.line, f"missing '{key}'")
            return default
        value = m[key]
        if not isinstance(value, str) or not value.strip():
            self.error(m.line_of(key), f"'{key}' must be a non-empty text")
            return default
        return value.strip()

    def node_ref(self, m: Located, key: str, *, required: bool = True) -> str | None:
        return self.text(m, key, required=required)

    def number(
        self, m: Located, key: str, default: float, *, minimum: float = 0.0, maximum: float = 1e9
    ) -> float:
        if key not in m:
            return default
        raw = m[key]
        try:
            value = float(raw)
        except (TypeError, ValueError):
            self.error(m.line_of(key), f"'{key}' must be a number, got {raw!r}")
            return default
        if not minimum <= value <= maximum:
            self.error(m.line_of(key), f"'{key}' must be between {minimum:g} and {maximum:g}")
            return default
        return value

    def integer(self, m: Located, key: str, default: int, *, minimum: int = 0, maximum: int = 10**6) -> int:
        if key not in m:
            return default
        raw = m[key]
        try:
            value = int(raw)
        except (TypeError, ValueError):
            self.error(m.line_of(key), f"'{key}' must be an integer, got {raw!r}")
            return default
        if not minimum <= value <= maximum:
            self.error(m.line_of(key), f"'{key}' must be between {minimum} and {maximum}")
            return default
        return value

    def boolean(self, m: Located, key: str, default: bool) -> bool:
        if key not in m:
            return default
        raw = str(m[key]).strip().lower()
        if raw in ("true", "yes", "on", "1"):
            return True
        if raw in ("false", "no", "off", "0"):
            return False
        self.error(m.line_of(key), f"'{key}' must be true or false, got {m[key]!r}")
        return default

    def texts(self, m: Located, key: str) -> tuple[str, ...]:
        if key not in m:
            return ()
        raw = m[key]
        if isinstance(raw, str):
            return (raw.strip(),) if raw.strip() else ()
        if isinstance(raw, list) and all(isinstance(x, str) and x.strip() for x in raw):
            return tuple(x.strip() for x in raw)
        self.error(m.line_of(key), f"'{key}' must be a text or a list of texts")
        return ()

    def mapping(self, m: Located, key: str, *, required: bool = False) -> Located | None:
        if key not in m:
            if required:
                self.error(m.line, f"missing '{key}'")
            return None
        value = m[key]
        if not isinstance(value, Located):
            self.error(m.line_of(key), f"'{key}' must be a mapping")
            return None
        return value

    def sound(self, m: Located, key: str, *, required: bool = False) -> str | None:
        value = self.text(m, key, required=required)
        if value is not None and not _SOUND_RE.match(value):
            self.error(m.line_of(key), f"'{key}': {value!r} is not a sound name")
            return None
        return value


_COMMON = {"type", "description"}
_RETRY_KEYS = {"timeout", "retries", "invalid_prompt", "timeout_prompt"}
_KEYS: dict[NodeType, set[str]] = {
    NodeType.PLAY: {"prompts", "prompt", "next"},
    NodeType.MENU: {"prompt", "options", "fallback", "var", *_RETRY_KEYS},
    NodeType.COLLECT: {
        "prompt",
        "var",
        "min_length",
        "max_length",
        "terminator",
        "pattern",
        "validator",
        "next",
        "fallback",
        *_RETRY_KEYS,
    },
    NodeType.HOURS: {"timezone", "weekly", "holidays", "open", "closed", "holiday"},
    NodeType.LANGUAGE: {"prompt", "options", "next", *_RETRY_KEYS},
    NodeType.LOOKUP: {"by", "key", "next", "found", "not_found"},
    NodeType.BRANCH: {"cases", "else"},
    NodeType.SET: {"vars", "export", "next"},
    NodeType.QUEUE: {
        "queue",
        "priority",
        "vip_priority",
        "skills",
        "prompt",
        "on_no_agents",
        "on_overflow",
        "on_voicemail",
        "on_error",
    },
    NodeType.TRANSFER: {"to", "context", "timeout", "prompt", "on_fail"},
    NodeType.VOICEMAIL: {"mailbox", "prompt", "options", "next"},
    NodeType.CALLBACK: {"number", "queue", "prompt", "next"},
    NodeType.GOTO: {"node", "flow"},
    NodeType.SUBFLOW: {"flow", "next"},
    NodeType.RETURN: set(),
    NodeType.HANGUP: {"prompt", "outcome"},
    NodeType.CASE_STATUS: {
        "number_prompt",
        "stage_prompts",
        "expected_prompt",
        "none_prompt",
        "ask_prompt",
        "max_cases",
        "agent",
        "next",
        "fallback",
        *_RETRY_KEYS,
    },
    NodeType.SURVEY: {"score_prompt", "solved_prompt", "yes", "no", "thanks_prompt", "next", *_RETRY_KEYS},
}


def _retry(ctx: _Ctx, m: Located, default_retries: int = 3) -> Retry:
    return Retry(
        timeout=ctx.number(m, "timeout", 5.0, minimum=0.5, maximum=120.0),
        retries=ctx.integer(m, "retries", default_retries, minimum=1, maximum=20),
        invalid_prompt=ctx.sound(m, "invalid_prompt"),
        timeout_prompt=ctx.sound(m, "timeout_prompt"),
    )


def _options(ctx: _Ctx, m: Located, key: str) -> tuple[tuple[str, str], ...]:
    opts = ctx.mapping(m, key, required=True)
    if opts is None:
        return ()
    out: list[tuple[str, str]] = []
    for digits, target in opts.items():
        if not _DIGITS_RE.match(digits):
            ctx.error(opts.line_of(digits), f"option {digits!r} must be DTMF digits (0-9 * #)")
            continue
        if not isinstance(target, str) or not target.strip():
            ctx.error(opts.line_of(digits), f"option {digits!r} must name a target")
            continue
        out.append((digits, target.strip()))
    if not out and not any(p.line >= opts.line for p in ctx.problems):
        ctx.error(opts.line, f"'{key}' has no option")
    return tuple(out)


def _time_ranges(ctx: _Ctx, text: str, line: int) -> tuple[tuple[time, time], ...]:
    out: list[tuple[time, time]] = []
    if text.strip().lower() in ("closed", ""):
        return ()
    for part in text.split(","):
        piece = part.strip()
        m = re.fullmatch(r"(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})", piece)
        if m is None:
            ctx.error(line, f"opening hours {piece!r}: use HH:MM-HH:MM[, HH:MM-HH:MM]")
            continue
        h1, m1, h2, m2 = (int(g) for g in m.groups())
        if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or (h2 == 24 and m2):
            ctx.error(line, f"opening hours {piece!r}: not a time of day")
            continue
        start = time(h1, m1)
        end = time.max if h2 == 24 else time(h2, m2)
        if end <= start:
            ctx.error(line, f"opening hours {piece!r}: the end is not after the start")
            continue
        out.append((start, end))
    return tuple(out)


def _days(ctx: _Ctx, spec: str, line: int) -> list[int]:
    days: list[int] = []
    for part in spec.lower().split(","):
        piece = part.strip()
        if "-" in piece:
            a, _, b = piece.partition("-")
            if a.strip() not in WEEKDAYS or b.strip() not in WEEKDAYS:
                ctx.error(line, f"weekday range {piece!r}: use mon..sun")
                continue
            i, j = WEEKDAYS.index(a.strip()), WEEKDAYS.index(b.strip())
            days += list(range(i, j + 1)) if i <= j else [*range(i, 7), *range(0, j + 1)]
        elif piece in WEEKDAYS:
            days.append(WEEKDAYS.index(piece))
        else:
            ctx.error(line, f"weekday {piece!r}: use mon, tue, wed, thu, fri, sat, sun or a range")
    return days


def _holidays(ctx: _Ctx, m: Located) -> tuple[Holiday, ...]:
    if "holidays" not in m:
        return ()
    raw = m["holidays"]
    if not isinstance(raw, LocatedList):
        ctx.error(m.line_of("holidays"), "'holidays' must be a list of dates")
        return ()
    out: list[Holiday] = []
    for item, line in zip(raw, raw.item_lines, strict=True):
        name = ""
        when = item
        if isinstance(item, Located):
            when = item.get("date", "")
            name = str(item.get("name", ""))
        if not isinstance(when, str):
            ctx.error(line, "a holiday is a date (YYYY-MM-DD or MM-DD) or {date:, name:}")
            continue
        m1 = re.fullmatch(r"(?:(\d{4})-)?(\d{2})-(\d{2})", when.strip())
        if m1 is None:
            ctx.error(line, f"holiday {when!r}: use YYYY-MM-DD (once) or MM-DD (every year)")
            continue
        year = int(m1.group(1)) if m1.group(1) else None
        month, day = int(m1.group(2)), int(m1.group(3))
        try:
            from datetime import date

            date(year or 2000, month, day)
        except ValueError:
            ctx.error(line, f"holiday {when!r}: no such date")
            continue
        out.append(Holiday(month, day, year, name))
    return tuple(out)


def _schedule(ctx: _Ctx, m: Located) -> Schedule:
    tz = ctx.text(m, "timezone", required=True) or "UTC"
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        ctx.error(m.line_of("timezone"), f"unknown time zone {tz!r} (use an IANA name like Europe/Paris)")
        tz = "UTC"
    weekly: list[tuple[tuple[time, time], ...]] = [()] * 7
    table = ctx.mapping(m, "weekly", required=True)
    if table is not None:
        for spec, hours in table.items():
            line = table.line_of(spec)
            if not isinstance(hours, str):
                ctx.error(line, f"hours of {spec!r} must be text like '08:00-18:00'")
                continue
            ranges = _time_ranges(ctx, hours, line)
            for day in _days(ctx, spec, line):
                weekly[day] = weekly[day] + ranges
    return Schedule(tz, tuple(weekly), _holidays(ctx, m))


def _conditions(ctx: _Ctx, raw: Any, line: int) -> tuple[Condition, ...]:
    items = raw if isinstance(raw, list) else [raw]
    out: list[Condition] = []
    for cond in items:
        if not isinstance(cond, Located) or "var" not in cond:
            ctx.error(line, "a condition is {var: NAME, equals|not_equals|in|matches|empty: VALUE}")
            continue
        ops = [k for k in cond if k != "var"]
        if len(ops) != 1 or ops[0] not in CondOp.__members__.values():
            ctx.error(cond.line, f"condition needs exactly one of {', '.join(o.value for o in CondOp)}")
            continue
        op = CondOp(ops[0])
        var = str(cond["var"])
        value = cond[op.value]
        if op is CondOp.IN:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                ctx.error(cond.line_of(op.value), "'in' needs a list of values")
                continue
            out.append(Condition(var, op, tuple(value)))
        elif op is CondOp.MATCHES:
            try:
                out.append(Condition(var, op, str(value), re.compile(str(value))))
            except re.error as exc:
                ctx.error(cond.line_of(op.value), f"bad regular expression: {exc}")
        elif op is CondOp.EMPTY:
            flag = str(value).lower()
            if flag not in ("true", "false"):
                ctx.error(cond.line_of(op.value), "'empty' must be true or false")
                continue
            out.append(Condition(var, op, flag == "true"))
        else:
            if not isinstance(value, str):
                ctx.error(cond.line_of(op.value), f"'{op.value}' needs a single value")
                continue
            out.append(Condition(var, op, value))
    return tuple(out)


def _case_status(ctx: _Ctx, node_id: str, m: Located, line: int) -> CaseStatusNode:
    """``case_status``: one prompt per stage (``cc-case-<stage>`` unless ``stage_prompts`` names another)."""
    stages = {
        stage.value: f"cc-case-{stage.value.replace('_', '-')}" for stage in CaseStage if stage not in DONE
    }
    given = ctx.mapping(m, "stage_prompts")
    if given is not None:
        for stage, sound in given.items():
            if stage not in stages:
                ctx.error(
                    given.line_of(stage),
                    f"stage_prompts: unknown stage {stage!r} (known: {', '.join(stages)})",
                )
            elif not isinstance(sound, str) or not _SOUND_RE.match(sound.strip()):
                ctx.error(given.line_of(stage), f"stage_prompts.{stage}: {sound!r} is not a sound name")
            else:
                stages[stage] = sound.strip()
    defaults = CaseStatusNode(id=node_id, type=NodeType.CASE_STATUS, line=line)
    return CaseStatusNode(
        id=node_id,
        type=NodeType.CASE_STATUS,
        line=line,
        number_prompt=ctx.sound(m, "number_prompt") or defaults.number_prompt,
        stage_prompts=tuple(stages.items()),
        expected_prompt=ctx.sound(m, "expected_prompt") or defaults.expected_prompt,
        none_prompt=ctx.sound(m, "none_prompt") or defaults.none_prompt,
        ask_prompt=ctx.sound(m, "ask_prompt") or defaults.ask_prompt,
        retry=_retry(ctx, m),
        max_cases=ctx.integer(m, "max_cases", 3, minimum=1, maximum=10),
        agent=ctx.node_ref(m, "agent") or "",
        next=ctx.node_ref(m, "next") or "",
        fallback=ctx.node_ref(m, "fallback", required=False),
    )


def _survey(ctx: _Ctx, node_id: str, m: Located, line: int) -> SurveyNode:
    """``survey``: the score prompt (digits 1-5), an optional yes/no "solved" question, a thank-you."""
    digits = {}
    for key, default in (("yes", "1"), ("no", "2")):
        value = str(m.get(key, default)).strip()
        if len(value) != 1 or value not in "0123456789*#":
            ctx.error(m.line_of(key), f"'{key}' must be one DTMF digit, got {value!r}")
            value = default
        digits[key] = value
    if digits["yes"] == digits["no"]:
        ctx.error(m.line_of("no"), "'yes' and 'no' must be different digits")
    if "solved_prompt" not in m and ("yes" in m or "no" in m):
        ctx.error(m.line, f"node {node_id!r}: 'yes'/'no' without a 'solved_prompt'")
    return SurveyNode(
        id=node_id,
        type=NodeType.SURVEY,
        line=line,
        score_prompt=ctx.sound(m, "score_prompt", required=True) or "",
        solved_prompt=ctx.sound(m, "solved_prompt"),
        yes=digits["yes"],
        no=digits["no"],
        thanks_prompt=ctx.sound(m, "thanks_prompt"),
        retry=_retry(ctx, m, 2),
        next=ctx.node_ref(m, "next", required=False),
    )


def _parse_node(ctx: _Ctx, node_id: str, m: Located, line: int) -> Node | None:
    kind_raw = m.get("type")
    if not isinstance(kind_raw, str):
        ctx.error(m.line, f"node {node_id!r}: missing 'type'")
        return None
    try:
        kind = NodeType(kind_raw.strip())
    except ValueError:
        known = ", ".join(t.value for t in NodeType)
        ctx.error(m.line_of("type"), f"node {node_id!r}: unknown node type {kind_raw!r} (known: {known})")
        return None
    allowed = _KEYS[kind] | _COMMON
    for key in m:
        if key not in allowed:
            ctx.error(m.line_of(key), f"node {node_id!r} ({kind}): unknown key {key!r}")
    if kind is NodeType.PLAY:
        sounds = ctx.texts(m, "prompts") or ctx.texts(m, "prompt")
        if not sounds:
            ctx.error(line, f"node {node_id!r}: play needs 'prompts'")
        for s in sounds:
            if not _SOUND_RE.match(s):
                ctx.error(m.line_of("prompts"), f"{s!r} is not a sound name")
        return PlayNode(id=node_id, type=kind, line=line, sounds=sounds, next=ctx.node_ref(m, "next") or "")
    if kind is NodeType.MENU:
        var = ctx.text(m, "var")
        return MenuNode(
            id=node_id,
            type=kind,
            line=line,
            prompt=ctx.sound(m, "prompt", required=True) or "",
            options=_options(ctx, m, "options"),
            retry=_retry(ctx, m),
            fallback=ctx.node_ref(m, "fallback") or "",
            var=_var_name(ctx, m, "var", var),
        )
    if kind is NodeType.COLLECT:
        pattern = None
        raw_pattern = ctx.text(m, "pattern")
        if raw_pattern is not None:
            try:
                pattern = re.compile(raw_pattern)
            except re.error as exc:
                ctx.error(m.line_of("pattern"), f"bad regular expression: {exc}")
        validator = ctx.text(m, "validator")
        if validator is not None and validator not in VALIDATORS:
            ctx.error(m.line_of("validator"), f"unknown validator {validator!r} (known: luhn)")
        terminator = str(m.get("terminator", "#")).strip()
        if terminator not in ("#", "*", "", "none"):
            ctx.error(m.line_of("terminator"), "'terminator' must be '#', '*' or 'none'")
            terminator = "#"
        min_length = ctx.integer(m, "min_length", 1, minimum=1, maximum=64)
        max_length = ctx.integer(m, "max_length", 20, minimum=1, maximum=64)
        if max_length < min_length:
            ctx.error(m.line_of("max_length"), "'max_length' is smaller than 'min_length'")
        var = ctx.text(m, "var", required=True) or ""
        return CollectNode(
            id=node_id,
            type=kind,
            line=line,
            prompt=ctx.sound(m, "prompt", required=True) or "",
            var=_var_name(ctx, m, "var", var) or "",
            min_length=min_length,
            max_length=max_length,
            terminator="" if terminator == "none" else terminator,
            pattern=pattern,
            validator=validator,
            retry=_retry(ctx, m),
            next=ctx.node_ref(m, "next") or "",
            fallback=ctx.node_ref(m, "fallback") or "",
        )
    if kind is NodeType.HOURS:
        return HoursNode(
            id=node_id,
            type=kind,
            line=line,
            schedule=_schedule(ctx, m),
            open=ctx.node_ref(m, "open") or "",
            closed=ctx.node_ref(m, "closed") or "",
            holiday=ctx.node_ref(m, "holiday", required=False),
        )
    if kind is NodeType.LANGUAGE:
        options = _options(ctx, m, "options")
        for digit, lang in options:
            if not _LANG_RE.match(lang):
                ctx.error(m.line, f"language option {digit!r}: {lang!r} is not a language code")
        return LanguageNode(
            id=node_id,
            type=kind,
            line=line,
            prompt=ctx.sound(m, "prompt", required=True) or "",
            options=options,
            retry=_retry(ctx, m, 2),
            next=ctx.node_ref(m, "next") or "",
        )
    if kind is NodeType.CASE_STATUS:
        return _case_status(ctx, node_id, m, line)
    if kind is NodeType.SURVEY:
        return _survey(ctx, node_id, m, line)
    if kind is NodeType.LOOKUP:
        by = ctx.text(m, "by", default="caller") or "caller"
        key = ctx.text(m, "key", default="phone") or "phone"
        if key not in ("phone", "id"):
            ctx.error(m.line_of("key"), "'key' must be phone or id")
        if by != "caller" and not _VAR_NAME_RE.match(by):
            ctx.error(m.line_of("by"), "'by' must be caller or a variable name")
        return LookupNode(
            id=node_id,
            type=kind,
            line=line,
            by=by,
            key=key,
            next=ctx.node_ref(m, "next") or "",
            found=ctx.node_ref(m, "found", required=False),
            not_found=ctx.node_ref(m, "not_found", required=False),
        )
    if kind is NodeType.BRANCH:
        cases: list[Case] = []
        raw_cases = m.get("cases")
        if not isinstance(raw_cases, LocatedList) or not raw_cases:
            ctx.error(m.line_of("cases"), f"node {node_id!r}: branch needs a list of 'cases'")
        else:
            for item, item_line in zip(raw_cases, raw_cases.item_lines, strict=True):
                if not isinstance(item, Located) or "when" not in item or "next" not in item:
                    ctx.error(item_line, "a case is {when: CONDITION(S), next: NODE}")
                    continue
                extra = set(item) - {"when", "next"}
                if extra:
                    ctx.error(item_line, f"unknown key(s) in case: {', '.join(sorted(extra))}")
                conds = _conditions(ctx, item["when"], item.line_of("when"))
                cases.append(Case(conds, str(item["next"]).strip(), item.line))
        return BranchNode(
            id=node_id, type=kind, line=line, cases=tuple(cases), otherwise=ctx.node_ref(m, "else") or ""
        )
    if kind is NodeType.SET:
        values = ctx.mapping(m, "vars", required=True)
        pairs: list[tuple[str, str]] = []
        for name, value in (values or {}).items():
            if not _VAR_NAME_RE.match(name) or not isinstance(value, str):
                ctx.error(values.line_of(name) if values else line, f"set: bad variable {name!r}")
                continue
            pairs.append((name, value))
        return SetNode(
            id=node_id,
            type=kind,
            line=line,
            values=tuple(pairs),
            export=ctx.boolean(m, "export", False),
            next=ctx.node_ref(m, "next") or "",
        )
    if kind is NodeType.QUEUE:
        vip = ctx.integer(m, "vip_priority", -1, minimum=0, maximum=100) if "vip_priority" in m else None
        return QueueNode(
            id=node_id,
            type=kind,
            line=line,
            queue=ctx.text(m, "queue", required=True) or "",
            priority=ctx.integer(m, "priority", 0, minimum=0, maximum=100),
            vip_priority=vip,
            skills=ctx.texts(m, "skills"),
            prompt=ctx.sound(m, "prompt"),
            on_no_agents=ctx.node_ref(m, "on_no_agents") or "",
            on_overflow=ctx.node_ref(m, "on_overflow", required=False),
            on_voicemail=ctx.node_ref(m, "on_voicemail", required=False),
            on_error=ctx.node_ref(m, "on_error", required=False),
        )
    if kind is NodeType.TRANSFER:
        to = ctx.text(m, "to", required=True) or ""
        if to and not re.fullmatch(r"\+?[0-9*#]+|\$\{[A-Za-z_][A-Za-z0-9_]*\}", to):
            ctx.error(m.line_of("to"), f"'to' must be an extension, a number or ${{var}}, got {to!r}")
        return TransferNode(
            id=node_id,
            type=kind,
            line=line,
            to=to,
            context=ctx.text(m, "context"),
            timeout=ctx.integer(m, "timeout", 30, minimum=1, maximum=600),
            prompt=ctx.sound(m, "prompt"),
            on_fail=ctx.node_ref(m, "on_fail", required=False),
        )
    if kind is NodeType.VOICEMAIL:
        mailbox = ctx.text(m, "mailbox", required=True) or ""
        if mailbox and not re.fullmatch(r"[A-Za-z0-9_${}-]+(@[A-Za-z0-9_-]+)?", mailbox):
            ctx.error(m.line_of("mailbox"), f"'mailbox' must be box[@context], got {mailbox!r}")
        vm_options = ctx.text(m, "options", default="u") or "u"
        if not re.fullmatch(r"[subUg()0-9]*", vm_options):
            ctx.error(m.line_of("options"), f"voicemail options {vm_options!r} not allowed")
        return VoicemailNode(
            id=node_id,
            type=kind,
            line=line,
            mailbox=mailbox,
            prompt=ctx.sound(m, "prompt"),
            options=vm_options,
            next=ctx.node_ref(m, "next", required=False),
        )
    if kind is NodeType.CALLBACK:
        return CallbackNode(
            id=node_id,
            type=kind,
            line=line,
            number=ctx.text(m, "number", default="${caller}") or "${caller}",
            queue=ctx.text(m, "queue"),
            prompt=ctx.sound(m, "prompt"),
            next=ctx.node_ref(m, "next", required=False),
        )
    if kind is NodeType.GOTO:
        target = ctx.node_ref(m, "node", required=False)
        flow = ctx.text(m, "flow")
        if target is None and flow is None:
            ctx.error(line, f"node {node_id!r}: goto needs 'node' or 'flow'")
        return GotoNode(id=node_id, type=kind, line=line, node=target, flow=flow)
    if kind is NodeType.SUBFLOW:
        return SubflowNode(
            id=node_id,
            type=kind,
            line=line,
            flow=ctx.text(m, "flow", required=True) or "",
            next=ctx.node_ref(m, "next") or "",
        )
    if kind is NodeType.RETURN:
        return ReturnNode(id=node_id, type=kind, line=line)
    outcome_raw = ctx.text(m, "outcome")
    outcome: IvrOutcome | None = None
    if outcome_raw is not None:
        try:
            outcome = IvrOutcome(outcome_raw)
        except ValueError:
            ctx.error(m.line_of("outcome"), f"unknown outcome {outcome_raw!r}")
    return HangupNode(id=node_id, type=kind, line=line, prompt=ctx.sound(m, "prompt"), outcome=outcome)


def _var_name(ctx: _Ctx, m: Located, key: str, value: str | None) -> str | None:
    if value is not None and not _VAR_NAME_RE.match(value):
        ctx.error(m.line_of(key), f"'{key}': {value!r} is not a variable name")
        return None
    return value


_FLOW_KEYS = {"flow", "description", "start", "language", "languages", "nodes"}


def parse_flow(text: str, file: str) -> tuple[Flow | None, list[Problem]]:
    """One flow file → a Flow (None when it cannot be built) and its problems."""
    data, problems = load_yaml(text, file)
    if problems:
        return None, problems
    ctx = _Ctx(file)
    if not isinstance(data, Located):
        ctx.error(1, "a flow file is a mapping with flow, start and nodes")
        return None, ctx.problems
    for key in data:
        if key not in _FLOW_KEYS:
            ctx.error(data.line_of(key), f"unknown key {key!r} (flow keys: {', '.join(sorted(_FLOW_KEYS))})")
    name = ctx.text(data, "flow", required=True) or ""
    if name and not _NAME_RE.match(name):
        ctx.error(data.line_of("flow"), f"flow name {name!r}: letters, digits, _ . - only")
    start = ctx.text(data, "start", required=True) or ""
    language = ctx.text(data, "language", default="en") or "en"
    languages = ctx.texts(data, "languages") or (language,)
    for lang in languages:
        if not _LANG_RE.match(lang):
            ctx.error(data.line_of("languages"), f"{lang!r} is not a language code")
    if language not in languages:
        ctx.error(data.line_of("language"), f"the default language {language!r} is not in 'languages'")
    nodes_raw = ctx.mapping(data, "nodes", required=True)
    nodes: dict[str, Node] = {}
    for node_id, body in (nodes_raw or {}).items():
        if not _NAME_RE.match(node_id):
            ctx.error(nodes_raw.line_of(node_id) if nodes_raw else 1, f"node id {node_id!r}: bad characters")
            continue
        if not isinstance(body, Located):
            ctx.error(nodes_raw.line_of(node_id) if nodes_raw else 1, f"node {node_id!r} must be a mapping")
            continue
        node = _parse_node(ctx, node_id, body, nodes_raw.line_of(node_id) if nodes_raw else body.line)
        if node is not None:
            nodes[node_id] = node
    if nodes_raw is not None and not nodes_raw:
        ctx.error(nodes_raw.line, "'nodes' is empty")
    if start and nodes_raw is not None and start not in nodes_raw:
        ctx.error(data.line_of("start"), f"start node {start!r} does not exist")
    for lang_node in (n for n in nodes.values() if isinstance(n, LanguageNode)):
        for digit, lang in lang_node.options:
            if lang not in languages:
                ctx.error(
                    lang_node.line, f"language option {digit!r}: {lang!r} is not in the flow's languages"
                )
    flow = Flow(
        name=name,
        file=file,
        start=start,
        nodes=nodes,
        language=language,
        languages=tuple(languages),
        description=str(data.get("description", "")),
        line=data.line,
    )
    return (flow if name and start else None), ctx.problems


# ----------------------------------------------------------------------------------- catalogues


def parse_sounds(text: str, file: str) -> tuple[dict[str, frozenset[str]], list[Problem]]:
    """``sounds.txt``: ``[lang]`` section headers, then prompt names (whitespace separated, # comments)."""
    sounds: dict[str, set[str]] = {}
    problems: list[Problem] = []
    current: str | None = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1].strip()
            if not _LANG_RE.match(current):
                problems.append(Problem(file, number, f"[{current}] is not a language code"))
            sounds.setdefault(current, set())
            continue
        if current is None:
            problems.append(Problem(file, number, "a prompt name before any [language] header"))
            continue
        for name in line.split():
            if not _SOUND_RE.match(name):
                problems.append(Problem(file, number, f"{name!r} is not a sound name"))
            sounds[current].add(name)
    return {k: frozenset(v) for k, v in sounds.items()}, problems


def parse_queues(text: str, file: str) -> tuple[frozenset[str], list[Problem]]:
    """``queues.yaml``: ``queues: [name, ...]`` (the ACD's configuration will own this later)."""
    data, problems = load_yaml(text, file)
    if problems:
        return frozenset(), problems
    if not isinstance(data, Located) or not isinstance(data.get("queues"), list):
        return frozenset(), [Problem(file, 1, "expected 'queues: [name, ...]'")]
    names = data["queues"]
    out: set[str] = set()
    for name, line in zip(names, names.item_lines, strict=True):
        if isinstance(name, Located):  # {name: sales, ...}
            name = name.get("name")
        if not isinstance(name, str) or not _NAME_RE.match(name):
            problems.append(Problem(file, line, f"bad queue name {name!r}"))
            continue
        out.add(name)
    return frozenset(out), problems


# -------------------------------------------------------------------------------------- checking

NodeKey = tuple[str, str]  # (flow, node id)


def _edges(flows: Mapping[str, Flow], flow: Flow, node: Node) -> Iterable[NodeKey]:
    for _, target in node.targets():
        yield (flow.name, target)
    if isinstance(node, GotoNode) and node.flow:
        other = flows.get(node.flow)
        if other is not None:
            yield (other.name, node.node or other.start)
    if isinstance(node, SubflowNode):
        other = flows.get(node.flow)
        if other is not None:
            yield (other.name, other.start)


def check_flows(
    flows: Iterable[Flow],
    catalog: Catalog,
    *,
    has_queue: Callable[[str], bool] | None = None,
) -> list[Problem]:
    """Cross-file checks of a whole flow set (parse problems come from :func:`parse_flow`)."""
    problems: list[Problem] = []
    by_name: dict[str, Flow] = {}
    for flow in flows:
        if flow.name in by_name:
            problems.append(
                Problem(
                    flow.file, flow.line, f"flow {flow.name!r} is also defined in {by_name[flow.name].file}"
                )
            )
            continue
        by_name[flow.name] = flow

    def known_queue(name: str) -> bool | None:
        if has_queue is not None and has_queue(name):
            return True
        if catalog.queues is not None:
            return name in catalog.queues
        return None if has_queue is None else False

    for flow in by_name.values():
        for node in flow.nodes.values():
            where = node.line
            for label, target in node.targets():
                if target and target not in flow.nodes:
                    problems.append(
                        Problem(flow.file, where, f"node {node.id!r}: {label} → {target!r} does not exist")
                    )
                elif not target:
                    problems.append(Problem(flow.file, where, f"node {node.id!r}: missing '{label}'"))
            if isinstance(node, GotoNode | SubflowNode) and node.flow:
                other = by_name.get(node.flow)
                if other is None:
                    problems.append(
                        Problem(flow.file, where, f"node {node.id!r}: no flow named {node.flow!r}")
                    )
                elif isinstance(node, GotoNode) and node.node and node.node not in other.nodes:
                    problems.append(
                        Problem(
                            flow.file,
                            where,
                            f"node {node.id!r}: flow {other.name!r} has no node {node.node!r}",
                        )
                    )
            if isinstance(node, QueueNode | CallbackNode) and node.queue:
                known = known_queue(node.queue)
                if known is False:
                    problems.append(
                        Problem(flow.file, where, f"node {node.id!r}: queue {node.queue!r} does not exist")
                    )
            if catalog.sounds is not None:
                for prompt in node.prompts():
                    missing = [lang for lang in flow.languages if prompt not in catalog.sounds.get(lang, ())]
                    if missing:
                        problems.append(
                            Problem(
                                flow.file,
                                where,
                                f"node {node.id!r}: prompt {prompt!r} missing for language(s) "
                                f"{', '.join(missing)} in {catalog.sounds_source or 'the sounds catalogue'}",
                            )
                        )
    problems += _check_graph(by_name)
    return problems


def _check_graph(flows: Mapping[str, Flow]) -> list[Problem]:
    problems: list[Problem] = []
    graph: dict[NodeKey, list[NodeKey]] = {}
    for flow in flows.values():
        for node in flow.nodes.values():
            graph[(flow.name, node.id)] = [
                e for e in _edges(flows, flow, node) if e[0] in flows and e[1] in flows[e[0]].nodes
            ]
    # reachability from every flow's start (a flow file may be a sub-flow entered only from others)
    seen: set[NodeKey] = set()
    stack = [(f.name, f.start) for f in flows.values() if f.start in f.nodes]
    while stack:
        key = stack.pop()
        if key in seen:
            continue
        seen.add(key)
        stack.extend(graph.get(key, ()))
    for flow in flows.values():
        for node in flow.nodes.values():
            if (flow.name, node.id) not in seen:
                problems.append(Problem(flow.file, node.line, f"node {node.id!r} is unreachable"))
    # loops made only of nodes that never wait for the caller (Tarjan's SCC on that subgraph)
    quick = {k for k in graph if flows[k[0]].nodes[k[1]].type not in WAITING_NODES}
    for component in _strongly_connected(quick, graph):
        if len(component) == 1:
            only = next(iter(component))
            if only not in graph.get(only, []):
                continue
        first = min(component, key=lambda k: (k[0], flows[k[0]].nodes[k[1]].line))
        flow = flows[first[0]]
        names = " → ".join(f"{f}:{n}" if f != first[0] else n for f, n in sorted(component))
        problems.append(
            Problem(
                flow.file,
                flow.nodes[first[1]].line,
                f"loop that never waits for input: {names} (put a menu, collect or language node in it)",
            )
        )
    return problems


def _strongly_connected(nodes: set[NodeKey], graph: Mapping[NodeKey, list[NodeKey]]) -> list[set[NodeKey]]:
    index: dict[NodeKey, int] = {}
    low: dict[NodeKey, int] = {}
    on_stack: set[NodeKey] = set()
    stack: list[NodeKey] = []
    out: list[set[NodeKey]] = []
    counter = 0
    for root in sorted(nodes):
        if root in index:
            continue
        work: list[tuple[NodeKey, int]] = [(root, 0)]
        while work:
            v, i = work.pop()
            if i == 0:
                index[v] = low[v] = counter
                counter += 1
                stack.append(v)
                on_stack.add(v)
            succ = [w for w in graph.get(v, []) if w in nodes]
            recurse = False
            for j in range(i, len(succ)):
                w = succ[j]
                if w not in index:
                    work.append((v, j + 1))
                    work.append((w, 0))
                    recurse = True
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            if recurse:
                continue
            if low[v] == index[v]:
                comp: set[NodeKey] = set()
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.add(w)
                    if w == v:
                        break
                out.append(comp)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[v])
    return out


def build_flow_set(
    sources: Iterable[tuple[str, str]],
    catalog: Catalog,
    *,
    default: str = "main",
    has_queue: Callable[[str], bool] | None = None,
    loaded_at: float = 0.0,
) -> tuple[FlowSet | None, list[Problem]]:
    """Parse and check ``(file, text)`` flow sources. Returns the set (None if any problem) and problems."""
    problems: list[Problem] = []
    flows: list[Flow] = []
    files: list[str] = []
    for file, text in sources:
        files.append(file)
        flow, found = parse_flow(text, file)
        problems += found
        if flow is not None:
            flows.append(flow)
    if not files:
        problems.append(Problem("<flows>", 0, "no flow files (*.yaml) found"))
    problems += check_flows(flows, catalog, has_queue=has_queue)
    names = {f.name for f in flows}
    if flows and default not in names:
        problems.append(Problem(files[0], 1, f"no flow named {default!r} (the default flow)"))
    if problems:
        return None, problems
    return FlowSet({f.name: f for f in flows}, default, loaded_at, tuple(files)), []
