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
* **end_cause** (``extra``, ``domain.calls.EndCause``): the PBX ended the call: ``pbx_shutdown``
  (SoftHangupRequest Cause 4, or anything ending after ``Event: Shutdown``) or ``pbx_lost`` (closed by a
  resync: no Hangup ever came, e.g. kill -9, fact 34). Then hangup_by is system and the outcome answered
  (if answered) or lost, never abandoned.
* **ivr_at**: our FastAGI server's IVR session start (``IvrSessionStarted``; noted even when it comes
  before AMI shows the call), else Newexten/AGIExec when the PBX sends them.
* **monitoring**: a ChanSpy spyer's call (its own Linkedid, fact 36) has outcome monitoring and
  ``extra.monitored_call``; the spied call gets ``extra.monitored_by``.
* **continued calls**: a PBX call whose channel carries ``CC_CALLID`` naming another call this process
  knows (the ACD's callback Originate) belongs to that call; a finished one reopens (merged with its
  stored record like a resumed call) and its final record goes to the store only (the finished listeners
  counted its first part). Until its identity is known, a call made only of originated agent legs is not
  snapshotted (no stray row).

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

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable

from callcenter.domain import events as ev
from callcenter.domain.agents import AgentDirectory
from callcenter.domain.call_merge import closed_on_resume, merge_stored
from callcenter.domain.call_model import (
    CUSTOMER_SIDE,
    LiveCall,
    LiveLeg,
    LiveOffer,
    ResyncDone,
    last_seen,
)
from callcenter.domain.calls import (
    CallOutcome,
    CallRecord,
    EndCause,
    HangupSide,
    LegRecord,
    LegRole,
    OfferRecord,
    TransferRecord,
)
from callcenter.domain.events import ChannelSnapshot, ChannelState, DialStatus

log = logging.getLogger(__name__)

DEFAULT_INBOUND_CONTEXTS = ("incoming", "from-pstn", "from-trunk", "from-external")
DEFAULT_OUTBOUND_CONTEXTS = ("outbound",)
#: dialplan contexts of the console's hold (``dialplan/extensions.conf``): music there is a hold
DEFAULT_HOLD_CONTEXTS = ("cc-hold", "cc-hold-agent")
#: final records kept in memory for a callback that continues the call (beyond: loaded from the store)
RECENT_FINALS = 1_000
#: SoftHangupRequest ``Cause: 4``: Asterisk's AST_SOFTHANGUP_SHUTDOWN flag (fact 15)
SOFT_HANGUP_SHUTDOWN = 4
#: A dial made within this many seconds after a transfer event belongs to that transfer.
TRANSFER_DIAL_WINDOW = 3.0


