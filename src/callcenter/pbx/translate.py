"""Raw AMI messages → typed domain events (pure; no I/O).

This is the only place that knows AMI field names. It follows the facts in
the traces' README (``tests/fixtures/pbx-traces``):
two-channel events use ``Dest…``/``LocalOne…``/``Transferer…`` prefixes,
Dial events may lack the calling channel block, Cdr spells ``UniqueID``, SoftHangupRequest's cause is an
internal flag, not Q.850. Unknown events are counted and ignored; a message that cannot be translated
(missing key, bad number) is counted and logged with its fields, never raised.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable

from callcenter.domain import events as ev
from callcenter.domain.calls import MAX_NAME, MAX_NUMBER, MAX_TEXT
from callcenter.domain.events import ChannelSnapshot, ChannelState, DialStatus
from callcenter.pbx.message import AmiMessage

log = logging.getLogger(__name__)

#: VarSet variables the service reads; every other VarSet is dropped here (DESIGN: eventfilter too).
WANTED_VARIABLES = frozenset(
    {"MIXMONITOR_FILENAME", "CC_CALLID", "CC_QUEUE", "CC_AGENT", "CC_PRIORITY", "IVR_CHOICE", "QUEUENAME"}
)

#: Events we know and deliberately ignore (not counted as unknown).
IGNORED_EVENTS = frozenset(
    {
        "DeviceStateChange",
        "SuccessfulAuth",
        "InvalidPassword",
        "RequestNotAllowed",
        "RequestBadFormat",
        "ChallengeSent",
        "BridgeCreate",
        "BridgeDestroy",
        "BridgeMerge",
        "DTMFBegin",
        "LocalOptimizationBegin",
        "LocalOptimizationEnd",
        "Registry",
        "PeerStatus",
        "ContactStatus",
        "Reload",
        "ChannelHungup",
        "ChannelsHungupListComplete",
        "CoreShowChannelsComplete",
        "StatusComplete",
        "QueueStatusComplete",
        "QueueSummaryComplete",
        "QueueSummary",
        "QueueParams",
        "UserEvent",
        "Status",
        "NewAccountCode",
        "MixMonitorStop",
        "MixMonitorMute",
        "Rename",
        "NewPeerAccount",
        "MonitorStart",
        "MonitorStop",
        "ChannelTalkingStart",
        "ChannelTalkingStop",
        "AgentLogin",
        "AgentLogoff",
        "HangupHandlerRun",
        "HangupHandlerPush",
        "SessionTimeout",
        "ConfbridgeStart",
        "ConfbridgeEnd",
        "ConfbridgeJoin",
        "ConfbridgeLeave",
        "LoadAverageLimit",
    }
)

_STATES = {str(s.value): s for s in ChannelState}


def _int(value: str | None, default: int = 0) -> int:
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        try:
            return int(float(value))
        except ValueError:
            return default


#: fields cut to their size limit (``domain.calls.MAX_*``), per AMI field name, for the whole process
TRUNCATED: Counter[str] = Counter()


def _bounded(value: str, limit: int, key: str) -> str:
    """Caller-controlled text cut to ``limit`` characters (a 1 MB caller name must not reach the store
    or the screen pop whole); counted per field and logged (the first time and every 1000th)."""
    if len(value) <= limit:
        return value
    TRUNCATED[key] += 1
    total = TRUNCATED.total()
    if total == 1 or total % 1000 == 0:
        log.warning(
            "AMI field over its size limit cut",
            extra={"field": key, "length": len(value), "limit": limit, "truncated_total": total},
        )
    return value[:limit]


def _clean(value: str | None, limit: int = MAX_TEXT, key: str = "") -> str:
    """``<unknown>`` is Asterisk's spelling of 'not set'."""
    if value is None or value == "<unknown>":
        return ""
    return value if len(value) <= limit else _bounded(value, limit, key)


