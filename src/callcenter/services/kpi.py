"""The KPI service: feeds the one KPI engine (``domain/kpis.py``) live, pushes the wallboard, and
recomputes the same numbers from the store for reports.

Live inputs (wired by the composition root): the tracker's final call records (``on_call_finished``) and
the ACD bus (``on_bus``: ``agent.state``; ``call.*`` events wake the publish loop). Calls waiting and the
longest wait are read from the ACD's shared state at each tick: after a change, every publish interval
while callers wait, else once a minute (no polling of an idle center). Outputs:

* ``snapshot()``: every scope's figures, the 15-minute chart of today, the agent grid, the staffing
  advice (``GET /api/wallboard``, and the first message of each wallboard websocket);
* one ``update`` message per publish interval (default 1 s) on the ``wallboard`` topic with only the
  scopes, chart intervals and agents that changed: changes are coalesced, so a queue is pushed at most
  once a second whatever the traffic. ``since`` in the message is when its oldest change arrived
  (the update delay is ``receive time − since``);
* ``report(since, until)``: a fresh engine fed from the store (calls table, agent state log) giving
  the same figures for the same window.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from callcenter.domain.acd import AgentState, AgentStatus, EntryKind
from callcenter.domain.calls import CallQuery, CallRecord
from callcenter.domain.erlang import advise
from callcenter.domain.errors import CallcenterError
from callcenter.domain.kpis import (
    CENTER,
    INTERVAL,
    MINUTE,
    AgentLive,
    KpiEngine,
    OpenTime,
    SlConvention,
    Tally,
    agent_state_from_event,
    call_fact,
    feed_transitions,
    figures,
    service_level,
)
from callcenter.ports import AgentStateLog, Broadcaster, CrmStore
from callcenter.services.acd import TOPIC as ACD_TOPIC
from callcenter.services.acd import AcdService
from callcenter.services.kpi_config import KpiConfig
from callcenter.services.pbx_health import PbxHealth

log = logging.getLogger(__name__)

TOPIC = "wallboard"
WINDOW_NAMES = ("today", "60m", "15m")
DEFAULT_THRESHOLD = 20.0
DEFAULT_TARGET = 0.8
#: how far back the report path reads agent transitions to know each agent's state at the window start
TRANSITION_LOOKBACK = 86_400.0


class KpiService:
    def __init__(
        self,
        acd: AcdService,
        *,
        config: KpiConfig | None = None,
        store: CrmStore | None = None,
        transitions: AgentStateLog | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.acd = acd
        self.config = config or KpiConfig()
        self.store = store
        self.transitions = transitions
        self._clock = clock
        self._members_src: object = None
        self._members: dict[str, tuple[str, ...]] = {}
        self.engine = self._new_engine()
        self._broadcast: Broadcaster | None = None
        self._first_change: float | None = None
        self._waiting: dict[str, tuple[int, float | None, int]] = {}
        self._alerts: dict[str, tuple[str, ...]] = {}
        #: PBX health (services/pbx_health): its figure on the wallboard, its alert on the center scope
        self.pbx: PbxHealth | None = None
        self._pbx_version = -1
        self._pbx_alerting = False
        self._last_minute = -1
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()  # something changed: the publish loop runs a tick
        self._task: asyncio.Task[None] | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self.stats: dict[str, float] = {
            "calls": 0,
            "agent_events": 0,
            "ticks": 0,
            "updates": 0,
            "deliveries": 0,
            "cpu_seconds": 0.0,
            "tick_errors": 0,
        }

    def _new_engine(self) -> KpiEngine:
        return KpiEngine(short_abandon=self.config.short_abandon, queues_of=self.queues_of)

    # --- configuration -------------------------------------------------------------------------
    def queues_of(self, agent: str) -> tuple[str, ...]:
        agents = self.acd.agents
        if agents is not self._members_src:  # the ACD replaced its configuration: rebuild the cache
            self._members = {a.id: tuple(m.queue for m in a.queues) for a in agents.values()}
            self._members_src = agents
        return self._members.get(agent, ())

    def threshold_of(self, queue: str) -> float:
        q = self.acd.queues.get(queue)
        return q.sl_threshold if q is not None else DEFAULT_THRESHOLD

    def convention(self, scope: str) -> SlConvention:
        return self.config.center_convention if scope == CENTER else self.config.convention(scope)

    def configure(self, config: KpiConfig) -> None:
        self.config = config
        self.engine.short_abandon = config.short_abandon

    def attach(self, broadcaster: Broadcaster) -> None:
        self._broadcast = broadcaster

    # --- live inputs (synchronous, on the loop; never block) -------------------------------------
    def on_call_finished(self, record: CallRecord) -> None:
        started = time.thread_time()
        fact = call_fact(record, self.threshold_of)
        if fact is not None:
            self.engine.add_call(fact)
            self.stats["calls"] += 1
            self._changed()
        self.stats["cpu_seconds"] += time.thread_time() - started

    def on_bus(self, topic: str, event: Mapping[str, Any]) -> None:
        if topic != ACD_TOPIC:
            return
        kind = event.get("type")
        if kind != "agent.state":
            if isinstance(kind, str) and kind.startswith("call."):
                self._wake.set()  # a caller entered or left a queue: the waiting figures are read again
            return
        started = time.thread_time()
        parsed = agent_state_from_event(event)
        if parsed is not None:
            agent, state, at, reason, call_id, queue = parsed
            self.engine.agent_state(agent, state, at, reason=reason, call_id=call_id, queue=queue)
            self.stats["agent_events"] += 1
            self._changed()
        self.stats["cpu_seconds"] += time.thread_time() - started

    def wake(self) -> None:
        """Something outside the engine changed (the PBX health alert): publish at the next tick."""
        self._wake.set()

    def _changed(self) -> None:
        if self._first_change is None:
            self._first_change = self._clock()
        self._wake.set()

    # --- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> None:
        self.engine.advance(self._clock())
        try:
            statuses = await self.acd.state.list_agents()
        except CallcenterError as exc:
            log.warning("KPI: agent states unavailable at start", extra={"error": str(exc)})
            statuses = []
        for s in statuses:
            self.engine.seed_agent(_live(s))
        self._unsubscribe = self.acd.bus.subscribe(self.on_bus)
        self._stop.clear()
        self._task = asyncio.create_task(self._run(), name="kpi-wallboard")

    async def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    async def _run(self) -> None:
        # Woken by changes (a finished call, an agent state, a caller entering or leaving a queue), not by
        # polling: at most one tick per publish interval, on a fixed cadence while changes keep coming, so
        # the update delay stays under about one interval. Time alone changes the figures in two ways,
        # and only those wake the loop without an event: the sliding windows move at each minute, and
        # the longest wait grows while callers wait (a tick every interval then, as before).
        loop = asyncio.get_running_loop()
        last = loop.time() - self.config.publish_interval
        while not self._stop.is_set():
            interval = self.config.publish_interval  # configure() may change it
            now = loop.time()
            if any(count or callbacks for count, _, callbacks in self._waiting.values()):
                wake_in = last + interval - now
            else:
                clock = self._clock()
                wake_in = (clock // MINUTE + 1) * MINUTE - clock
            if not self._wake.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=max(0.0, wake_in))
            if self._stop.is_set():
                return
            due = last + interval - loop.time()
            if due > 0:  # coalesce: no more than one tick per interval
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), timeout=due)
                if self._stop.is_set():
                    return
            self._wake.clear()
            last = loop.time()
            try:
                await self.tick()
            except CallcenterError as exc:
                self.stats["tick_errors"] += 1
                log.warning("wallboard update failed", extra={"error": str(exc)})
            except Exception:
                self.stats["tick_errors"] += 1
                log.exception("wallboard update crashed")

    async def _poll_waiting(self) -> None:
        for name in list(self.acd.queues):
            entries = await self.acd.state.waiting(name)
            calls = [e.enqueued_at for e in entries if e.kind is EntryKind.CALL]
            value = (len(calls), min(calls) if calls else None, len(entries) - len(calls))
            if self._waiting.get(name) != value:
                self._waiting[name] = value
                self.engine.dirty.add(name)
                self.engine.dirty.add(CENTER)
                if self._first_change is None:  # (not _changed: this tick publishes it already)
                    self._first_change = self._clock()

    async def tick(self) -> None:
        """One publish interval: read the waiting callers, push what changed."""
        await self._poll_waiting()
        started = time.thread_time()
        now = self._clock()
        self.stats["ticks"] += 1
        engine = self.engine
        engine.advance(now)
        minute = int(now // MINUTE)
        if minute != self._last_minute:  # sliding windows moved: every scope changes
            self._last_minute = minute
            engine.dirty.update(self.scope_names())
        pbx = self.pbx
        pbx_changed = pbx is not None and pbx.version != self._pbx_version
        if pbx is not None and (pbx.alert is not None) != self._pbx_alerting:
            self._pbx_alerting = pbx.alert is not None
            engine.dirty.add(CENTER)  # the center's alerts carry pbx_slow
        for name in self.scope_names():  # the longest-wait alert depends on time too (waits grow)
            if name in engine.dirty:
                continue  # recomputed anyway; the SL alert only changes with the figures
            before = self._alerts.get(name, ())
            if ("longest_wait" in before) != (
                "longest_wait" in self._alert_flags(name, now, compute_sl=False)
            ):
                engine.dirty.add(name)
        broadcast = self._broadcast
        if broadcast is None or broadcast.subscribers(TOPIC) == 0:
            self._pbx_version = pbx.version if pbx is not None else -1
            self._clear_changes()
            self.stats["cpu_seconds"] += time.thread_time() - started
            return
        if not engine.dirty and not engine.changed_agents and not pbx_changed:
            self._first_change = None
            self.stats["cpu_seconds"] += time.thread_time() - started
            return
        live = engine.open_time(now)
        scopes = {name: self.scope_view(name, now, live) for name in sorted(engine.dirty)}
        chart = {
            name: [
                _chart_row(i, t, self.convention(name))
                for i, t in sorted(engine.interval_rows(name, idx).items())
            ]
            for name, idx in engine.dirty_intervals.items()
        }
        agents = [self.agent_row(a, full=False) for a in sorted(engine.changed_agents)]
        message = {
            "type": "update",
            "at": now,
            "since": self._first_change if self._first_change is not None else now,
            "scopes": scopes,
            "chart": chart,
            "agents": agents,
        }
        if pbx is not None and pbx_changed:
            message["pbx"] = pbx.view()
            self._pbx_version = pbx.version
        self._clear_changes()
        self.stats["deliveries"] += broadcast.publish(TOPIC, message)
        self.stats["updates"] += 1
        self.stats["cpu_seconds"] += time.thread_time() - started

    def _clear_changes(self) -> None:
        self.engine.dirty.clear()
        self.engine.dirty_intervals.clear()
        self.engine.changed_agents.clear()
        self._first_change = None

    # --- views ---------------------------------------------------------------------------------
    def scope_names(self) -> list[str]:
        return [CENTER, *sorted(set(self.acd.queues) | (set(self.engine.scopes()) - {CENTER}))]

    def _live_waiting(self, name: str, now: float) -> tuple[int, float, int]:
        if name == CENTER:
            values = list(self._waiting.values())
        else:
            values = [self._waiting[name]] if name in self._waiting else []
        count = sum(v[0] for v in values)
        oldest = [v[1] for v in values if v[1] is not None]
        longest = max(0.0, now - min(oldest)) if oldest else 0.0
        return count, longest, sum(v[2] for v in values)

    def _sl_params(self, name: str) -> tuple[float | None, float]:
        q = self.acd.queues.get(name)
        if q is None:
            return (None, DEFAULT_TARGET) if name == CENTER else (DEFAULT_THRESHOLD, DEFAULT_TARGET)
        return q.sl_threshold, q.sl_target

    def _alert_flags(
        self, name: str, now: float, sl: float | None = None, compute_sl: bool = True
    ) -> tuple[str, ...]:
        flags: list[str] = []
        if name == CENTER:
            if self.pbx is not None and self.pbx.alert is not None:
                flags.append("pbx_slow")
            if any("longest_wait" in self._alert_flags(q, now, compute_sl=False) for q in self.acd.queues):
                flags.append("longest_wait")
        else:
            threshold, _ = self._sl_params(name)
            _, longest, _ = self._live_waiting(name, now)
            if threshold is not None and longest > threshold:
                flags.append("longest_wait")
        if compute_sl:
            _, target = self._sl_params(name)
            if sl is None:
                sl = service_level(
                    self.engine.window(name, self.config.alert_window, now), self.convention(name)
                )
            if sl is not None and sl < target:
                flags.append("service_level")
        return tuple(flags)

    def scope_view(self, name: str, now: float | None = None, live: OpenTime | None = None) -> dict[str, Any]:
        now = self._clock() if now is None else now
        live = live if live is not None else self.engine.open_time(now)
        conv = self.convention(name)
        threshold, target = self._sl_params(name)
        tallies = {w: self.engine.window(name, w, now, live) for w in WINDOW_NAMES}
        windows = {w: figures(t, conv) for w, t in tallies.items()}
        waiting, longest, callbacks = self._live_waiting(name, now)
        flags = self._alert_flags(name, now, sl=service_level(tallies[self.config.alert_window], conv))
        self._alerts[name] = flags
        view: dict[str, Any] = {
            "scope": name,
            "title": "Whole center" if name == CENTER else name,
            "service_level": {
                "convention": conv.value,
                "label": conv.label(threshold),
                "threshold": threshold,
                "target": target,
            },
            "windows": windows,
            "waiting": waiting,
            "callbacks_waiting": callbacks,
            "longest_wait": round(longest, 1),
            "agents_by_state": live.states.get(name, {}),
            "staffed": live.staffed.get(name, 0),
            "alerts": list(flags),
        }
        if name != CENTER:
            view["staffing"] = self.staffing(name, now, tallies["today"], live.staffed.get(name, 0))
        return view

    def staffing(
        self, name: str, now: float, today: Tally | None = None, staffed: int | None = None
    ) -> dict[str, Any]:
        """Erlang C advice: arrival rate of the trailing 15 minutes, AHT of today (or the queue's default
        handle time before any call), next interval by a naive trend: λ_next = max(0, 2·λ₁₅ − λ₁₅′)
        where λ₁₅′ is the rate of the 15 minutes before."""
        threshold, target = self._sl_params(name)
        q = self.acd.queues.get(name)
        minute = int(now // MINUTE)
        first = minute - 14
        span = max(MINUTE, now - first * MINUTE)
        recent = self.engine.sum_minutes(name, first, minute).offered
        before = self.engine.sum_minutes(name, first - 15, first - 1).offered
        rate = recent / span
        rate_before = before / (15 * MINUTE)
        next_rate = max(0.0, 2 * rate - rate_before)
        t = today if today is not None else self.engine.window(name, "today", now)
        aht = (
            (t.talk + t.hold + t.wrapup) / t.answered
            if t.answered
            else (q.default_handle_time if q else 180.0)
        )
        if staffed is None:
            staffed = self.engine.staffed(name)
        advice = advise(rate, next_rate, aht, threshold or DEFAULT_THRESHOLD, target, staffed)
        return advice.as_dict()

    def agent_row(self, agent: str, full: bool = True) -> dict[str, Any]:
        """One row of the agent grid (``full=False``: without the static name and queues, for updates)."""
        live = self.engine.agents.get(agent) or AgentLive(agent=agent, state=AgentState.LOGGED_OUT, since=0.0)
        row = {**live.as_dict(), "calls": self.engine.agent_calls.get(agent, 0)}
        if full:
            cfg = self.acd.agents.get(agent)
            row["name"] = (cfg.name if cfg else "") or agent
            row["queues"] = list(self.queues_of(agent))
        return row

    def snapshot(self) -> dict[str, Any]:
        """Everything the wallboard shows, now."""
        now = self._clock()
        self.engine.advance(now)
        agents = sorted(set(self.acd.agents) | set(self.engine.agents))
        names = self.scope_names()
        live = self.engine.open_time(now)
        return {
            "type": "snapshot",
            "at": now,
            "since": now,
            "day_start": self.engine.day_start,
            "interval_seconds": INTERVAL,
            "alert_window": self.config.alert_window,
            "scopes": {name: self.scope_view(name, now, live) for name in names},
            "chart": {
                name: [
                    _chart_row(i, t, self.convention(name))
                    for i, t in sorted(self.engine.interval_rows(name).items())
                ]
                for name in names
            },
            "agents": [self.agent_row(a) for a in agents],
            "pbx": self.pbx.view() if self.pbx is not None else None,
        }

    # --- reports: the same engine fed from the store ---------------------------------------------
    async def report(self, now: float | None = None, scopes: Sequence[str] | None = None) -> dict[str, Any]:
        """The windows of ``now`` (default: the clock) recomputed from the store: calls from the calls table,
        agent time from the agent state log. Equal to the live figures for the same facts."""
        if self.store is None:
            raise CallcenterError("no store to compute reports from")
        now = self._clock() if now is None else now
        engine = self._new_engine()
        engine.advance(now)
        start = min(engine.day_start, (int(now // MINUTE) - 60) * MINUTE)
        if self.transitions is not None:
            rows = await self.transitions.list_transitions(since=start - TRANSITION_LOOKBACK, limit=100_000)
            feed_transitions(engine, [r for r in rows if r.at <= now])
        page = await self.store.list_calls(CallQuery(since=start - 3600, until=now, limit=1_000_000))
        for record in page.calls:
            fact = call_fact(record, self.threshold_of)
            if fact is not None and fact.arrived_at <= now:
                engine.add_call(fact)
        names = (
            list(scopes)
            if scopes is not None
            else [CENTER, *sorted(set(self.acd.queues) | set(engine.scopes()) - {CENTER})]
        )
        return {
            "at": now,
            "scopes": {
                name: {w: figures(engine.window(name, w, now), self.convention(name)) for w in WINDOW_NAMES}
                for name in names
            },
            "chart": {
                name: [
                    _chart_row(i, t, self.convention(name))
                    for i, t in sorted(engine.interval_rows(name).items())
                ]
                for name in names
            },
            "agent_calls": dict(sorted(engine.agent_calls.items())),
        }

    def live_figures(self, now: float | None = None, scopes: Sequence[str] | None = None) -> dict[str, Any]:
        """The live engine's windows in the shape of ``report`` (for comparisons)."""
        now = self._clock() if now is None else now
        self.engine.advance(now)
        names = list(scopes) if scopes is not None else self.scope_names()
        return {
            "at": now,
            "scopes": {
                name: {
                    w: figures(self.engine.window(name, w, now), self.convention(name)) for w in WINDOW_NAMES
                }
                for name in names
            },
            "chart": {
                name: [
                    _chart_row(i, t, self.convention(name))
                    for i, t in sorted(self.engine.interval_rows(name).items())
                ]
                for name in names
            },
            "agent_calls": dict(sorted(self.engine.agent_calls.items())),
        }

    def metrics(self) -> dict[str, float]:
        return {f"callcenter_wallboard_{k}_total": float(v) for k, v in self.stats.items()}


def _live(s: AgentStatus) -> AgentLive:
    in_call = s.state in (AgentState.ON_CALL, AgentState.ON_HOLD)
    keeps = s.state in (AgentState.RINGING, AgentState.ON_CALL, AgentState.ON_HOLD, AgentState.WRAPUP)
    return AgentLive(
        agent=s.agent,
        state=s.state,
        since=s.since,
        reason=s.reason,
        call_id=s.call_id if keeps else "",
        queue=s.queue if keeps else "",
        call_since=s.since if in_call else None,
    )


def _chart_row(index: int, t: Tally, convention: SlConvention) -> dict[str, Any]:
    sl = service_level(t, convention)
    return {
        "start": index * INTERVAL,
        "offered": t.offered,
        "answered": t.answered,
        "abandoned": t.abandoned,
        "service_level": None if sl is None else round(sl, 4),
    }
