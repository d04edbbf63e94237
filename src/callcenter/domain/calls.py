"""Call records: what the tracker produces and the CRM store keeps.

A *call* is everything that shares one Asterisk Linkedid (the Uniqueid of its first channel, fact 13);
a *leg* is one channel (keyed by Uniqueid). Records are immutable snapshots; the tracker emits a new
snapshot whenever a call changes, and the store upserts by id, so replays never duplicate.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import StrEnum

#: Size limits of caller-controlled text (characters). A longer value is cut to the limit where PBX
#: data enters (``pbx/translate``) and again before a record is stored (``bound_record``), and counted.
MAX_NAME = 256  # caller / connected-line names
MAX_NUMBER = 64  # caller / connected-line numbers, dialed extensions (DNIS)
MAX_TEXT = 1024  # other free text from the PBX: variable values, file names, channel names


class CallOutcome(StrEnum):
    IN_PROGRESS = "in_progress"
    ANSWERED = "answered"
    ABANDONED = "abandoned"  # caller hung up while waiting (in queue or ringing an agent)
    ABANDONED_IN_IVR = "abandoned_in_ivr"  # caller hung up before being offered to anyone
    UNANSWERED = "unanswered"  # offered, nobody answered, the call ended by the system
    FAILED = "failed"  # never got up (originate failure, congestion)
    LOST = "lost"  # the PBX restarted or the call vanished while live (no Hangup ever came)
    MONITORING = "monitoring"  # a supervisor's ChanSpy session (extra["monitored_call"]: the spied call)


class LegRole(StrEnum):
    CUSTOMER = "customer"  # the channel carrying the customer (first channel of an inbound call)
    INBOUND = "inbound"  # the dialplan half of a Local customer channel (Local ...;2)
    AGENT = "agent"  # a leg dialed to an agent endpoint
    TRANSFER = "transfer"  # a leg created by a transfer
    SPY = "spy"  # supervisor monitoring leg
    OUTBOUND = "outbound"  # a leg dialed to an external number
    OTHER = "other"


class EndCause(StrEnum):
    """Why a call ended when it was not a party's hang-up (``CallRecord.extra["end_cause"]``). A call
    ended by the PBX is never the caller's hang-up nor an abandon: answered calls stay answered (talk
    up to the end), unanswered ones are ``LOST``, and ``hangup_by`` is ``system``."""

    PBX_SHUTDOWN = "pbx_shutdown"  # Shutdown event / SoftHangupRequest Cause 4 (core restart/stop)
    PBX_LOST = "pbx_lost"  # no Hangup ever came: PBX crash (kill -9) or the link lost while it ended


class HangupSide(StrEnum):
    CALLER = "caller"
    AGENT = "agent"
    SYSTEM = "system"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class LegRecord:
    uniqueid: str
    call_id: str
    channel: str
    role: LegRole
    started_at: float
    agent: str | None = None
    answered_at: float | None = None
    ended_at: float | None = None
    hangup_cause: int | None = None
    dial_status: str | None = None


@dataclass(frozen=True, slots=True)
class TransferRecord:
    at: float
    kind: str  # "blind" | "attended" | "redirect"
    target: str
    from_agent: str | None = None


@dataclass(frozen=True, slots=True)
class OfferRecord:
    """One time an agent's phone rang for this call."""

    agent: str
    uniqueid: str
    rang_at: float
    ended_at: float | None = None
    answered: bool = False
    dial_status: str | None = None


@dataclass(frozen=True, slots=True)
class CallRecord:
    call_id: str  # Linkedid
    started_at: float
    direction: str = "inbound"
    caller_num: str = ""
    caller_name: str = ""
    dnis: str = ""
    queue: str | None = None
    agent: str | None = None  # the agent who answered (last one, after transfers)
    ivr_at: float | None = None
    queued_at: float | None = None
    offered_at: float | None = None
    answered_at: float | None = None
    ended_at: float | None = None
    wait_seconds: float | None = None
    talk_seconds: float = 0.0
    hold_seconds: float = 0.0
    outcome: CallOutcome = CallOutcome.IN_PROGRESS
    hangup_cause: int | None = None
    hangup_by: HangupSide | None = None
    recording_file: str | None = None
    legs: tuple[LegRecord, ...] = ()
    offers: tuple[OfferRecord, ...] = ()
    transfers: tuple[TransferRecord, ...] = ()
    version: int = 0  # bumped on every change; the store keeps the highest
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def ended(self) -> bool:
        return self.ended_at is not None


@dataclass(frozen=True, slots=True)
class CallQuery:
    """Filters for the call list (``GET /api/calls``). Times are epoch seconds, half-open [since, until)."""

    since: float | None = None
    until: float | None = None
    caller: str | None = None  # substring of the caller number
    agent: str | None = None
    queue: str | None = None
    outcome: CallOutcome | None = None
    limit: int = 50
    offset: int = 0


@dataclass(frozen=True, slots=True)
class CallPage:
    calls: tuple[CallRecord, ...]
    total: int
    limit: int
    offset: int


@dataclass(frozen=True, slots=True)
class CallDisposition:
    """How an agent closed a call (table ``call_dispositions``): a wrap-up code and the call's notes.

    One per call and agent (a transferred call may get one from each agent who handled it)."""

    call_id: str  # Linkedid
    agent: str
    code: str
    note: str = ""
    queue: str | None = None
    customer_id: int | None = None
    at: float = 0.0
    author: str = ""  # username who set it


def cut(value: str, limit: int) -> str:
    """``value`` cut to ``limit`` characters."""
    return value if len(value) <= limit else value[:limit]


def bound_record(record: CallRecord) -> tuple[CallRecord, int]:
    """The store-side guard: the record with every caller-controlled field within its limit, and the
    number of fields that had to be cut (0: the same object is returned)."""
    changes: dict[str, object] = {}
    for name, limit in (("caller_num", MAX_NUMBER), ("caller_name", MAX_NAME), ("dnis", MAX_NUMBER)):
        value: str = getattr(record, name)
        if len(value) > limit:
            changes[name] = value[:limit]
    if record.recording_file is not None and len(record.recording_file) > MAX_TEXT:
        changes["recording_file"] = record.recording_file[:MAX_TEXT]
    if any(len(k) > MAX_NUMBER or len(v) > MAX_TEXT for k, v in record.extra.items()):
        changes["extra"] = {cut(k, MAX_NUMBER): cut(v, MAX_TEXT) for k, v in record.extra.items()}
    if any(len(leg.channel) > MAX_TEXT for leg in record.legs):
        changes["legs"] = tuple(
            leg if len(leg.channel) <= MAX_TEXT else dataclasses.replace(leg, channel=leg.channel[:MAX_TEXT])
            for leg in record.legs
        )
    if not changes:
        return record, 0
    return dataclasses.replace(record, **changes), len(changes)  # type: ignore[arg-type]
