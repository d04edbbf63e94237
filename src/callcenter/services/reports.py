"""Standard reports (issue #8): queue by interval, agents, hourly distribution, abandoned calls, dispositions,
QA scores, for a day, week or month in the viewer's timezone, filtered by queue and agent.

Every KPI number is computed by the KPI engine (``domain/kpis.py``), fed with store rows exactly like the
wallboard's store recompute (``KpiService.report``): ``call_fact`` turns each call row into a fact,
``feed_transitions`` replays the agent state log, ``figures`` computes SL, ASA, AHT, abandon rate and
occupancy from the engine's tallies. The engine's "today" is set to the report's period (``day_start``),
so its 15-minute intervals cover the whole period; the report sums them into its own intervals (15
minutes, hours, local days). Additions that are not KPI formulas: the longest wait of an interval (a
maximum over the calls), pause time by reason and missed offers (sums over the agent state log).

Agent figures use a second engine in which every agent is their own scope (``@<agent>``): the engine's
occupancy over a scope's member agents then is that agent's occupancy, and their calls (with their wrap-up)
are the scope's calls.

The rows are read on the event loop (async store); the engine work (seconds for a month of a large center,
see ``bench/reports.py``) runs in a worker thread (``asyncio.to_thread``) so the loop stays responsive.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Protocol

from callcenter.domain.acd import IN_CALL, AgentState, AgentTransition
from callcenter.domain.calls import CallRecord
from callcenter.domain.kpis import (
    CENTER,
    INTERVAL,
    FactKind,
    KpiEngine,
    SlConvention,
    Tally,
    call_fact,
    feed_transitions,
    figures,
)
from callcenter.domain.reports import (
    Column,
    Granularity,
    Period,
    ValidationError,
    bucket_start,
    local_label,
)

#: a call may spend this long in the IVR before it enters its queue (rows are read from start − this)
ARRIVAL_LOOKBACK = 3600.0
#: agent transitions read before the period to know each agent's state when it starts
TRANSITION_LOOKBACK = 86_400.0
AGENT_SCOPE = "@"
REPORTS = ("queue", "agents", "hourly", "abandoned", "dispositions", "qa")


class ReportStore(Protocol):
    async def report_calls(
        self, since: float, until: float, queue: str | None = None, agent: str | None = None
    ) -> list[CallRecord]: ...

    async def report_transitions(
        self, since: float, until: float, agent: str | None = None, *, wrapup_only: bool = False
    ) -> list[AgentTransition]: ...

    async def abandoned_calls(
        self, since: float, until: float, queue: str | None = None, limit: int = ...
    ) -> list[dict[str, Any]]: ...

    async def disposition_counts(
        self, since: float, until: float, queue: str | None = None, agent: str | None = None
    ) -> list[tuple[str, int]]: ...

    async def qa_scores(
        self, since: float, until: float, agent: str | None = None
    ) -> list[dict[str, Any]]: ...


@dataclasses.dataclass(frozen=True, slots=True)
class ReportRequest:
    period: Period
    queue: str | None = None
    agent: str | None = None
    granularity: Granularity | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Report:
    name: str
    title: str
    request: ReportRequest
    columns: tuple[Column, ...]
    rows: list[dict[str, Any]]
    totals: dict[str, Any] | None = None
    notes: tuple[str, ...] = ()
    chart: tuple[str, tuple[str, ...]] | None = None  # (category column, value columns)

    def as_dict(self) -> dict[str, Any]:
        r = self.request
        return {
            "report": self.name,
            "title": self.title,
            "period": r.period.as_dict(),
            "filters": {"queue": r.queue, "agent": r.agent},
            "granularity": (r.granularity or r.period.default_granularity()).value,
            "columns": [dataclasses.asdict(c) for c in self.columns],
            "rows": self.rows,
            "totals": self.totals,
            "notes": list(self.notes),
        }


_QUEUE_COLS = (
    Column("offered", "Offered", "int"),
    Column("answered", "Answered", "int"),
    Column("abandoned", "Abandoned", "int"),
    Column("abandoned_short", "Short abandons", "int"),
    Column("service_level", "Service level", "ratio"),
    Column("asa", "ASA (s)", "seconds"),
    Column("aht", "AHT (s)", "seconds"),
    Column("abandon_rate", "Abandon rate", "ratio"),
    Column("max_wait", "Max wait (s)", "seconds"),
)


def _kpi_row(t: Tally, convention: SlConvention, max_wait: float | None) -> dict[str, Any]:
    f = figures(t, convention)
    return {
        **{c.key: f.get(c.key) for c in _QUEUE_COLS if c.key != "max_wait"},
        "max_wait": None if max_wait is None else round(max_wait, 1),
    }


class ReportService:
    def __init__(
        self,
        store: ReportStore,
        *,
        threshold_of: Callable[[str], float],
        convention: Callable[[str], SlConvention],
        short_abandon: Callable[[], float],
    ) -> None:
        self.store = store
        self.threshold_of = threshold_of
        self.convention = convention
        self.short_abandon = short_abandon

    # --- the engine fed from the store (the same path as KpiService.report) ------------------------
    def _engine(self, period: Period, queues_of: Callable[[str], Sequence[str]], calls: int) -> KpiEngine:
        engine = KpiEngine(
            short_abandon=self.short_abandon(),
            queues_of=queues_of,
            day_start=lambda _now: period.since,
            recent_calls=max(50_000, calls + 1),
        )
        engine.advance(period.until)
        return engine

    async def _calls(self, req: ReportRequest) -> list[CallRecord]:
        p = req.period
        return await self.store.report_calls(p.since - ARRIVAL_LOOKBACK, p.until, req.queue, req.agent)

    def _facts(self, req: ReportRequest, rows: Sequence[CallRecord]) -> list[Any]:
        p = req.period
        facts = []
        for record in rows:
            fact = call_fact(record, self.threshold_of)
            if fact is not None and p.since <= fact.arrived_at < p.until:
                facts.append(fact)
        return facts

    async def _wrapups(self, req: ReportRequest) -> list[AgentTransition]:
        """Wrap-up entries and exits from the period start (minus the longest IVR time) to its end plus the
        same: the wrap-up of a call counts with the call, even when it ends after the period."""
        p = req.period
        return await self.store.report_transitions(
            p.since - ARRIVAL_LOOKBACK, p.until + ARRIVAL_LOOKBACK, wrapup_only=True
        )

    async def run(self, name: str, req: ReportRequest) -> Report:
        if name == "queue":
            return await self.queue_report(req)
        if name == "agents":
            return await self.agent_report(req)
        if name == "hourly":
            return await self.hourly_report(req)
        if name == "abandoned":
            return await self.abandoned_report(req)
        if name == "dispositions":
            return await self.disposition_report(req)
        if name == "qa":
            return await self.qa_report(req)
        raise ValidationError(f"unknown report {name!r}; one of {', '.join(REPORTS)}")

    # --- queue report by interval --------------------------------------------------------------------
    async def queue_report(self, req: ReportRequest) -> Report:
        rows, wraps = await self._calls(req), await self._wrapups(req)
        # the engine is CPU work (seconds for a month of a large center): off the event loop
        return await asyncio.to_thread(self._queue, req, rows, wraps)

    def _queue(self, req: ReportRequest, calls: list[CallRecord], wraps: list[AgentTransition]) -> Report:
        p = req.period
        gran = req.granularity or p.default_granularity()
        tz = p.zone
        facts = self._facts(req, calls)
        engine = self._engine(p, lambda _a: (), len(facts))
        scope = req.queue or CENTER
        convention = self.convention(scope)
        max_wait: dict[float, float] = {}
        for fact in facts:
            engine.add_call(fact)
            key = bucket_start(fact.arrived_at, gran, tz)
            max_wait[key] = max(max_wait.get(key, 0.0), fact.wait)
        _feed_wrapups(engine, wraps)
        buckets: dict[float, Tally] = {}
        for index, tally in engine.interval_rows(scope).items():
            key = bucket_start(index * INTERVAL, gran, tz)
            buckets.setdefault(key, Tally()).add(tally)
        total = Tally()
        rows = []
        for key in sorted(buckets):
            t = buckets[key]
            total.add(t)
            rows.append(
                {
                    "interval": local_label(key, gran, tz),
                    "start": key,
                    **_kpi_row(t, convention, max_wait.get(key)),
                }
            )
        totals = {
            "interval": "Total",
            "start": p.since,
            **_kpi_row(total, convention, max(max_wait.values()) if max_wait else None),
        }
        return Report(
            "queue",
            f"Queue report — {req.queue or 'all queues'}",
            req,
            (Column("interval", "Interval"), *_QUEUE_COLS),
            rows,
            totals,
            (f"Service level: {convention.label(None if scope == CENTER else self.threshold_of(scope))}",),
            ("interval", ("offered", "answered", "abandoned")),
        )

    # --- hourly distribution -------------------------------------------------------------------------
    async def hourly_report(self, req: ReportRequest) -> Report:
        rows, wraps = await self._calls(req), await self._wrapups(req)
        return await asyncio.to_thread(self._hourly, req, rows, wraps)

    def _hourly(self, req: ReportRequest, calls: list[CallRecord], wraps: list[AgentTransition]) -> Report:
        p = req.period
        tz = p.zone
        facts = self._facts(req, calls)
        engine = self._engine(p, lambda _a: (), len(facts))
        scope = req.queue or CENTER
        convention = self.convention(scope)
        by_hour: dict[int, Tally] = {h: Tally() for h in range(24)}
        max_wait: dict[int, float] = {}
        for fact in facts:
            engine.add_call(fact)
            hour = int(local_label(fact.arrived_at, Granularity.HOUR, tz)[11:13])
            max_wait[hour] = max(max_wait.get(hour, 0.0), fact.wait)
        _feed_wrapups(engine, wraps)
        for index, tally in engine.interval_rows(scope).items():
            hour = int(local_label(index * INTERVAL, Granularity.HOUR, tz)[11:13])
            by_hour[hour].add(tally)
        rows = [
            {"hour": f"{h:02d}:00", **_kpi_row(by_hour[h], convention, max_wait.get(h))} for h in range(24)
        ]
        return Report(
            "hourly",
            "Hourly distribution",
            req,
            (Column("hour", "Hour"), *_QUEUE_COLS),
            rows,
            None,
            ("Calls by local hour of arrival, summed over the period.",),
            ("hour", ("offered", "answered", "abandoned")),
        )

    # --- agent report --------------------------------------------------------------------------------
    async def agent_report(self, req: ReportRequest) -> Report:
        p = req.period
        calls = await self._calls(req)
        transitions = await self.store.report_transitions(p.since - TRANSITION_LOOKBACK, p.until, req.agent)
        return await asyncio.to_thread(self._agents, req, calls, transitions)

    def _agents(
        self, req: ReportRequest, calls: list[CallRecord], transitions: list[AgentTransition]
    ) -> Report:
        p = req.period
        facts = [f for f in self._facts(req, calls) if f.agent and f.kind is FactKind.ANSWERED]
        engine = self._engine(p, lambda a: (AGENT_SCOPE + a,), len(facts))
        for fact in facts:
            engine.add_call(dataclasses.replace(fact, queue=AGENT_SCOPE + (fact.agent or "")))
        feed_transitions(engine, transitions)
        pauses, missed = _pauses_and_missed(transitions, p.since, p.until)
        agents = sorted(
            {f.agent for f in facts if f.agent}
            | {t.agent for t in transitions if t.at >= p.since}
            | set(pauses)
        )
        if req.agent:
            agents = [a for a in agents if a == req.agent]
        reasons = sorted({r for by in pauses.values() for r in by})
        rows = []
        for agent in agents:
            t = engine.window(AGENT_SCOPE + agent, "today", p.until)
            f = figures(t, SlConvention.ANSWERED)
            by_reason = pauses.get(agent, {})
            row: dict[str, Any] = {
                "agent": agent,
                "calls": t.answered,
                "talk": round(t.talk, 1),
                "hold": round(t.hold, 1),
                "wrapup": round(t.wrapup, 1),
                "aht": f["aht"],
                "staffed": round(t.staffed_time, 1),
                "handling": round(t.handling_time, 1),
                "occupancy": f["occupancy"],
                "pause": round(sum(by_reason.values()), 1),
                "missed_offers": missed.get(agent, 0),
            }
            for reason in reasons:
                row[f"pause:{reason}"] = round(by_reason.get(reason, 0.0), 1)
            rows.append(row)
        columns = (
            Column("agent", "Agent"),
            Column("calls", "Calls", "int"),
            Column("talk", "Talk (s)", "seconds"),
            Column("hold", "Hold (s)", "seconds"),
            Column("wrapup", "Wrap-up (s)", "seconds"),
            Column("aht", "AHT (s)", "seconds"),
            Column("staffed", "Staffed (s)", "seconds"),
            Column("occupancy", "Occupancy", "ratio"),
            Column("pause", "Pause (s)", "seconds"),
            *(Column(f"pause:{r}", f"Pause: {r or 'no reason'} (s)", "seconds") for r in reasons),
            Column("missed_offers", "Missed offers", "int"),
        )
        return Report(
            "agents",
            "Agent report",
            req,
            columns,
            rows,
            None,
            (
                "Occupancy = (on call + on hold + wrap-up) / (that + available + ringing).",
                "Missed offers: rang and was not answered (ringing → not on call).",
            ),
            ("agent", ("calls",)),
        )

    # --- abandoned, dispositions, QA -------------------------------------------------------------------
    async def abandoned_report(self, req: ReportRequest) -> Report:
        p = req.period
        tz = p.zone
        rows = await self.store.abandoned_calls(p.since, p.until, req.queue)
        for row in rows:
            row["time"] = datetime.fromtimestamp(row["started_at"], tz).strftime("%Y-%m-%d %H:%M:%S")
            row["callback"] = (
                "answered later"
                if row["answered_later"]
                else ("requested" if row["callback_requested"] else "none")
            )
        columns = (
            Column("time", "Time"),
            Column("call_id", "Call"),
            Column("queue", "Queue"),
            Column("caller_num", "Caller"),
            Column("wait", "Wait (s)", "seconds"),
            Column("callback", "Callback status"),
        )
        return Report("abandoned", "Abandoned calls", req, columns, rows)

    async def disposition_report(self, req: ReportRequest) -> Report:
        p = req.period
        counts = await self.store.disposition_counts(p.since, p.until, req.queue, req.agent)
        total = sum(n for _, n in counts)
        rows = [
            {"code": code, "calls": n, "share": round(n / total, 4) if total else None} for code, n in counts
        ]
        columns = (
            Column("code", "Disposition"),
            Column("calls", "Calls", "int"),
            Column("share", "Share", "ratio"),
        )
        return Report(
            "dispositions",
            "Dispositions",
            req,
            columns,
            rows,
            {"code": "Total", "calls": total, "share": 1.0 if total else None},
            chart=("code", ("calls",)),
        )

    async def qa_report(self, req: ReportRequest) -> Report:
        p = req.period
        rows = await self.store.qa_scores(p.since, p.until, req.agent)
        columns = (
            Column("agent", "Agent"),
            Column("evaluations", "Evaluations", "int"),
            Column("average", "Average score", "number"),
            Column("min", "Min", "number"),
            Column("max", "Max", "number"),
            Column("failed", "Failed", "int"),
        )
        return Report("qa", "QA scores by agent", req, columns, rows, chart=("agent", ("average",)))


def _feed_wrapups(engine: KpiEngine, transitions: Sequence[AgentTransition]) -> None:
    """Only the wrap-ups: an agent enters wrap-up with its call and leaves it to "logged out" (the engine
    then adds the wrap-up seconds to the call, and counts no idle time the queue report does not show)."""
    for t in sorted(transitions, key=lambda t: t.at):
        if t.to_state is AgentState.WRAPUP:
            engine.agent_state(t.agent, AgentState.WRAPUP, t.at, call_id=t.call_id, queue=t.queue)
        elif t.from_state is AgentState.WRAPUP:
            engine.agent_state(t.agent, AgentState.LOGGED_OUT, t.at)


def _pauses_and_missed(
    transitions: Sequence[AgentTransition], since: float, until: float
) -> tuple[dict[str, dict[str, float]], dict[str, int]]:
    """Pause seconds by reason within [since, until) and missed offers (ringing → not in a call) per agent,
    from the state log (each row: the agent entered ``to_state`` at ``at``)."""
    pauses: dict[str, dict[str, float]] = {}
    missed: dict[str, int] = {}
    current: dict[str, AgentTransition] = {}
    for t in sorted(transitions, key=lambda t: t.at):
        prev = current.get(t.agent)
        if prev is not None and prev.to_state is AgentState.PAUSED:
            _add_pause(pauses, prev, prev.at, t.at, since, until)
        if t.from_state is AgentState.RINGING and t.to_state not in IN_CALL and since <= t.at < until:
            missed[t.agent] = missed.get(t.agent, 0) + 1
        current[t.agent] = t
    for prev in current.values():
        if prev.to_state is AgentState.PAUSED:
            _add_pause(pauses, prev, prev.at, until, since, until)
    return pauses, missed


def _add_pause(
    pauses: dict[str, dict[str, float]],
    t: AgentTransition,
    start: float,
    end: float,
    since: float,
    until: float,
) -> None:
    seconds = min(end, until) - max(start, since)
    if seconds > 0:
        by = pauses.setdefault(t.agent, {})
        by[t.reason] = by.get(t.reason, 0.0) + seconds
