"""IVR flows as the domain sees them: nodes, flows, the catalogues they are checked against, and the
record of one caller's way through them.

A flow file (``ivr_flows/<name>.yaml``) holds one :class:`Flow`; ``domain/ivr_parse.py`` turns YAML
into these objects (keeping file:line for every node) and validates a whole :class:`FlowSet`;
``services/ivr.py`` runs them on a FastAGI channel. Everything here is pure Python.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo


class NodeType(StrEnum):
    PLAY = "play"
    MENU = "menu"
    COLLECT = "collect"
    HOURS = "hours"
    LANGUAGE = "language"
    LOOKUP = "lookup"
    BRANCH = "branch"
    SET = "set"
    QUEUE = "queue"
    TRANSFER = "transfer"
    VOICEMAIL = "voicemail"
    CALLBACK = "callback"
    GOTO = "goto"
    SUBFLOW = "subflow"
    RETURN = "return"
    HANGUP = "hangup"
    CASE_STATUS = "case_status"  # self-service: the caller's repair (RMA) cases read out (issue 16)
    SURVEY = "survey"  # post-call survey: a 1-5 score and an optional yes/no "solved" (issue 16, CSAT)


#: nodes that wait for the caller (or for time to pass): a loop must contain one of them
WAITING_NODES = frozenset(
    {
        NodeType.MENU,
        NodeType.COLLECT,
        NodeType.LANGUAGE,
        NodeType.QUEUE,
        NodeType.TRANSFER,
        NodeType.VOICEMAIL,
        NodeType.CALLBACK,
        NodeType.CASE_STATUS,
        NodeType.SURVEY,
    }
)


class IvrOutcome(StrEnum):
    """How the caller left the IVR."""

    QUEUED = "queued"  # handed to the ACD (the route result is kept beside it)
    TRANSFERRED = "transferred"  # sent to an extension or an external number
    SELF_SERVED = "self_served"  # the flow ended the call on purpose (information given, closed...)
    VOICEMAIL = "voicemail"
    CALLBACK = "callback"  # a callback was requested
    ABANDONED = "abandoned"  # the caller hung up in the IVR
    ERROR = "error"  # the session failed: the call went to the dialplan's failsafe


_VAR_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def substitute(text: str, variables: Mapping[str, str]) -> str:
    """Replace ``${name}`` by the variable's value ("" when unset)."""
    if "${" not in text:
        return text
    return _VAR_RE.sub(lambda m: variables.get(m.group(1), ""), text)


def variables_in(text: str) -> list[str]:
    return _VAR_RE.findall(text)


# --------------------------------------------------------------------------------------- conditions


class CondOp(StrEnum):
    EQUALS = "equals"
    NOT_EQUALS = "not_equals"
    IN = "in"
    MATCHES = "matches"
    EMPTY = "empty"


@dataclass(frozen=True, slots=True)
class Condition:
    var: str
    op: CondOp
    value: str | tuple[str, ...] | bool
    pattern: re.Pattern[str] | None = None

    def test(self, variables: Mapping[str, str]) -> bool:
        actual = variables.get(self.var, "")
        if self.op is CondOp.EQUALS:
            return actual == self.value
        if self.op is CondOp.NOT_EQUALS:
            return actual != self.value
        if self.op is CondOp.IN:
            assert isinstance(self.value, tuple)
            return actual in self.value
        if self.op is CondOp.MATCHES:
            assert self.pattern is not None
            return self.pattern.fullmatch(actual) is not None
        return (actual == "") is bool(self.value)


@dataclass(frozen=True, slots=True)
class Case:
    when: tuple[Condition, ...]  # all must hold
    next: str
    line: int


# ------------------------------------------------------------------------------------ business hours

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True, slots=True)
class Holiday:
    month: int
    day: int
    year: int | None = None  # None: every year
    name: str = ""

    def matches(self, day: date) -> bool:
        return day.month == self.month and day.day == self.day and self.year in (None, day.year)


@dataclass(frozen=True, slots=True)
class Schedule:
    """Opening hours per weekday (local time in ``timezone``) and a holiday calendar."""

    timezone: str
    weekly: tuple[tuple[tuple[time, time], ...], ...]  # 7 entries, Monday first; end exclusive
    holidays: tuple[Holiday, ...] = ()

    def state(self, now: datetime) -> str:
        """``open``, ``closed`` or ``holiday`` at the aware datetime ``now``."""
        local = now.astimezone(ZoneInfo(self.timezone))
        if any(h.matches(local.date()) for h in self.holidays):
            return "holiday"
        moment = local.time().replace(tzinfo=None)
        for start, end in self.weekly[local.weekday()]:
            if start <= moment < end:
                return "open"
        return "closed"


