"""``services.reports.ReportStore`` on SQLAlchemy: the lean row reads of the standard reports (issue #8).

Calls are read as bare ``CallRecord``s (no legs, offers, transfers): the KPI engine needs only the times,
the wait, talk and hold and the outcome. Indexes used: ``ix_calls_started_at`` /
``ix_calls_queue_started_at`` / ``ix_calls_agent_id_started_at``, ``ix_agent_state_log_at`` /
``ix_agent_state_log_agent_at``, ``ix_call_dispositions_at`` (0008), ``ix_qa_evaluations_at`` (0008).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, and_, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from callcenter.domain.acd import AgentState, AgentTransition
from callcenter.domain.calls import CallOutcome, CallRecord
from callcenter.store.engine import DEFAULT_CONNECT_TIMEOUT, translate_errors
from callcenter.store.models import (
    AgentStateRow,
    Call,
    CallDispositionRow,
    IvrSession,
    QaEvaluationRow,
)

_CALLS: Table = Call.__table__  # type: ignore[assignment]
_LOG: Table = AgentStateRow.__table__  # type: ignore[assignment]
_DISP: Table = CallDispositionRow.__table__  # type: ignore[assignment]
_IVR: Table = IvrSession.__table__  # type: ignore[assignment]
_EVALS: Table = QaEvaluationRow.__table__  # type: ignore[assignment]
ABANDONED_LIMIT = 5000


def _dt(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _ts(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


class SqlReportStore:
    def __init__(self, engine: AsyncEngine, *, timeout: float = DEFAULT_CONNECT_TIMEOUT * 20) -> None:
        self._engine = engine
        self._timeout = timeout

    async def _rows(self, what: str, stmt: Any) -> list[Any]:
        with translate_errors(what):
            async with asyncio.timeout(self._timeout), self._engine.connect() as conn:
                return list((await conn.execute(stmt)).all())

    async def report_calls(
        self, since: float, until: float, queue: str | None = None, agent: str | None = None
    ) -> list[CallRecord]:
        """Calls that entered a queue and started in [since, until) (a call arrives in its queue after it
        starts: the caller widens ``since`` by the longest IVR time it allows)."""
        c = _CALLS.c
        stmt = select(
            c.id,
            c.started_at,
            c.queued_at,
            c.offered_at,
            c.answered_at,
            c.ended_at,
            c.queue,
            c.agent_id,
            c.wait_seconds,
            c.talk_seconds,
            c.hold_seconds,
            c.outcome,
        ).where(c.started_at >= _dt(since), c.started_at < _dt(until), c.queue.is_not(None))
        if queue:
            stmt = stmt.where(c.queue == queue)
        if agent:
            stmt = stmt.where(c.agent_id == agent)
        rows = await self._rows("report calls", stmt)
        return [
            CallRecord(
                call_id=r[0],
                started_at=r[1].timestamp(),
                queued_at=_ts(r[2]),
                offered_at=_ts(r[3]),
                answered_at=_ts(r[4]),
                ended_at=_ts(r[5]),
                queue=r[6],
                agent=r[7],
                wait_seconds=r[8],
                talk_seconds=r[9] or 0.0,
                hold_seconds=r[10] or 0.0,
                outcome=CallOutcome(r[11]),
            )
            for r in rows
        ]

    async def report_transitions(
        self, since: float, until: float, agent: str | None = None, *, wrapup_only: bool = False
    ) -> list[AgentTransition]:
        """Agent state changes in [since, until), in time order (``wrapup_only``: the entries into and exits
        from wrap-up, enough for the engine to add each call's wrap-up time)."""
        stmt = (
            select(
                _LOG.c.agent,
                _LOG.c.from_state,
                _LOG.c.to_state,
                _LOG.c.at,
                _LOG.c.duration,
                _LOG.c.reason,
                _LOG.c.call_id,
                _LOG.c.queue,
            )
            .where(_LOG.c.at >= _dt(since), _LOG.c.at < _dt(until))
            .order_by(_LOG.c.at, _LOG.c.id)
        )
        if agent:
            stmt = stmt.where(_LOG.c.agent == agent)
        if wrapup_only:
            wrap = AgentState.WRAPUP.value
            stmt = stmt.where((_LOG.c.to_state == wrap) | (_LOG.c.from_state == wrap))
        rows = await self._rows("report transitions", stmt)
        return [
            AgentTransition(
                agent=r[0],
                from_state=AgentState(r[1]),
                to_state=AgentState(r[2]),
                at=r[3].timestamp(),
                duration=r[4],
                reason=r[5],
                call_id=r[6],
                queue=r[7],
            )
            for r in rows
        ]

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
                later.c.started_at < _dt(until),
                later.c.outcome == CallOutcome.ANSWERED.value,
            )
            .exists()
        )
        stmt = (
            select(c.id, c.started_at, c.queue, c.caller_num, c.wait_seconds, callback, answered_later)
            .where(
                c.outcome == CallOutcome.ABANDONED.value,
                c.started_at >= _dt(since),
                c.started_at < _dt(until),
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
        conditions: list[Any] = [_DISP.c.at >= _dt(since), _DISP.c.at < _dt(until)]
        if queue:
            conditions.append(_DISP.c.queue == queue)
        if agent:
            conditions.append(_DISP.c.agent == agent)
        n = func.count()
        stmt = select(_DISP.c.code, n).where(and_(*conditions)).group_by(_DISP.c.code).order_by(n.desc())
        return [(str(r[0]), int(r[1])) for r in await self._rows("disposition counts", stmt)]

    async def qa_scores(self, since: float, until: float, agent: str | None = None) -> list[dict[str, Any]]:
        e = _EVALS.c
        conditions: list[Any] = [e.at >= _dt(since), e.at < _dt(until), e.agent.is_not(None)]
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