def snapshot(msg: AmiMessage, prefix: str = "") -> ChannelSnapshot | None:
    """The channel block with the given key prefix, or None if the message has none."""
    get = msg.get
    channel = get(prefix + "Channel")
    uniqueid = get(prefix + "Uniqueid")
    if channel is None or uniqueid is None:
        return None
    variables: tuple[tuple[str, str], ...] = ()
    raw_vars = msg.get_all(prefix + "ChanVariable")
    if raw_vars:
        variables = tuple(_split_var(v) for v in raw_vars)
    return ChannelSnapshot(
        channel=channel,
        uniqueid=uniqueid,
        linkedid=get(prefix + "Linkedid") or uniqueid,
        state=_STATES.get(get(prefix + "ChannelState") or "0", ChannelState.DOWN),
        caller_num=_clean(get(prefix + "CallerIDNum"), MAX_NUMBER, "CallerIDNum"),
        caller_name=_clean(get(prefix + "CallerIDName"), MAX_NAME, "CallerIDName"),
        connected_num=_clean(get(prefix + "ConnectedLineNum"), MAX_NUMBER, "ConnectedLineNum"),
        connected_name=_clean(get(prefix + "ConnectedLineName"), MAX_NAME, "ConnectedLineName"),
        context=get(prefix + "Context") or "",
        exten=_bounded(get(prefix + "Exten") or "", MAX_NUMBER, "Exten"),
        priority=get(prefix + "Priority") or "",
        language=get(prefix + "Language") or "",
        account_code=get(prefix + "AccountCode") or "",
        variables=variables,
    )


def _split_var(raw: str) -> tuple[str, str]:
    name, _, value = raw.partition("=")
    return name, _bounded(value, MAX_TEXT, "ChanVariable")


def _need(snap: ChannelSnapshot | None, msg: AmiMessage) -> ChannelSnapshot:
    if snap is None:
        raise KeyError(f"{msg.event}: no channel block")
    return snap


# --- per-event builders ---------------------------------------------------------------------------

Builder = Callable[[AmiMessage, float], ev.PbxEvent | None]


def _chan(cls: type[ev.ChannelEvent]) -> Builder:
    def build(msg: AmiMessage, at: float) -> ev.PbxEvent:
        return cls(at=at, chan=_need(snapshot(msg), msg))

    return build


def _newexten(msg: AmiMessage, at: float) -> ev.PbxEvent:
    return ev.DialplanStep(
        at=at,
        chan=_need(snapshot(msg), msg),
        application=msg.get("Application") or "",
        app_data=msg.get("AppData") or "",
    )


def _varset(msg: AmiMessage, at: float) -> ev.PbxEvent | None:
    name = msg.get("Variable") or ""
    if name not in WANTED_VARIABLES:
        return None
    chan = snapshot(msg)
    if chan is None:  # a global variable
        return None
    return ev.VariableSet(
        at=at, chan=chan, variable=name, value=_bounded(msg.get("Value") or "", MAX_TEXT, "Value")
    )


def _hangup_request(soft: bool) -> Builder:
    def build(msg: AmiMessage, at: float) -> ev.PbxEvent:
        return ev.HangupRequested(
            at=at, chan=_need(snapshot(msg), msg), cause=_int(msg.get("Cause")), soft=soft
        )

    return build


def _hangup(msg: AmiMessage, at: float) -> ev.PbxEvent:
    return ev.ChannelHungUp(
        at=at,
        chan=_need(snapshot(msg), msg),
        cause=_int(msg.get("Cause")),
        cause_text=msg.get("Cause-txt") or "",
    )


