"""Typed PBX events: what ``pbx/translate.py`` makes of raw AMI messages.

Raw AMI dicts never leave ``pbx/``; everything downstream (tracker, ACD, metrics) sees these frozen
dataclasses. Times are the epoch seconds at which the service *received* the event (Asterisk sends no
timestamp by default, see pbx-traces README fact 6).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum, StrEnum


class ChannelState(IntEnum):
    """Asterisk's ``ChannelState`` codes (main/channel.h ``enum ast_channel_state``)."""

    DOWN = 0
    RESERVED = 1
    OFFHOOK = 2
    DIALING = 3
    RING = 4
    RINGING = 5
    UP = 6
    BUSY = 7
    DIALING_OFFHOOK = 8
    PRERING = 9


class DialStatus(StrEnum):
    ANSWER = "ANSWER"
    BUSY = "BUSY"
    NOANSWER = "NOANSWER"
    CANCEL = "CANCEL"
    CONGESTION = "CONGESTION"
    CHANUNAVAIL = "CHANUNAVAIL"
    DONTCALL = "DONTCALL"
    TORTURE = "TORTURE"
    INVALIDARGS = "INVALIDARGS"
    RINGING = "RINGING"
    PROCEEDING = "PROCEEDING"
    PROGRESS = "PROGRESS"
    OTHER = "OTHER"

    @classmethod
    def parse(cls, value: str) -> DialStatus:
        try:
            return cls(value.upper())
        except ValueError:
            return cls.OTHER


@dataclass(frozen=True, slots=True)
class ChannelSnapshot:
    """The channel block every channel event carries (fact 6 of the traces README)."""

    channel: str
    uniqueid: str
    linkedid: str
    state: ChannelState = ChannelState.DOWN
    caller_num: str = ""
    caller_name: str = ""
    connected_num: str = ""
    connected_name: str = ""
    context: str = ""
    exten: str = ""
    priority: str = ""
    language: str = ""
    account_code: str = ""
    variables: tuple[tuple[str, str], ...] = ()

    def variable(self, name: str) -> str | None:
        for key, value in self.variables:
            if key == name:
                return value
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class PbxEvent:
    """Base of every typed event; ``at`` is the receive time in epoch seconds."""

    at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelEvent(PbxEvent):
    chan: ChannelSnapshot


# --- channel life -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelCreated(ChannelEvent):
    """Newchannel."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelStateChanged(ChannelEvent):
    """Newstate."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CallerIdChanged(ChannelEvent):
    """NewCallerid."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectedLineChanged(ChannelEvent):
    """NewConnectedLine."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DialplanStep(ChannelEvent):
    """Newexten."""

    application: str = ""
    app_data: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class VariableSet(ChannelEvent):
    """VarSet for the variables we read (others are dropped in translate)."""

    variable: str
    value: str


@dataclass(frozen=True, slots=True, kw_only=True)
class HangupRequested(ChannelEvent):
    """HangupRequest (``soft=False``, Q.850 cause) or SoftHangupRequest (``soft=True``, internal flag)."""

    cause: int
    soft: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelHungUp(ChannelEvent):
    """Hangup: the channel is gone. ``cause`` is Q.850."""

    cause: int
    cause_text: str = ""


# --- dialing, bridging --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class DialEvent(PbxEvent):
    """DialBegin / DialState / DialEnd. ``caller`` is None when there is no calling channel (fact 11)."""

    caller: ChannelSnapshot | None
    dest: ChannelSnapshot
    dial_string: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class DialBegan(DialEvent):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class DialProgress(DialEvent):
    status: DialStatus


@dataclass(frozen=True, slots=True, kw_only=True)
class DialEnded(DialEvent):
    status: DialStatus


@dataclass(frozen=True, slots=True, kw_only=True)
class BridgeEntered(ChannelEvent):
    bridge_id: str
    bridge_type: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class BridgeLeft(ChannelEvent):
    bridge_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LocalBridged(PbxEvent):
    """LocalBridge: the two halves of a Local channel."""

    one: ChannelSnapshot
    two: ChannelSnapshot


