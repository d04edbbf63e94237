"""Today's reports count time up to now, not up to the end of the day (issue 18.9).

An agent who logged in five minutes ago has been staffed five minutes: before the fix the agent report
of the current day counted their state through midnight (32,763 s staffed after 5 minutes).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from callcenter.domain.acd import AgentState, AgentTransition
from callcenter.domain.kpis import SlConvention
from callcenter.domain.reports import period
from callcenter.services.reports import ReportRequest, ReportService
from callcenter.store.agent_log import SqlAgentStateLog
from callcenter.store.crm import SqlCrmStore
from callcenter.store.reports import SqlReportStore


def _service(crm: SqlCrmStore, **kw: object) -> ReportService:
    return ReportService(
        SqlReportStore(crm.engine),
        threshold_of=lambda _q: 20.0,
        convention=lambda _s: SlConvention.ANSWERED,
        short_abandon=lambda: 5.0,
        **kw,  # type: ignore[arg-type]
    )


async def _log_in(crm: SqlCrmStore, agent: str, at: float) -> None:
    async with crm.engine.begin() as conn:  # the shared fixtures do not truncate the agent log
        await conn.execute(text("DELETE FROM agent_state_log"))
    await SqlAgentStateLog(crm.engine).save_transitions(
        [AgentTransition(agent, AgentState.LOGGED_OUT, AgentState.AVAILABLE, at, 3600.0)]
    )


async def test_today_counts_agent_time_up_to_now(crm: SqlCrmStore) -> None:
    now = time.time()
    today = datetime.fromtimestamp(now, UTC).date().isoformat()
    day = period("day", today, "UTC")
    logged_in = max(now - 300.0, day.since)  # five minutes ago (or at midnight, just after it)
    await _log_in(crm, "1001", logged_in)
    report = await _service(crm).agent_report(ReportRequest(day))
    (row,) = report.rows
    # the real clock: a few seconds pass between ``now`` and the report
    assert row["staffed"] == pytest.approx(now - logged_in, abs=5.0)
    assert row["occupancy"] == 0.0  # no call: available the whole time


async def test_a_report_on_a_fixed_clock_stops_at_that_clock(crm: SqlCrmStore) -> None:
    day = period("day", "2024-05-01", "UTC")
    await _log_in(crm, "1001", day.since + 8 * 3600)
    at_noon = _service(crm, clock=lambda: day.since + 12 * 3600)
    (row,) = (await at_noon.agent_report(ReportRequest(day))).rows
    assert row["staffed"] == pytest.approx(4 * 3600, abs=0.1)
    # before the login: nothing staffed yet; next day: the whole rest of the day
    (early,) = (
        await _service(crm, clock=lambda: day.since + 3600).agent_report(ReportRequest(day))
    ).rows or [{"staffed": 0.0}]
    assert early["staffed"] == 0.0
    later = _service(crm, clock=lambda: day.until + 3600)
    (row,) = (await later.agent_report(ReportRequest(day))).rows
    assert row["staffed"] == pytest.approx(16 * 3600, abs=0.1)