def _dial(kind: str) -> Builder:
    def build(msg: AmiMessage, at: float) -> ev.PbxEvent:
        caller = snapshot(msg)
        dest = _need(snapshot(msg, "Dest"), msg)
        dial_string = msg.get("DialString") or ""
        if kind == "begin":
            return ev.DialBegan(at=at, caller=caller, dest=dest, dial_string=dial_string)
        status = DialStatus.parse(msg.get("DialStatus") or "")
        if kind == "state":
            return ev.DialProgress(at=at, caller=caller, dest=dest, dial_string=dial_string, status=status)
        return ev.DialEnded(at=at, caller=caller, dest=dest, dial_string=dial_string, status=status)

    return build


def _bridge_enter(msg: AmiMessage, at: float) -> ev.PbxEvent:
    return ev.BridgeEntered(
        at=at,
        chan=_need(snapshot(msg), msg),
        bridge_id=msg.get("BridgeUniqueid") or "",
        bridge_type=msg.get("BridgeType") or "",
    )


def _bridge_leave(msg: AmiMessage, at: float) -> ev.PbxEvent:
    return ev.BridgeLeft(at=at, chan=_need(snapshot(msg), msg), bridge_id=msg.get("BridgeUniqueid") or "")


def _local_bridge(msg: AmiMessage, at: float) -> ev.PbxEvent:
    one = _need(snapshot(msg, "LocalOne"), msg)
    two = _need(snapshot(msg, "LocalTwo"), msg)
    return ev.LocalBridged(at=at, one=one, two=two)


def _hold(msg: AmiMessage, at: float) -> ev.PbxEvent:
    return ev.HoldStarted(at=at, chan=_need(snapshot(msg), msg), music_class=msg.get("MusicClass") or "")


def _music(msg: AmiMessage, at: float) -> ev.PbxEvent:
    return ev.MusicStarted(at=at, chan=_need(snapshot(msg), msg), music_class=msg.get("Class") or "")


def _dtmf(msg: AmiMessage, at: float) -> ev.PbxEvent:
    return ev.DtmfReceived(
        at=at,
        chan=_need(snapshot(msg), msg),
        digit=msg.get("Digit") or "",
        direction=msg.get("Direction") or "",
        duration_ms=_int(msg.get("DurationMs")),
    )


def _agi(finished: bool) -> Builder:
    def build(msg: AmiMessage, at: float) -> ev.PbxEvent:
        return ev.AgiCommand(
            at=at,
            chan=_need(snapshot(msg), msg),
            command=msg.get("Command") or "",
            command_id=msg.get("CommandId") or "",
            finished=finished,
            result_code=msg.get("ResultCode") or "",
            result=msg.get("Result") or "",
        )

    return build


def _blind_transfer(msg: AmiMessage, at: float) -> ev.PbxEvent:
    return ev.BlindTransferred(
        at=at,
        transferer=snapshot(msg, "Transferer"),
        transferee=snapshot(msg, "Transferee"),
        extension=msg.get("Extension") or "",
        context=msg.get("Context") or "",
        result=msg.get("Result") or "",
    )


def _attended_transfer(msg: AmiMessage, at: float) -> ev.PbxEvent:
    return ev.AttendedTransferred(
        at=at,
        transferer=snapshot(msg, "OrigTransferer"),
        transferee=snapshot(msg, "Transferee"),
        target=snapshot(msg, "TransferTarget"),
        result=msg.get("Result") or "",
    )


def _queue_caller(kind: str) -> Builder:
    def build(msg: AmiMessage, at: float) -> ev.PbxEvent:
        chan = _need(snapshot(msg), msg)
        queue = msg.get("Queue") or ""
        position = _int(msg.get("Position"))
        if kind == "abandon":
            return ev.QueueCallerAbandoned(
                at=at,
                chan=chan,
                queue=queue,
                position=position,
                original_position=_int(msg.get("OriginalPosition")),
                hold_time=_int(msg.get("HoldTime")),
            )
        cls = ev.QueueCallerJoined if kind == "join" else ev.QueueCallerLeft
        return cls(at=at, chan=chan, queue=queue, position=position, count=_int(msg.get("Count")))

    return build


