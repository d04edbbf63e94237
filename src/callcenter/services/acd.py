"""The ACD: callers wait in queues inside their FastAGI session and are offered to agents.

``AcdService`` implements ``ports.CallRouter``. ``route()`` holds the caller's AGI session:

1. nobody logged in → ``NO_AGENTS`` (the queue's fallback); queue full → ``OVERFLOW``;
2. the caller is enqueued (priority first, FIFO within a priority) and waits under music on hold
   (``SET MUSIC ON``): a ``claim`` on the shared state (atomically reserves an agent when it is this
   caller's turn) runs when the caller is woken (``acd_waiters``: an agent of the queue freed or
   logged out, here or in another instance) or an announcement (position, expected wait, callback
   offer), the max wait or ``idle_claim`` is due; in between no AGI command is outstanding (the
   asynchronous HANGUP line says when the caller leaves) and the callback digit is read in a window
   after the offer. A queue offering callbacks without announcements listens all the time instead
   (``WAIT FOR DIGIT`` slices of ``wait_slice``, app_queue style);
   A call an agent transferred to the queue (``QueueRequest.transferred_by``) is not offered back to
   that agent while another member staffed for the queue with the skills exists (the rule is in
   ``domain.routing``; both state back ends apply it inside ``claim``);
3. an agent reserved → ``EXEC Dial <endpoint>,<ring timeout>,m(<music>)U(mixmon)``: the agent's phone
   rings while the caller hears music; ``DIALSTATUS`` decides: ANSWER → the call was bridged and
   recorded and has ended (the agent goes to wrap-up) — unless the console put it on hold (``CC_HOLD``
   set on the caller's channel before its AMI Redirect to ``[cc-hold]``): then the call goes on outside
   this session, the agent stays on it (on hold) and it ends when the agent's channel hangs up;
   NOANSWER → the agent is paused ("missed_call",
   configurable) and the next agent is tried; BUSY / CHANUNAVAIL → the agent rests ``busy_rest`` and
   the next is tried; the caller's place is kept throughout;
4. max wait → the overflow target or voicemail; the caller hangs up → ``ABANDONED`` with the wait.

Agent states change only through ``_change`` (compare-and-set on the shared state, retried), which
records every transition (written behind to ``AgentStateLog``) and publishes it on the bus. AMI events
(``observe``, fed by the composition root) mark the agent on call when the dial is answered, on hold,
and *busy* when their phone is used outside the ACD. Callbacks are worked by a background loop: the
next free agent is called first (Originate), then the customer from the queue's callback context.
What events cannot keep right (a PBX killed, a service killed, Redis back empty, an instance dead) the
reconciler repairs (``acd_reconcile``); each instance holds a lease in the shared state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from callcenter.domain import events as ev
from callcenter.domain.acd import (
    IN_CALL,
    AcdConfig,
    AcdError,
    AgentConfig,
    AgentState,
    AgentStatus,
    AgentTransition,
    Claim,
    EntryStatus,
    InvalidTransition,
    PauseReason,
    QueueConfig,
    UnknownAgent,
    UnknownQueue,
    WaitingEntry,
    agent_from_mapping,
    agent_to_mapping,
    parse_skills,
    queue_from_mapping,
    queue_to_mapping,
)
from callcenter.domain.agent_state import after_call, after_wrapup, transition
from callcenter.domain.agents import AgentDirectory, channel_endpoint
from callcenter.domain.agi import AgiReply
from callcenter.domain.errors import AgiError, AgiHangup, CallcenterError, ConfigError, PbxError, StateError
from callcenter.domain.queueing import QueueRequest, RouteOutcome, RouteResult
from callcenter.domain.routing import announce_minutes, expected_wait, merge_skills, service_level
from callcenter.ports import AcdState, AgentStateLog, AgiChannel, IdleAgiChannel, PbxControl, Publisher
from callcenter.services.acd_reconcile import RECONCILE_STATS, AcdReconciler
from callcenter.services.acd_waiters import Waiter, WaiterBoard, idle

log = logging.getLogger(__name__)

TOPIC = "acd"
PHONE_IN_USE = "phone_in_use"
#: set by the console on the caller's channel right before a hold redirect (see ``_held_by_console``)
HOLD_VARIABLE = "CC_HOLD"
MAX_DETACHED = 10_000
S = AgentState


@dataclass(frozen=True, slots=True)
class AcdSounds:
    you_are_next: str = "queue-youarenext"
    there_are: str = "queue-thereare"
    calls_waiting: str = "queue-callswaiting"
    hold_time: str = "queue-holdtime"
    minutes: str = "queue-minutes"
    callback_offer: str = "acd-callback-offer"  # "press 1 to be called back, keeping your place"
    callback_confirm: str = "acd-callback-confirm"


@dataclass(frozen=True, slots=True)
class AcdOptions:
    wait_slice: float = 1.0  # seconds per wait-loop tick (WAIT FOR DIGIT under music on hold)
    evented_wait: bool = True  # callers sleep until an agent frees (see ``acd_waiters``)
    idle_claim: float = 5.0  # evented wait: a claim at least this often (a lost bus event)
    callback_window: float = 5.0  # evented wait: seconds of listening for the digit after the offer
    tick: float = 0.25  # timers (wrap-up, busy rest), callbacks, config refresh
    config_refresh: float = 5.0
    handle_time_refresh: float = 10.0
    log_flush: float = 0.5
    log_batch: int = 500
    log_max_pending: int = 100_000
    observe_queue: int = 10_000
    callback_grace: float = 15.0  # seconds past the ring timeout to wait for OriginateResponse
    instance_id: str = ""  # this instance's lease name ("" = a fresh random one per start)
    lease_ttl: float = 10.0  # an instance silent this long is dead: survivors release what it held
    lease_renew: float = 2.5  # lease renewal, dead-instance and empty-state check period
    reconcile_interval: float = 30.0  # steady-state reconcile period (also after link/state events)
    reconcile_grace: float = 5.0  # agents and entries that changed less than this ago are left alone
    pause_reasons: tuple[str, ...] = tuple(r.value for r in PauseReason)
    sounds: AcdSounds = field(default_factory=AcdSounds)


@dataclass(slots=True)
class _PendingCallback:
    entry: WaitingEntry
    agent: str
    queue: str
    action_id: str
    started: float
    uniqueid: str | None = None
    answered_at: float | None = None


class _Hangup(Exception):
    """The caller hung up during the wait (internal)."""


class AcdService:
    def __init__(
        self,
        state: AcdState,
        bus: Publisher,
        *,
        pbx: PbxControl | None = None,
        transitions: AgentStateLog | None = None,
        directory: AgentDirectory | None = None,
        options: AcdOptions | None = None,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.state = state
        self.bus = bus
        self.pbx = pbx
        self.transitions = transitions
        self.directory = directory
        self.options = options or AcdOptions()
        self._clock = clock
        self._rng = rng or random.Random()
        #: may a timed wrap-up end now (the console's required disposition: services/wrapup_rule.py)
        self.wrapup_gate: Callable[[AgentStatus], Awaitable[bool]] | None = None
        self._queues: dict[str, QueueConfig] = {}
        self._agents: dict[str, AgentConfig] = {}
        self._pending_log: list[AgentTransition] = []
        self._events: asyncio.Queue[ev.PbxEvent] = asyncio.Queue(maxsize=self.options.observe_queue)
        self._legs: dict[str, dict[str, str]] = {}  # agent → {uniqueid: linkedid} of live phone channels
        self._acd_calls: dict[str, str] = {}  # linkedid → agent, for calls this instance is connecting
        #: calls the console took out of their ACD session (hold): linkedid → (agent, queue, answered at)
        self._detached: dict[str, tuple[str, str, float]] = {}
        self._recent_acd: OrderedDict[str, None] = OrderedDict()
        self._cb_pending: dict[str, _PendingCallback] = {}
        #: outbound calls this instance's dialer holds an agent for: call id (Linkedid) → agent
        self.dialer_calls: dict[str, str] = {}
        self._cb_legs: dict[str, _PendingCallback] = {}
        self._ht_cache: dict[str, tuple[float, list[float]]] = {}
        self._refresh_needed = False
        self._pending_config: AcdConfig | None = None
        self.instance = self.options.instance_id or f"acd-{uuid.uuid4().hex[:12]}"
        #: entry ids whose caller's FastAGI session runs ``route`` in this instance right now
        self.live_entries: set[str] = set()
        #: every PBX channel seen alive (uniqueid → linkedid); pruned at each resync
        self.channels: dict[str, str] = {}
        #: True once a resync listed the PBX's channels since the last (re)connect
        self.channels_known = False
        self._file_config: AcdConfig | None = None
        self.reconciler = AcdReconciler(self)
        self.waiters = WaiterBoard()
        self._stop = asyncio.Event()
        self._log_wake = asyncio.Event()  # a transition waits for the log (its loop sleeps otherwise)
        self._runner: asyncio.Task[None] | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self.stats: dict[str, int] = {
            "routed": 0,
            "answered": 0,
            "abandoned": 0,
            "callbacks": 0,
            "overflow": 0,
            "no_agents": 0,
            "offers": 0,
            "missed": 0,
            "transitions": 0,
            "observe_dropped": 0,
            "publish_errors": 0,
            "log_failures": 0,
            "cas_retries": 0,
            "wait_claims": 0,
            **{key: 0 for key in RECONCILE_STATS},
        }

    # --- configuration -------------------------------------------------------------------------
    async def apply_config(self, config: AcdConfig) -> None:
        """Store the file's queues and agents in the shared state (agents' live states are kept)."""
        for q in config.queues:
            await self.state.save_queue(q)
        for a in config.agents:
            await self.state.save_agent(a)
        if config.pause_reasons:
            self.options = _replace_options(self.options, pause_reasons=config.pause_reasons)
        await self.refresh()

    async def refresh(self) -> None:
        """Reload the queue and agent configuration cache from the shared state."""
        self._queues = {q.name: q for q in await self.state.load_queues()}
        self._agents = {a.id: a for a in await self.state.load_agents()}
        if self.directory is not None:
            for a in self._agents.values():
                tech, name, _ctx = channel_endpoint(a.dial_target())
                self.directory.register(f"{tech}/{name}", a.id)
        self._refresh_needed = False

    def has_queue(self, name: str) -> bool:
        return name in self._queues

    def queue(self, name: str) -> QueueConfig:
        q = self._queues.get(name)
        if q is None:
            raise UnknownQueue(f"no queue {name!r}")
        return q

    @property
    def queues(self) -> Mapping[str, QueueConfig]:
        return self._queues

    @property
    def agents(self) -> Mapping[str, AgentConfig]:
        return self._agents

    async def put_queue(self, name: str, settings: Mapping[str, Any], *, by: str = "admin") -> QueueConfig:
        q = queue_from_mapping(name, settings)
        await self.state.save_queue(q)
        await self.refresh()
        await self._emit({"type": "config.queue", "queue": name, "by": by})
        log.info("queue saved", extra={"queue": name, "by": by})
        return q

    async def delete_queue(self, name: str, *, by: str = "admin") -> None:
        self.queue(name)
        await self.state.delete_queue(name)
        await self.refresh()
        await self._emit({"type": "config.queue", "queue": name, "deleted": True, "by": by})

    async def put_agent(self, settings: Mapping[str, Any], *, by: str = "admin") -> AgentConfig:
        agent_id = str(settings.get("id", ""))
        existing = self._agents.get(agent_id)
        order = existing.order if existing else max((a.order for a in self._agents.values()), default=0) + 1
        cfg = agent_from_mapping({**settings, "order": settings.get("order", order)})
        for m in cfg.queues:
            if m.queue not in self._queues:
                raise ConfigError(f"agent {cfg.id!r}: unknown queue {m.queue!r}")
        await self.state.save_agent(cfg)
        await self.refresh()
        await self._emit({"type": "config.agent", "agent": cfg.id, "by": by})
        return cfg

    async def delete_agent(self, agent_id: str, *, by: str = "admin") -> None:
        if agent_id not in self._agents:
            raise UnknownAgent(f"no agent {agent_id!r}")
        await self.logout(agent_id, by=by)
        await self.state.delete_agent(agent_id)
        await self.refresh()
        await self._emit({"type": "config.agent", "agent": agent_id, "deleted": True, "by": by})

    # --- lifecycle -----------------------------------------------------------------------------
    async def start(self, config: AcdConfig | None = None) -> None:
        self._pending_config = config
        self._file_config = config
        try:
            await self._apply_pending()
            await self.reconciler.heartbeat()
        except StateError as exc:
            # Redis down at start: serve what we can (callers get the error outcome: the IVR's fallback)
            # and apply the configuration once the shared state answers again (``tick``)
            log.error("ACD state unavailable at start, will retry", extra={"error": str(exc)})
        self._unsubscribe = self.bus.subscribe(self._on_bus)
        self._stop.clear()
        self._runner = asyncio.create_task(self._run(), name="acd")

    async def close(self) -> None:
        self._stop.set()
        if self._runner is not None:
            await asyncio.gather(self._runner, return_exceptions=True)
            self._runner = None
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        with contextlib.suppress(CallcenterError, TimeoutError):
            await asyncio.wait_for(self.state.drop_lease(self.instance), timeout=2.0)
        with contextlib.suppress(CallcenterError, TimeoutError):
            await asyncio.wait_for(self.flush_log(), timeout=5.0)

    async def _run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._loop(self.options.tick, self.tick, "acd tick"))
            tg.create_task(
                self._loop(self.options.log_flush, self._flush_quietly, "acd log", wake=self._log_wake)
            )
            tg.create_task(self._observer())
            tg.create_task(self._loop(self.options.lease_renew, self.reconciler.heartbeat, "acd lease"))
            tg.create_task(self.reconciler.run(self._stop))

    async def _loop(
        self,
        interval: float,
        step: Callable[[], Awaitable[None]],
        what: str,
        *,
        wake: asyncio.Event | None = None,
    ) -> None:
        """Run ``step`` every ``interval``; with ``wake``, only while there is work: idle, the loop
        sleeps (no timer) until ``wake`` is set, then waits ``interval`` (the batch window) and steps."""
        while not self._stop.is_set():
            if wake is not None:
                if not wake.is_set():
                    await self._until_set(wake)
                wake.clear()
            # asyncio.timeout, not wait_for: no task per turn (Python 3.11)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):
                    await self._stop.wait()
            if self._stop.is_set():
                return
            try:
                await step()
            except CallcenterError as exc:
                log.warning(f"{what} failed", extra={"error": str(exc)})
            except Exception:
                log.exception(f"{what} crashed")

    async def _until_set(self, wake: asyncio.Event) -> None:
        """Wait until ``wake`` or the stop is set (two waiters only while idle-waiting starts)."""
        waiters = {asyncio.ensure_future(wake.wait()), asyncio.ensure_future(self._stop.wait())}
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def _apply_pending(self) -> None:
        if self._pending_config is not None:
            await self.apply_config(self._pending_config)
            self._pending_config = None
        else:
            await self.refresh()
        await self.state.mark_seeded()
        self.reconciler.request("start")

    @property
    def file_config(self) -> AcdConfig | None:
        """The configuration file as loaded at start (None: the shared state is the only source)."""
        return self._file_config

    def _on_bus(self, topic: str, event: Mapping[str, Any]) -> None:
        if topic != TOPIC:
            return
        kind = str(event.get("type", ""))
        if kind.startswith("config."):
            self._refresh_needed = True
        elif kind == "agent.state":
            self.reconciler.note_bus(event)
            self._wake_waiters(event)

    async def tick(self) -> None:
        """Timers (wrap-up end, busy rest), callbacks, configuration refresh: run every ``tick``."""
        now = self._clock()
        if self._pending_config is not None:
            await self._apply_pending()
        elif self._refresh_needed:
            await self.refresh()
        for agent in await self.state.due_timers(now):
            await self._timer_due(agent, now)
        await self._work_callbacks(now)

    # --- routing: the caller's side -----------------------------------------------------------
    async def route(self, channel: AgiChannel, request: QueueRequest) -> RouteResult:
        started = self._clock()
        extra = {"linkedid": request.call_id, "queue": request.queue}
        q = self._queues.get(request.queue)
        if q is None:
            log.error("route to unknown queue", extra=extra)
            return RouteResult(RouteOutcome.ERROR)
        self.stats["routed"] += 1
        try:
            return await self._route(channel, request, q, started)
        except (_Hangup, AgiHangup):
            wait = self._clock() - started
            self.stats["abandoned"] += 1
            await self._count(q.name, "abandoned")
            if wait > q.sl_threshold:
                await self._count(q.name, "abandoned_after_threshold")
            await self._emit(
                {
                    "type": "call.abandoned",
                    "call_id": request.call_id,
                    "queue": q.name,
                    "wait": wait,
                    "caller_num": request.caller_num,  # the missed-call worklist (services/missed_calls)
                    "customer_id": request.customer_id,
                }
            )
            log.info("caller abandoned", extra={**extra, "wait": round(wait, 2)})
            return RouteResult(RouteOutcome.ABANDONED, wait_seconds=wait)
        except (StateError, AgiError) as exc:
            log.error("routing failed", extra={**extra, "error": str(exc)})
            return RouteResult(RouteOutcome.ERROR, target=q.fallback, wait_seconds=self._clock() - started)

    async def _route(
        self, channel: AgiChannel, request: QueueRequest, q: QueueConfig, started: float
    ) -> RouteResult:
        counts = await self.state.counts(q.name)
        if counts.logged_in == 0:
            self.stats["no_agents"] += 1
            await self._count(q.name, "no_agents")
            await self._emit({"type": "call.no_agents", "call_id": request.call_id, "queue": q.name})
            log.info("no agents logged in", extra={"linkedid": request.call_id, "queue": q.name})
            return RouteResult(RouteOutcome.NO_AGENTS, target=q.fallback)
        if q.max_callers and counts.waiting >= q.max_callers:
            return await self._overflow(q, request, started, "max_callers")
        priority = request.priority + (q.vip_priority if request.vip else 0)
        entry_id = request.call_id or request.uniqueid
        self.live_entries.add(entry_id)  # before the entry exists: the reconciler never sees it orphaned
        try:
            return await self._queued(channel, request, q, started, entry_id, priority)
        finally:
            self.live_entries.discard(entry_id)

    async def _queued(
        self,
        channel: AgiChannel,
        request: QueueRequest,
        q: QueueConfig,
        started: float,
        entry_id: str,
        priority: int,
    ) -> RouteResult:
        entry = await self.state.enqueue(
            WaitingEntry(
                id=entry_id,
                queue=q.name,
                call_id=request.call_id or request.uniqueid,
                priority=priority,
                enqueued_at=started,
                skills=parse_skills(list(request.skills), "caller skills"),
                caller_num=request.caller_num,
                caller_name=request.caller_name,
                owner=self.instance,
                avoid_agent=request.transferred_by,
            )
        )
        await self._count(q.name, "queued")
        await self._emit(
            {
                "type": "call.queued",
                "call_id": request.call_id,
                "queue": q.name,
                "priority": priority,
                "caller_num": request.caller_num,
                "caller_name": request.caller_name,
            }
        )
        keep_entry = False
        try:
            with contextlib.suppress(AgiError):
                await channel.set_variable("CC_QUEUE", q.name)
            result = await self._wait(channel, q, entry, request, started)
            keep_entry = result.outcome is RouteOutcome.CALLBACK
            return result
        finally:
            if not keep_entry:
                with contextlib.suppress(StateError):
                    await self.state.remove(entry.id)

    async def _wait(
        self, channel: AgiChannel, q: QueueConfig, entry: WaitingEntry, request: QueueRequest, started: float
    ) -> RouteResult:
        filters = bool(entry.skills or entry.avoid_agent)  # may pass an agent the next caller could take
        waiter = self.waiters.add(q.name, entry.id, entry.priority, entry.seq, filters)
        try:
            return await self._wait_loop(channel, q, entry, request, started, waiter)
        finally:
            self.waiters.remove(q.name, entry.id)

    async def _wait_loop(
        self,
        channel: AgiChannel,
        q: QueueConfig,
        entry: WaitingEntry,
        request: QueueRequest,
        started: float,
        waiter: Waiter,
    ) -> RouteResult:
        """The caller's wait; ``claim`` runs only once woken (``acd_waiters``), or when an announcement,
        the max wait or ``idle_claim`` is due. In between the caller sits under music with no AGI command
        outstanding when the channel can (``IdleAgiChannel``) and DTMF is only needed after a callback
        offer; else (a queue offering callbacks without announcements listens all the time) in ``WAIT
        FOR DIGIT`` slices of ``wait_slice``, app_queue style."""
        moh = False
        next_announce = started + q.announce_interval if q.announce_interval > 0 else float("inf")
        evented = (
            self.options.evented_wait
            and isinstance(channel, IdleAgiChannel)
            and not (q.callback and q.announce_interval <= 0)
        )
        max_wait_at = started + q.max_wait if q.max_wait else float("inf")
        while True:
            if channel.hung_up:
                raise _Hangup
            now = self._clock()
            waiter.event.clear()
            self.stats["wait_claims"] += 1
            claim = await self.state.claim(q.name, entry.id, now, self._rng.random(), self.instance)
            if claim.status is EntryStatus.GONE:
                log.warning("waiting entry vanished", extra={"linkedid": request.call_id, "queue": q.name})
                return RouteResult(RouteOutcome.ERROR, target=q.fallback, wait_seconds=now - started)
            if claim.status is EntryStatus.OFFERED and claim.agent is not None:
                if claim.available > 0:
                    self.waiters.wake_next(q.name, waiter, served=True)
                if moh:
                    moh = False
                    await self._music(channel, None)
                waiter.offering = True
                try:
                    result = await self._offer(channel, q, entry, request, claim, started)
                finally:
                    waiter.offering = False
                if result is not None:
                    return result
                await self.state.requeue(entry.id)
                continue
            if claim.available > 0:
                self.waiters.wake_next(q.name, waiter, served=False)
            waited = now - started
            if q.max_wait and waited >= q.max_wait:
                return await self._overflow(q, request, started, "max_wait")
            if claim.logged_in == 0:
                self.stats["no_agents"] += 1
                await self._count(q.name, "no_agents")
                log.info("all agents logged out while waiting", extra={"linkedid": request.call_id})
                return RouteResult(RouteOutcome.NO_AGENTS, target=q.fallback, wait_seconds=waited)
            digit: str | None = None
            if now >= next_announce:
                if moh:
                    moh = False
                    await self._music(channel, None)
                digit = await self._announce(channel, q, claim)
                next_announce = self._clock() + q.announce_interval
                if digit is None and evented and q.callback:
                    moh = True
                    await self._music(channel, q.music_class)
                    digit = await self._callback_window(channel, q, waiter, next_announce)
            if digit is None and evented:
                if not moh:
                    moh = True
                    await self._music(channel, q.music_class)
                until = min(next_announce, max_wait_at, self._clock() + self.options.idle_claim)
                assert isinstance(channel, IdleAgiChannel)
                if await idle(channel, waiter.event, until - self._clock()):
                    raise _Hangup
            elif digit is None:
                # listening all the time: WAIT FOR DIGIT slices, a claim only once woken or due
                if not moh:
                    moh = True
                    await self._music(channel, q.music_class)
                until = min(next_announce, max_wait_at, now + self.options.idle_claim)
                while digit is None and not waiter.event.is_set():
                    left = until - self._clock()
                    if left <= 0:
                        break
                    slice_ms = max(10, int(min(self.options.wait_slice, left) * 1000))
                    reply = await channel.wait_for_digit(slice_ms)
                    _check_hangup(reply)
                    digit = reply.digit
            if (
                digit is not None
                and q.callback
                and digit == q.callback_digit
                and await self.state.to_callback(entry.id, request.caller_num)
            ):
                if moh:
                    await self._music(channel, None)
                return await self._callback_requested(channel, q, request, started)

    async def _callback_window(
        self, channel: AgiChannel, q: QueueConfig, waiter: Waiter, next_announce: float
    ) -> str | None:
        """Right after the callback offer: listen for the digit (``WAIT FOR DIGIT`` slices under music)
        for ``callback_window`` seconds, until an agent may be free for this caller."""
        end = min(self._clock() + self.options.callback_window, next_announce)
        while not waiter.event.is_set():
            left = end - self._clock()
            if left <= 0:
                return None
            reply = await channel.wait_for_digit(max(10, int(min(self.options.wait_slice, left) * 1000)))
            _check_hangup(reply)
            if reply.digit is not None:
                return reply.digit
        return None

    def _wake_waiters(self, event: Mapping[str, Any]) -> None:
        """An agent's state changed (here or in another instance): wake the callers it may concern."""
        cfg = self._agents.get(str(event.get("agent", "")))
        if cfg is None:
            return
        state = event.get("state")
        for m in cfg.queues:
            if state == S.AVAILABLE.value:
                self.waiters.wake_head(m.queue)
            elif state == S.LOGGED_OUT.value:
                self.waiters.wake_all(m.queue)

    async def _music(self, channel: AgiChannel, music_class: str | None) -> None:
        line = f"SET MUSIC ON {music_class}" if music_class else "SET MUSIC OFF"
        try:
            reply = await channel.command(line)
        except AgiHangup:
            raise _Hangup from None
        if reply.code == 511:
            raise _Hangup

    async def _announce(self, channel: AgiChannel, q: QueueConfig, claim: Claim) -> str | None:
        sounds = self.options.sounds
        escape = q.callback_digit if q.callback else ""
        position = claim.position

        async def play(sound: str) -> str | None:
            reply = await channel.stream_file(sound, escape)
            _check_hangup(reply)
            return reply.digit

        async def say(number: int) -> str | None:
            reply = await channel.command(f'SAY NUMBER {number} "{escape}"')
            _check_hangup(reply)
            return reply.digit

        steps: list[Callable[[], Awaitable[str | None]]] = []
        if q.announce_position and position > 0:
            if position == 1:
                steps.append(lambda: play(sounds.you_are_next))
            else:
                steps += [
                    lambda: play(sounds.there_are),
                    lambda: say(position),
                    lambda: play(sounds.calls_waiting),
                ]
        if q.announce_wait and position > 0:
            times = await self._handle_times(q.name)
            minutes = announce_minutes(expected_wait(position, claim.staffed, times, q.default_handle_time))
            steps += [lambda: play(sounds.hold_time), lambda: say(minutes), lambda: play(sounds.minutes)]
        if q.callback:
            steps.append(lambda: play(sounds.callback_offer))
        for step in steps:
            try:
                digit = await step()
            except AgiHangup:
                raise _Hangup from None
            if digit is not None:
                return digit
        return None

    async def _handle_times(self, queue: str) -> list[float]:
        now = self._clock()
        cached = self._ht_cache.get(queue)
        if cached is not None and now - cached[0] < self.options.handle_time_refresh:
            return cached[1]
        times = await self.state.handle_times(queue)
        self._ht_cache[queue] = (now, times)
        return times

    async def expected_wait(self, queue: str, position: int | None = None) -> float:
        """Expected wait in seconds for a caller at ``position`` (default: a new caller)."""
        q = self.queue(queue)
        counts = await self.state.counts(queue)
        pos = position if position is not None else counts.waiting + 1
        return expected_wait(pos, counts.staffed, await self._handle_times(queue), q.default_handle_time)

    async def _overflow(self, q: QueueConfig, request: QueueRequest, started: float, why: str) -> RouteResult:
        wait = self._clock() - started
        self.stats["overflow"] += 1
        await self._count(q.name, f"overflow_{why}")
        target = q.overflow_target()
        await self._emit(
            {
                "type": "call.overflow",
                "call_id": request.call_id,
                "queue": q.name,
                "target": target,
                "reason": why,
            }
        )
        log.info(
            "overflow", extra={"linkedid": request.call_id, "queue": q.name, "reason": why, "target": target}
        )
        if target is None:
            return RouteResult(RouteOutcome.VOICEMAIL, target=q.voicemail or q.name, wait_seconds=wait)
        return RouteResult(RouteOutcome.OVERFLOW, target=target, wait_seconds=wait)

    async def _callback_requested(
        self, channel: AgiChannel, q: QueueConfig, request: QueueRequest, started: float
    ) -> RouteResult:
        wait = self._clock() - started
        self.stats["callbacks"] += 1
        await self._count(q.name, "callbacks")
        await self._emit(
            {
                "type": "call.callback",
                "call_id": request.call_id,
                "queue": q.name,
                "caller_num": request.caller_num,
            }
        )
        log.info("callback requested", extra={"linkedid": request.call_id, "queue": q.name})
        with contextlib.suppress(AgiError):
            await channel.stream_file(self.options.sounds.callback_confirm)
        return RouteResult(RouteOutcome.CALLBACK, wait_seconds=wait)

    async def _offer(
        self,
        channel: AgiChannel,
        q: QueueConfig,
        entry: WaitingEntry,
        request: QueueRequest,
        claim: Claim,
        started: float,
    ) -> RouteResult | None:
        """Ring the reserved agent. Returns the result when the call is settled, None to try the next."""
        assert claim.agent is not None
        status = claim.agent
        agent = status.agent
        call_id = request.call_id
        offered_at = status.since
        self._offered(claim, q.name, offered_at)
        extra = {"linkedid": call_id, "agent": agent, "queue": q.name}
        cfg = self._agents.get(agent)
        if cfg is None:
            await self.refresh()
            cfg = self._agents.get(agent, AgentConfig(id=agent))
        self._acd_calls[call_id] = agent
        self._remember_acd(call_id)
        await self._emit(
            {
                "type": "call.offered",
                "call_id": call_id,
                "queue": q.name,
                "agent": agent,
                "caller_num": request.caller_num,
                "caller_name": request.caller_name,
                "customer_id": request.customer_id,
                "segment": request.segment,
                "vip": request.vip,
                "language": request.language,
                "ivr_choices": list(request.ivr_choices),
                "wait": offered_at - started,
            }
        )
        log.info("offering call", extra=extra)
        dial = q.dial_string(cfg.dial_target())
        dial_status = "CANCEL"
        answered_time = 0
        dial_result = "-1"
        try:
            with contextlib.suppress(AgiError):
                await channel.set_variable("CC_AGENT", agent)
            dial_result = (await channel.exec("Dial", dial)).result
            dial_status = ((await channel.get_variable("DIALSTATUS")) or "").upper()
            answered_time = _int(await channel.get_variable("ANSWEREDTIME"))
        except AgiHangup:
            dial_status = "CANCEL"
        except AgiError as exc:
            log.error("dial failed", extra={**extra, "error": str(exc)})
            dial_status = "CHANUNAVAIL"
        finally:
            self._acd_calls.pop(call_id, None)
        now = self._clock()
        if dial_status == "ANSWER":
            answer_at = max(offered_at, now - answered_time) if answered_time else now
            await self._answered(agent, call_id, answer_at)
            # held by the console, unless the agent's phone is gone already (a hold whose dual Redirect
            # tore the agent down, fact 32: its Hangup came before this Dial returned)
            if await self._held_by_console(channel) and (self.directory is None or self._legs.get(agent)):
                if len(self._detached) >= MAX_DETACHED:  # hang-ups missed (link down): forget the oldest
                    del self._detached[next(iter(self._detached))]
                self._detached[call_id] = (agent, q.name, answer_at)
                await self._hold(agent, call_id, True, now, by="console")
                log.info("call left the ACD session on hold", extra=extra)
                survey = None
            else:
                await self._call_ended(agent, call_id, q, now, talk=now - answer_at)
                # Dial g: 0 = the agent hung up and the caller is still here (the HANGUP line of a
                # caller hang-up arrives before the replies to the variable reads above, fact 24)
                survey = q.survey if q.survey and dial_result == "0" and not channel.hung_up else None
            wait = answer_at - started
            self.stats["answered"] += 1
            await self._count(q.name, "answered")
            if wait <= q.sl_threshold:
                await self._count(q.name, "answered_within_threshold")
            await self._emit(
                {"type": "call.answered", "call_id": call_id, "queue": q.name, "agent": agent, "wait": wait}
            )
            log.info("call answered and ended", extra={**extra, "wait": round(wait, 2), "survey": survey})
            return RouteResult(RouteOutcome.ANSWERED, agent=agent, wait_seconds=wait, survey=survey)
        if dial_status == "CANCEL" or channel.hung_up:
            await self._release(agent, call_id, S.AVAILABLE, now)
            raise _Hangup
        await self._offer_failed(agent, call_id, q, dial_status, now)
        return None

    @staticmethod
    async def _held_by_console(channel: AgiChannel) -> bool:
        """The console's hold redirected the caller out of Dial: it set ``CC_HOLD`` first (read once,
        then cleared: GET/SET VARIABLE work on a channel AGI sees as gone, fact 26)."""
        try:
            value = await channel.get_variable(HOLD_VARIABLE)
            if not value:
                return False
            await channel.set_variable(HOLD_VARIABLE, "")
        except AgiError:
            return False
        return True

    async def set_hold(self, agent: str, call_id: str, on: bool, *, by: str = "agent") -> None:
        """The console's hold / resume: on_call ⇄ on_hold."""
        await self._hold(agent, call_id, on, self._clock(), by=by)

    def _offered(self, claim: Claim, queue: str, at: float) -> None:
        assert claim.agent is not None
        self.stats["offers"] += 1
        prev = claim.previous_since
        self._record(
            AgentTransition(
                agent=claim.agent.agent,
                from_state=S.AVAILABLE,
                to_state=S.RINGING,
                at=at,
                duration=max(0.0, at - prev) if prev else 0.0,
                call_id=claim.agent.call_id,
                queue=queue,
                by="acd",
            ),
            claim.agent,
        )

    async def _offer_failed(
        self, agent: str, call_id: str, q: QueueConfig, dial_status: str, now: float
    ) -> None:
        extra = {"linkedid": call_id, "agent": agent, "queue": q.name, "dialstatus": dial_status}
        if dial_status == "NOANSWER":
            self.stats["missed"] += 1
            await self._count(q.name, "missed")
            if q.missed_call_pause:
                await self._release(agent, call_id, S.PAUSED, now, reason=q.missed_call_reason)
            else:
                await self._release(agent, call_id, S.AVAILABLE, now)
            log.info("agent did not answer", extra=extra)
        else:
            reason = "busy" if dial_status == "BUSY" else "unreachable"
            await self._release(agent, call_id, S.BUSY, now, reason=reason, until=now + q.busy_rest)
            log.info("agent busy or unreachable", extra=extra)

    # --- agent state changes -----------------------------------------------------------------
    async def _change(
        self,
        agent: str,
        decide: Callable[[AgentStatus], tuple[AgentState, dict[str, Any]] | AgentStatus | None],
        *,
        at: float | None = None,
        by: str = "system",
    ) -> AgentStatus | None:
        """Compare-and-set loop: ``decide`` sees the current status and returns the target state with
        ``transition`` keywords, a replacement status (no state change, not recorded), or None."""
        for attempt in range(20):
            current = await self.state.get_agent(agent)
            if current is None:
                raise UnknownAgent(f"no agent {agent!r}")
            decision = decide(current)
            if decision is None:
                return None
            if isinstance(decision, AgentStatus):
                stored = await self.state.compare_and_set(decision)
                if stored is not None:
                    return stored
            else:
                to, kwargs = decision
                when = at if at is not None else self._clock()
                new, record = transition(current, to, max(when, current.since), by=by, **kwargs)
                stored = await self.state.compare_and_set(new)
                if stored is not None:
                    self._record(record, stored)
                    await self._emit_state(record, stored)
                    return stored
            self.stats["cas_retries"] += 1
            if attempt > 3:
                await asyncio.sleep(0.001 * attempt)
        raise StateError(f"agent {agent}: state changed concurrently too often")

    def _record(self, record: AgentTransition, status: AgentStatus) -> None:
        self.stats["transitions"] += 1
        if len(self._pending_log) >= self.options.log_max_pending:
            del self._pending_log[: len(self._pending_log) // 10]
            self.stats["log_failures"] += 1
            log.error(
                "agent state log backlog full: oldest transitions dropped", extra={"agent": status.agent}
            )
        self._pending_log.append(record)
        self._log_wake.set()

    async def _emit_state(self, record: AgentTransition, status: AgentStatus) -> None:
        self.reconciler.note(status.agent, status.state, status.reason)
        await self._emit(
            {
                "type": "agent.state",
                "agent": status.agent,
                "state": status.state.value,
                "from": record.from_state.value,
                "reason": status.reason,
                "call_id": status.call_id,
                "queue": status.queue,
                "at": record.at,
                "by": record.by,
            }
        )

    def _phone_busy(self, agent: str, ignore: str = "") -> bool:
        legs = self._legs.get(agent)
        if not legs:
            return False
        return any(linked != ignore and linked not in self._recent_acd for linked in legs.values())

    def _ready(self, status: AgentStatus) -> tuple[AgentState, dict[str, Any]]:
        """Where an agent goes when free again: paused if a pause is pending, busy if their phone is in
        use outside the ACD, else available."""
        if status.pending_pause:
            return S.PAUSED, {"reason": status.pending_pause}
        if self._phone_busy(status.agent):
            return S.BUSY, {"reason": PHONE_IN_USE}
        return S.AVAILABLE, {}

    async def _answered(self, agent: str, call_id: str, at: float) -> None:
        def decide(s: AgentStatus) -> tuple[AgentState, dict[str, Any]] | None:
            if s.state is S.RINGING and s.call_id == call_id:
                return S.ON_CALL, {}
            return None

        await self._change(agent, decide, at=at, by="acd")

    async def _call_ended(self, agent: str, call_id: str, q: QueueConfig, at: float, talk: float) -> None:
        def decide(s: AgentStatus) -> tuple[AgentState, dict[str, Any]] | None:
            if s.state not in IN_CALL or s.call_id != call_id:
                return None
            to, until, reason = after_call(s, q.wrapup, at)
            if to is S.AVAILABLE:
                return self._ready(s)
            return to, {"until": until, "reason": reason}

        await self._change(agent, decide, at=at, by="acd")
        await self.state.add_handle_time(q.name, talk + max(0.0, q.wrapup))
        self._ht_cache.pop(q.name, None)

    async def _release(
        self, agent: str, call_id: str, to: AgentState, at: float, *, reason: str = "", until: float = 0.0
    ) -> None:
        """An offer that did not connect: the agent leaves ringing."""

        def decide(s: AgentStatus) -> tuple[AgentState, dict[str, Any]] | None:
            if s.state is not S.RINGING or s.call_id != call_id:
                return None
            if to is S.AVAILABLE:
                return self._ready(s)
            return to, {"reason": reason, "until": until}

        await self._change(agent, decide, at=at, by="acd")

    async def _timer_due(self, agent: str, now: float) -> None:
        gate = self.wrapup_gate
        current = await self.state.get_agent(agent) if gate is not None else None
        if gate is not None and current is not None and current.state is S.WRAPUP and not await gate(current):

            def wait(s: AgentStatus) -> AgentStatus | None:  # open-ended until the code is set
                if s.state is not S.WRAPUP or not 0 < s.until <= now:
                    return None
                return s.with_(until=0.0, reason="disposition_required")

            with contextlib.suppress(UnknownAgent):
                held = await self._change(agent, wait, at=now, by="timer")
                if held is not None:  # the console and the wallboard say why the wrap-up goes on
                    record = AgentTransition(agent, S.WRAPUP, S.WRAPUP, now, 0.0, held.reason, by="timer")
                    await self._emit_state(record, held)
            return

        def decide(s: AgentStatus) -> tuple[AgentState, dict[str, Any]] | None:
            if s.state not in (S.WRAPUP, S.BUSY) or not 0 < s.until <= now:
                return None
            if s.state is S.WRAPUP:
                to, reason = after_wrapup(s)
                if to is S.AVAILABLE:
                    return self._ready(s)
                return to, {"reason": reason}
            return self._ready(s.with_(pending_pause=""))

        with contextlib.suppress(UnknownAgent):
            await self._change(agent, decide, at=now, by="timer")

    # --- the control API (agents and supervisors) --------------------------------------------
    def _known(self, agent: str) -> None:
        if agent not in self._agents:
            raise UnknownAgent(f"no agent {agent!r}")

    async def request_callback(
        self, call_id: str, number: str, queue: str | None, language: str, customer_id: int | None
    ) -> None:
        """The IVR's callback node (``ports.CallbackRequests``): file a callback request at the back of
        ``queue``; the next free agent of that queue is called first, then ``number``."""
        q = self._queues.get(queue or "")
        if q is None:
            raise UnknownQueue(queue or "")
        entry = await self.state.enqueue(
            WaitingEntry(
                id=call_id, queue=q.name, call_id=call_id, enqueued_at=self._clock(), caller_num=number
            )
        )
        if not await self.state.to_callback(entry.id, number):
            raise AcdError(f"callback for {call_id} could not be filed in {q.name}")
        self.stats["callbacks"] += 1
        await self._count(q.name, "callbacks")
        await self._emit(
            {
                "type": "call.callback",
                "call_id": call_id,
                "queue": q.name,
                "number": number,
                "language": language,
                "customer_id": customer_id,
                "source": "ivr",
            }
        )
        log.info("callback requested in the IVR", extra={"linkedid": call_id, "queue": q.name})

    async def login(self, agent: str, *, by: str = "agent") -> AgentStatus:
        self._known(agent)

        def decide(s: AgentStatus) -> tuple[AgentState, dict[str, Any]] | None:
            if s.state is not S.LOGGED_OUT:
                return None
            return self._ready(s)

        return await self._change(agent, decide, by=by) or await self._status(agent)

    async def logout(self, agent: str, *, by: str = "agent") -> AgentStatus:
        self._known(agent)

        def decide(s: AgentStatus) -> tuple[AgentState, dict[str, Any]] | None:
            return None if s.state is S.LOGGED_OUT else (S.LOGGED_OUT, {})

        return await self._change(agent, decide, by=by) or await self._status(agent)

    async def pause(self, agent: str, reason: str, *, by: str = "agent") -> AgentStatus:
        """Pause now, or (ringing / on a call) when the call ends."""
        self._known(agent)
        if reason not in self.options.pause_reasons:
            raise InvalidTransition(
                f"unknown pause reason {reason!r}; one of {list(self.options.pause_reasons)}"
            )

        def decide(s: AgentStatus) -> tuple[AgentState, dict[str, Any]] | AgentStatus | None:
            if s.state is S.LOGGED_OUT:
                raise InvalidTransition(f"agent {agent} is logged out")
            if s.state in IN_CALL:
                return None if s.pending_pause == reason else s.with_(pending_pause=reason)
            if s.state is S.PAUSED and s.reason == reason:
                return None
            return S.PAUSED, {"reason": reason}

        return await self._change(agent, decide, by=by) or await self._status(agent)

    async def unpause(self, agent: str, *, by: str = "agent") -> AgentStatus:
        self._known(agent)

        def decide(s: AgentStatus) -> tuple[AgentState, dict[str, Any]] | AgentStatus | None:
            if s.pending_pause:
                return s.with_(pending_pause="")
            if s.state is not S.PAUSED:
                return None
            return self._ready(s)

        return await self._change(agent, decide, by=by) or await self._status(agent)

    async def end_wrapup(self, agent: str, *, by: str = "agent") -> AgentStatus:
        self._known(agent)

        def decide(s: AgentStatus) -> tuple[AgentState, dict[str, Any]] | None:
            if s.state is not S.WRAPUP:
                return None
            to, reason = after_wrapup(s)
            return self._ready(s) if to is S.AVAILABLE else (to, {"reason": reason})

        return await self._change(agent, decide, by=by) or await self._status(agent)

    async def _status(self, agent: str) -> AgentStatus:
        status = await self.state.get_agent(agent)
        if status is None:
            raise UnknownAgent(f"no agent {agent!r}")
        return status

    async def agent_view(self, agent: str) -> dict[str, Any]:
        return self._agent_json(
            self._agents[agent] if agent in self._agents else AgentConfig(id=agent), await self._status(agent)
        )

    def _agent_json(self, cfg: AgentConfig, s: AgentStatus) -> dict[str, Any]:
        now = self._clock()
        return {
            **agent_to_mapping(cfg),
            "state": s.state.value,
            "since": s.since,
            "in_state_seconds": round(max(0.0, now - s.since), 1) if s.since else None,
            "reason": s.reason,
            "call_id": s.call_id or None,
            "queue": s.queue or None,
            "until": s.until or None,
            "pending_pause": s.pending_pause or None,
            "calls": s.calls,
            "offers": s.offers,
            "phone_in_use": self._phone_busy(cfg.id),
        }

    async def agents_view(self) -> list[dict[str, Any]]:
        statuses = {s.agent: s for s in await self.state.list_agents()}
        return [
            self._agent_json(cfg, statuses.get(cfg.id, AgentStatus(agent=cfg.id)))
            for cfg in self._agents.values()
        ]

    async def queue_view(self, name: str) -> dict[str, Any]:
        q = self.queue(name)
        now = self._clock()
        counts = await self.state.counts(name)
        waiting = await self.state.waiting(name)
        counters = await self.state.counters(name)
        statuses = {s.agent: s for s in await self.state.list_agents()}
        members: dict[str, int] = {}
        for cfg in self._agents.values():
            if cfg.penalty(name) is not None:
                st = statuses.get(cfg.id)
                key = st.state.value if st else S.LOGGED_OUT.value
                members[key] = members.get(key, 0) + 1
        answered = counters.get("answered", 0)
        sl = service_level(
            counters.get("answered_within_threshold", 0),
            answered,
            counters.get("abandoned_after_threshold", 0),
        )
        return {
            "name": name,
            "config": queue_to_mapping(q),
            "waiting": counts.waiting,
            "logged_in": counts.logged_in,
            "staffed": counts.staffed,
            "available": counts.available,
            "agents_by_state": members,
            "longest_wait": round(max((now - e.enqueued_at for e in waiting), default=0.0), 1),
            "expected_wait": round(await self.expected_wait(name), 1),
            "service_level": None if sl is None else round(sl, 4),
            "service_level_target": q.sl_target,
            "counters": counters,
            "callers": [
                {
                    "id": e.id,
                    "position": i + 1,
                    "priority": e.priority,
                    "kind": e.kind.value,
                    "caller_num": e.caller_num,
                    "caller_name": e.caller_name,
                    "wait": round(now - e.enqueued_at, 1),
                }
                for i, e in enumerate(waiting)
            ],
        }

    # --- callbacks ------------------------------------------------------------------------------
    async def _work_callbacks(self, now: float) -> None:
        for pending in list(self._cb_pending.values()):
            q = self._queues.get(pending.queue)
            limit = (q.ring_timeout if q else 30.0) + self.options.callback_grace
            if now - pending.started > limit:
                self._cb_pending.pop(pending.action_id, None)
                log.warning("callback originate got no response", extra={"agent": pending.agent})
                await self._callback_failed(pending, 0, now)
        if self.pbx is None or not self.pbx.connected:
            return
        for entry in await self.state.callbacks():
            q = self._queues.get(entry.queue)
            if q is None:
                continue
            claim = await self.state.claim(entry.queue, entry.id, now, self._rng.random(), self.instance)
            if claim.status is EntryStatus.OFFERED and claim.agent is not None:
                await self._originate_callback(q, entry, claim, now)

    async def _originate_callback(
        self, q: QueueConfig, entry: WaitingEntry, claim: Claim, now: float
    ) -> None:
        assert claim.agent is not None and self.pbx is not None
        agent = claim.agent.agent
        self._offered(claim, q.name, now)
        cfg = self._agents.get(agent, AgentConfig(id=agent))
        action_id = f"acd-cb-{uuid.uuid4().hex[:16]}"
        pending = _PendingCallback(entry=entry, agent=agent, queue=q.name, action_id=action_id, started=now)
        self._cb_pending[action_id] = pending
        self._remember_acd(entry.call_id)
        extra = {"linkedid": entry.call_id, "agent": agent, "queue": q.name}
        await self._emit(
            {
                "type": "call.offered",
                "call_id": entry.call_id,
                "queue": q.name,
                "agent": agent,
                "callback": True,
                "caller_num": entry.caller_num,
                "caller_name": entry.caller_name,
                "wait": now - entry.enqueued_at,
            }
        )
        try:
            await self.pbx.originate(
                cfg.dial_target(),
                context=q.callback_context,
                exten=entry.caller_num,
                caller_id=f'"{_cid(entry.caller_name)}" <{_cid(entry.caller_num)}>',
                timeout_ms=int(q.ring_timeout * 1000),
                variables={
                    "CC_CALLBACK": entry.id,
                    "CC_QUEUE": q.name,
                    "CC_AGENT": agent,
                    "CC_CALLID": entry.call_id,
                },
                action_id=action_id,
            )
            log.info("callback: calling the agent first", extra=extra)
        except PbxError as exc:
            self._cb_pending.pop(action_id, None)
            log.error("callback originate failed", extra={**extra, "error": str(exc)})
            await self._release(agent, entry.call_id, S.AVAILABLE, self._clock())
            await self.state.requeue(entry.id)

    async def _on_originate(self, e: ev.OriginateResult) -> None:
        pending = self._cb_pending.pop(e.action_id, None)
        if pending is None:
            return
        if e.success:
            pending.answered_at = e.at
            pending.uniqueid = e.uniqueid
            if e.uniqueid:
                self._cb_legs[e.uniqueid] = pending
                self._remember_acd(e.uniqueid)
            await self._answered(pending.agent, pending.entry.call_id, e.at)
            await self.state.remove(pending.entry.id)
            await self._count(pending.queue, "callbacks_connected")
            await self._emit(
                {
                    "type": "callback.connected",
                    "call_id": pending.entry.call_id,
                    "agent": pending.agent,
                    "queue": pending.queue,
                }
            )
            log.info(
                "callback: agent answered, dialing the customer",
                extra={"linkedid": pending.entry.call_id, "agent": pending.agent},
            )
            if not e.uniqueid:
                q = self._queues.get(pending.queue)
                if q is not None:
                    await self._call_ended(pending.agent, pending.entry.call_id, q, e.at, 0.0)
        else:
            await self._callback_failed(pending, e.reason, e.at)

    async def _callback_failed(self, pending: _PendingCallback, reason: int, at: float) -> None:
        q = self._queues.get(pending.queue)
        status = {3: "NOANSWER", 5: "BUSY"}.get(reason, "CHANUNAVAIL")
        if q is not None:
            await self._offer_failed(pending.agent, pending.entry.call_id, q, status, at)
        await self.state.requeue(pending.entry.id)

    def agents_of(self, queue: str) -> list[str]:
        """The agents that are members of ``queue``."""
        return [a for a, cfg in self._agents.items() if cfg.penalty(queue) is not None]

    # --- the outbound dialer's agents (services/dialer.py owns the calls, the ACD the agent states) ---
    async def reserve_for_dialer(self, agent: str, call_id: str, queue: str) -> bool:
        """available → ringing for an outbound call ``call_id`` (no ACD call is offered to the agent
        meanwhile). False when the agent is not available any more."""

        def decide(s: AgentStatus) -> tuple[AgentState, dict[str, Any]] | None:
            if s.state is S.AVAILABLE and not s.pending_pause:
                return S.RINGING, {"call_id": call_id, "queue": queue, "reason": "outbound"}
            return None

        self.dialer_calls[call_id] = agent
        self._acd_calls[call_id] = agent
        self._remember_acd(call_id)
        try:
            stored = await self._change(agent, decide, by="dialer")
        except CallcenterError:
            stored = None
        if stored is None:
            self.dialer_calls.pop(call_id, None)
            self._acd_calls.pop(call_id, None)
            return False
        return True

    async def dialer_answered(self, agent: str, call_id: str) -> None:
        """The agent answered the outbound call (ringing → on call)."""
        await self._answered(agent, call_id, self._clock())

    async def dialer_release(self, agent: str, call_id: str, queue: str, *, missed: bool = False) -> None:
        """The outbound call never reached the agent: back to available (or paused when their phone
        rang unanswered, like a missed ACD offer)."""
        self.dialer_calls.pop(call_id, None)
        self._acd_calls.pop(call_id, None)
        q = self._queues.get(queue)
        if missed and q is not None and q.missed_call_pause:
            await self._release(agent, call_id, S.PAUSED, self._clock(), reason=q.missed_call_reason)
        else:
            await self._release(agent, call_id, S.AVAILABLE, self._clock())

    async def dialer_ended(self, agent: str, call_id: str, queue: str, talk: float) -> None:
        """The connected outbound call ended: wrap-up by the queue's rules, handle time measured."""
        self.dialer_calls.pop(call_id, None)
        self._acd_calls.pop(call_id, None)
        q = self._queues.get(queue) or QueueConfig(name=queue)
        await self._call_ended(agent, call_id, q, self._clock(), talk=talk)

    # --- PBX observations -----------------------------------------------------------------------
    def observe(self, event: ev.PbxEvent) -> None:
        """Feed from the AMI consumer (synchronous, never blocks): queued for the observer task."""
        if not isinstance(
            event,
            ev.ChannelCreated
            | ev.ChannelListed
            | ev.ChannelHungUp
            | ev.DialEnded
            | ev.HoldStarted
            | ev.HoldEnded
            | ev.OriginateResult
            | ev.LinkUp
            | ev.LinkDown
            | ev.ResyncComplete,
        ):
            return
        try:
            self._events.put_nowait(event)
        except asyncio.QueueFull:
            self.stats["observe_dropped"] += 1
            if self.stats["observe_dropped"] in (1, 100, 10_000):
                log.error("ACD observation queue full: PBX events dropped", extra=self.stats)

    async def _observer(self) -> None:
        """Apply PBX events in order. Under load the queue is rarely empty: take events without
        creating futures (the waiting path is only for an idle queue)."""
        stop = asyncio.ensure_future(self._stop.wait())
        try:
            while not self._stop.is_set():
                if self._events.empty():
                    get = asyncio.ensure_future(self._events.get())
                    done, _ = await asyncio.wait({get, stop}, return_when=asyncio.FIRST_COMPLETED)
                    if get not in done:
                        get.cancel()
                        await asyncio.gather(get, return_exceptions=True)
                        return
                    event = get.result()
                else:
                    event = self._events.get_nowait()
                try:
                    await self.handle_event(event)
                except CallcenterError as exc:
                    log.warning("ACD could not apply a PBX event", extra={"error": str(exc)})
                except Exception:
                    log.exception("ACD PBX event handler crashed")
        finally:
            stop.cancel()
            await asyncio.gather(stop, return_exceptions=True)

    def _agent_of(self, channel: str) -> str | None:
        if self.directory is None:
            return None
        agent = self.directory.agent_for_channel(channel)
        return agent if agent in self._agents else None

    async def handle_event(self, event: ev.PbxEvent) -> None:
        """Apply one PBX event (the observer task calls this in arrival order)."""
        if isinstance(event, ev.OriginateResult):
            await self._on_originate(event)
        elif isinstance(event, ev.LinkUp | ev.LinkDown):
            self.channels_known = False  # until the resync that follows every login lists them again
        elif isinstance(event, ev.ResyncComplete):
            self._channels_resynced(event.live_uniqueids)
        elif isinstance(event, ev.ChannelCreated | ev.ChannelListed):
            self.channels[event.chan.uniqueid] = event.chan.linkedid
            agent = self._agent_of(event.chan.channel)
            if agent is not None:
                legs = self._legs.setdefault(agent, {})
                if event.chan.uniqueid not in legs:
                    legs[event.chan.uniqueid] = event.chan.linkedid
                    await self._phone_check(agent, event.chan.linkedid, event.at)
        elif isinstance(event, ev.ChannelHungUp):
            self.channels.pop(event.chan.uniqueid, None)
            await self._detached_leg_gone(event)
            pending = self._cb_legs.pop(event.chan.uniqueid, None)
            if pending is not None:
                q = self._queues.get(pending.queue)
                if q is not None:
                    talk = event.at - (pending.answered_at or event.at)
                    await self._call_ended(pending.agent, pending.entry.call_id, q, event.at, talk)
            agent = self._agent_of(event.chan.channel)
            if agent is not None:
                legs = self._legs.get(agent, {})
                legs.pop(event.chan.uniqueid, None)
                if not legs:
                    self._legs.pop(agent, None)
                    await self._phone_idle(agent, event.at)
        elif isinstance(event, ev.DialEnded):
            agent = self._agent_of(event.dest.channel)
            if agent is not None and event.status is ev.DialStatus.ANSWER:
                await self._answered(agent, event.dest.linkedid, event.at)
        elif isinstance(event, ev.HoldStarted | ev.HoldEnded):
            agent = self._agent_of(event.chan.channel) or self._acd_calls.get(event.chan.linkedid)
            if agent is not None:
                await self._hold(agent, event.chan.linkedid, isinstance(event, ev.HoldStarted), event.at)

    def _channels_resynced(self, live: frozenset[str]) -> None:
        """A resync listed every live channel: forget the others (after a PBX restart: all of them,
        no Hangup events came, fact 34), then reconcile the agents against what is left."""
        for uniqueid in [u for u in self.channels if u not in live]:
            del self.channels[uniqueid]
        for agent in list(self._legs):
            legs = self._legs[agent]
            for uniqueid in [u for u in legs if u not in live]:
                del legs[uniqueid]
            if not legs:
                del self._legs[agent]
        self.channels_known = True
        self.reconciler.request("pbx resync")

    def agent_has_channel(self, agent: str, call_id: str, linkedids: set[str]) -> bool:
        """Whether the PBX has a channel of the agent's phone or of the agent's call."""
        return bool(self._legs.get(agent)) or (bool(call_id) and call_id in linkedids)

    def forget_call(self, call_id: str) -> None:
        """The reconciler released the agent of ``call_id``: nothing here waits for it any more."""
        self._detached.pop(call_id, None)
        self._acd_calls.pop(call_id, None)

    def pending_callback_entries(self) -> set[str]:
        return {p.entry.id for p in self._cb_pending.values()}

    async def _detached_leg_gone(self, event: ev.ChannelHungUp) -> None:
        """A call that left its ACD session (console hold) ends with the agent's channel."""
        detached = self._detached.get(event.chan.linkedid)
        if detached is None:
            return
        agent, queue, answered_at = detached
        if self._agent_of(event.chan.channel) != agent:
            return
        del self._detached[event.chan.linkedid]
        q = self._queues.get(queue)
        if q is not None:
            await self._call_ended(agent, event.chan.linkedid, q, event.at, talk=event.at - answered_at)
        log.info("held call ended", extra={"linkedid": event.chan.linkedid, "agent": agent})

    async def _phone_check(self, agent: str, linkedid: str, at: float) -> None:
        if linkedid in self._recent_acd or linkedid in self._acd_calls:
            return

        def decide(s: AgentStatus) -> tuple[AgentState, dict[str, Any]] | None:
            if s.state is S.AVAILABLE and s.call_id != linkedid:
                return S.BUSY, {"reason": PHONE_IN_USE}
            return None

        await self._change(agent, decide, at=at, by="phone")

    async def _phone_idle(self, agent: str, at: float) -> None:
        def decide(s: AgentStatus) -> tuple[AgentState, dict[str, Any]] | None:
            if s.state is S.BUSY and s.reason == PHONE_IN_USE:
                return self._ready(s)
            return None

        await self._change(agent, decide, at=at, by="phone")

    async def _hold(self, agent: str, linkedid: str, on: bool, at: float, *, by: str = "phone") -> None:
        def decide(s: AgentStatus) -> tuple[AgentState, dict[str, Any]] | None:
            if on and s.state is S.ON_CALL:
                return S.ON_HOLD, {}
            if not on and s.state is S.ON_HOLD:
                return S.ON_CALL, {}
            return None

        await self._change(agent, decide, at=at, by=by)

    def _remember_acd(self, linkedid: str) -> None:
        self._recent_acd[linkedid] = None
        self._recent_acd.move_to_end(linkedid)
        while len(self._recent_acd) > 2000:
            self._recent_acd.popitem(last=False)

    # --- the transition log and the bus ---------------------------------------------------------
    async def flush_log(self) -> None:
        """Write pending transitions (kept on failure, raised as ``StoreError``)."""
        if self.transitions is None:
            self._pending_log.clear()
            return
        while self._pending_log:
            batch = self._pending_log[: self.options.log_batch]
            async with asyncio.timeout(10.0):
                await self.transitions.save_transitions(batch)
            del self._pending_log[: len(batch)]

    async def _flush_quietly(self) -> None:
        try:
            await self.flush_log()
        except (CallcenterError, TimeoutError) as exc:
            self.stats["log_failures"] += 1
            self._log_wake.set()  # retry after the next interval
            log.error(
                "agent state transitions not written, will retry",
                extra={"pending": len(self._pending_log), "error": str(exc) or type(exc).__name__},
            )

    @property
    def pending_transitions(self) -> Sequence[AgentTransition]:
        return tuple(self._pending_log)

    async def _emit(self, event: Mapping[str, Any]) -> None:
        try:
            await self.bus.publish(TOPIC, {**event, "at": event.get("at", self._clock())})
        except CallcenterError as exc:
            self.stats["publish_errors"] += 1
            log.warning("ACD event not published", extra={"error": str(exc), "event": event.get("type")})

    async def _count(self, queue: str, counter: str) -> None:
        try:
            await self.state.incr(queue, counter)
        except StateError as exc:
            log.warning("ACD counter not updated", extra={"queue": queue, "error": str(exc)})

    def metrics(self) -> dict[str, float]:
        out = {f"callcenter_acd_{k}_total": float(v) for k, v in self.stats.items()}
        out["callcenter_acd_transitions_pending"] = float(len(self._pending_log))
        out["callcenter_acd_wait_wakeups_total"] = float(self.waiters.wakeups)
        last = self.reconciler.last
        out["callcenter_acd_reconcile_last_seconds"] = last.seconds if last is not None else -1.0
        return out


def build_acd_options(wait_slice: float = 1.0) -> AcdOptions:
    """Options from the settings (``CALLCENTER_ACD_WAIT_SLICE``)."""
    return AcdOptions(wait_slice=max(0.05, wait_slice))


def _check_hangup(reply: AgiReply) -> None:
    if reply.code == 511 or (reply.ok and reply.result_int < 0):
        raise _Hangup


def _int(value: str | None) -> int:
    try:
        return int(float(value or 0))
    except ValueError:
        return 0


def _cid(text: str) -> str:
    return "".join(c for c in text if c not in '"<>\r\n')[:80]


def _replace_options(options: AcdOptions, **changes: Any) -> AcdOptions:
    from dataclasses import replace

    return replace(options, **changes)


__all__ = ["TOPIC", "AcdOptions", "AcdService", "AcdSounds", "build_acd_options", "merge_skills"]