@dataclass(frozen=True, slots=True, kw_only=True)
class HoldStarted(ChannelEvent):
    music_class: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class HoldEnded(ChannelEvent):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class MusicStarted(ChannelEvent):
    """MusicOnHoldStart: the channel hears music (queue wait, ringing with ``m()``, or a hold context:
    the snapshot's ``context`` tells which)."""

    music_class: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class MusicStopped(ChannelEvent):
    """MusicOnHoldStop."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DtmfReceived(ChannelEvent):
    """DTMFEnd."""

    digit: str
    direction: str = ""
    duration_ms: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordingStarted(ChannelEvent):
    """MixMonitorStart. The file name comes in the MIXMONITOR_FILENAME VarSet just before (fact 18)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AgiCommand(ChannelEvent):
    """AGIExecStart (``finished=False``) / AGIExecEnd (``finished=True``)."""

    command: str
    command_id: str = ""
    finished: bool = False
    result_code: str = ""
    result: str = ""


# --- transfers ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class BlindTransferred(PbxEvent):
    transferer: ChannelSnapshot | None
    transferee: ChannelSnapshot | None
    extension: str
    context: str
    result: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AttendedTransferred(PbxEvent):
    transferer: ChannelSnapshot | None
    transferee: ChannelSnapshot | None
    target: ChannelSnapshot | None
    result: str


# --- app_queue (observed sites) -------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueCallerJoined(ChannelEvent):
    queue: str
    position: int
    count: int


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueCallerLeft(ChannelEvent):
    queue: str
    position: int
    count: int


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueCallerAbandoned(ChannelEvent):
    queue: str
    position: int
    original_position: int
    hold_time: int


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueAgentEvent(PbxEvent):
    """Agent* events: ``caller`` is the queue caller's channel, ``dest`` the member's leg."""

    queue: str
    caller: ChannelSnapshot | None
    dest: ChannelSnapshot | None
    interface: str
    member_name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentCalled(QueueAgentEvent):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentConnected(QueueAgentEvent):
    hold_time: int
    ring_time: int


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentCompleted(QueueAgentEvent):
    hold_time: int
    talk_time: int
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentRingNoAnswer(QueueAgentEvent):
    ring_time: int


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueMemberState(PbxEvent):
    """QueueMemberStatus / QueueMemberPause / QueueMemberAdded / QueueMemberRemoved / QueueMember."""

    kind: str
    queue: str
    interface: str
    member_name: str
    status: int
    paused: bool
    paused_reason: str = ""
    calls_taken: int = 0
    in_call: bool = False


# --- monitoring, originate, system --------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class SpyEvent(PbxEvent):
    """ChanSpyStart (``started=True``) / ChanSpyStop."""

    spyer: ChannelSnapshot | None
    spyee: ChannelSnapshot | None
    started: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class OriginateResult(PbxEvent):
    """OriginateResponse. ``reason``: 4 answered, 3 no answer, 5 busy, 0 failed (fact 10)."""

    action_id: str
    success: bool
    reason: int
    channel: str
    uniqueid: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class CdrRecord(PbxEvent):
    """Event: Cdr (keyed ``UniqueID``; no Linkedid, fact 16)."""

    uniqueid: str
    channel: str
    source: str
    destination: str
    destination_context: str
    destination_channel: str
    disposition: str
    duration: int
    billable_seconds: int
    start_time: str
    answer_time: str
    end_time: str
    last_application: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelListed(ChannelEvent):
    """CoreShowChannel (resync): a channel alive right now, with its age in seconds."""

    duration_seconds: int = 0
    application: str = ""
    application_data: str = ""
    bridge_id: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class PbxShutdown(PbxEvent):
    clean: bool
    restart: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class PbxFullyBooted(PbxEvent):
    uptime: int = 0


# --- service-side events (not AMI messages) --------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class IvrSessionStarted(PbxEvent):
    """Our FastAGI server accepted an IVR session for this call (``services/ivr`` via ``app``): the call
    entered the IVR. With the shipped eventfilter nothing on AMI says so (no Newexten, no AGIExec,
    traces fact 35)."""

    uniqueid: str
    linkedid: str
    script: str = ""


# --- link-level events the AMI link itself emits (not AMI messages) ----------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkUp(PbxEvent):
    """The AMI link logged in (every (re)connect). The resync follows."""

    attempt: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkDown(PbxEvent):
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ResyncComplete(PbxEvent):
    """Every channel alive at resync time has been sent as ChannelListed; others are gone."""

    live_uniqueids: frozenset[str] = field(default_factory=frozenset)