# ------------------------------------------------------------------------------------------- nodes


@dataclass(frozen=True, slots=True)
class Node:
    id: str
    type: NodeType
    line: int

    def targets(self) -> list[tuple[str, str]]:
        """(field, node id) pairs this node can continue to inside its flow."""
        return []

    def prompts(self) -> list[str]:
        return []


def _opt(label: str, value: str | None) -> list[tuple[str, str]]:
    return [(label, value)] if value else []


@dataclass(frozen=True, slots=True)
class PlayNode(Node):
    sounds: tuple[str, ...] = ()
    next: str = ""

    def targets(self) -> list[tuple[str, str]]:
        return [("next", self.next)]

    def prompts(self) -> list[str]:
        return list(self.sounds)


@dataclass(frozen=True, slots=True)
class Retry:
    """Shared by menu, collect and language: how long to wait and how often to ask again."""

    timeout: float = 5.0  # seconds of silence after the prompt (and between digits)
    retries: int = 3  # attempts in total
    invalid_prompt: str | None = None
    timeout_prompt: str | None = None

    def prompts(self) -> list[str]:
        return [p for p in (self.invalid_prompt, self.timeout_prompt) if p]


@dataclass(frozen=True, slots=True)
class MenuNode(Node):
    prompt: str = ""
    options: tuple[tuple[str, str], ...] = ()  # (digits, node)
    retry: Retry = field(default_factory=Retry)
    fallback: str = ""
    var: str | None = None

    @property
    def max_digits(self) -> int:
        return max((len(k) for k, _ in self.options), default=1)

    def targets(self) -> list[tuple[str, str]]:
        return [(f"options.{k}", v) for k, v in self.options] + [("fallback", self.fallback)]

    def prompts(self) -> list[str]:
        return [self.prompt, *self.retry.prompts()]


@dataclass(frozen=True, slots=True)
class CollectNode(Node):
    prompt: str = ""
    var: str = ""
    min_length: int = 1
    max_length: int = 20
    terminator: str = "#"
    pattern: re.Pattern[str] | None = None
    validator: str | None = None  # "luhn"
    retry: Retry = field(default_factory=Retry)
    next: str = ""
    fallback: str = ""

    def valid(self, digits: str) -> bool:
        if not self.min_length <= len(digits) <= self.max_length:
            return False
        if self.pattern is not None and self.pattern.fullmatch(digits) is None:
            return False
        return not (self.validator == "luhn" and not luhn_ok(digits))

    def targets(self) -> list[tuple[str, str]]:
        return [("next", self.next), ("fallback", self.fallback)]

    def prompts(self) -> list[str]:
        return [self.prompt, *self.retry.prompts()]


VALIDATORS = frozenset({"luhn"})


def luhn_ok(digits: str) -> bool:
    if not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2 == 1:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


@dataclass(frozen=True, slots=True)
class HoursNode(Node):
    schedule: Schedule = field(default_factory=lambda: Schedule("UTC", ((),) * 7))
    open: str = ""
    closed: str = ""
    holiday: str | None = None

    def targets(self) -> list[tuple[str, str]]:
        return [("open", self.open), ("closed", self.closed), *_opt("holiday", self.holiday)]


@dataclass(frozen=True, slots=True)
class LanguageNode(Node):
    prompt: str = ""
    options: tuple[tuple[str, str], ...] = ()  # (digit, language)
    retry: Retry = field(default_factory=lambda: Retry(retries=2))
    next: str = ""

    def targets(self) -> list[tuple[str, str]]:
        return [("next", self.next)]

    def prompts(self) -> list[str]:
        return [self.prompt, *self.retry.prompts()]


@dataclass(frozen=True, slots=True)
class LookupNode(Node):
    by: str = "caller"  # "caller" or the name of a variable holding collected digits
    key: str = "phone"  # phone | id
    next: str = ""
    found: str | None = None
    not_found: str | None = None

    def targets(self) -> list[tuple[str, str]]:
        return [("next", self.next), *_opt("found", self.found), *_opt("not_found", self.not_found)]


@dataclass(frozen=True, slots=True)
class BranchNode(Node):
    cases: tuple[Case, ...] = ()
    otherwise: str = ""

    def targets(self) -> list[tuple[str, str]]:
        return [(f"cases[{i}]", c.next) for i, c in enumerate(self.cases)] + [("else", self.otherwise)]


