"""The ACD's vocabulary: queues, agents, agent states, waiting callers and what the state port returns.

Pure data (frozen dataclasses and ``StrEnum``s). The configuration file format is parsed here from
plain mappings (``queue_from_mapping`` / ``agent_from_mapping``); reading the file is the service's job.
Times are epoch seconds (floats), durations seconds.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from callcenter.domain.errors import CallcenterError, ConfigError, NotFound


class AcdError(CallcenterError):
    """An ACD request that cannot be done (documented beside ``domain/errors.py``'s tree)."""


class InvalidTransition(AcdError):
    """An agent state change that the state machine does not allow (e.g. pause while on a call)."""


class UnknownQueue(AcdError, NotFound):
    pass


class UnknownAgent(AcdError, NotFound):
    pass


class Strategy(StrEnum):
    RRMEMORY = "rrmemory"  # continue after the last agent offered (the default)
    LINEAR = "linear"  # always from the first agent in order
    LONGEST_IDLE = "longest_idle"  # the agent whose last ACD call ended longest ago
    FEWEST_CALLS = "fewest_calls"  # the agent who answered the fewest calls since login
    RANDOM = "random"


class AgentState(StrEnum):
    LOGGED_OUT = "logged_out"
    AVAILABLE = "available"
    RINGING = "ringing"  # offered an ACD call (reserved: never offered a second one)
    ON_CALL = "on_call"
    ON_HOLD = "on_hold"
    WRAPUP = "wrapup"  # timed (``until``) or until the agent ends it
    PAUSED = "paused"  # with a reason
    BUSY = "busy"  # phone in use outside the ACD, or busy/unreachable when offered (timed)


class PauseReason(StrEnum):
    BREAK = "break"
    LUNCH = "lunch"
    TRAINING = "training"
    MISSED_CALL = "missed_call"
    OTHER = "other"


#: States in which an agent counts as staffing a queue (for expected-wait estimates).
STAFFED = frozenset(
    {AgentState.AVAILABLE, AgentState.RINGING, AgentState.ON_CALL, AgentState.ON_HOLD, AgentState.WRAPUP}
)
#: States owned by an ACD call in progress.
IN_CALL = frozenset({AgentState.RINGING, AgentState.ON_CALL, AgentState.ON_HOLD})

Skills = tuple[tuple[str, int], ...]

_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_REASON_RE = re.compile(r"^[a-z0-9_-]{1,32}$")


def valid_name(name: str) -> bool:
    return bool(_NAME_RE.match(name))


def valid_reason(reason: str) -> bool:
    return bool(_REASON_RE.match(reason))


@dataclass(frozen=True, slots=True)
class QueueConfig:
    name: str
    strategy: Strategy = Strategy.RRMEMORY
    sl_threshold: float = 20.0  # seconds: answered within this counts toward the service level
    sl_target: float = 0.8  # fraction of calls answered within the threshold
    max_wait: float = 0.0  # seconds; 0 = unlimited
    max_callers: int = 0  # 0 = unlimited
    overflow: str | None = None  # where max wait / max callers send the call; None or "voicemail" = voicemail
    fallback: str | None = None  # where the call goes when nobody is logged in
    voicemail: str | None = None  # mailbox for the voicemail outcome (default: the queue name)
    wrapup: float = 0.0  # seconds; 0 = straight back to available; <0 = until the agent ends it
    announce_interval: float = 30.0  # seconds between position / expected-wait announcements; 0 = none
    announce_position: bool = True
    announce_wait: bool = True
    required_skills: Skills = ()
    music_class: str = "default"
    ring_timeout: float = 20.0
    dial_options: str = "U(mixmon)"  # appended after m(<music_class>)
    missed_call_pause: bool = True  # ring timeout pauses the agent with ``missed_call_reason``
    missed_call_reason: str = PauseReason.MISSED_CALL.value
    busy_rest: float = 10.0  # busy/unreachable agents are not offered calls for this long
    callback: bool = True
    callback_digit: str = "1"
    callback_context: str = "outbound"  # agent first, then Originate dials the customer from here
    vip_priority: int = 10  # added to a VIP caller's priority
    default_handle_time: float = 180.0  # used for expected-wait estimates until calls are measured
    #: the IVR flow of the post-call survey (CSAT); None: no survey. Agents are then dialed with Dial's
    #: ``g`` option, so the caller stays when the agent hangs up (``services/ivr_survey.py``)
    survey: str | None = None

    def dial_string(self, target: str) -> str:
        """The ``EXEC Dial`` argument for one agent: ring timeout, music while it rings, the options
        (``U(mixmon)``), and ``g`` when the queue offers a survey."""
        go_on = "g" if self.survey and "g" not in self.dial_options else ""
        return f"{target},{max(1, round(self.ring_timeout))},m({self.music_class}){self.dial_options}{go_on}"

    def overflow_target(self) -> str | None:
        return None if self.overflow in (None, "", "voicemail") else self.overflow


@dataclass(frozen=True, slots=True)
class Membership:
    queue: str
    penalty: int = 0  # lower penalties are offered first (app_queue semantics)


@dataclass(frozen=True, slots=True)
class AgentConfig:
    id: str
    name: str = ""
    endpoint: str = ""  # e.g. PJSIP/1001 or Local/1001@agents/n
    queues: tuple[Membership, ...] = ()
    skills: Skills = ()
    order: int = 0  # position in round-robin / linear order (config order)

    def dial_target(self) -> str:
        return self.endpoint or f"PJSIP/{self.id}"

    def penalty(self, queue: str) -> int | None:
        for m in self.queues:
            if m.queue == queue:
                return m.penalty
        return None


@dataclass(frozen=True, slots=True)
class AgentStatus:
    agent: str
    state: AgentState = AgentState.LOGGED_OUT
    since: float = 0.0
    reason: str = ""  # pause reason, or why busy
    call_id: str = ""  # the ACD call (Linkedid) or callback id while ringing/on call/wrap-up
    queue: str = ""
    until: float = 0.0  # end of a timed wrap-up / busy rest; 0 = none
    idle_since: float = 0.0  # end of the last ACD call (longest-idle strategy)
    calls: int = 0  # ACD calls answered since login (fewest-calls strategy)
    offers: int = 0  # ACD offers since login
    pending_pause: str = ""  # pause requested during a call: applied when it ends
    version: int = 0

    def with_(self, **changes: Any) -> AgentStatus:
        return replace(self, **changes)


@dataclass(frozen=True, slots=True)
class AgentTransition:
    """One stored state change; ``duration`` is how long the previous state lasted."""

    agent: str
    from_state: AgentState
    to_state: AgentState
    at: float
    duration: float
    reason: str = ""
    call_id: str = ""
    queue: str = ""
    by: str = ""  # who asked: "system", "agent:<id>", "supervisor:<user>"


class EntryKind(StrEnum):
    CALL = "call"
    CALLBACK = "callback"


class EntryStatus(StrEnum):
    WAITING = "waiting"
    OFFERED = "offered"
    GONE = "gone"


@dataclass(frozen=True, slots=True)
class WaitingEntry:
    id: str
    queue: str
    call_id: str
    priority: int = 0
    enqueued_at: float = 0.0
    skills: Skills = ()
    kind: EntryKind = EntryKind.CALL
    caller_num: str = ""
    caller_name: str = ""
    seq: int = 0  # assigned by the state on enqueue (FIFO within a priority)
    status: EntryStatus = EntryStatus.WAITING
    agent: str = ""  # while offered
    owner: str = ""  # the instance whose FastAGI session holds the caller ("" = none: a callback request)
    claimed_by: str = ""  # the instance that reserved ``agent`` for this entry (while offered)


@dataclass(frozen=True, slots=True)
class Claim:
    """What one ``claim`` tick tells a waiting caller."""

    status: EntryStatus
    agent: AgentStatus | None = None  # the agent now ringing for this entry (status OFFERED)
    previous_since: float = 0.0  # when the agent became available (for the transition's duration)
    position: int = 0  # 1-based place in the queue (0 when offered or gone)
    waiting: int = 0
    logged_in: int = 0
    staffed: int = 0
    available: int = 0


@dataclass(frozen=True, slots=True)
class QueueCounts:
    waiting: int = 0
    logged_in: int = 0
    staffed: int = 0
    available: int = 0


# --- configuration parsing ------------------------------------------------------------------------

_QUEUE_KEYS = {
    "strategy",
    "service_level",
    "sl_threshold",
    "sl_target",
    "max_wait",
    "max_callers",
    "overflow",
    "fallback",
    "voicemail",
    "wrapup",
    "announce",
    "announce_interval",
    "required_skills",
    "skills",
    "music_class",
    "ring_timeout",
    "dial_options",
    "missed_call",
    "busy_rest",
    "callback",
    "vip_priority",
    "default_handle_time",
    "survey",
}


def parse_skills(raw: Any, where: str) -> Skills:
    """``[english, french]`` (level 1), ``{english: 2}`` or ``["english:2"]`` → sorted pairs."""
    if raw is None:
        return ()
    pairs: dict[str, int] = {}
    items: list[tuple[Any, Any]] = []
    if isinstance(raw, Mapping):
        items = list(raw.items())
    elif isinstance(raw, list | tuple):
        for item in raw:
            name, _, level = str(item).partition(":")
            items.append((name, level or 1))
    else:
        raise ConfigError(f"{where}: skills must be a list or a mapping, got {raw!r}")
    for name, level in items:
        name = str(name).strip()
        if not valid_name(name):
            raise ConfigError(f"{where}: bad skill name {name!r}")
        try:
            pairs[name] = int(level)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: skill {name}: level must be an integer, got {level!r}") from None
    return tuple(sorted(pairs.items()))


def _num(raw: Mapping[str, Any], key: str, default: float, where: str, minimum: float | None = 0) -> float:
    value = raw.get(key, default)
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: {key} must be a number, got {value!r}") from None
    if minimum is not None and out < minimum:
        raise ConfigError(f"{where}: {key} must be >= {minimum}, got {out}")
    return out


def _opt_str(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def queue_from_mapping(
    name: str, raw: Mapping[str, Any], defaults: Mapping[str, Any] | None = None
) -> QueueConfig:
    """Build a queue from its configuration mapping (file or admin API). Raises ``ConfigError``."""
    where = f"queue {name!r}"
    if not valid_name(name):
        raise ConfigError(f"{where}: names use letters, digits, '_', '-', '.' (1-64)")
    merged: dict[str, Any] = {**(defaults or {}), **raw}
    unknown = set(merged) - _QUEUE_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown settings {sorted(unknown)}")
    try:
        strategy = Strategy(str(merged.get("strategy", Strategy.RRMEMORY.value)).lower())
    except ValueError:
        raise ConfigError(
            f"{where}: strategy must be one of {[s.value for s in Strategy]}, got {merged.get('strategy')!r}"
        ) from None
    sl = merged.get("service_level") or {}
    if not isinstance(sl, Mapping):
        raise ConfigError(f"{where}: service_level must be a mapping {{threshold, target}}")
    announce = merged.get("announce") or {}
    if not isinstance(announce, Mapping):
        raise ConfigError(f"{where}: announce must be a mapping {{interval, position, wait_time}}")
    missed = merged.get("missed_call") or {}
    if not isinstance(missed, Mapping):
        raise ConfigError(f"{where}: missed_call must be a mapping {{pause, reason}}")
    callback = merged.get("callback", {})
    if isinstance(callback, bool):
        callback = {"enabled": callback}
    if not isinstance(callback, Mapping):
        raise ConfigError(f"{where}: callback must be a mapping {{enabled, digit, context}} or a boolean")
    sl_target = _num(sl, "target", _num(merged, "sl_target", 0.8, where), where)
    if sl_target > 1:
        sl_target = sl_target / 100.0  # "80" means 80 %
    digit = str(callback.get("digit", "1"))
    if len(digit) != 1 or digit not in "0123456789*#":
        raise ConfigError(f"{where}: callback digit must be one DTMF digit, got {digit!r}")
    reason = str(missed.get("reason", PauseReason.MISSED_CALL.value))
    if not valid_reason(reason):
        raise ConfigError(f"{where}: missed_call reason {reason!r}: lowercase letters, digits, '_' or '-'")
    max_callers = merged.get("max_callers", 0)
    try:
        max_callers = int(max_callers)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: max_callers must be an integer, got {max_callers!r}") from None
    music = str(merged.get("music_class", "default"))
    if not valid_name(music):
        raise ConfigError(f"{where}: bad music_class {music!r}")
    return QueueConfig(
        name=name,
        strategy=strategy,
        sl_threshold=_num(sl, "threshold", _num(merged, "sl_threshold", 20.0, where), where),
        sl_target=sl_target,
        max_wait=_num(merged, "max_wait", 0.0, where),
        max_callers=max(0, max_callers),
        overflow=_opt_str(merged.get("overflow")),
        fallback=_opt_str(merged.get("fallback")),
        voicemail=_opt_str(merged.get("voicemail")),
        wrapup=_num(merged, "wrapup", 0.0, where, minimum=None),
        announce_interval=_num(announce, "interval", _num(merged, "announce_interval", 30.0, where), where),
        announce_position=bool(announce.get("position", True)),
        announce_wait=bool(announce.get("wait_time", True)),
        required_skills=parse_skills(merged.get("required_skills", merged.get("skills")), where),
        music_class=music,
        ring_timeout=max(1.0, _num(merged, "ring_timeout", 20.0, where)),
        dial_options=str(merged.get("dial_options", "U(mixmon)")),
        missed_call_pause=bool(missed.get("pause", True)),
        missed_call_reason=reason,
        busy_rest=_num(merged, "busy_rest", 10.0, where),
        callback=bool(callback.get("enabled", True)),
        callback_digit=digit,
        callback_context=str(callback.get("context", "outbound")),
        vip_priority=int(_num(merged, "vip_priority", 10, where, minimum=None)),
        default_handle_time=max(1.0, _num(merged, "default_handle_time", 180.0, where)),
        survey=_survey_flow(merged.get("survey"), where),
    )


def _survey_flow(raw: Any, where: str) -> str | None:
    name = _opt_str(raw)
    if name is not None and not valid_name(name):
        raise ConfigError(f"{where}: survey must name an IVR flow (letters, digits, '_', '-', '.'): {name!r}")
    return name


def queue_to_mapping(q: QueueConfig) -> dict[str, Any]:
    """The inverse of ``queue_from_mapping`` (for the admin API and the Redis state)."""
    return {
        "strategy": q.strategy.value,
        "service_level": {"threshold": q.sl_threshold, "target": q.sl_target},
        "max_wait": q.max_wait,
        "max_callers": q.max_callers,
        "overflow": q.overflow,
        "fallback": q.fallback,
        "voicemail": q.voicemail,
        "wrapup": q.wrapup,
        "announce": {
            "interval": q.announce_interval,
            "position": q.announce_position,
            "wait_time": q.announce_wait,
        },
        "required_skills": dict(q.required_skills),
        "music_class": q.music_class,
        "ring_timeout": q.ring_timeout,
        "dial_options": q.dial_options,
        "missed_call": {"pause": q.missed_call_pause, "reason": q.missed_call_reason},
        "busy_rest": q.busy_rest,
        "callback": {"enabled": q.callback, "digit": q.callback_digit, "context": q.callback_context},
        "vip_priority": q.vip_priority,
        "default_handle_time": q.default_handle_time,
        "survey": q.survey,
    }


_AGENT_KEYS = {"id", "name", "endpoint", "queues", "skills", "order"}


def agent_from_mapping(raw: Mapping[str, Any], order: int = 0) -> AgentConfig:
    agent_id = str(raw.get("id", "")).strip()
    where = f"agent {agent_id!r}"
    if not valid_name(agent_id):
        raise ConfigError(f"{where}: id uses letters, digits, '_', '-', '.' (1-64)")
    unknown = set(raw) - _AGENT_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown settings {sorted(unknown)}")
    queues_raw = raw.get("queues") or {}
    members: dict[str, int] = {}
    if isinstance(queues_raw, Mapping):
        for q, penalty in queues_raw.items():
            try:
                members[str(q)] = int(penalty or 0)
            except (TypeError, ValueError):
                raise ConfigError(f"{where}: queue {q}: penalty must be an integer") from None
    elif isinstance(queues_raw, list | tuple):
        for item in queues_raw:
            if isinstance(item, Mapping):
                members[str(item.get("queue", item.get("name", "")))] = int(item.get("penalty", 0) or 0)
            else:
                name, _, penalty = str(item).partition(":")
                members[name] = int(penalty or 0)
    else:
        raise ConfigError(f"{where}: queues must be a mapping queue: penalty or a list")
    for q, penalty in members.items():
        if not valid_name(q):
            raise ConfigError(f"{where}: bad queue name {q!r}")
        if not 0 <= penalty < 1000:
            raise ConfigError(f"{where}: queue {q}: penalty must be 0-999")
    endpoint = str(raw.get("endpoint") or f"PJSIP/{agent_id}")
    if "/" not in endpoint or "," in endpoint or any(c.isspace() for c in endpoint):
        raise ConfigError(f"{where}: endpoint must look like PJSIP/1001 or Local/1001@agents/n")
    return AgentConfig(
        id=agent_id,
        name=str(raw.get("name") or ""),
        endpoint=endpoint,
        queues=tuple(Membership(q, p) for q, p in members.items()),
        skills=parse_skills(raw.get("skills"), where),
        order=int(raw.get("order", order)),
    )


def agent_to_mapping(a: AgentConfig) -> dict[str, Any]:
    return {
        "id": a.id,
        "name": a.name,
        "endpoint": a.endpoint,
        "queues": {m.queue: m.penalty for m in a.queues},
        "skills": dict(a.skills),
        "order": a.order,
    }


@dataclass(frozen=True, slots=True)
class AcdConfig:
    queues: tuple[QueueConfig, ...] = ()
    agents: tuple[AgentConfig, ...] = ()
    pause_reasons: tuple[str, ...] = tuple(r.value for r in PauseReason)
    extra: dict[str, Any] = field(default_factory=dict)


def config_from_mapping(raw: Mapping[str, Any], source: str = "acd config") -> AcdConfig:
    """The whole file: ``defaults``, ``queues`` (name → settings), ``agents`` (list), ``pause_reasons``."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: expected a mapping at the top level")
    unknown = set(raw) - {"defaults", "queues", "agents", "pause_reasons"}
    if unknown:
        raise ConfigError(f"{source}: unknown sections {sorted(unknown)}")
    defaults = raw.get("defaults") or {}
    queues_raw = raw.get("queues") or {}
    if not isinstance(queues_raw, Mapping) or not isinstance(defaults, Mapping):
        raise ConfigError(f"{source}: queues and defaults must be mappings")
    queues = tuple(queue_from_mapping(str(n), q or {}, defaults) for n, q in queues_raw.items())
    names = {q.name for q in queues}
    agents_raw = raw.get("agents") or []
    if not isinstance(agents_raw, list):
        raise ConfigError(f"{source}: agents must be a list")
    agents = tuple(agent_from_mapping(a, order=i + 1) for i, a in enumerate(agents_raw))
    seen: set[str] = set()
    for a in agents:
        if a.id in seen:
            raise ConfigError(f"{source}: agent {a.id!r} is listed twice")
        seen.add(a.id)
        for m in a.queues:
            if m.queue not in names:
                raise ConfigError(f"{source}: agent {a.id!r} is in unknown queue {m.queue!r}")
    reasons = tuple(str(r) for r in raw.get("pause_reasons") or [r.value for r in PauseReason])
    for r in reasons:
        if not valid_reason(r):
            raise ConfigError(f"{source}: pause reason {r!r}: lowercase letters, digits, '_' or '-'")
    if PauseReason.MISSED_CALL.value not in reasons:
        reasons = (*reasons, PauseReason.MISSED_CALL.value)
    return AcdConfig(queues=queues, agents=agents, pause_reasons=reasons)
