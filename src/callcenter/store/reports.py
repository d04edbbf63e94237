"""``services.reports.ReportStore`` on SQLAlchemy: the lean row reads of the standard reports (issue #8).

The KPI counters per interval and agent time are summed by ``SqlKpiTallies`` (``store/kpi_tallies.py``).
Indexes used here: ``ix_calls_outcome_started_at``, ``ix_call_dispositions_at`` (0008),
``ix_qa_evaluations_at`` (0008).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Table, and_, func, select

from callcenter.domain.calls import CallOutcome
from callcenter.store.engine import utc
from callcenter.store.kpi_tallies import SqlKpiTallies
from callcenter.store.models import (
    AgentStateRow,
    Call,
    CallDispositionRow,
    IvrSession,
    QaEvaluationRow,
)
from callcenter.store.report_rollup import SqlReportRollup

_CALLS: Table = Call.__table__  # type: ignore[assignment]
_LOG: Table = AgentStateRow.__table__  # type: ignore[assignment]
_DISP: Table = CallDispositionRow.__table__  # type: ignore[assignment]
_IVR: Table = IvrSession.__table__  # type: ignore[assignment]
_EVALS: Table = QaEvaluationRow.__table__  # type: ignore[assignment]
ABANDONED_LIMIT = 5000


def _ts(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


class SqlReportStore(SqlKpiTallies, SqlReportRollup):
    """The report reads: the KPI engine's counters summed in SQL (``SqlKpiTallies``), the settled intervals
    (``SqlReportRollup``), abandoned calls, disposition counts and QA scores."""

    async def abandoned_calls(
        self, since: float, until: float, queue: str | None = None, limit: int = ABANDONED_LIMIT
    ) -> list[dict[str, Any]]:
        """Calls abandoned in a queue, newest first, with whether the caller asked for a callback (an IVR
        session of the call ended in ``callback``) and whether the same number got an answered call later
        in the period."""
        c = _CALLS.c
        callback = (
            select(_IVR.c.call_id)
            .where(
                _IVR.c.call_id == c.id, (_IVR.c.outcome == "callback") | (_IVR.c.route_outcome == "callback")
            )
            .exists()
        )
        later = _CALLS.alias("later")
        answered_later = (
            select(later.c.id)
            .where(
                later.c.caller_num == c.caller_num,
                later.c.started_at > c.started_at,
                later.c.started_at < utc(until),
                later.c.outcome == CallOutcome.ANSWERED.value,
            )
            .exists()
        )
        stmt = (
            select(c.id, c.started_at, c.queue, c.caller_num, c.wait_seconds, callback, answered_later)
            .where(
                c.outcome == CallOutcome.ABANDONED.value,
                c.started_at >= utc(since),
                c.started_at < utc(until),
            )
            .order_by(c.started_at.desc())
            .limit(limit)
        )
        if queue:
            stmt = stmt.where(c.queue == queue)
        rows = await self._rows("abandoned calls", stmt)
        return [
            {
                "call_id": r[0],
                "started_at": r[1].timestamp(),
                "queue": r[2],
                "caller_num": r[3],
                "wait": r[4],
                "callback_requested": bool(r[5]),
                "answered_later": bool(r[6]),
            }
            for r in rows
        ]

    async def disposition_counts(
        self, since: float, until: float, queue: str | None = None, agent: str | None = None
    ) -> list[tuple[str, int]]:
        conditions: list[Any] = [_DISP.c.at >= utc(since), _DISP.c.at < utc(until)]
        if queue:
            conditions.append(_DISP.c.queue == queue)
        if agent:
            conditions.append(_DISP.c.agent == agent)
        n = func.count()
        stmt = select(_DISP.c.code, n).where(and_(*conditions)).group_by(_DISP.c.code).order_by(n.desc())
        return [(str(r[0]), int(r[1])) for r in await self._rows("disposition counts", stmt)]

    async def qa_scores(self, since: float, until: float, agent: str | None = None) -> list[dict[str, Any]]:
        e = _EVALS.c
        conditions: list[Any] = [e.at >= utc(since), e.at < utc(until), e.agent.is_not(None)]
        if agent:
            conditions.append(e.agent == agent)
        stmt = (
            select(
                e.agent,
                func.count(),
                func.avg(e.score),
                func.min(e.score),
                func.max(e.score),
                func.sum(func.cast(e.failed, _EVALS.c.id.type)),
            )
            .where(and_(*conditions))
            .group_by(e.agent)
            .order_by(e.agent)
        )
        return [
            {
                "agent": r[0],
                "evaluations": int(r[1]),
                "average": None if r[2] is None else round(float(r[2]), 2),
                "min": r[3],
                "max": r[4],
                "failed": int(r[5] or 0),
            }
            for r in await self._rows("qa scores", stmt)
        ]