@dataclass(frozen=True, slots=True)
class SetNode(Node):
    values: tuple[tuple[str, str], ...] = ()
    export: bool = False  # also SET VARIABLE on the channel
    next: str = ""

    def targets(self) -> list[tuple[str, str]]:
        return [("next", self.next)]


@dataclass(frozen=True, slots=True)
class QueueNode(Node):
    queue: str = ""
    priority: int = 0
    vip_priority: int | None = None
    skills: tuple[str, ...] = ()
    prompt: str | None = None  # played before handing the call to the ACD
    on_no_agents: str = ""
    on_overflow: str | None = None
    on_voicemail: str | None = None
    on_error: str | None = None

    def targets(self) -> list[tuple[str, str]]:
        return [
            ("on_no_agents", self.on_no_agents),
            *_opt("on_overflow", self.on_overflow),
            *_opt("on_voicemail", self.on_voicemail),
            *_opt("on_error", self.on_error),
        ]

    def prompts(self) -> list[str]:
        return [self.prompt] if self.prompt else []


@dataclass(frozen=True, slots=True)
class TransferNode(Node):
    to: str = ""
    context: str | None = None  # default: cc-transfer for extensions, cc-outbound for numbers
    timeout: int = 30
    prompt: str | None = None
    on_fail: str | None = None

    def targets(self) -> list[tuple[str, str]]:
        return _opt("on_fail", self.on_fail)

    def prompts(self) -> list[str]:
        return [self.prompt] if self.prompt else []


@dataclass(frozen=True, slots=True)
class VoicemailNode(Node):
    mailbox: str = ""
    prompt: str | None = None
    options: str = "u"
    next: str | None = None

    def targets(self) -> list[tuple[str, str]]:
        return _opt("next", self.next)

    def prompts(self) -> list[str]:
        return [self.prompt] if self.prompt else []


@dataclass(frozen=True, slots=True)
class CallbackNode(Node):
    number: str = "${caller}"
    queue: str | None = None
    prompt: str | None = None  # confirmation ("we will call you back")
    next: str | None = None

    def targets(self) -> list[tuple[str, str]]:
        return _opt("next", self.next)

    def prompts(self) -> list[str]:
        return [self.prompt] if self.prompt else []


@dataclass(frozen=True, slots=True)
class CaseStatusNode(Node):
    """The caller's open repair cases (found by caller number) read out: for each, ``number_prompt``
    then the RMA number (SAY DIGITS), the stage's prompt, and ``expected_prompt`` then the stage's due
    date (SAY DATE) when it has one. Then ``ask_prompt``: the caller types an RMA number (7 digits) to
    hear that case, or 0 for an agent (``agent``; the channel gets ``CC_CASE`` = the case id), or nothing
    (``next``). An RMA number that is unknown or of another customer counts as a wrong attempt
    (``invalid_prompt``); after ``retries`` of them the call goes to ``fallback`` (default ``agent``)."""

    number_prompt: str = "cc-case-number"
    stage_prompts: tuple[tuple[str, str], ...] = ()  # (stage, sound), one per stage
    expected_prompt: str = "cc-case-expected"
    none_prompt: str = "cc-case-none"
    ask_prompt: str = "cc-case-ask"
    retry: Retry = field(default_factory=Retry)
    max_cases: int = 3
    agent: str = ""
    next: str = ""
    fallback: str | None = None

    def targets(self) -> list[tuple[str, str]]:
        return [("agent", self.agent), ("next", self.next), *_opt("fallback", self.fallback)]

    def prompts(self) -> list[str]:
        fixed = [self.number_prompt, self.expected_prompt, self.none_prompt, self.ask_prompt]
        return [*fixed, *(sound for _, sound in self.stage_prompts), *self.retry.prompts()]


@dataclass(frozen=True, slots=True)
class SurveyNode(Node):
    """The post-call survey (``services/ivr_survey.py``): ``score_prompt`` asks for one digit 1-5 (other
    digits are wrong attempts, ``retry``); then, when ``solved_prompt`` is set, ``yes``/``no`` digits for
    "was your problem solved" (no answer leaves it unknown); then ``thanks_prompt``. Score and answer
    are stored when the questions end (a hang-up at the yes/no question keeps the score); ``next``
    (optional: the call ends) follows either way."""

    score_prompt: str = "cc-survey-score"
    solved_prompt: str | None = None
    yes: str = "1"
    no: str = "2"
    thanks_prompt: str | None = None
    retry: Retry = field(default_factory=lambda: Retry(retries=2))
    next: str | None = None

    def targets(self) -> list[tuple[str, str]]:
        return _opt("next", self.next)

    def prompts(self) -> list[str]:
        extra = [p for p in (self.solved_prompt, self.thanks_prompt) if p]
        return [self.score_prompt, *extra, *self.retry.prompts()]


