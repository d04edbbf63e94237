"""The standard reports against a seeded day counted by hand (issue #8).

The seeded calls go through the real write path (``CallRecorder`` → ``SqlCrmStore``), the agent timeline
through ``SqlAgentStateLog``, dispositions through ``SqlDispositionStore``; the expected numbers are
counted here from the seed, independently of the KPI engine.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from callcenter.domain.calls import CallOutcome
from callcenter.domain.kpis import SlConvention
from callcenter.domain.reports import Granularity, period, to_csv
from callcenter.services.records import CallRecorder
from callcenter.services.reports import ReportRequest, ReportService
from callcenter.store.agent_log import SqlAgentStateLog
from callcenter.store.console import SqlDispositionStore
from callcenter.store.crm import SqlCrmStore
from callcenter.store.reports import SqlReportStore
from tests.reports.seed import DAY, DAY_END, DAY_START, THRESHOLD, TZ, Seed, seed_day


async def _load(crm: SqlCrmStore, seed: Seed) -> ReportService:
    async with crm.engine.begin() as conn:  # the shared fixtures do not truncate the agent log
        await conn.execute(text("DELETE FROM agent_state_log"))
    recorder = CallRecorder(crm, lambda: seed.calls, batch_size=500)
    recorder.collect()
    await recorder.flush()
    assert recorder.pending == 0
    await SqlAgentStateLog(crm.engine).save_transitions(seed.transitions)
    disp = SqlDispositionStore(crm.engine)
    for d in seed.dispositions:
        await disp.save_disposition(d)
    return ReportService(
        SqlReportStore(crm.engine),
        threshold_of=lambda _q: THRESHOLD,
        convention=lambda _s: SlConvention.ANSWERED,
        short_abandon=lambda: 5.0,
    )


def _in_day(seed: Seed, queue: str | None = None) -> list[Any]:
    return [
        c
        for c in seed.calls
        if c.queued_at is not None
        and DAY_START <= c.queued_at < DAY_END
        and (queue is None or c.queue == queue)
    ]


def _expected_hours(seed: Seed, queue: str | None = None) -> dict[str, dict[str, Any]]:
    tz = ZoneInfo(TZ)
    acc: dict[str, dict[str, Any]] = defaultdict(
        lambda: (
            dict.fromkeys(("offered", "answered", "abandoned", "within"), 0)
            | dict.fromkeys(("wait", "handle", "max"), 0.0)
        )
    )
    for c in _in_day(seed, queue):
        h = datetime.fromtimestamp(c.queued_at, tz).strftime("%Y-%m-%d %H:00")
        a = acc[h]
        a["offered"] += 1
        a["max"] = max(a["max"], c.wait_seconds)
        if c.outcome is CallOutcome.ANSWERED:
            a["answered"] += 1
            a["within"] += c.wait_seconds <= THRESHOLD
            a["wait"] += c.wait_seconds
            a["handle"] += c.talk_seconds + c.hold_seconds + seed.wrapup[c.call_id]
        elif c.outcome is CallOutcome.ABANDONED:
            a["abandoned"] += 1
    return acc


@pytest.mark.parametrize("queue", [None, "sales"])
async def test_queue_report_matches_hand_count(crm: SqlCrmStore, queue: str | None) -> None:
    seed = seed_day()
    svc = await _load(crm, seed)
    report = await svc.queue_report(ReportRequest(period("day", DAY, TZ), queue=queue))
    expected = _expected_hours(seed, queue)
    got = {r["interval"]: r for r in report.rows}
    assert set(got) == set(expected)
    for hour, e in expected.items():
        r = got[hour]
        counts = (r["offered"], r["answered"], r["abandoned"])
        assert counts == (e["offered"], e["answered"], e["abandoned"]), hour
        if e["answered"]:
            assert r["service_level"] == pytest.approx(e["within"] / e["answered"], abs=1e-4)
            assert r["asa"] == pytest.approx(e["wait"] / e["answered"], abs=0.051)
            assert r["aht"] == pytest.approx(e["handle"] / e["answered"], abs=0.051)
        assert r["max_wait"] == pytest.approx(e["max"], abs=0.051)
    total = report.totals
    assert total is not None
    assert total["offered"] == len(_in_day(seed, queue))
    assert total["answered"] == sum(e["answered"] for e in expected.values())
    # the same period by 15-minute intervals sums to the same totals
    quarter = await svc.queue_report(
        ReportRequest(period("day", DAY, TZ), queue=queue, granularity=Granularity.QUARTER)
    )
    assert sum(r["offered"] for r in quarter.rows) == total["offered"]
    assert quarter.totals == {**total}


async def test_hourly_and_month_and_boundaries(crm: SqlCrmStore) -> None:
    seed = seed_day()
    svc = await _load(crm, seed)
    hourly = await svc.hourly_report(ReportRequest(period("day", DAY, TZ)))
    expected = _expected_hours(seed)
    for row in hourly.rows:
        key = f"{DAY} {row['hour']}"
        assert row["offered"] == (expected[key]["offered"] if key in expected else 0)
    month = await svc.queue_report(ReportRequest(period("month", DAY, TZ)))
    in_month = [c for c in seed.calls if c.queued_at is not None]  # the seed lies within March
    assert month.totals is not None and month.totals["offered"] == len(in_month)
    assert month.rows[0]["interval"] == "2026-03-09"  # calls of the evening before, local


async def test_agent_report_matches_hand_count(crm: SqlCrmStore) -> None:
    seed = seed_day()
    svc = await _load(crm, seed)
    report = await svc.agent_report(ReportRequest(period("day", DAY, TZ)))
    rows = {r["agent"]: r for r in report.rows}
    assert set(rows) == set(seed.staffed)
    for agent, row in rows.items():
        mine = [c for c in seed.calls if c.agent == agent and c.outcome is CallOutcome.ANSWERED]
        assert row["calls"] == len(mine)
        assert row["talk"] == pytest.approx(sum(c.talk_seconds for c in mine), abs=0.051)
        assert row["hold"] == pytest.approx(sum(c.hold_seconds for c in mine), abs=0.051)
        assert row["wrapup"] == pytest.approx(sum(seed.wrapup[c.call_id] for c in mine), abs=0.051)
        assert row["occupancy"] == pytest.approx(seed.handling[agent] / seed.staffed[agent], abs=1e-4)
        assert row["missed_offers"] == seed.missed.get(agent, 0)
        pauses = seed.pause.get(agent, {})
        assert row["pause"] == pytest.approx(sum(pauses.values()), abs=0.051)
        for reason, seconds in pauses.items():
            assert row[f"pause:{reason}"] == pytest.approx(seconds, abs=0.051)
    one = await svc.agent_report(ReportRequest(period("day", DAY, TZ), agent="1002"))
    assert [r["agent"] for r in one.rows] == ["1002"]
    assert one.rows[0]["calls"] == rows["1002"]["calls"]


async def test_abandoned_and_dispositions(crm: SqlCrmStore) -> None:
    seed = seed_day()
    svc = await _load(crm, seed)
    p = period("day", DAY, TZ)
    abandoned = await svc.abandoned_report(ReportRequest(p))
    expected = {
        c.call_id
        for c in seed.calls
        if c.outcome is CallOutcome.ABANDONED and DAY_START <= c.started_at < DAY_END
    }
    assert {r["call_id"] for r in abandoned.rows} == expected
    assert {r["callback"] for r in abandoned.rows} <= {"none", "requested", "answered later"}
    disp = await svc.disposition_report(ReportRequest(p))
    counts: dict[str, int] = defaultdict(int)
    for d in seed.dispositions:
        if DAY_START <= d.at < DAY_END:
            counts[d.code] += 1
    assert {r["code"]: r["calls"] for r in disp.rows} == counts
    text = to_csv(disp.columns, disp.rows)
    cells = [row[0] for row in csv.reader(io.StringIO(text))]
    assert "'@SUM(A1)" in cells and "@SUM(A1)" not in cells
