"""The agent console's hold and resume, checked against what the PBX really did.

Hold is ``Setvar CC_HOLD=1`` on the customer's channel, then one dual ``Redirect``: the customer to
``cc-hold,s,1`` (music), the agent's bridged half to ``cc-hold-agent,s,1`` (silence). Resume is
``Bridge``. The reply proves little (pbx-traces facts 31-32): with a ``Local/`` agent, a Redirect that
names the wrong half still answers ``Dual Redirect successful`` and the agent pair is hung up by app_dial;
``Secondary redirect failed`` (``Response: Error``) means the customer *was* moved and the agent not.

So a hold is *pending* until verified: the agent's channel must still exist after ``hold_verify`` seconds
(no Hangup of its leg in the tracker meanwhile, then ``Getvar CHANNEL(state)`` on it answers). A hold that
fails halfway is rolled back, never leaving the customer alone with the music:

1. the agent's channel lives → ``Bridge`` customer + agent again (``bridged_back``);
2. the agent is gone → the customer goes back into the ACD at the front of the call's queue: ``Setvar
   CC_QUEUE_PRIORITY=<requeue_priority>`` then ``Redirect`` to ``cc-queue,<queue>,1`` (the ``queue``
   FastAGI script reads the variable, ``services/ivr.handle_queue``) (``requeued``);
3. no queue known, or that fails → ``Redirect`` to ``cc-failsafe,s,1`` (rings the failsafe group, then
   voicemail) (``failsafe``); the customer hung up meanwhile → the agent's channel is hung up (``ended``).

The agent gets ``HoldFailed`` (a 502: the PBX did not do it) saying where the call is; every failed hold
is written to the audit log (``action: console.hold``, ``ok: false``, ``detail.outcome``) with the call's
Linkedid, next to what the tracker stores (the music counted as hold time, the requeue as a new offer).

While pending, the hold record is stored with ``confirmed: false``: the hang-up watch drops such a record
instead of hanging up the other side (the rollback decides), and the verifier confirms it only if it is
still there (a leg that ended meanwhile took it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from callcenter.domain.audit import AuditEntry
from callcenter.domain.calls import LegRecord
from callcenter.domain.errors import AmiActionError, CallcenterError, PbxError
from callcenter.domain.hold import REQUEUE_PRIORITY_VARIABLE, HeldCall
from callcenter.ports import AuditLog, HoldStore, PbxControl
from callcenter.services.acd import HOLD_VARIABLE, AcdService

log = logging.getLogger(__name__)

CallLegs = Callable[[str], Sequence[LegRecord]]


@dataclass(frozen=True, slots=True)
class ConsoleOptions:
    transfer_context: str = "transfer"  # an agent: <agent id>@transfer
    outbound_context: str = "outbound"  # a number: <number>@outbound (also click-to-dial)
    queue_context: str = "cc-queue"  # a queue: <queue>@cc-queue
    hold_context: str = "cc-hold"  # the customer on hold: MusicOnHold()
    hold_agent_context: str = "cc-hold-agent"  # the agent's channel meanwhile: Wait()
    failsafe_context: str = "cc-failsafe"  # a failed hold whose call has no queue to go back to
    dial_timeout_ms: int = 30_000
    action_timeout: float = 5.0
    default_country_code: str = "1"
    hold_refresh: float = 60.0  # seconds between refreshes of the live holds' time to live
    #: seconds the agent's channel must survive the hold redirect (fact 32: the agent pair's Hangups came
    #: 2-3 ms after the reply in the trace); the Getvar after the window is the proof
    hold_verify: float = 0.3
    requeue_priority: int = 100  # a failed hold's customer goes ahead of the queue's callers


_HOLD_FAILED_TEXT = {
    "bridged_back": "the hold did not work; your call is back with you",
    "requeued": "the hold did not work and your phone left the call; the customer is back at the "
    "front of the queue",
    "failsafe": "the hold did not work and your phone left the call; the customer was sent to the "
    "failsafe line",
    "ended": "the hold did not work; the customer hung up",
    "stranded": "the hold did not work and the customer could not be moved; ask a supervisor",
}


class NoCall(CallcenterError):
    """The agent has no live call to act on."""


class HoldFailed(AmiActionError):
    """The PBX did not complete a hold; the call was put back where ``outcome`` says."""

    def __init__(self, outcome: str, reason: str) -> None:
        super().__init__("Hold", _HOLD_FAILED_TEXT.get(outcome, outcome))
        self.outcome = outcome
        self.reason = reason


class HoldControl:
    """Hold, verification, rollback and resume for the console (one instance per ``ConsoleService``)."""

    def __init__(
        self,
        acd: AcdService,
        holds: HoldStore,
        *,
        pbx: Callable[[], PbxControl],
        call_legs: CallLegs,
        queue_of: Callable[[str, str], Awaitable[str | None]],
        options: ConsoleOptions,
        audit: AuditLog | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.acd = acd
        self.holds = holds
        self._pbx = pbx
        self.call_legs = call_legs
        self.queue_of = queue_of
        self.options = options
        self.audit = audit
        self.clock = clock
        self.stats = {"hold_failed": 0, "hold_bridged_back": 0, "hold_requeued": 0, "hold_failsafe": 0}

    # --- hold ----------------------------------------------------------------------------------
    async def hold(self, agent: str, leg: LegRecord, customer: LegRecord) -> dict[str, Any]:
        pbx = self._pbx()
        held = HeldCall(
            agent=agent,
            call_id=leg.call_id,
            customer_channel=customer.channel,
            customer_uniqueid=customer.uniqueid,
            agent_channel=leg.channel,
            agent_uniqueid=leg.uniqueid,
            since=self.clock(),
            confirmed=False,
        )
        # the record first: once the channels are parked, any instance must be able to find them
        if not await self.holds.put(held):
            other = await self.holds.get(agent)  # held meanwhile (another tab, another instance)
            if other is not None:
                return {"call_id": other.call_id, "held": True, "since": other.since}
            raise NoCall("your call's hold changed meanwhile: try again")
        marked = False
        failure = ""
        try:
            await self._setvar(pbx, customer.channel, HOLD_VARIABLE, "1")
            marked = True
            await self._redirect_to_hold(pbx, customer.channel, leg.channel)
        except AmiActionError as exc:
            if not exc.message.startswith("Secondary"):  # refused before anything moved
                await self._undo_pending(pbx, held, marked)
                raise
            failure = exc.message  # the customer was moved, the agent's channel not
        except PbxError as exc:
            if not marked:  # nothing was asked of the PBX yet
                await self._undo_pending(pbx, held, marked)
                raise
            failure = f"no answer to the hold redirect: {exc}"  # unknown: check and roll back
        if not failure and not await self._survived(pbx, held):
            failure = "the agent's channel did not survive the hold redirect"
        if not failure:
            confirmed = await self._confirm(held)
            if confirmed:
                await self._acd_hold(agent, held.call_id, True)
                log.info(
                    "call on hold",
                    extra={"linkedid": held.call_id, "agent": agent, "customer": customer.channel},
                )
                return {"call_id": held.call_id, "held": True, "since": held.since}
            failure = "a side of the call hung up while it was put on hold"
        raise await self._roll_back(pbx, held, failure)

    async def _setvar(self, pbx: PbxControl, channel: str, name: str, value: str) -> None:
        await pbx.send_action(
            "Setvar",
            {"Channel": channel, "Variable": name, "Value": value},
            timeout=self.options.action_timeout,
        )

    async def _redirect_to_hold(self, pbx: PbxControl, customer: str, agent_channel: str) -> None:
        """One dual Redirect: the customer to music on hold, the agent's channel to silence."""
        opts = self.options
        await pbx.send_action(
            "Redirect",
            {
                "Channel": customer,
                "Context": opts.hold_context,
                "Exten": "s",
                "Priority": "1",
                "ExtraChannel": agent_channel,
                "ExtraContext": opts.hold_agent_context,
                "ExtraExten": "s",
                "ExtraPriority": "1",
            },
            timeout=opts.action_timeout,
        )

    async def _undo_pending(self, pbx: PbxControl, held: HeldCall, marked: bool) -> None:
        """Nothing moved: forget the pending hold, and unmark the customer for the ACD."""
        with contextlib.suppress(CallcenterError):
            await self.holds.remove(held.agent)
        if marked:
            with contextlib.suppress(CallcenterError):
                await self._setvar(pbx, held.customer_channel, HOLD_VARIABLE, "")

    def _ended(self, call_id: str, uniqueid: str) -> bool:
        return any(leg.uniqueid == uniqueid and leg.ended_at is not None for leg in self.call_legs(call_id))

    async def _survived(self, pbx: PbxControl, held: HeldCall) -> bool:
        """The agent's channel is still there ``hold_verify`` seconds later: no Hangup of its leg in the
        tracker, then the PBX still knows it (``Getvar`` answers; a gone channel is ``No such channel``)."""
        call_id, uniqueid, channel = held.call_id, held.agent_uniqueid, held.agent_channel
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.options.hold_verify
        while True:
            if self._ended(call_id, uniqueid):
                return False
            left = deadline - loop.time()
            if left <= 0:
                break
            await asyncio.sleep(min(0.05, left))
        try:
            await pbx.send_action(
                "Getvar",
                {"Channel": channel, "Variable": "CHANNEL(state)"},
                timeout=self.options.action_timeout,
            )
        except AmiActionError:
            return False
        except PbxError:
            return not self._ended(call_id, uniqueid)  # cannot ask: trust the events
        return not self._ended(call_id, uniqueid)

    async def _confirm(self, held: HeldCall) -> bool:
        """Replace the pending record by the confirmed one (False: a leg hung up and took it)."""
        try:
            if await self.holds.remove(held.agent) is None:
                return False
            confirmed = replace(held, confirmed=True)
            if not await self.holds.put(confirmed):
                return False
        except CallcenterError as exc:  # the shared state is down: the hold works, unrecorded
            log.warning("hold record not stored", extra={"linkedid": held.call_id, "error": str(exc)})
            return True
        # a leg that ended between the two writes found no record: look again
        for uid in (held.customer_uniqueid, held.agent_uniqueid):
            if self._ended(held.call_id, uid):
                with contextlib.suppress(CallcenterError):
                    await self.holds.remove(held.agent)
                return False
        return True

    # --- rollback ------------------------------------------------------------------------------
    async def _roll_back(self, pbx: PbxControl, held: HeldCall, reason: str) -> HoldFailed:
        """Put the call back: with the agent if their channel lives, else at the front of its queue,
        else the failsafe context. Returns the error for the agent."""
        self.stats["hold_failed"] += 1
        extra = {"linkedid": held.call_id, "agent": held.agent, "reason": reason}
        log.warning("hold failed: rolling back", extra=extra)
        with contextlib.suppress(CallcenterError):
            await self.holds.remove(held.agent)
        outcome = await self._put_back(pbx, held)
        self.stats[f"hold_{outcome}"] = self.stats.get(f"hold_{outcome}", 0) + 1
        log.warning("failed hold rolled back", extra={**extra, "outcome": outcome})
        await self._audit(held, outcome, reason)
        return HoldFailed(outcome, reason)

    async def _alive(self, pbx: PbxControl, call_id: str, uniqueid: str, channel: str) -> bool:
        if self._ended(call_id, uniqueid):
            return False
        try:
            await pbx.send_action(
                "Getvar",
                {"Channel": channel, "Variable": "CHANNEL(state)"},
                timeout=self.options.action_timeout,
            )
        except AmiActionError:
            return False
        except PbxError:
            return True  # cannot tell: try to act on it
        return not self._ended(call_id, uniqueid)

    async def _put_back(self, pbx: PbxControl, held: HeldCall) -> str:
        opts = self.options
        customer = held.customer_channel
        if not await self._alive(pbx, held.call_id, held.customer_uniqueid, customer):
            with contextlib.suppress(CallcenterError):  # nobody to talk to: the agent's side ends
                await pbx.hangup(held.agent_channel)
            return "ended"
        with contextlib.suppress(CallcenterError):  # the next ACD session must not see a hold
            await self._setvar(pbx, customer, HOLD_VARIABLE, "")
        if await self._alive(pbx, held.call_id, held.agent_uniqueid, held.agent_channel):
            try:
                await pbx.send_action(
                    "Bridge",
                    {"Channel1": customer, "Channel2": held.agent_channel, "Tone": "no"},
                    timeout=opts.action_timeout,
                )
                return "bridged_back"
            except CallcenterError as exc:
                log.warning(
                    "failed hold: the agent could not be bridged back",
                    extra={"linkedid": held.call_id, "error": str(exc)},
                )
        queue = await self.queue_of(held.agent, held.call_id)
        if queue:
            try:
                await self._setvar(pbx, customer, REQUEUE_PRIORITY_VARIABLE, str(opts.requeue_priority))
                await self._redirect(pbx, customer, opts.queue_context, queue)
                return "requeued"
            except CallcenterError as exc:
                log.warning(
                    "failed hold: the customer could not be requeued",
                    extra={"linkedid": held.call_id, "queue": queue, "error": str(exc)},
                )
        try:
            await self._redirect(pbx, customer, opts.failsafe_context, "s")
            return "failsafe"
        except CallcenterError as exc:
            log.error(
                "failed hold: the customer could not be moved",
                extra={"linkedid": held.call_id, "channel": customer, "error": str(exc)},
            )
            return "stranded"

    async def _redirect(self, pbx: PbxControl, channel: str, context: str, exten: str) -> None:
        await pbx.send_action(
            "Redirect",
            {"Channel": channel, "Context": context, "Exten": exten, "Priority": "1"},
            timeout=self.options.action_timeout,
        )

    async def _audit(self, held: HeldCall, outcome: str, reason: str) -> None:
        if self.audit is None:
            return
        entry = AuditEntry(
            at=self.clock(),
            actor=f"agent:{held.agent}",
            role="agent",
            action="console.hold",
            target=held.agent,
            ok=False,
            detail={
                "call_id": held.call_id,
                "outcome": outcome,
                "reason": reason,
                "customer": held.customer_channel,
                "agent_channel": held.agent_channel,
            },
        )
        try:
            await self.audit.save_audit(entry)
        except CallcenterError as exc:
            log.warning("failed hold not audited", extra={"linkedid": held.call_id, "error": str(exc)})

    # --- resume --------------------------------------------------------------------------------
    async def resume(self, held: HeldCall) -> dict[str, Any]:
        await self._pbx().send_action(
            "Bridge",
            {"Channel1": held.customer_channel, "Channel2": held.agent_channel, "Tone": "no"},
            timeout=self.options.action_timeout,
        )
        try:
            await self.holds.remove(held.agent)
        except CallcenterError as exc:  # bridged all the same: the record expires
            log.warning("hold record not removed", extra={"linkedid": held.call_id, "error": str(exc)})
        await self._acd_hold(held.agent, held.call_id, False)
        log.info("call resumed", extra={"linkedid": held.call_id, "agent": held.agent})
        return {"call_id": held.call_id, "held": False}

    async def _acd_hold(self, agent: str, call_id: str, on: bool) -> None:
        try:
            await self.acd.set_hold(agent, call_id, on, by=agent)
        except CallcenterError as exc:  # the console's hold works even if the state lags
            log.warning("agent state not changed for hold", extra={"agent": agent, "error": str(exc)})