@dataclass(frozen=True, slots=True)
class GotoNode(Node):
    node: str | None = None
    flow: str | None = None  # another flow (at ``node`` or its start)

    def targets(self) -> list[tuple[str, str]]:
        return [("node", self.node)] if self.node and self.flow is None else []


@dataclass(frozen=True, slots=True)
class SubflowNode(Node):
    flow: str = ""
    next: str = ""

    def targets(self) -> list[tuple[str, str]]:
        return [("next", self.next)]


@dataclass(frozen=True, slots=True)
class ReturnNode(Node):
    pass


@dataclass(frozen=True, slots=True)
class HangupNode(Node):
    prompt: str | None = None
    outcome: IvrOutcome | None = None  # None: keep the outcome so far (callback...), else self_served

    def prompts(self) -> list[str]:
        return [self.prompt] if self.prompt else []


# ------------------------------------------------------------------------------------------- flows


@dataclass(frozen=True, slots=True)
class Flow:
    name: str
    file: str
    start: str
    nodes: Mapping[str, Node]
    language: str = "en"
    languages: tuple[str, ...] = ("en",)
    description: str = ""
    line: int = 1

    def where(self, node: Node | None = None) -> str:
        return f"{self.file}:{node.line if node is not None else self.line}"


@dataclass(frozen=True, slots=True)
class Catalog:
    """What flows are checked against: prompt names per language, queue names."""

    sounds: Mapping[str, frozenset[str]] | None = None  # None: not checked
    queues: frozenset[str] | None = None  # None: not checked
    sounds_source: str = ""
    queues_source: str = ""


@dataclass(frozen=True, slots=True)
class Problem:
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


@dataclass(frozen=True, slots=True)
class FlowSet:
    flows: Mapping[str, Flow]
    default: str
    loaded_at: float = 0.0
    files: tuple[str, ...] = ()

    def get(self, name: str) -> Flow | None:
        return self.flows.get(name)


# ----------------------------------------------------------------------------- the recorded path


@dataclass(slots=True)
class IvrStep:
    """One node visit: what was played, what the caller pressed, how long it took."""

    node: str
    type: str
    at: float  # seconds since the session started
    flow: str = ""
    duration: float = 0.0
    prompts: list[str] = field(default_factory=list)
    digits: list[str] = field(default_factory=list)
    timeouts: int = 0
    invalid: int = 0
    result: str = ""

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "node": self.node,
            "type": self.type,
            "at": round(self.at, 3),
            "duration": round(self.duration, 3),
        }
        if self.flow:
            out["flow"] = self.flow
        if self.prompts:
            out["prompts"] = list(self.prompts)
        if self.digits:
            out["digits"] = list(self.digits)
        if self.timeouts:
            out["timeouts"] = self.timeouts
        if self.invalid:
            out["invalid"] = self.invalid
        if self.result:
            out["result"] = self.result
        return out


@dataclass(frozen=True, slots=True)
class IvrSessionRecord:
    """What is stored per call (table ``ivr_sessions``, keyed by the call id = Linkedid)."""

    call_id: str
    uniqueid: str
    flow: str
    started_at: float  # epoch
    ended_at: float
    outcome: IvrOutcome
    caller_num: str = ""
    language: str = ""
    queue: str | None = None
    customer_id: int | None = None
    vip: bool = False
    route_outcome: str | None = None
    transfer_to: str | None = None
    error: str | None = None
    path: tuple[dict[str, Any], ...] = ()
    variables: Mapping[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "uniqueid": self.uniqueid,
            "flow": self.flow,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "seconds": round(self.ended_at - self.started_at, 3),
            "outcome": self.outcome.value,
            "caller_num": self.caller_num,
            "language": self.language,
            "queue": self.queue,
            "customer_id": self.customer_id,
            "vip": self.vip,
            "route_outcome": self.route_outcome,
            "transfer_to": self.transfer_to,
            "error": self.error,
            "path": [dict(p) for p in self.path],
            "variables": dict(self.variables),
        }


@dataclass(frozen=True, slots=True)
class CustomerInfo:
    """What the IVR learns from a customer lookup."""

    id: int
    name: str
    segment: str
    vip: bool