def _agent(kind: str) -> Builder:
    def build(msg: AmiMessage, at: float) -> ev.PbxEvent:
        queue = msg.get("Queue") or ""
        caller = snapshot(msg)
        dest = snapshot(msg, "Dest")
        interface = msg.get("Interface") or ""
        member = msg.get("MemberName") or ""
        if kind == "called":
            return ev.AgentCalled(
                at=at, queue=queue, caller=caller, dest=dest, interface=interface, member_name=member
            )
        if kind == "connect":
            return ev.AgentConnected(
                at=at,
                queue=queue,
                caller=caller,
                dest=dest,
                interface=interface,
                member_name=member,
                hold_time=_int(msg.get("HoldTime")),
                ring_time=_int(msg.get("RingTime")),
            )
        if kind == "complete":
            return ev.AgentCompleted(
                at=at,
                queue=queue,
                caller=caller,
                dest=dest,
                interface=interface,
                member_name=member,
                hold_time=_int(msg.get("HoldTime")),
                talk_time=_int(msg.get("TalkTime")),
                reason=msg.get("Reason") or "",
            )
        return ev.AgentRingNoAnswer(
            at=at,
            queue=queue,
            caller=caller,
            dest=dest,
            interface=interface,
            member_name=member,
            ring_time=_int(msg.get("RingTime")),
        )

    return build


def _member(msg: AmiMessage, at: float) -> ev.PbxEvent:
    return ev.QueueMemberState(
        at=at,
        kind=msg.event or "",
        queue=msg.get("Queue") or "",
        interface=msg.get("Interface") or msg.get("Location") or "",
        member_name=msg.get("MemberName") or msg.get("Name") or "",
        status=_int(msg.get("Status")),
        paused=msg.get("Paused") == "1",
        paused_reason=msg.get("PausedReason") or "",
        calls_taken=_int(msg.get("CallsTaken")),
        in_call=msg.get("InCall") == "1",
    )


def _spy(started: bool) -> Builder:
    def build(msg: AmiMessage, at: float) -> ev.PbxEvent:
        return ev.SpyEvent(at=at, spyer=snapshot(msg, "Spyer"), spyee=snapshot(msg, "Spyee"), started=started)

    return build


def _originate(msg: AmiMessage, at: float) -> ev.PbxEvent:
    uniqueid = msg.get("Uniqueid")
    return ev.OriginateResult(
        at=at,
        action_id=msg.get("ActionID") or "",
        success=msg.get("Response") == "Success",
        reason=_int(msg.get("Reason")),
        channel=msg.get("Channel") or "",
        uniqueid=None if uniqueid in (None, "", "<unknown>") else uniqueid,
    )


def _cdr(msg: AmiMessage, at: float) -> ev.PbxEvent:
    return ev.CdrRecord(
        at=at,
        uniqueid=msg["UniqueID"],
        channel=msg.get("Channel") or "",
        source=msg.get("Source") or "",
        destination=msg.get("Destination") or "",
        destination_context=msg.get("DestinationContext") or "",
        destination_channel=msg.get("DestinationChannel") or "",
        disposition=msg.get("Disposition") or "",
        duration=_int(msg.get("Duration")),
        billable_seconds=_int(msg.get("BillableSeconds")),
        start_time=msg.get("StartTime") or "",
        answer_time=msg.get("AnswerTime") or "",
        end_time=msg.get("EndTime") or "",
        last_application=msg.get("LastApplication") or "",
    )


def _hms(value: str | None) -> int:
    if not value:
        return 0
    total = 0
    for part in value.split(":"):
        total = total * 60 + _int(part)
    return total


def _core_show_channel(msg: AmiMessage, at: float) -> ev.PbxEvent:
    return ev.ChannelListed(
        at=at,
        chan=_need(snapshot(msg), msg),
        duration_seconds=_hms(msg.get("Duration")),
        application=msg.get("Application") or "",
        application_data=msg.get("ApplicationData") or "",
        bridge_id=msg.get("BridgeId") or "",
    )


