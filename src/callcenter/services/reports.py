"""Standard reports (issue #8): queue by interval, agents, hourly distribution, abandoned calls, dispositions,
QA scores, for a day, week or month in the viewer's timezone, filtered by queue and agent.

Every KPI number comes from the KPI engine's counters and formulas (``domain/kpis.py``): ``Tally`` counters
per queue, and per agent, and 15-minute interval of arrival, and ``figures`` computing SL, ASA, AHT,
abandon rate and occupancy from them. The report sums the 15-minute tallies into its own intervals (15
minutes, hours, local days). Additions that are not KPI formulas: the longest wait of an interval (a maximum
over the calls), pause time by reason and missed offers (from the agent state log).

Where the tallies come from:

- **settled intervals** (every call that arrived in them has ended: ``SETTLE`` after their end) are rolled
  up once into ``report_intervals`` / ``report_pauses`` (``rollup``: every 5 minutes in the service, and
  ``callcenter reports rollup``), so a month of a 200-agent center is a few thousand rows to read;
- **the rest** (the last hours, or everything before a first rollup) is summed live from the calls by the
  database (``store/kpi_tallies.py``) and the agent log split in Python.

Both paths run the same code (the rollup is the live sum of a settled window, stored), and
``tests/reports/test_report_rollup.py`` checks that reports are the same with or without it;
``tests/reports/test_sql_tallies.py`` checks the sums against ``KpiEngine`` fed with the same rows. A queue
report filtered by agent, or the calls of an agent report filtered by queue, are always live (the rollup
has no queue × agent breakdown). Service-level "within" uses each queue's threshold when the interval was
rolled up.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal, Protocol

from callcenter.domain.acd import AgentTransition
from callcenter.domain.errors import CallcenterError
from callcenter.domain.kpi_tallies import (
    AgentTime,
    CallWindow,
    KeyedTally,
    Thresholds,
    WrapWindow,
    split_agent_time,
    sum_agent_time,
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
from callcenter.domain.surveys import CsatTally
from callcenter.domain.text import N_
from callcenter.services import csat_report
from callcenter.services.csat_report import CsatSource

#: Texts composed into report titles and notes (translated where shown: the title's head, a note's
#: prefix before the colon).
QUEUE_REPORT = N_("Queue report")
ALL_QUEUES = N_("all queues")
SERVICE_LEVEL = N_("Service level")
PAUSE = N_("Pause")
NO_REASON = N_("no reason")

#: a call may spend this long in the IVR before it enters its queue (rows are read from start − this)
ARRIVAL_LOOKBACK = 3600.0
#: agent transitions read before the period to know each agent's state when it starts
TRANSITION_LOOKBACK = 86_400.0
#: an interval is rolled up once every call that arrived in it has ended, wrap-up included
SETTLE = 4 * 3600.0
log = logging.getLogger(__name__)
REPORTS = ("queue", "agents", "hourly", "abandoned", "dispositions", "qa")


class ReportStore(Protocol):
    async def call_tallies(
        self,
        window: CallWindow,
        wraps: WrapWindow,
        thresholds: Thresholds,
        *,
        group: Literal["queue", "agent", "agent_queue"] = "queue",
    ) -> list[KeyedTally]: ...

    async def agent_log(
        self, since: float, until: float, agent: str | None = None
    ) -> list[AgentTransition]: ...

    async def agent_states_before(
        self, since: float, lookback: float, agent: str | None = None
    ) -> dict[str, AgentTransition]: ...

    async def first_call_at(self) -> float | None: ...

    async def settled_until(self) -> float | None: ...

    async def replace_window(
        self,
        since: float,
        until: float,
        queues: Sequence[KeyedTally],
        agents: Sequence[KeyedTally],
        agent_time: Mapping[tuple[str, int], AgentTime],
    ) -> None: ...

    async def intervals(
        self, kind: str, since: float, until: float, key: str | None = None
    ) -> list[tuple[KeyedTally, AgentTime]]: ...

    async def agent_totals(
        self, since: float, until: float, agent: str | None = None, queue: str | None = None
    ) -> dict[str, tuple[Tally, AgentTime]]: ...

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
    Column("offered", N_("Offered"), "int"),
    Column("answered", N_("Answered"), "int"),
    Column("abandoned", N_("Abandoned"), "int"),
    Column("abandoned_short", N_("Short abandons"), "int"),
    Column("service_level", N_("Service level"), "ratio"),
    Column("asa", N_("ASA (s)"), "seconds"),
    Column("aht", N_("AHT (s)"), "seconds"),
    Column("abandon_rate", N_("Abandon rate"), "ratio"),
    Column("max_wait", N_("Max wait (s)"), "seconds"),
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
        clock: Callable[[], float] = time.time,
        csat: CsatSource | None = None,
    ) -> None:
        self.store = store
        self.csat = csat  # the post-call surveys (services/csat_report.py)
        self.clock = clock  # a period still running (today) is counted up to now, not to its end
        self.threshold_of = threshold_of
        self.convention = convention
        self.short_abandon = short_abandon
        self.queues = queues  # the configured queues (each with its own service-level threshold)
        self.stats = {"rollup_runs": 0, "rollup_windows": 0, "rollup_errors": 0}

    # --- the engine's counters, summed by the store ---------------------------------------------------
    def _thresholds(self) -> Thresholds:
        return Thresholds(
            by_queue={q: self.threshold_of(q) for q in self.queues()},
            default=self.threshold_of(""),
            short_abandon=self.short_abandon(),
        )

    async def _settled_split(self, p: Period) -> float:
        """Where the period's settled part (rolled-up intervals) ends and its live part starts."""
        settled = await self.store.settled_until()
        return p.since if settled is None else min(max(settled, p.since), p.until)

    def _live_window(
        self, since: float, until: float, req: ReportRequest | None = None
    ) -> tuple[CallWindow, WrapWindow]:
        """The calls arriving in [since, until) (of the request's queue and agent) and their wrap-ups,
        which may end up to the longest IVR time after it."""
        return (
            CallWindow(
                since, until, ARRIVAL_LOOKBACK, req.queue if req else None, req.agent if req else None
            ),
            WrapWindow(since - ARRIVAL_LOOKBACK, until + ARRIVAL_LOOKBACK),
        )

    async def _interval_tallies(self, req: ReportRequest) -> tuple[dict[int, Tally], dict[int, float]]:
        """The scope's tally and longest wait per 15-minute interval of the period (the scope: the queue
        asked for, else the whole center): settled intervals from the rollup, the rest summed live (a
        queue report for one agent is all live: the rollup has no queue × agent breakdown)."""
        p = req.period
        mid = p.since if req.agent else await self._settled_split(p)
        rows: list[KeyedTally] = []
        if mid > p.since:
            rows += [kt for kt, _ in await self.store.intervals("queue", p.since, mid, req.queue)]
        if mid < p.until:
            rows += await self.store.call_tallies(*self._live_window(mid, p.until, req), self._thresholds())
        tallies: dict[int, Tally] = {}
        max_wait: dict[int, float] = {}
        for row in rows:
            tallies.setdefault(row.interval, Tally()).add(row.tally)
            max_wait[row.interval] = max(max_wait.get(row.interval, 0.0), row.max_wait)
        return tallies, max_wait

    async def _agent_figures(self, req: ReportRequest) -> tuple[dict[str, Tally], dict[str, AgentTime]]:
        """Per agent: the tally of their answered calls (of one queue, when filtered) with their wrap-up, and
        their time in states: from the rollup for the settled part, live for the rest."""
        p = req.period
        mid = await self._settled_split(p)
        calls: dict[str, Tally] = {}
        times: dict[str, AgentTime] = {}
        if mid > p.since:
            for agent, (tally, spent) in (await self.store.agent_totals(p.since, mid, req.agent)).items():
                times.setdefault(agent, AgentTime()).add(spent)
                if not req.queue:
                    calls.setdefault(agent, Tally()).add(tally)
            if req.queue:
                in_queue = await self.store.agent_totals(p.since, mid, req.agent, req.queue)
                for agent, (tally, _) in in_queue.items():
                    calls.setdefault(agent, Tally()).add(tally)
        if mid < p.until:
            live = await self.store.call_tallies(
                *self._live_window(mid, p.until, req), self._thresholds(), group="agent"
            )
            for row in live:
                calls.setdefault(row.key, Tally()).add(row.tally)
        # the state each agent is still in counts up to now: today's report must not count the time
        # from now to midnight (nor a future day's the whole day)
        live_until = min(p.until, self.clock())
        if mid < live_until:
            rows = await self.store.agent_log(mid, live_until, req.agent)
            starts = await self.store.agent_states_before(mid, TRANSITION_LOOKBACK, req.agent)
            parts = await asyncio.to_thread(split_agent_time, rows, starts, mid, live_until)
            live_time = sum_agent_time((agent, part) for (agent, _), part in parts.items())
            for agent, spent in live_time.items():
                times.setdefault(agent, AgentTime()).add(spent)
        return calls, times

    # --- the rollup of settled intervals -----------------------------------------------------------------
    async def rollup(self, now: float, *, window: float = 86_400.0, pause: float = 0.0) -> int:
        """Roll up every interval settled at ``now`` (all its calls ended: ``SETTLE``) not rolled up yet,
        a ``window`` at a time, from the watermark (or the first stored call), resting ``pause`` seconds
        between windows (a backfill in the service leaves the event loop to live calls); returns the windows
        written."""
        target = (now - SETTLE) // INTERVAL * INTERVAL
        start = await self.store.settled_until()
        if start is None:
            first = await self.store.first_call_at()
            if first is None:
                return 0
            start = first // INTERVAL * INTERVAL
        written = 0
        while start < target:
            end = min(start + window, target)
            await self._roll_window(start, end)
            start = end
            written += 1
            if pause and start < target:
                await asyncio.sleep(pause)
        return written

    async def rollup_forever(self, every: float = 300.0, clock: Callable[[], float] = time.time) -> None:
        """Roll up newly settled intervals every ``every`` seconds until cancelled; a store that is away
        is logged and counted, and the next round catches up from the watermark."""
        while True:
            try:
                self.stats["rollup_windows"] += await self.rollup(clock(), window=6 * 3600, pause=0.5)
                self.stats["rollup_runs"] += 1
            except CallcenterError as error:
                self.stats["rollup_errors"] += 1
                log.warning("report rollup failed; retrying next round", extra={"error": str(error)})
            await asyncio.sleep(every)

    async def _roll_window(self, since: float, until: float) -> None:
        call_window, wraps = self._live_window(since, until)
        thresholds = self._thresholds()
        queues = await self.store.call_tallies(call_window, wraps, thresholds)
        per_queue = await self.store.call_tallies(call_window, wraps, thresholds, group="agent_queue")
        agents = [*per_queue, *_all_queues(per_queue)]
        rows = await self.store.agent_log(since, until)
        starts = await self.store.agent_states_before(since, TRANSITION_LOOKBACK)
        spent = await asyncio.to_thread(split_agent_time, rows, starts, since, until)
        await self.store.replace_window(since, until, queues, agents, spent)
        log.info(
            "report intervals rolled up",
            extra={"since": since, "until": until, "queue_rows": len(queues), "agent_rows": len(spent)},
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
        surveys = await csat_report.by_bucket(self.csat, p, gran, req.queue, req.agent)
        total = Tally()
        total_csat = CsatTally()
        rows = []
        for key in sorted(set(buckets) | set(surveys)):
            t = buckets.get(key) or Tally()
            total.add(t)
            total_csat.add(surveys.get(key) or CsatTally())
            rows.append(
                {
                    "interval": local_label(key, gran, tz),
                    "start": key,
                    **_kpi_row(t, convention, max_wait.get(key)),
                    **csat_report.csat_cells(surveys.get(key)),
                }
            )
        totals = {
            "interval": N_("Total"),
            "start": p.since,
            **_kpi_row(total, convention, max(max_wait.values()) if max_wait else None),
            **csat_report.csat_cells(total_csat),
        }
        return Report(
            "queue",
            f"{QUEUE_REPORT} — {req.queue or ALL_QUEUES}",
            req,
            (Column("interval", N_("Interval")), *_QUEUE_COLS, *csat_report.CSAT_COLUMNS),
            rows,
            totals,
            (
                f"{SERVICE_LEVEL}: {convention.label(None if scope == CENTER else self.threshold_of(scope))}",
                csat_report.CSAT_NOTE,
            ),
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
            N_("Hourly distribution"),
            req,
            (Column("hour", N_("Hour")), *_QUEUE_COLS),
            rows,
            None,
            (N_("Calls by local hour of arrival, summed over the period."),),
            ("hour", ("offered", "answered", "abandoned")),
        )

    # --- agent report --------------------------------------------------------------------------------
    async def agent_report(self, req: ReportRequest) -> Report:
        by_agent, times = await self._agent_figures(req)
        surveys = await csat_report.by_agent(self.csat, req.period, req.queue, req.agent)
        agents = sorted(
            a for a in set(by_agent) | set(times) | set(surveys) if not req.agent or a == req.agent
        )
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
                **csat_report.csat_cells(surveys.get(agent)),
            }
            for reason in reasons:
                row[f"pause:{reason}"] = round(by_reason.get(reason, 0.0), 1)
            rows.append(row)
        columns = (
            Column("agent", N_("Agent")),
            Column("calls", N_("Calls"), "int"),
            Column("talk", N_("Talk (s)"), "seconds"),
            Column("hold", N_("Hold (s)"), "seconds"),
            Column("wrapup", N_("Wrap-up (s)"), "seconds"),
            Column("aht", N_("AHT (s)"), "seconds"),
            Column("staffed", N_("Staffed (s)"), "seconds"),
            Column("occupancy", N_("Occupancy"), "ratio"),
            Column("pause", N_("Pause (s)"), "seconds"),
            *(Column(f"pause:{r}", f"{PAUSE}: {r or NO_REASON} (s)", "seconds") for r in reasons),
            Column("missed_offers", N_("Missed offers"), "int"),
            *csat_report.CSAT_COLUMNS,
        )
        return Report(
            "agents",
            N_("Agent report"),
            req,
            columns,
            rows,
            None,
            (
                N_("Occupancy = (on call + on hold + wrap-up) / (that + available + ringing)."),
                N_("Missed offers: rang and was not answered (ringing → not on call)."),
                csat_report.CSAT_NOTE,
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
            Column("time", N_("Time")),
            Column("call_id", N_("Call")),
            Column("queue", N_("Queue")),
            Column("caller_num", N_("Caller")),
            Column("wait", N_("Wait (s)"), "seconds"),
            Column("callback", N_("Callback status")),
        )
        return Report("abandoned", N_("Abandoned calls"), req, columns, rows)

    async def disposition_report(self, req: ReportRequest) -> Report:
        p = req.period
        counts = await self.store.disposition_counts(p.since, p.until, req.queue, req.agent)
        total = sum(n for _, n in counts)
        rows = [
            {"code": code, "calls": n, "share": round(n / total, 4) if total else None} for code, n in counts
        ]
        columns = (
            Column("code", N_("Disposition")),
            Column("calls", N_("Calls"), "int"),
            Column("share", N_("Share"), "ratio"),
        )
        return Report(
            "dispositions",
            "Dispositions",
            req,
            columns,
            rows,
            {"code": N_("Total"), "calls": total, "share": 1.0 if total else None},
            chart=("code", ("calls",)),
        )

    async def qa_report(self, req: ReportRequest) -> Report:
        p = req.period
        rows = await self.store.qa_scores(p.since, p.until, req.agent)
        columns = (
            Column("agent", N_("Agent")),
            Column("evaluations", N_("Evaluations"), "int"),
            Column("average", N_("Average score"), "number"),
            Column("min", N_("Min"), "number"),
            Column("max", N_("Max"), "number"),
            Column("failed", N_("Failed"), "int"),
        )
        return Report("qa", N_("QA scores by agent"), req, columns, rows, chart=("agent", ("average",)))


def _all_queues(per_queue: Sequence[KeyedTally]) -> list[KeyedTally]:
    """An agent's calls of every queue per interval, from their per-queue rows (``queue`` = "")."""
    sums: dict[tuple[str, int], tuple[Tally, float]] = {}
    for row in per_queue:
        tally, wait = sums.get((row.key, row.interval), (Tally(), 0.0))
        tally.add(row.tally)
        sums[(row.key, row.interval)] = (tally, max(wait, row.max_wait))
    return [KeyedTally(agent, i, tally, wait) for (agent, i), (tally, wait) in sums.items()]
