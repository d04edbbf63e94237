"""Standard reports (issue #8): queue by interval, agents, hourly distribution, abandoned calls, dispositions,
QA scores, for a day, week or month in the viewer's timezone, filtered by queue and agent.

Every KPI number comes from the KPI engine's counters and formulas (``domain/kpis.py``): the store sums
the engine's ``Tally`` counters per queue and 15-minute interval of arrival (``store/kpi_tallies.py``,
checked against ``KpiEngine`` fed with the same rows in ``tests/reports/test_sql_tallies.py``), and
``figures`` computes SL, ASA, AHT, abandon rate and occupancy from them. The report sums the 15-minute
tallies into its own intervals (15 minutes, hours, local days). Additions that are not KPI formulas: the
longest wait of an interval (a maximum over the calls), pause time by reason and missed offers (from the
agent state log).

Agent figures: each agent's answered calls (talk, hold, their wrap-up) are one tally per agent; occupancy
is the engine's formula over the agent's time in each state (handling = on call + on hold + wrap-up;
staffed = handling + available + ringing), counted within the period.

Summing in the database keeps a month of a 200-agent center (half a million calls, two million agent
state rows) to a fraction of a second (``bench/reports.py``) where walking the rows in Python took 25 s.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, Literal, Protocol

from callcenter.domain.kpi_tallies import (
    AgentTimeRows,
    CallWindow,
    KeyedTally,
    Thresholds,
    WrapWindow,
    agent_times,
)
from callcenter.domain.kpis import CENTER, INTERVAL, SlConvention, Tally, figures
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
REPORTS = ("queue", "agents", "hourly", "abandoned", "dispositions", "qa")


class ReportStore(Protocol):
    async def call_tallies(
        self,
        window: CallWindow,
        wraps: WrapWindow,
        thresholds: Thresholds,
        *,
        group: Literal["queue", "agent"] = "queue",
    ) -> list[KeyedTally]: ...

    async def agent_time(
        self, since: float, until: float, lookback: float, agent: str | None = None
    ) -> AgentTimeRows: ...

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
        queues: Callable[[], Iterable[str]] = tuple,
    ) -> None:
        self.store = store
        self.threshold_of = threshold_of
        self.convention = convention
        self.short_abandon = short_abandon
        self.queues = queues  # the configured queues (each with its own service-level threshold)

    # --- the engine's counters, summed by the store ---------------------------------------------------
    def _thresholds(self) -> Thresholds:
        return Thresholds(
            by_queue={q: self.threshold_of(q) for q in self.queues()},
            default=self.threshold_of(""),
            short_abandon=self.short_abandon(),
        )

    async def _interval_tallies(self, req: ReportRequest) -> tuple[dict[int, Tally], dict[int, float]]:
        """The scope's tally and longest wait per 15-minute interval of the period (the scope: the queue
        asked for, else the whole center). A call's wrap-up counts with it, even when it ends after the
        period (the log is read up to the longest IVR time past it)."""
        p = req.period
        rows = await self.store.call_tallies(
            CallWindow(p.since, p.until, ARRIVAL_LOOKBACK, req.queue, req.agent),
            WrapWindow(p.since - ARRIVAL_LOOKBACK, p.until + ARRIVAL_LOOKBACK),
            self._thresholds(),
        )
        tallies: dict[int, Tally] = {}
        max_wait: dict[int, float] = {}
        for row in rows:
            tallies.setdefault(row.interval, Tally()).add(row.tally)
            max_wait[row.interval] = max(max_wait.get(row.interval, 0.0), row.max_wait)
        return tallies, max_wait

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
        p = req.period
        gran = req.granularity or p.default_granularity()
        tz = p.zone
        scope = req.queue or CENTER
        convention = self.convention(scope)
        tallies, interval_wait = await self._interval_tallies(req)
        buckets: dict[float, Tally] = {}
        max_wait: dict[float, float] = {}
        for index, tally in tallies.items():
            key = bucket_start(index * INTERVAL, gran, tz)
            buckets.setdefault(key, Tally()).add(tally)
            max_wait[key] = max(max_wait.get(key, 0.0), interval_wait[index])
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
        tz = req.period.zone
        convention = self.convention(req.queue or CENTER)
        tallies, interval_wait = await self._interval_tallies(req)
        by_hour: dict[int, Tally] = {h: Tally() for h in range(24)}
        max_wait: dict[int, float] = {}
        for index, tally in tallies.items():
            hour = int(local_label(index * INTERVAL, Granularity.HOUR, tz)[11:13])
            by_hour[hour].add(tally)
            max_wait[hour] = max(max_wait.get(hour, 0.0), interval_wait[index])
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
        calls = await self.store.call_tallies(
            CallWindow(p.since, p.until, ARRIVAL_LOOKBACK, req.queue, req.agent),
            WrapWindow(p.since - TRANSITION_LOOKBACK, p.until, req.agent),
            self._thresholds(),
            group="agent",
        )
        times = agent_times(
            await self.store.agent_time(p.since, p.until, TRANSITION_LOOKBACK, req.agent), p.since, p.until
        )
        by_agent = {row.key: row.tally for row in calls}
        agents = sorted(set(by_agent) | set(times))
        if req.agent:
            agents = [a for a in agents if a == req.agent]
        pauses = {a: times[a].pauses for a in agents if a in times}
        missed = {a: times[a].missed_offers for a in agents if a in times}
        reasons = sorted({r for by in pauses.values() for r in by})
        rows = []
        for agent in agents:
            t = dataclasses.replace(by_agent.get(agent) or Tally())
            if agent in times:
                t.staffed_time, t.handling_time = times[agent].staffed, times[agent].handling
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