def _shutdown(msg: AmiMessage, at: float) -> ev.PbxEvent:
    return ev.PbxShutdown(
        at=at,
        clean=(msg.get("Shutdown") or "").lower() == "cleanly",
        restart=(msg.get("Restart") or "").lower() == "true",
    )


def _fully_booted(msg: AmiMessage, at: float) -> ev.PbxEvent:
    return ev.PbxFullyBooted(at=at, uptime=_int(msg.get("Uptime")))


BUILDERS: dict[str, Builder] = {
    "Newchannel": _chan(ev.ChannelCreated),
    "Newstate": _chan(ev.ChannelStateChanged),
    "NewCallerid": _chan(ev.CallerIdChanged),
    "NewConnectedLine": _chan(ev.ConnectedLineChanged),
    "Newexten": _newexten,
    "VarSet": _varset,
    "DialBegin": _dial("begin"),
    "DialState": _dial("state"),
    "DialEnd": _dial("end"),
    "BridgeEnter": _bridge_enter,
    "BridgeLeave": _bridge_leave,
    "LocalBridge": _local_bridge,
    "Hold": _hold,
    "Unhold": _chan(ev.HoldEnded),
    "MusicOnHoldStart": _music,
    "MusicOnHoldStop": _chan(ev.MusicStopped),
    "HangupRequest": _hangup_request(soft=False),
    "SoftHangupRequest": _hangup_request(soft=True),
    "Hangup": _hangup,
    "Cdr": _cdr,
    "MixMonitorStart": _chan(ev.RecordingStarted),
    "AGIExecStart": _agi(finished=False),
    "AGIExecEnd": _agi(finished=True),
    "DTMFEnd": _dtmf,
    "BlindTransfer": _blind_transfer,
    "AttendedTransfer": _attended_transfer,
    "QueueCallerJoin": _queue_caller("join"),
    "QueueCallerLeave": _queue_caller("leave"),
    "QueueCallerAbandon": _queue_caller("abandon"),
    "AgentCalled": _agent("called"),
    "AgentConnect": _agent("connect"),
    "AgentComplete": _agent("complete"),
    "AgentRingNoAnswer": _agent("ringnoanswer"),
    "QueueMemberStatus": _member,
    "QueueMemberPause": _member,
    "QueueMemberAdded": _member,
    "QueueMemberRemoved": _member,
    "QueueMember": _member,
    "ChanSpyStart": _spy(started=True),
    "ChanSpyStop": _spy(started=False),
    "OriginateResponse": _originate,
    "CoreShowChannel": _core_show_channel,
    "Shutdown": _shutdown,
    "FullyBooted": _fully_booted,
}


class Translator:
    """Turns AMI event messages into domain events and counts what it could not use."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self.translated = 0
        self.ignored = 0
        self.unknown: Counter[str] = Counter()
        self.malformed = 0

    def __call__(self, msg: AmiMessage, at: float | None = None) -> ev.PbxEvent | None:
        name = msg.event
        if name is None:
            self.ignored += 1
            return None
        builder = BUILDERS.get(name)
        if builder is None:
            if name not in IGNORED_EVENTS:
                self.unknown[name] += 1
            self.ignored += 1
            return None
        try:
            event = builder(msg, self._clock() if at is None else at)
        except (KeyError, ValueError) as exc:
            self.malformed += 1
            log.warning(
                "untranslatable AMI event",
                extra={"ami_event": name, "error": str(exc), "fields": msg.pairs[:40]},
            )
            return None
        if event is None:
            self.ignored += 1
        else:
            self.translated += 1
        return event

    def stats(self) -> dict[str, int]:
        return {
            "translated": self.translated,
            "ignored": self.ignored,
            "unknown": sum(self.unknown.values()),
            "malformed": self.malformed,
            "truncated": TRUNCATED.total(),
        }