_Leg = LiveLeg
_Offer = LiveOffer
_Call = LiveCall
_last_seen = last_seen


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
        self._change_listener: Callable[[], None] | None = None
        #: Linkedid of a later PBX call → the call it continues (a callback: ``CC_CALLID`` names it)
        self._aliases: OrderedDict[str, str] = OrderedDict()
        #: call ids finished by this process (not leg ids: those are in the tombstones too)
        self._finished_ids: OrderedDict[str, None] = OrderedDict()
        #: IVR sessions that started before the AMI link showed their call (linkedid → time)
        self._ivr_pending: OrderedDict[str, float] = OrderedDict()
        self.calls_continued = 0
        self._recent_final: OrderedDict[str, CallRecord] = OrderedDict()
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
            ev.PbxShutdown: self._on_shutdown,
            ev.SpyEvent: self._on_spy,
            ev.IvrSessionStarted: self._on_ivr_started,
        }

    # --- public ---------------------------------------------------------------------------
    def handle(self, event: ev.PbxEvent) -> None:
        handler = self._handlers.get(type(event))
        if handler is not None:
            self.events_handled += 1
            handler(event)
            if self._change_listener is not None and (self._dirty or self._finished):
                self._change_listener()

    def on_change(self, listener: Callable[[], None]) -> None:
        """Called (in the event path: it must only note it and return) after any event or restore that
        left changes for ``take_changes`` (the recorder collects them on the next loop turn)."""
        self._change_listener = listener

    def _changed(self) -> None:
        if self._change_listener is not None and (self._dirty or self._finished):
            self._change_listener()

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
        undecided: set[str] = set()
        for call_id in self._dirty:
            call = self.calls.get(call_id)
            if call is None:
                continue
            if self._undecided(call):
                undecided.add(call_id)  # not stored until we know which call it is
            else:
                out.append(self._record(call))
        self._dirty = undecided
        return out

    @staticmethod
    def _undecided(call: _Call) -> bool:
        """So far only an agent's phone that the PBX originated (a callback's first leg carries the
        waiting call's ``CC_CALLID`` only from its second event on): not snapshotted until it has a
        customer side or it turns out to continue another call, so no stray row is ever stored."""
        return (
            call.continues is None
            and bool(call.legs)
            and all(leg.role is LegRole.AGENT and leg.ended_at is None for leg in call.legs.values())
        )

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
            "calls_continued": self.calls_continued,
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
        self._last_version = max(self._last_version, stored.version)
        merge_stored(call, stored, self.legs)
        self._dirty.add(call.call_id)
        self.calls_restored += 1
        log.info(
            "resumed call merged with its stored record",
            extra={"linkedid": call.call_id, "answered_at": call.answered_at, "agent": call.agent},
        )
        self._restore_done(call)
        self._changed()
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
        self._changed()

    def close_stale(self, stored: CallRecord, upper_bound: float) -> CallRecord | None:
        """Close a call the store has as in progress that no resync shows any more: it ended while the
        service was down. ``ended_at`` is the last time the store saw the call (its latest recorded time),
        never later than ``upper_bound`` (the resync that proved it gone); talk never runs past it.
        Returns the final record (also queued for the store and sent to the finished listeners), or None
        if the call is known here (live, waiting for its restore, or finished by this process)."""
        if self.knows(stored.call_id) or stored.outcome is not CallOutcome.IN_PROGRESS:
            return None
        self._last_version = max(self._last_version, stored.version)
        record = closed_on_resume(stored, upper_bound, self._next_version())
        ended = record.ended_at
        self._bury(stored.call_id)
        self.calls_closed_on_resume += 1
        log.warning(
            "call ended while the service was down; closed on resume",
            extra={"linkedid": stored.call_id, "outcome": record.outcome.value, "ended_at": ended},
        )
        self._emit(record)
        self._changed()
        return record

    def _restore_done(self, call: _Call) -> None:
        call.restore_pending = False
        self._dirty.add(call.call_id)
        parked = self._parked.pop(call.call_id, None)
        if parked is not None:
            self._emit_final(parked)

    # --- legs and calls ------------------------------------------------------------------
    def _leg(self, snap: ChannelSnapshot, at: float) -> _Leg | None:
        leg = self.legs.get(snap.uniqueid)
        if leg is not None:
            return leg
        if snap.uniqueid in self._tombstones:
            self.late_events += 1
            return None
        key = self._call_key(snap)
        call = self.calls.get(key)
        if call is None:
            if key in self._tombstones:
                if key == snap.linkedid:
                    self.late_events += 1
                    return None
                call = self._continue(key, snap.linkedid, at)
            else:
                call = _Call(call_id=key, started_at=at)
                self.calls[key] = call
                ivr_at = self._ivr_pending.pop(key, None)
                if ivr_at is not None:
                    call.ivr_at = ivr_at
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

    def _call_key(self, snap: ChannelSnapshot) -> str:
        """The call a channel belongs to: its Linkedid, except for a PBX call the service started for
        another one (a callback: the ACD's Originate sets ``CC_CALLID`` to the waiting caller's call),
        which continues that call: one record, with the caller's number (issue 13: no split records)."""
        alias = self._aliases.get(snap.linkedid)
        if alias is not None:
            return alias
        if snap.linkedid in self.calls:
            return snap.linkedid
        origin = snap.variable("CC_CALLID")
        if origin and origin != snap.linkedid and (origin in self.calls or origin in self._finished_ids):
            self._aliases[snap.linkedid] = origin
            if len(self._aliases) > self._tombstone_limit:
                self._aliases.popitem(last=False)
            return origin
        return snap.linkedid

    def _rehome(self, leg: _Leg, snap: ChannelSnapshot) -> _Call:
        """A call that so far is only originated agent legs learns (``CC_CALLID``, set after the channel
        was created) that it continues another call: its legs, offers and answer move there."""
        call = self._call_of(leg)
        if call.call_id != snap.linkedid or call.continues is not None:
            return call
        origin = snap.variable("CC_CALLID")
        if not origin or origin == call.call_id:
            return call
        if origin not in self.calls and origin not in self._finished_ids:
            return call
        if any(other.role is not LegRole.AGENT for other in call.legs.values()):
            return call
        del self.calls[call.call_id]
        self._dirty.discard(call.call_id)
        self._aliases[call.call_id] = origin
        target = self.calls.get(origin) or self._continue(origin, call.call_id, call.started_at)
        target.started_at = min(target.started_at, call.started_at)
        for moved in call.legs.values():
            moved.call_id = origin
            target.legs[moved.uniqueid] = moved
            if moved.ended_at is None:
                target.live_legs += 1
        for key, offer in call.offers.items():
            target.offers.setdefault(key, offer)
            if target.offered_at is None or offer.rang_at < target.offered_at:
                target.offered_at = offer.rang_at
        if call.answered_at is not None and target.answered_at is None:
            target.answered_at, target.agent = call.answered_at, call.agent
        self._dirty.add(origin)
        return target

    def _continue(self, call_id: str, linkedid: str, at: float) -> _Call:
        """A finished call continues in a later PBX call (``linkedid``): it is open again; its stored
        record is merged in as for a resumed call (``restore``), so the final record is the whole call."""
        call = _Call(call_id=call_id, started_at=at)
        call.continues = linkedid
        call.resumed_at = at
        call.extra["continued_in"] = linkedid
        self.calls[call_id] = call
        self.calls_continued += 1
        log.info("call continues in a later PBX call", extra={"linkedid": call_id, "continued_in": linkedid})
        recent = self._recent_final.get(call_id)
        if recent is not None:  # its final record is still here (maybe not written yet): no store trip
            self._last_version = max(self._last_version, recent.version)
            merge_stored(call, recent, self.legs)
        elif self._resync_listeners:
            call.restore_pending = True
            done = ResyncDone(at=at, new_calls=frozenset({call_id}), continued=True)
            for listener in self._resync_listeners:
                try:
                    listener(done)
                except Exception:
                    log.exception("resync listener failed", extra={"linkedid": call_id})
        return call

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
        new_call = listed and self._aliases.get(e.chan.linkedid, e.chan.linkedid) not in self.calls
        leg = self._leg(e.chan, e.at)
        if leg is None:
            return
        call = self._rehome(leg, e.chan)
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
        if leg is not None:
            call = self._rehome(leg, e.chan)
            if e.chan.state is ChannelState.UP:
                self._leg_up(call, leg, e.at)

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
    def _customer_side(leg: _Leg, soft: bool, cause: int = 0) -> HangupSide:
        """Who a hangup request on a customer-side leg comes from."""
        if soft and cause == SOFT_HANGUP_SHUTDOWN:
            return HangupSide.SYSTEM  # the PBX is shutting down or restarting (fact 15, fact 28)
        if leg.role is LegRole.CUSTOMER and leg.channel.startswith("Local/"):
            return HangupSide.CALLER  # the simulated customer's own dialplan hung up
        return HangupSide.SYSTEM if soft else HangupSide.CALLER

    def _mark_hangup(self, call: _Call, leg: _Leg, soft: bool, at: float, cause: int = 0) -> None:
        if soft and cause == SOFT_HANGUP_SHUTDOWN and call.end_cause is None:
            call.end_cause = EndCause.PBX_SHUTDOWN.value
        if leg.role not in CUSTOMER_SIDE:
            return
        if len(call.customer_requests) < 16:
            call.customer_requests.append((at, self._customer_side(leg, soft, cause)))
        if leg.uniqueid == call.call_id and call.ended_at is None:
            call.ended_at = at

    @staticmethod
    def _hangup_side(call: _Call) -> HangupSide:
        if call.end_cause is not None:
            return HangupSide.SYSTEM  # the PBX ended it: neither party hung up
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
        self._mark_hangup(call, leg, e.soft, e.at, e.cause)

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
            if call.end_cause is None:
                call.end_cause = EndCause.PBX_LOST.value
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

    def _on_shutdown(self, e: ev.PbxEvent) -> None:
        """``Event: Shutdown``: whatever ends from now on was ended by the PBX (fact 28)."""
        assert isinstance(e, ev.PbxShutdown)
        for call in self.calls.values():
            if call.end_cause is None and call.ended_at is None:
                call.end_cause = EndCause.PBX_SHUTDOWN.value
                self._dirty.add(call.call_id)
        if self.calls:
            log.warning(
                "PBX shutting down with calls up", extra={"calls": len(self.calls), "restart": e.restart}
            )

    def _on_spy(self, e: ev.PbxEvent) -> None:
        """ChanSpyStart: the spyer's call (a separate PBX call, fact 36) is a monitoring session of the
        spied call, linked both ways in ``extra``; never an unanswered or abandoned call."""
        assert isinstance(e, ev.SpyEvent)
        if not e.started or e.spyer is None or e.spyee is None:
            return
        leg = self._leg(e.spyer, e.at)
        if leg is None:
            return
        spy = self._call_of(leg)
        spied_id = self._aliases.get(e.spyee.linkedid, e.spyee.linkedid)
        if spied_id == spy.call_id:
            return
        leg.role = LegRole.SPY
        spy.monitor_of = spied_id
        spy.direction = "monitoring"
        spy.extra["monitored_call"] = spied_id
        agent = self.agents.agent_for_channel(e.spyee.channel)
        if agent is not None:
            spy.extra["monitored_agent"] = agent
        spied = self.calls.get(spied_id)
        if spied is not None:
            spied.extra["monitored_by"] = spy.call_id
            self._dirty.add(spied_id)
        self._dirty.add(spy.call_id)
        log.info("monitoring session", extra={"linkedid": spied_id, "monitor_call": spy.call_id})

    def _on_ivr_started(self, e: ev.PbxEvent) -> None:
        """Our FastAGI server started an IVR session for the call (no AMI event says so with the
        shipped eventfilter, fact 35): that is the call's ``ivr_at``."""
        assert isinstance(e, ev.IvrSessionStarted)
        leg = self.legs.get(e.uniqueid)
        key = leg.call_id if leg is not None else self._aliases.get(e.linkedid, e.linkedid)
        call = self.calls.get(key)
        if call is None:
            if key not in self._finished_ids:
                self._ivr_pending[key] = e.at  # AMI has not shown the call yet
                if len(self._ivr_pending) > 10_000:
                    self._ivr_pending.popitem(last=False)
            return
        if call.ivr_at is None:
            call.ivr_at = e.at
            self._dirty.add(call.call_id)

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
        self._finished_ids[call.call_id] = None
        if len(self._finished_ids) > self._tombstone_limit:
            self._finished_ids.popitem(last=False)
        if call.continues is not None:
            self._aliases.pop(call.continues, None)
        if call.restore_pending:
            # its stored state is still loading: the final record waits for it (restore/restore_failed)
            self._parked[call.call_id] = call
            return
        self._emit_final(call)

    def _emit_final(self, call: _Call) -> None:
        call.hangup_by = self._hangup_side(call)
        # a continued call (callback) was already counted by the finished listeners (the KPI engine)
        # when its first part ended: its whole record goes to the store only
        self._emit(self._record(call, final=True), listeners=call.continues is None)

    def _emit(self, record: CallRecord, *, listeners: bool = True) -> None:
        self._finished.append(record)
        self.calls_finished += 1
        self._recent_final[record.call_id] = record  # a callback may continue it (``_continue``)
        self._recent_final.move_to_end(record.call_id)
        if len(self._recent_final) > RECENT_FINALS:
            self._recent_final.popitem(last=False)
        for listener in self._listeners if listeners else ():
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
        if call.monitor_of is not None:
            return CallOutcome.MONITORING
        if call.answered_at is not None:
            return CallOutcome.ANSWERED
        if call.closed_by_resync or call.end_cause is not None:
            return CallOutcome.LOST  # ended by the PBX: not an abandon (KPIs count it as "other")
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
        if call.end_cause is not None:
            extra["end_cause"] = call.end_cause
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
