"""The live call model: every call (keyed by Linkedid) and leg (keyed by Uniqueid) the PBX has now.

Fed with typed events in arrival order (one consumer, no locks). It tolerates the disorder real Asterisk
produces (traces README facts 11, 13-18, 27): events for channels it never saw created (a Cdr before
Newchannel, a service restart mid-call) create the leg from the snapshot the event carries; a second
DialEnd for the same leg is ignored; the delayed Hangup of an AGI channel does not delay ``ended_at``,
which is taken from the customer side's first hangup request.

Definitions (documented once here, used by reports later):

* **wait** = answered_at − (queued_at, else the first offer to an agent); for calls that were never
  answered, ended_at − the same start. Time in the IVR is not wait.
* **talk** = time during which a customer-side leg sat in a bridge, minus hold (from BridgeEnter/Leave,
  not Dial's ANSWEREDTIME, fact 17). **hold** = time between Hold and Unhold on any leg of the call, plus
  the console's hold: music on hold in a hold context (``[cc-hold]``: the customer was redirected out of
  the bridge, so that time is not talk time either), from MusicOnHoldStart to MusicOnHoldStop (or the
  leg's next BridgeEnter, or its end). A hold redirect is not a transfer.
* **hangup_by**: decided from the last time the customer was connected to someone. If an agent leg left
  that bridge first, the agent hung up. Otherwise the first customer-side hangup request from a second
  before that moment on decides: the customer's own channel → caller; a soft hangup (AMI Hangup, end of
  dialplan) of the inbound leg → system. Never answered: the first customer-side request decides.
  (Asterisk orders these events differently from thread to thread; the first bridge leaver is stable.)
* **outcome**: answered if any agent answered; otherwise abandoned (caller hung up after being queued or
  offered) or unanswered; abandoned_in_ivr (caller hung up before that); failed if never up; lost if the
  call vanished without a Hangup (closed by a resync after a reconnect).

Resume (a *service* restart while calls are up): a call first seen through a resync (``ChannelListed``
of a linkedid this process does not know) is marked ``resumed``; what the snapshot tells is only an
estimate (``started_at`` from the whole-second channel age, ``ivr_at`` = the channel start, a leg's
``answered_at`` = the snapshot time, the call's ``answered_at`` = the snapshot time when an agent leg is
bridged; talk counts from the resync). With a resume service attached (``on_resync``: ``services/resume``),
the call's stored record is merged in with ``restore``: started_at earliest; ivr/queued/offered/answered
first known (the stored time replaces an estimate); queue, agent, recording, caller, DNIS the live value
when known, else the stored one; ``extra`` the union (live keys win); stored legs, offers and transfers
added; stored hold added; and talk before the restart added: the resync time − the stored
``answered_at`` when a customer-side leg was bridged at the resync (talk = stored answer → real end −
hold), else the stored (closed-segment) talk. Live events keep applying meanwhile (the merge does not
depend on order); only the *final* record waits: a resumed call that ends before its restore is parked
(still counted live) and emitted by ``restore``/``restore_failed``. ``close_stale`` closes a stored open
call that no resync shows: ended at the latest time the store recorded for it (never after the resync),
answered if it had an ``answered_at`` else lost, talk capped to that end, ``extra.closed_by=resume``.

Snapshots for the store are built lazily: changes mark a call dirty, and the records service collects
``take_changes()`` a few times a second, so a busy call costs one snapshot per flush, not per event.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from callcenter.domain import events as ev
from callcenter.domain.agents import AgentDirectory
from callcenter.domain.calls import (
    CallOutcome,
    CallRecord,
    HangupSide,
    LegRecord,
    LegRole,
    OfferRecord,
    TransferRecord,
)
from callcenter.domain.events import ChannelSnapshot, ChannelState, DialStatus

log = logging.getLogger(__name__)

CUSTOMER_SIDE = frozenset({LegRole.CUSTOMER, LegRole.INBOUND, LegRole.OUTBOUND})
DEFAULT_INBOUND_CONTEXTS = ("incoming", "from-pstn", "from-trunk", "from-external")
DEFAULT_OUTBOUND_CONTEXTS = ("outbound",)
#: dialplan contexts of the console's hold (``dialplan/extensions.conf``): music there is a hold
DEFAULT_HOLD_CONTEXTS = ("cc-hold", "cc-hold-agent")
#: A dial made within this many seconds after a transfer event belongs to that transfer.
TRANSFER_DIAL_WINDOW = 3.0


@dataclass(frozen=True, slots=True)
class ResyncDone:
    """What a finished resync tells the resume service."""

    at: float
    new_calls: frozenset[str]  # calls the resync created (live now, unknown to this process before)


def _last_seen(record: CallRecord) -> float:
    """The latest time recorded for a call: the last moment the store knew it alive."""
    times = [record.started_at]
    times += [
        t for t in (record.ivr_at, record.queued_at, record.offered_at, record.answered_at) if t is not None
    ]
    for leg in record.legs:
        times += [t for t in (leg.started_at, leg.answered_at, leg.ended_at) if t is not None]
    for offer in record.offers:
        times += [t for t in (offer.rang_at, offer.ended_at) if t is not None]
    times += [t.at for t in record.transfers]
    return max(times)


@dataclass(slots=True)
class _Leg:
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
    bridges: set[str] = field(default_factory=set)
    on_hold_since: float | None = None
    music_hold: bool = False  # the hold is music in a hold context (the console's hold)
    hangup_requested: bool = False

    def record(self) -> LegRecord:
        return LegRecord(
            uniqueid=self.uniqueid,
            call_id=self.call_id,
            channel=self.channel,
            role=self.role,
            started_at=self.started_at,
            agent=self.agent,
            answered_at=self.answered_at,
            ended_at=self.ended_at,
            hangup_cause=self.hangup_cause,
            dial_status=self.dial_status,
        )


@dataclass(slots=True)
class _Offer:
    agent: str
    uniqueid: str
    rang_at: float
    ended_at: float | None = None
    answered: bool = False
    dial_status: str | None = None


@dataclass(slots=True)
class _Call:
    call_id: str
    started_at: float
    caller_num: str = ""
    caller_name: str = ""
    dnis: str = ""
    direction: str = "internal"
    queue: str | None = None
    agent: str | None = None
    ivr_at: float | None = None
    queued_at: float | None = None
    offered_at: float | None = None
    answered_at: float | None = None
    ended_at: float | None = None
    up_at: float | None = None
    hangup_cause: int | None = None
    hangup_by: HangupSide | None = None
    talk_first_leaver: LegRole | None = None
    talk_ended_at: float | None = None
    customer_requests: list[tuple[float, HangupSide]] = field(default_factory=list)
    recording_file: str | None = None
    pending_recording: str | None = None
    abandoned_in_queue: bool = False
    resumed: bool = False
    closed_by_resync: bool = False
    # service restart (see "Resume" in the module docstring)
    restore_pending: bool = False  # created by a resync; its stored record is still being loaded
    resumed_at: float | None = None  # when a resync first listed the call
    resumed_bridged: bool = False  # a customer-side leg was in a bridge at that resync
    estimated: set[str] = field(default_factory=set)  # times guessed from the snapshot (stored wins)
    legs: dict[str, _Leg] = field(default_factory=dict)
    live_legs: int = 0
    offers: dict[str, _Offer] = field(default_factory=dict)
    transfers: list[TransferRecord] = field(default_factory=list)
    last_transfer_at: float = float("-inf")
    transfer_pending: bool = False  # a transfer event whose dial to an agent has not been seen yet
    talk_since: float | None = None
    talk_seconds: float = 0.0
    bridged_customer_legs: int = 0
    holds_active: int = 0
    hold_since: float | None = None
    hold_seconds: float = 0.0
    unbridged_hold_seconds: float = 0.0  # console holds: already outside talk time
    extra: dict[str, str] = field(default_factory=dict)

    def customer_leg(self) -> _Leg | None:
        return self.legs.get(self.call_id)


class CallTracker:
    def __init__(
        self,
        agents: AgentDirectory | None = None,
        *,
        inbound_contexts: Iterable[str] = DEFAULT_INBOUND_CONTEXTS,
        outbound_contexts: Iterable[str] = DEFAULT_OUTBOUND_CONTEXTS,
        hold_contexts: Iterable[str] = DEFAULT_HOLD_CONTEXTS,
        tombstones: int = 100_000,
        version_clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.agents = agents or AgentDirectory()
        self._inbound = frozenset(inbound_contexts)
        self._outbound = frozenset(outbound_contexts)
        self._hold_contexts = frozenset(hold_contexts)
        self.calls: dict[str, _Call] = {}
        self.legs: dict[str, _Leg] = {}
        self._dirty: set[str] = set()
        self._finished: list[CallRecord] = []
        self._tombstones: OrderedDict[str, None] = OrderedDict()
        self._tombstone_limit = tombstones
        self._version_clock = version_clock
        self._last_version = 0
        self.late_events = 0
        self.events_handled = 0
        self.calls_finished = 0
        self._listeners: list[Callable[[CallRecord], None]] = []
        self._resync_listeners: list[Callable[[ResyncDone], None]] = []
        self._parked: dict[str, _Call] = {}  # ended while restore_pending: finished by the restore
        self._new_by_resync: set[str] = set()
        self.calls_restored = 0
        self.restores_missing = 0
        self.restores_failed = 0
        self.calls_closed_on_resume = 0
        self._leg_listeners: list[Callable[[LegRecord], None]] = []
        self._handlers: dict[type, Callable[[ev.PbxEvent], None]] = {
            ev.ChannelCreated: self._on_channel,
            ev.ChannelStateChanged: self._on_state,
            ev.CallerIdChanged: self._on_channel,
            ev.ConnectedLineChanged: self._on_channel,
            ev.DialplanStep: self._on_dialplan,
            ev.VariableSet: self._on_varset,
            ev.DialBegan: self._on_dial_begin,
            ev.DialEnded: self._on_dial_end,
            ev.BridgeEntered: self._on_bridge_enter,
            ev.BridgeLeft: self._on_bridge_leave,
            ev.HoldStarted: self._on_hold,
            ev.HoldEnded: self._on_unhold,
            ev.MusicStarted: self._on_music,
            ev.MusicStopped: self._on_music_stop,
            ev.HangupRequested: self._on_hangup_request,
            ev.ChannelHungUp: self._on_hangup,
            ev.RecordingStarted: self._on_recording,
            ev.AgiCommand: self._on_agi,
            ev.BlindTransferred: self._on_blind_transfer,
            ev.AttendedTransferred: self._on_attended_transfer,
            ev.QueueCallerJoined: self._on_queue_join,
            ev.QueueCallerAbandoned: self._on_queue_abandon,
            ev.AgentCalled: self._on_agent_called,
            ev.AgentConnected: self._on_agent_connected,
            ev.ChannelListed: self._on_channel,
            ev.ResyncComplete: self._on_resync_complete,
        }

    # --- public ---------------------------------------------------------------------------
    def handle(self, event: ev.PbxEvent) -> None:
        handler = self._handlers.get(type(event))
        if handler is not None:
            self.events_handled += 1
            handler(event)

    def on_finished(self, listener: Callable[[CallRecord], None]) -> None:
        """Called with the final record of every call as it ends (screen pop, metrics, records)."""
        self._listeners.append(listener)

    def on_resync(self, listener: Callable[[ResyncDone], None]) -> None:
        """Called (synchronously, in the event path: it must only note the work and return) after every
        ``ResyncComplete`` with the calls that resync created. While a listener is registered, such calls
        are held open until ``restore`` / ``restore_failed`` says their stored state is merged."""
        self._resync_listeners.append(listener)

    def on_leg_ended(self, listener: Callable[[LegRecord], None]) -> None:
        """Called with the final record of every leg as it ends (the console's hold watch)."""
        self._leg_listeners.append(listener)

    def bridge_peers(self, uniqueid: str) -> list[LegRecord]:
        """The live legs that share a bridge with the leg ``uniqueid`` (the agent's other party)."""
        leg = self.legs.get(uniqueid)
        if leg is None or not leg.bridges:
            return []
        return [
            other.record()
            for other in self._call_of(leg).legs.values()
            if other is not leg and other.ended_at is None and other.bridges & leg.bridges
        ]

    def take_changes(self) -> list[CallRecord]:
        """Snapshots of every call changed since the last take, finished calls included."""
        out = self._finished
        self._finished = []
        for call_id in self._dirty:
            call = self.calls.get(call_id)
            if call is not None:
                out.append(self._record(call))
        self._dirty.clear()
        return out

    def snapshot(self, call_id: str) -> CallRecord | None:
        call = self.calls.get(call_id)
        return None if call is None else self._record(call)

    @property
    def live_calls(self) -> int:
        """Calls not finished yet (including ended calls waiting for their stored state)."""
        return len(self.calls) + len(self._parked)

    def stats(self) -> dict[str, int]:
        return {
            "live_calls": len(self.calls) + len(self._parked),
            "live_legs": len(self.legs),
            "calls_finished": self.calls_finished,
            "late_events": self.late_events,
            "events_handled": self.events_handled,
            "calls_restored": self.calls_restored,
            "restores_missing": self.restores_missing,
            "restores_failed": self.restores_failed,
            "calls_closed_on_resume": self.calls_closed_on_resume,
            "restores_pending": sum(1 for c in self.calls.values() if c.restore_pending) + len(self._parked),
        }

    # --- resume after a service restart --------------------------------------------------------
    def knows(self, call_id: str) -> bool:
        """The call is live here, waiting for its restore, or finished by this process."""
        return call_id in self.calls or call_id in self._parked or call_id in self._tombstones

    def restore(self, stored: CallRecord) -> bool:
        """Merge the stored record of a call this process resumed from a resync; False if the call is not
        waiting for one (already restored, or never resumed). See "Resume" in the module docstring."""
        call = self.calls.get(stored.call_id) or self._parked.get(stored.call_id)
        if call is None or not call.restore_pending:
            return False
        self._merge_stored(call, stored)
        self.calls_restored += 1
        log.info(
            "resumed call merged with its stored record",
            extra={"linkedid": call.call_id, "answered_at": call.answered_at, "agent": call.agent},
        )
        self._restore_done(call)
        return True

    def restore_failed(self, call_id: str, *, missing: bool = False) -> None:
        """No stored state for a resumed call (``missing``: the store has no such call; else the store
        failed): go on with what the snapshot told."""
        call = self.calls.get(call_id) or self._parked.get(call_id)
        if call is None or not call.restore_pending:
            return
        if missing:
            self.restores_missing += 1
        else:
            self.restores_failed += 1
        self._restore_done(call)

    def close_stale(self, stored: CallRecord, upper_bound: float) -> CallRecord | None:
        """Close a call the store has as in progress that no resync shows any more: it ended while the
        service was down. ``ended_at`` is the last time the store saw the call (its latest recorded time),
        never later than ``upper_bound`` (the resync that proved it gone); talk never runs past it.
        Returns the final record (also queued for the store and sent to the finished listeners), or None
        if the call is known here (live, waiting for its restore, or finished by this process)."""
        if self.knows(stored.call_id) or stored.outcome is not CallOutcome.IN_PROGRESS:
            return None
        ended = min(upper_bound, _last_seen(stored))
        answered = stored.answered_at is not None
        talk = 0.0
        if stored.answered_at is not None:
            net = max(0.0, stored.talk_seconds - stored.hold_seconds)
            talk = min(net, max(0.0, ended - stored.answered_at))
        wait_start = stored.queued_at if stored.queued_at is not None else stored.offered_at
        wait_end = stored.answered_at if stored.answered_at is not None else ended
        legs = tuple(
            leg if leg.ended_at is not None else dataclasses.replace(leg, ended_at=max(leg.started_at, ended))
            for leg in stored.legs
        )
        offers = tuple(
            o if o.ended_at is not None else dataclasses.replace(o, ended_at=max(o.rang_at, ended))
            for o in stored.offers
        )
        self._last_version = max(self._last_version, stored.version)
        record = dataclasses.replace(
            stored,
            ended_at=ended,
            outcome=CallOutcome.ANSWERED if answered else CallOutcome.LOST,
            hangup_by=HangupSide.SYSTEM,
            talk_seconds=talk,
            wait_seconds=None if wait_start is None else max(0.0, wait_end - wait_start),
            legs=legs,
            offers=offers,
            version=self._next_version(),
            extra={**stored.extra, "closed_by": "resume"},
        )
        self._bury(stored.call_id)
        self.calls_closed_on_resume += 1
        log.warning(
            "call ended while the service was down; closed on resume",
            extra={"linkedid": stored.call_id, "outcome": record.outcome.value, "ended_at": ended},
        )
        self._emit(record)
        return record

    def _restore_done(self, call: _Call) -> None:
        call.restore_pending = False
        self._dirty.add(call.call_id)
        parked = self._parked.pop(call.call_id, None)
        if parked is not None:
            self._emit_final(parked)

    def _merge_stored(self, call: _Call, stored: CallRecord) -> None:
        """Stored state into a resumed call. Order-independent with the live events applied since the
        resync: times keep the earliest / first known (a time the snapshot only estimated yields to the
        stored one), descriptive fields the live value when known, talk/hold add the pre-restart part."""
        self._last_version = max(self._last_version, stored.version)
        call.started_at = min(call.started_at, stored.started_at)
        for name in ("ivr_at", "queued_at", "offered_at", "answered_at"):
            old = getattr(stored, name)
            if old is not None and (getattr(call, name) is None or name in call.estimated):
                setattr(call, name, old)
                call.estimated.discard(name)
        if not call.caller_num:
            call.caller_num, call.caller_name = stored.caller_num, stored.caller_name or call.caller_name
        if not call.dnis:
            call.dnis = stored.dnis
        if call.direction == "internal" and stored.direction:
            call.direction = stored.direction
        call.queue = call.queue or stored.queue
        call.agent = call.agent or stored.agent
        call.recording_file = call.recording_file or stored.recording_file
        if call.hangup_cause is None:
            call.hangup_cause = stored.hangup_cause
        call.extra = {**stored.extra, **call.extra}
        call.extra.pop("closed_by", None)
        # legs: live ones keep their live state but take the stored start/answer; the others had ended
        # (or vanished unseen) before the resync: they join the call as ended legs
        for old in stored.legs:
            leg = call.legs.get(old.uniqueid)
            if leg is None:
                end = old.ended_at
                if end is None:
                    end = max(old.started_at, call.resumed_at or old.started_at)
                call.legs[old.uniqueid] = _Leg(
                    uniqueid=old.uniqueid,
                    call_id=call.call_id,
                    channel=old.channel,
                    role=old.role,
                    started_at=old.started_at,
                    agent=old.agent,
                    answered_at=old.answered_at,
                    ended_at=end,
                    hangup_cause=old.hangup_cause,
                    dial_status=old.dial_status,
                )
                continue
            leg.started_at = min(leg.started_at, old.started_at)
            if old.answered_at is not None:
                leg.answered_at = old.answered_at
            leg.agent = leg.agent or old.agent
            leg.dial_status = leg.dial_status or old.dial_status
            if leg.role in CUSTOMER_SIDE and leg.answered_at is not None:
                call.up_at = leg.answered_at if call.up_at is None else min(call.up_at, leg.answered_at)
        for o in stored.offers:
            if o.uniqueid not in call.offers:
                offer_end = o.ended_at
                if offer_end is None and o.uniqueid not in self.legs:
                    offer_end = call.resumed_at
                call.offers[o.uniqueid] = _Offer(
                    agent=o.agent,
                    uniqueid=o.uniqueid,
                    rang_at=o.rang_at,
                    ended_at=offer_end,
                    answered=o.answered,
                    dial_status=o.dial_status,
                )
        if call.offers:
            call.offers = dict(sorted(call.offers.items(), key=lambda kv: kv[1].rang_at))
        known = {(t.at, t.kind, t.target) for t in call.transfers}
        extra_transfers = [t for t in stored.transfers if (t.at, t.kind, t.target) not in known]
        if extra_transfers:
            call.transfers = sorted([*extra_transfers, *call.transfers], key=lambda t: t.at)
        # talk and hold before the restart (the snapshot's talk counts from the resync on)
        call.hold_seconds += stored.hold_seconds
        resumed_at = call.resumed_at
        if call.resumed_bridged and call.answered_at is not None and resumed_at is not None:
            call.talk_seconds += max(0.0, resumed_at - call.answered_at)
        else:
            call.talk_seconds += stored.talk_seconds
        call.estimated.clear()
        self._dirty.add(call.call_id)

    # --- legs and calls ------------------------------------------------------------------
    def _leg(self, snap: ChannelSnapshot, at: float) -> _Leg | None:
        leg = self.legs.get(snap.uniqueid)
        if leg is not None:
            return leg
        if snap.linkedid in self._tombstones or snap.uniqueid in self._tombstones:
            self.late_events += 1
            return None
        call = self.calls.get(snap.linkedid)
        if call is None:
            call = _Call(call_id=snap.linkedid, started_at=at)
            self.calls[snap.linkedid] = call
        role = self._role(call, snap)
        leg = _Leg(
            uniqueid=snap.uniqueid, call_id=call.call_id, channel=snap.channel, role=role, started_at=at
        )
        if role is LegRole.AGENT:
            leg.agent = self.agents.agent_for_channel(snap.channel)
        call.legs[snap.uniqueid] = leg
        call.live_legs += 1
        self.legs[snap.uniqueid] = leg
        self._observe(call, leg, snap)
        self._dirty.add(call.call_id)
        return leg

    def _role(self, call: _Call, snap: ChannelSnapshot) -> LegRole:
        channel = snap.channel
        if self.agents.agent_for_channel(channel) is not None:
            return LegRole.AGENT
        if snap.uniqueid == call.call_id:
            return LegRole.CUSTOMER
        if channel.startswith("Local/") and channel.endswith(";2"):
            first = call.customer_leg()
            if first is not None and first.channel[:-2] == channel[:-2]:
                return LegRole.INBOUND
        if snap.context in self._inbound and not call.legs:
            return LegRole.CUSTOMER
        if snap.context in self._outbound or channel.split("@", 1)[-1].startswith(tuple(self._outbound)):
            return LegRole.OUTBOUND
        if channel.startswith("Local/") and "@transfer" in channel:
            return LegRole.TRANSFER
        return LegRole.OTHER

    def _observe(self, call: _Call, leg: _Leg, snap: ChannelSnapshot) -> None:
        """Update what a snapshot tells about the call (caller id, DNIS, direction)."""
        if leg.role is LegRole.CUSTOMER:
            if snap.caller_num and snap.caller_num != call.caller_num:
                call.caller_num = snap.caller_num
                self._dirty.add(call.call_id)
            if snap.caller_name and snap.caller_name != call.caller_name:
                call.caller_name = snap.caller_name
                self._dirty.add(call.call_id)
        if leg.role in CUSTOMER_SIDE and snap.context:
            if snap.context in self._inbound:
                if call.direction != "inbound":
                    call.direction = "inbound"
                    self._dirty.add(call.call_id)
                if not call.dnis and snap.exten and snap.exten not in ("s", "h"):
                    call.dnis = snap.exten
            elif snap.context in self._outbound and call.direction == "internal":
                call.direction = "outbound"
        if leg.role is LegRole.OUTBOUND and call.direction == "internal":
            call.direction = "outbound"
            if not call.dnis:
                call.dnis = snap.exten
        if not call.caller_num and leg.role is LegRole.INBOUND and snap.caller_num:
            call.caller_num = snap.caller_num
            call.caller_name = snap.caller_name

    def _call_of(self, leg: _Leg) -> _Call:
        return self.calls[leg.call_id]

    # --- handlers -------------------------------------------------------------------------
    def _on_channel(self, e: ev.PbxEvent) -> None:
        assert isinstance(e, ev.ChannelEvent)
        listed = isinstance(e, ev.ChannelListed)
        new_call = listed and e.chan.linkedid not in self.calls
        leg = self._leg(e.chan, e.at)
        if leg is None:
            return
        call = self._call_of(leg)
        if new_call:
            call.resumed_at = e.at
            call.resumed = True
            self._new_by_resync.add(call.call_id)
            if self._resync_listeners:
                call.restore_pending = True
        self._observe(call, leg, e.chan)
        if isinstance(e, ev.ChannelListed):
            self._resume(call, leg, e)
        elif e.chan.state is ChannelState.UP:
            self._leg_up(call, leg, e.at)

    def _resume(self, call: _Call, leg: _Leg, e: ev.ChannelListed) -> None:
        """A channel found alive by a resync (after a reconnect or a service restart)."""
        started = e.at - e.duration_seconds
        if leg.started_at > started:
            leg.started_at = started
        if call.started_at > started:
            call.started_at = started
            call.resumed = True
        # for a call first seen by this resync these are estimates: the stored record (``restore``)
        # replaces them
        if e.chan.state is ChannelState.UP:
            self._leg_up(call, leg, e.at if leg.answered_at is None else leg.answered_at)
        if e.bridge_id and e.bridge_id not in leg.bridges:
            self._enter_bridge(call, leg, e.bridge_id, e.at)
            if call.resumed_at is not None:
                self._resume_bridged(call, leg, e.at)
        if e.application == "AGI" and call.ivr_at is None:
            call.ivr_at = started
            if call.resumed_at is not None:
                call.estimated.add("ivr_at")

    @staticmethod
    def _resume_bridged(call: _Call, leg: _Leg, at: float) -> None:
        if leg.role in CUSTOMER_SIDE:
            call.resumed_bridged = True
        elif leg.role is LegRole.AGENT and leg.agent is not None and call.answered_at is None:
            call.answered_at = at  # answered no later than this; the exact time is in the store
            call.estimated.add("answered_at")
            call.agent = call.agent or leg.agent

    def _on_state(self, e: ev.PbxEvent) -> None:
        assert isinstance(e, ev.ChannelStateChanged)
        leg = self._leg(e.chan, e.at)
        if leg is not None and e.chan.state is ChannelState.UP:
            self._leg_up(self._call_of(leg), leg, e.at)

    def _leg_up(self, call: _Call, leg: _Leg, at: float) -> None:
        if leg.answered_at is None:
            leg.answered_at = at
            self._dirty.add(call.call_id)
        if leg.role in CUSTOMER_SIDE and call.up_at is None:
            call.up_at = at

    def _on_dialplan(self, e: ev.PbxEvent) -> None:
        assert isinstance(e, ev.DialplanStep)
        leg = self._leg(e.chan, e.at)
        if leg is None:
            return
        call = self._call_of(leg)
        self._observe(call, leg, e.chan)
        if e.application == "AGI" and call.ivr_at is None:
            call.ivr_at = e.at
            self._dirty.add(call.call_id)

    def _on_agi(self, e: ev.PbxEvent) -> None:
        assert isinstance(e, ev.AgiCommand)
        leg = self._leg(e.chan, e.at)
        if leg is not None:
            call = self._call_of(leg)
            if call.ivr_at is None:
                call.ivr_at = e.at
                self._dirty.add(call.call_id)

    def _on_varset(self, e: ev.PbxEvent) -> None:
        assert isinstance(e, ev.VariableSet)
        leg = self._leg(e.chan, e.at)
        if leg is None:
            return
        call = self._call_of(leg)
        if e.variable == "MIXMONITOR_FILENAME":
            call.pending_recording = e.value
        elif e.variable in ("CC_QUEUE", "QUEUENAME") and e.value:
            call.queue = e.value
            if call.queued_at is None:
                call.queued_at = e.at
            self._dirty.add(call.call_id)
        elif e.variable == "IVR_CHOICE" and e.value:
            call.extra["ivr_choice"] = e.value
            self._dirty.add(call.call_id)

    def _on_recording(self, e: ev.PbxEvent) -> None:
        assert isinstance(e, ev.RecordingStarted)
        leg = self._leg(e.chan, e.at)
        if leg is None:
            return
        call = self._call_of(leg)
        if call.pending_recording:
            call.recording_file = call.pending_recording
            call.pending_recording = None
            self._dirty.add(call.call_id)

    # dialing / offers
    def _on_dial_begin(self, e: ev.PbxEvent) -> None:
        assert isinstance(e, ev.DialBegan)
        dest = self._leg(e.dest, e.at)
        if dest is None:
            return
        call = self._call_of(dest)
        if e.caller is not None:
            self._leg(e.caller, e.at)
        if dest.role is not LegRole.AGENT or dest.agent is None:
            return
        self._offer(call, dest, e.at)
        caller_leg = self.legs.get(e.caller.uniqueid) if e.caller is not None else None
        after_transfer = call.transfer_pending or e.at - call.last_transfer_at <= TRANSFER_DIAL_WINDOW
        call.transfer_pending = False
        if (
            call.answered_at is not None
            and caller_leg is not None
            and caller_leg.role in CUSTOMER_SIDE
            and not after_transfer
            and (e.caller is None or e.caller.context not in self._hold_contexts)
        ):
            # The customer side dials again after talking to an agent with no transfer event:
            # an AMI Redirect (fact 20: "no transfer event").
            self._add_transfer(call, "redirect", dest.agent, call.agent, e.at)

    def _offer(self, call: _Call, dest: _Leg, at: float) -> None:
        if dest.uniqueid in call.offers or dest.agent is None:
            return
        call.offers[dest.uniqueid] = _Offer(agent=dest.agent, uniqueid=dest.uniqueid, rang_at=at)
        if call.offered_at is None:
            call.offered_at = at
        self._dirty.add(call.call_id)

    def _on_dial_end(self, e: ev.PbxEvent) -> None:
        assert isinstance(e, ev.DialEnded)
        dest = self._leg(e.dest, e.at)
        if dest is None:
            return
        call = self._call_of(dest)
        if dest.dial_status is None:  # a second DialEnd (NOANSWER then CANCEL, fact 11) is ignored
            dest.dial_status = e.status.value
        offer = call.offers.get(dest.uniqueid)
        if offer is None or offer.ended_at is not None:
            return
        offer.ended_at = e.at
        offer.dial_status = e.status.value
        if e.status is DialStatus.ANSWER:
            self._answered(call, offer, e.at)
        self._dirty.add(call.call_id)

    def _answered(self, call: _Call, offer: _Offer, at: float) -> None:
        offer.answered = True
        call.agent = offer.agent
        if call.answered_at is None:
            call.answered_at = at
        leg = call.legs.get(offer.uniqueid)
        if leg is not None and leg.answered_at is None:
            leg.answered_at = at

    def _on_agent_called(self, e: ev.PbxEvent) -> None:
        assert isinstance(e, ev.AgentCalled)
        if e.dest is None:
            return
        dest = self._leg(e.dest, e.at)
        if dest is None:
            return
        call = self._call_of(dest)
        if dest.agent is None:
            dest.agent = self.agents.agent_for_channel(e.interface) or e.member_name or None
            dest.role = LegRole.AGENT
        if e.queue and call.queue is None:
            call.queue = e.queue
        self._offer(call, dest, e.at)

    def _on_agent_connected(self, e: ev.PbxEvent) -> None:
        assert isinstance(e, ev.AgentConnected)
        if e.dest is None:
            return
        dest = self._leg(e.dest, e.at)
        if dest is None:
            return
        call = self._call_of(dest)
        offer = call.offers.get(dest.uniqueid)
        if offer is not None and not offer.answered:
            offer.ended_at = offer.ended_at or e.at
            offer.dial_status = offer.dial_status or DialStatus.ANSWER.value
            self._answered(call, offer, e.at)
            self._dirty.add(call.call_id)

    def _on_queue_join(self, e: ev.PbxEvent) -> None:
        assert isinstance(e, ev.QueueCallerJoined)
        leg = self._leg(e.chan, e.at)
        if leg is None:
            return
        call = self._call_of(leg)
        call.queue = e.queue
        if call.queued_at is None:
            call.queued_at = e.at
        self._dirty.add(call.call_id)

    def _on_queue_abandon(self, e: ev.PbxEvent) -> None:
        assert isinstance(e, ev.QueueCallerAbandoned)
        leg = self._leg(e.chan, e.at)
        if leg is not None:
            call = self._call_of(leg)
            call.abandoned_in_queue = True
            self._dirty.add(call.call_id)

    # bridges: talk time
    def _on_bridge_enter(self, e: ev.PbxEvent) -> None:
        assert isinstance(e, ev.BridgeEntered)
        leg = self._leg(e.chan, e.at)
        if leg is not None:
            self._enter_bridge(self._call_of(leg), leg, e.bridge_id, e.at)

    def _enter_bridge(self, call: _Call, leg: _Leg, bridge_id: str, at: float) -> None:
        if leg.music_hold:
            self._end_hold(call, leg, at)  # back in a bridge: the console's hold is over
        was_bridged = bool(leg.bridges)
        leg.bridges.add(bridge_id)
        if leg.role in CUSTOMER_SIDE and not was_bridged:
            call.bridged_customer_legs += 1
            if call.bridged_customer_legs == 1 and call.talk_since is None:
                call.talk_since = at
                call.talk_first_leaver = None  # connected again: who leaves next decides
                self._dirty.add(call.call_id)

    def _on_bridge_leave(self, e: ev.PbxEvent) -> None:
        assert isinstance(e, ev.BridgeLeft)
        leg = self.legs.get(e.chan.uniqueid)
        if leg is not None:
            self._leave_bridge(self._call_of(leg), leg, e.bridge_id, e.at)

    def _leave_bridge(self, call: _Call, leg: _Leg, bridge_id: str | None, at: float) -> None:
        if not leg.bridges:
            return
        if (
            call.talk_since is not None
            and call.talk_first_leaver is None
            and (leg.role is LegRole.AGENT or leg.role in CUSTOMER_SIDE)
        ):
            call.talk_first_leaver = leg.role
            call.talk_ended_at = at
        if bridge_id is None:
            leg.bridges.clear()
        else:
            leg.bridges.discard(bridge_id)
        if leg.role in CUSTOMER_SIDE and not leg.bridges and call.bridged_customer_legs > 0:
            call.bridged_customer_legs -= 1
            if call.bridged_customer_legs == 0 and call.talk_since is not None:
                call.talk_seconds += max(0.0, at - call.talk_since)
                call.talk_since = None
                self._dirty.add(call.call_id)

    # hold
    def _on_hold(self, e: ev.PbxEvent) -> None:
        assert isinstance(e, ev.HoldStarted)
        leg = self._leg(e.chan, e.at)
        if leg is None or leg.on_hold_since is not None:
            return
        call = self._call_of(leg)
        leg.on_hold_since = e.at
        call.holds_active += 1
        if call.holds_active == 1:
            call.hold_since = e.at
        self._dirty.add(call.call_id)

    def _on_music(self, e: ev.PbxEvent) -> None:
        assert isinstance(e, ev.MusicStarted)
        if e.chan.context not in self._hold_contexts:
            return  # music while queued or ringing is wait, not hold
        leg = self._leg(e.chan, e.at)
        if leg is None or leg.on_hold_since is not None:
            return
        call = self._call_of(leg)
        leg.on_hold_since = e.at
        leg.music_hold = True
        call.holds_active += 1
        if call.holds_active == 1:
            call.hold_since = e.at
        # the bridge was left for the hold, not to end the call: who ends it is still open
        call.talk_first_leaver = None
        call.talk_ended_at = None
        self._dirty.add(call.call_id)
        log.info("call on hold", extra={"linkedid": call.call_id, "channel": leg.channel})

    def _on_music_stop(self, e: ev.PbxEvent) -> None:
        assert isinstance(e, ev.MusicStopped)
        leg = self.legs.get(e.chan.uniqueid)
        if leg is not None and leg.music_hold:
            self._end_hold(self._call_of(leg), leg, e.at)

    def _on_unhold(self, e: ev.PbxEvent) -> None:
        assert isinstance(e, ev.HoldEnded)
        leg = self.legs.get(e.chan.uniqueid)
        if leg is not None:
            self._end_hold(self._call_of(leg), leg, e.at)

    def _end_hold(self, call: _Call, leg: _Leg, at: float) -> None:
        if leg.on_hold_since is None:
            return
        if leg.music_hold:
            call.unbridged_hold_seconds += max(0.0, at - leg.on_hold_since)
            leg.music_hold = False
        leg.on_hold_since = None
        call.holds_active -= 1
        if call.holds_active == 0 and call.hold_since is not None:
            call.hold_seconds += max(0.0, at - call.hold_since)
            call.hold_since = None
        self._dirty.add(call.call_id)

    # transfers
    def _on_blind_transfer(self, e: ev.PbxEvent) -> None:
        assert isinstance(e, ev.BlindTransferred)
        if e.result not in ("", "Success"):  # refused (Result: Invalid, fact 33): the call did not move
            return
        call = self._transfer_call(e.transferer, e.transferee, e.at)
        if call is not None:
            target = f"{e.extension}@{e.context}"
            self._add_transfer(call, "blind", target, self._agent_of_snapshot(e.transferer), e.at)

    def _on_attended_transfer(self, e: ev.PbxEvent) -> None:
        assert isinstance(e, ev.AttendedTransferred)
        call = self._transfer_call(e.transferer, e.transferee, e.at)
        if call is None:
            return
        target = ""
        if e.target is not None:
            target = self._agent_behind(call, e.target.channel) or e.target.channel
        self._add_transfer(call, "attended", target, self._agent_of_snapshot(e.transferer), e.at)
        if target and target.isdigit():
            call.agent = target

    def _transfer_call(
        self, transferer: ChannelSnapshot | None, transferee: ChannelSnapshot | None, at: float
    ) -> _Call | None:
        snap = transferee or transferer
        leg = self._leg(snap, at) if snap is not None else None
        return self._call_of(leg) if leg is not None else None

    def _agent_of_snapshot(self, snap: ChannelSnapshot | None) -> str | None:
        return self.agents.agent_for_channel(snap.channel) if snap is not None else None

    def _add_transfer(self, call: _Call, kind: str, target: str, from_agent: str | None, at: float) -> None:
        call.transfers.append(TransferRecord(at=at, kind=kind, target=target, from_agent=from_agent))
        call.last_transfer_at = at
        call.transfer_pending = kind != "redirect"
        self._dirty.add(call.call_id)

    def _agent_behind(self, call: _Call, channel: str) -> str | None:
        """The agent a transfer channel leads to (``Local/1002@transfer`` dials ``Local/1002@agents``)."""
        direct = self.agents.agent_for_channel(channel)
        if direct is not None:
            return direct
        answered = [o for o in call.offers.values() if o.answered]
        return answered[-1].agent if answered else None

    # hangups
    @staticmethod
    def _customer_side(leg: _Leg, soft: bool) -> HangupSide:
        """Who a hangup request on a customer-side leg comes from."""
        if leg.role is LegRole.CUSTOMER and leg.channel.startswith("Local/"):
            return HangupSide.CALLER  # the simulated customer's own dialplan hung up
        return HangupSide.SYSTEM if soft else HangupSide.CALLER

    def _mark_hangup(self, call: _Call, leg: _Leg, soft: bool, at: float) -> None:
        if leg.role not in CUSTOMER_SIDE:
            return
        if len(call.customer_requests) < 16:
            call.customer_requests.append((at, self._customer_side(leg, soft)))
        if leg.uniqueid == call.call_id and call.ended_at is None:
            call.ended_at = at

    @staticmethod
    def _hangup_side(call: _Call) -> HangupSide:
        if call.talk_first_leaver is LegRole.AGENT:
            return HangupSide.AGENT
        since = call.talk_ended_at - 1.0 if call.talk_ended_at is not None else float("-inf")
        for at, side in call.customer_requests:
            if at >= since:
                return side
        return HangupSide.SYSTEM if call.closed_by_resync else HangupSide.UNKNOWN

    def _on_hangup_request(self, e: ev.PbxEvent) -> None:
        assert isinstance(e, ev.HangupRequested)
        leg = self.legs.get(e.chan.uniqueid)
        if leg is None:
            return
        call = self._call_of(leg)
        leg.hangup_requested = True
        if not e.soft and leg.hangup_cause is None:
            leg.hangup_cause = e.cause
        self._mark_hangup(call, leg, e.soft, e.at)

    def _on_hangup(self, e: ev.PbxEvent) -> None:
        assert isinstance(e, ev.ChannelHungUp)
        leg = self.legs.get(e.chan.uniqueid)
        if leg is None:
            if e.chan.linkedid in self._tombstones:
                self.late_events += 1
            return
        call = self._call_of(leg)
        leg.hangup_cause = e.cause
        self._mark_hangup(call, leg, False, e.at)
        if leg.uniqueid == call.call_id:
            call.hangup_cause = e.cause
        self._leg_gone(call, leg, e.at)

    def _leg_gone(self, call: _Call, leg: _Leg, at: float) -> None:
        if leg.ended_at is not None:
            return
        leg.ended_at = at
        self._end_hold(call, leg, at)
        self._leave_bridge(call, leg, None, at)
        offer = call.offers.get(leg.uniqueid)
        if offer is not None and offer.ended_at is None:
            offer.ended_at = at
        del self.legs[leg.uniqueid]
        self._bury(leg.uniqueid)
        call.live_legs -= 1
        self._dirty.add(call.call_id)
        if self._leg_listeners:
            record = leg.record()
            for listener in self._leg_listeners:
                try:
                    listener(record)
                except Exception:
                    log.exception("leg-ended listener failed", extra={"linkedid": call.call_id})
        if call.live_legs <= 0:
            self._finish(call, at)

    def _on_resync_complete(self, e: ev.PbxEvent) -> None:
        assert isinstance(e, ev.ResyncComplete)
        gone = [leg for leg in self.legs.values() if leg.uniqueid not in e.live_uniqueids]
        for leg in gone:
            call = self.calls.get(leg.call_id)
            if call is None:
                continue
            call.closed_by_resync = True
            self._leg_gone(call, leg, e.at)
        if gone:
            log.warning("resync closed legs that vanished while the link was down", extra={"legs": len(gone)})
        new_calls, self._new_by_resync = frozenset(self._new_by_resync), set()
        done = ResyncDone(at=e.at, new_calls=new_calls)
        for listener in self._resync_listeners:
            try:
                listener(done)
            except Exception:
                log.exception("resync listener failed")

    # --- finishing ------------------------------------------------------------------------
    def _finish(self, call: _Call, at: float) -> None:
        if call.talk_since is not None:
            call.talk_seconds += max(0.0, at - call.talk_since)
            call.talk_since = None
        if call.hold_since is not None:
            call.hold_seconds += max(0.0, at - call.hold_since)
            call.hold_since = None
        if call.ended_at is None:
            call.ended_at = at
        del self.calls[call.call_id]
        self._dirty.discard(call.call_id)
        self._bury(call.call_id)
        if call.restore_pending:
            # its stored state is still loading: the final record waits for it (restore/restore_failed)
            self._parked[call.call_id] = call
            return
        self._emit_final(call)

    def _emit_final(self, call: _Call) -> None:
        call.hangup_by = self._hangup_side(call)
        self._emit(self._record(call, final=True))

    def _emit(self, record: CallRecord) -> None:
        self._finished.append(record)
        self.calls_finished += 1
        for listener in self._listeners:
            try:
                listener(record)
            except Exception:
                log.exception("call-finished listener failed", extra={"linkedid": record.call_id})

    def _bury(self, key: str) -> None:
        """Remember a finished leg or call so late events (NewCallerid after Hangup, Cdr) don't revive it."""
        self._tombstones[key] = None
        if len(self._tombstones) > self._tombstone_limit:
            self._tombstones.popitem(last=False)

    def _outcome(self, call: _Call) -> CallOutcome:
        if call.answered_at is not None:
            return CallOutcome.ANSWERED
        if call.closed_by_resync:
            return CallOutcome.LOST
        if call.abandoned_in_queue:
            return CallOutcome.ABANDONED
        if call.queued_at is not None or call.offers:
            return CallOutcome.ABANDONED if call.hangup_by is HangupSide.CALLER else CallOutcome.UNANSWERED
        if call.up_at is None:
            return CallOutcome.FAILED
        if call.hangup_by is HangupSide.CALLER:
            return CallOutcome.ABANDONED_IN_IVR
        return CallOutcome.UNANSWERED

    @staticmethod
    def _talk(call: _Call) -> float:
        """Bridged time minus the holds spent inside a bridge (phone holds; console holds are outside)."""
        bridged_hold = max(0.0, call.hold_seconds - call.unbridged_hold_seconds)
        return max(0.0, call.talk_seconds - bridged_hold)

    def _next_version(self) -> int:
        version = self._version_clock()
        if version <= self._last_version:
            version = self._last_version + 1
        self._last_version = version
        return version

    def _record(self, call: _Call, final: bool = False) -> CallRecord:
        wait_start = call.queued_at if call.queued_at is not None else call.offered_at
        wait: float | None = None
        if wait_start is not None:
            wait_end = call.answered_at if call.answered_at is not None else call.ended_at
            if wait_end is not None:
                wait = max(0.0, wait_end - wait_start)
        extra = dict(call.extra)
        if call.resumed:
            extra["resumed"] = "1"
        return CallRecord(
            call_id=call.call_id,
            started_at=call.started_at,
            direction=call.direction,
            caller_num=call.caller_num,
            caller_name=call.caller_name,
            dnis=call.dnis,
            queue=call.queue,
            agent=call.agent,
            ivr_at=call.ivr_at,
            queued_at=call.queued_at,
            offered_at=call.offered_at,
            answered_at=call.answered_at,
            ended_at=call.ended_at if final else None,
            wait_seconds=wait,
            talk_seconds=self._talk(call) if final else call.talk_seconds,
            hold_seconds=call.hold_seconds,
            outcome=self._outcome(call) if final else CallOutcome.IN_PROGRESS,
            hangup_cause=call.hangup_cause,
            hangup_by=call.hangup_by if final else None,
            recording_file=call.recording_file,
            legs=tuple(leg.record() for leg in call.legs.values()),
            offers=tuple(
                OfferRecord(
                    agent=o.agent,
                    uniqueid=o.uniqueid,
                    rang_at=o.rang_at,
                    ended_at=o.ended_at,
                    answered=o.answered,
                    dial_status=o.dial_status,
                )
                for o in call.offers.values()
            ),
            transfers=tuple(call.transfers),
            version=self._next_version(),
            extra=extra,
        )
