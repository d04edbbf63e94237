"""The ACD heals itself: one reconciler compares the shared ACD state with the truth and repairs it.

Events alone cannot keep the ACD right: after ``kill -9`` of the PBX no Hangup ever comes (pbx-traces
fact 34), a service killed mid-call leaves its waiters and ringing agents in the shared state, and a
Redis that restarts comes back empty. The truth is:

* the PBX's channels: the ACD's channel model, fed by the AMI events it observes and replaced by the
  ``CoreShowChannels`` listing of every resync (``ResyncComplete``, after every login of the AMI link);
* the FastAGI sessions alive in this instance (``AcdService.live_entries``) and the instances alive
  (each holds a lease in the shared state, renewed every ``lease_renew`` seconds);
* the configured queues and agents (the file as loaded, and the last configuration seen in the state).

Each pass repairs what differs, logs it and counts it (``callcenter_acd_reconcile_*_total``):

1. the state came back empty (no seed marker; a state that kept its marker is the truth for the
   configuration, so an admin's deletion is never undone): the queues and agents are stored again,
   and each agent comes back as it was last seen (bus events and earlier passes): logged-in agents
   available (or busy while their phone has a channel), paused agents paused with their reason, the
   others logged out;
2. a waiting call whose session is gone (this instance: not in ``live_entries``; another instance: its
   lease expired) is removed;
3. an agent ringing for an offer whose holder is gone (the waiter's session, this instance's callback
   originate, or a dead instance) is released: the offer's callback request waits again;
4. an agent on a call or on hold with no channel at the PBX (only once a resync listed the channels)
   is released: wrap-up by the queue's rules, then available;
5. an agent busy because their phone was in use whose phone has no channel any more becomes available.

Races: agents whose state changed less than ``reconcile_grace`` seconds ago are left for the next pass
(a call being set up has its channel a moment later), and every repair is a compare-and-set on the
version the pass read, so a change in between wins. Passes run at start, after every PBX resync, when
the state comes back (empty or not), when an instance's lease expires, every ``reconcile_interval``
seconds, and again ``reconcile_grace`` seconds later when a pass left something for later.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from callcenter.domain.acd import (
    AgentConfig,
    AgentState,
    AgentStatus,
    EntryKind,
    EntryStatus,
    QueueConfig,
    WaitingEntry,
)
from callcenter.domain.agent_state import after_call
from callcenter.domain.errors import CallcenterError, StateError
from callcenter.services.wrapup_rule import CALL_LOST_REASON

if TYPE_CHECKING:
    from callcenter.services.acd import AcdService

log = logging.getLogger(__name__)

S = AgentState
PHONE_IN_USE = "phone_in_use"

RECONCILE_STATS = (
    "reconcile_runs",
    "reconcile_failures",
    "reconcile_agents_released",
    "reconcile_phones_idle",
    "reconcile_waiters_removed",
    "reconcile_callbacks_requeued",
    "reconcile_config_restored",
    "reconcile_agents_restored",
    "reconcile_state_reseeded",
    "reconcile_instances_released",
)


@dataclass(slots=True)
class ReconcileReport:
    """What one pass found and repaired."""

    reason: str
    agents: int = 0
    entries: int = 0
    agents_released: int = 0
    phones_idle: int = 0
    waiters_removed: int = 0
    callbacks_requeued: int = 0
    config_restored: int = 0
    agents_restored: int = 0
    reseeded: bool = False
    dead_instances: list[str] = field(default_factory=list)
    deferred: int = 0  # changed less than the grace period ago: looked at again soon
    seconds: float = 0.0

    @property
    def repaired(self) -> int:
        return (
            self.agents_released
            + self.phones_idle
            + self.waiters_removed
            + self.callbacks_requeued
            + self.config_restored
            + self.agents_restored
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class AcdReconciler:
    """Owned by one ``AcdService`` (which runs ``run`` and ``heartbeat`` in its task group)."""

    def __init__(self, acd: AcdService) -> None:
        self.acd = acd
        self.last: ReconcileReport | None = None
        #: agent → (state, reason) as last seen (passes, this instance's changes, the bus)
        self.last_known: dict[str, tuple[AgentState, str]] = {}
        self._known_queues: dict[str, QueueConfig] = {}
        self._known_agents: dict[str, AgentConfig] = {}
        self._wanted = asyncio.Event()
        self._reasons: list[str] = []
        self._state_down = False
        self._lock = asyncio.Lock()

    # --- triggers --------------------------------------------------------------------------------
    def request(self, reason: str) -> None:
        """Ask for a pass soon (the ``run`` task does it; requests while one is pending merge)."""
        if reason not in self._reasons:
            self._reasons.append(reason)
        self._wanted.set()

    def note(self, agent: str, state: AgentState, reason: str = "") -> None:
        """An agent's state as seen now (what comes back if the shared state is lost)."""
        self.last_known[agent] = (state, reason)

    def note_bus(self, event: Mapping[str, Any]) -> None:
        with contextlib.suppress(ValueError, TypeError):
            self.note(str(event["agent"]), AgentState(str(event["state"])), str(event.get("reason") or ""))

    async def heartbeat(self) -> None:
        """Renew this instance's lease; notice a state that came back (empty or not) and dead instances."""
        acd = self.acd
        now = acd._clock()
        try:
            await acd.state.renew_lease(acd.instance, acd.options.lease_ttl, now)
            seeded = await acd.state.seeded()
            instances = await acd.state.instances(now)
        except StateError:
            if not self._state_down:
                log.warning("ACD state unreachable: reconcile when it answers again")
            self._state_down = True
            raise
        if self._state_down:
            self._state_down = False
            self.request("state back")
        if not seeded:
            self.request("state empty")
        if any(not alive and name != acd.instance for name, alive in instances.items()):
            self.request("instance lease expired")

    async def run(self, stop: asyncio.Event) -> None:
        """Passes on request, every ``reconcile_interval`` seconds, and after the grace period when a
        pass left something for later."""
        options = self.acd.options
        loop = asyncio.get_running_loop()
        next_at = loop.time() + options.reconcile_interval
        stopping = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                wanted = asyncio.ensure_future(self._wanted.wait())
                timeout = max(0.0, next_at - loop.time())
                await asyncio.wait({wanted, stopping}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
                wanted.cancel()
                await asyncio.gather(wanted, return_exceptions=True)
                if stop.is_set():
                    return
                reason = ", ".join(self._reasons) or "interval"
                self._reasons.clear()
                self._wanted.clear()
                next_at = loop.time() + options.reconcile_interval
                try:
                    report = await self.reconcile(reason)
                except (CallcenterError, TimeoutError) as exc:
                    self.acd.stats["reconcile_failures"] += 1
                    log.warning("ACD reconcile failed", extra={"reason": reason, "error": str(exc)})
                    next_at = loop.time() + options.lease_renew
                    continue
                except Exception:
                    self.acd.stats["reconcile_failures"] += 1
                    log.exception("ACD reconcile crashed")
                    next_at = loop.time() + options.lease_renew
                    continue
                if report.deferred:
                    next_at = min(next_at, loop.time() + options.reconcile_grace + 0.1)
        finally:
            stopping.cancel()
            await asyncio.gather(stopping, return_exceptions=True)

    # --- one pass ----------------------------------------------------------------------------------
    async def reconcile(self, reason: str = "manual") -> ReconcileReport:
        async with self._lock:
            return await self._reconcile(reason)

    async def _reconcile(self, reason: str) -> ReconcileReport:
        acd = self.acd
        state = acd.state
        started = time.perf_counter()
        now = acd._clock()
        report = ReconcileReport(reason)
        statuses = await state.list_agents()
        reseed = await self._restore_config({s.agent for s in statuses}, report)
        if reseed:
            # states restored before the seed marker: a pass that fails midway is done again
            statuses = await self._restore_states(await state.list_agents(), now, report)
            await state.mark_seeded()
            report.reseeded = True
            acd.stats["reconcile_state_reseeded"] += 1
        instances = await state.instances(now)
        alive = {name for name, up in instances.items() if up} | {acd.instance}
        report.dead_instances = sorted(name for name, up in instances.items() if not up and name not in alive)
        entries = await state.entries()
        report.entries = len(entries)
        kept = await self._waiters(entries, alive, report)
        report.agents = len(statuses)
        await self._agents(statuses, kept, alive, now, report)
        for name in report.dead_instances:
            await state.forget_instance(name)
        report.seconds = time.perf_counter() - started
        acd.stats["reconcile_runs"] += 1
        acd.stats["reconcile_instances_released"] += len(report.dead_instances)
        self.last = report
        if report.repaired or report.dead_instances or report.reseeded:
            log.warning("ACD reconciled", extra=report.as_dict())
        else:
            log.debug("ACD reconciled: nothing to repair", extra=report.as_dict())
        return report

    async def _restore_config(self, present: set[str], report: ReconcileReport) -> bool:
        """Store again the queues and agents missing from a state that lost its seed marker
        (``present``: the agents it has); returns whether it had lost it."""
        acd = self.acd
        state = acd.state
        if await state.seeded():
            # the state is the one the configuration went into: it is the truth (an agent or queue
            # missing there was deleted by an admin, possibly on another instance a moment ago)
            if acd.agents:
                self._known_agents = dict(acd.agents)  # the configuration as last seen in the state
            if acd.queues:
                self._known_queues = dict(acd.queues)
            return False
        # the state came back empty: the file, the configuration last seen in the state, the cache
        queues = {q.name: q for q in await state.load_queues()}
        want_q: dict[str, QueueConfig] = {}
        want_a: dict[str, AgentConfig] = {}
        file = acd.file_config
        for source_q, source_a in (
            (file.queues if file is not None else (), file.agents if file is not None else ()),
            (tuple(self._known_queues.values()), tuple(self._known_agents.values())),
            (tuple(acd.queues.values()), tuple(acd.agents.values())),
        ):
            for q in source_q:
                want_q.setdefault(q.name, q)
            for a in source_a:
                want_a.setdefault(a.id, a)
        missing_q = [q for name, q in want_q.items() if name not in queues]
        missing_a = [a for agent_id, a in want_a.items() if agent_id not in present]
        for q in missing_q:
            await state.save_queue(q)
            queues[q.name] = q
        restored: set[str] = set()
        for a in missing_a:
            if all(m.queue in queues for m in a.queues):
                await state.save_agent(a)
                restored.add(a.id)
        report.config_restored = len(missing_q) + len(restored)
        acd.stats["reconcile_config_restored"] += report.config_restored
        if missing_q or restored:
            log.warning(
                "ACD configuration restored in the shared state",
                extra={"queues": [q.name for q in missing_q], "agents": len(restored)},
            )
            await acd.refresh()
        return True

    async def _restore_states(
        self, statuses: list[AgentStatus], now: float, report: ReconcileReport
    ) -> list[AgentStatus]:
        """Agents stored again (logged out, never changed: version 0) come back as last seen: logged in
        → available (busy while their phone has a channel), paused → paused, else logged out."""
        acd = self.acd
        out = []
        for s in statuses:
            last = self.last_known.get(s.agent)
            if last is None or s.state is not S.LOGGED_OUT or s.version != 0:
                out.append(s)
                continue
            was, why = last
            target: tuple[AgentState, dict[str, Any]] | None
            if was is S.LOGGED_OUT:
                target = None
            elif was is S.PAUSED:
                target = S.PAUSED, {"reason": why}
            elif acd._legs.get(s.agent):
                target = S.BUSY, {"reason": PHONE_IN_USE}
            else:
                target = acd._ready(s)
            if target is None:
                out.append(s)
                continue

            def decide(
                cur: AgentStatus, seen: AgentStatus = s, to: tuple[AgentState, dict[str, Any]] = target
            ) -> tuple[AgentState, dict[str, Any]] | None:
                return to if cur.version == seen.version else None

            changed = await acd._change(s.agent, decide, at=now, by="reconcile")
            out.append(changed or s)
            if changed is not None:
                report.agents_restored += 1
                acd.stats["reconcile_agents_restored"] += 1
        return out

    async def _waiters(
        self, entries: list[WaitingEntry], alive: set[str], report: ReconcileReport
    ) -> list[WaitingEntry]:
        """Remove the waiting calls whose session is gone; returns the entries kept."""
        acd = self.acd
        kept = []
        for e in entries:
            if e.kind is EntryKind.CALL:
                owner = e.owner or acd.instance
                orphan = e.id not in acd.live_entries if owner == acd.instance else owner not in alive
                if orphan:
                    if await acd.state.remove(e.id) is not None:
                        report.waiters_removed += 1
                        acd.stats["reconcile_waiters_removed"] += 1
                        log.warning(
                            "ACD waiter without a live session removed",
                            extra={"linkedid": e.call_id, "queue": e.queue, "owner": owner},
                        )
                    continue
            kept.append(e)
        return kept

    async def _agents(
        self,
        statuses: list[AgentStatus],
        entries: list[WaitingEntry],
        alive: set[str],
        now: float,
        report: ReconcileReport,
    ) -> None:
        acd = self.acd
        grace = acd.options.reconcile_grace
        offered = {e.agent: e for e in entries if e.status is EntryStatus.OFFERED and e.agent}
        linkedids = set(acd.channels.values()) if acd.channels_known else set()
        for s in statuses:
            self.note(s.agent, s.state, s.reason)
            if s.state not in (S.RINGING, S.ON_CALL, S.ON_HOLD, S.BUSY):
                continue
            if now - s.since < grace:
                report.deferred += 1
                continue
            if s.state is S.RINGING:
                if acd.dialer_calls.get(s.call_id) == s.agent:
                    continue  # reserved by this instance's outbound dialer (services/dialer.py)
                entry = offered.get(s.agent)
                if entry is not None and entry.call_id == s.call_id:
                    holder = entry.claimed_by or entry.owner or acd.instance
                    if holder != acd.instance and holder in alive:
                        continue  # another live instance is ringing this agent
                    if holder == acd.instance and (
                        entry.id in acd.live_entries or entry.id in acd.pending_callback_entries()
                    ):
                        continue
                    if entry.kind is EntryKind.CALLBACK and await acd.state.requeue(entry.id):
                        report.callbacks_requeued += 1
                        acd.stats["reconcile_callbacks_requeued"] += 1
                await self._release(s, now, "offer holder gone", report)
            elif s.state in (S.ON_CALL, S.ON_HOLD):
                if acd.channels_known and not acd.agent_has_channel(s.agent, s.call_id, linkedids):
                    await self._release(s, now, "no channel at the PBX", report)
            elif s.reason == PHONE_IN_USE and acd.channels_known and not acd._legs.get(s.agent):
                await self._phone_idle(s, now, report)

    async def _release(self, s: AgentStatus, now: float, why: str, report: ReconcileReport) -> None:
        """An agent held by a call that is gone: wrap-up by the queue's rules, then available."""
        acd = self.acd
        q = acd.queues.get(s.queue)
        wrapup = q.wrapup if q is not None else 0.0

        def decide(cur: AgentStatus) -> tuple[AgentState, dict[str, Any]] | None:
            if cur.version != s.version:
                return None  # changed since the pass read it: that change wins
            to, until, reason = after_call(cur, wrapup, now)
            if to is S.AVAILABLE:
                return acd._ready(cur)
            if to is S.WRAPUP:  # the call was cut, not finished: no code is waited for (wrapup_rule)
                reason = CALL_LOST_REASON
            return to, {"until": until, "reason": reason}

        changed = await acd._change(s.agent, decide, at=now, by="reconcile")
        if changed is None:
            return
        acd.forget_call(s.call_id)
        report.agents_released += 1
        acd.stats["reconcile_agents_released"] += 1
        log.warning(
            "ACD agent released by the reconciler",
            extra={
                "agent": s.agent,
                "linkedid": s.call_id,
                "queue": s.queue,
                "from": s.state.value,
                "to": changed.state.value,
                "why": why,
            },
        )

    async def _phone_idle(self, s: AgentStatus, now: float, report: ReconcileReport) -> None:
        acd = self.acd

        def decide(cur: AgentStatus) -> tuple[AgentState, dict[str, Any]] | None:
            return acd._ready(cur) if cur.version == s.version else None

        if await acd._change(s.agent, decide, at=now, by="reconcile") is not None:
            report.phones_idle += 1
            acd.stats["reconcile_phones_idle"] += 1
            log.info("ACD agent's phone has no channel any more", extra={"agent": s.agent})
