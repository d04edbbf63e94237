"""Post-call surveys on the CRM database (table ``call_surveys``, migration 0013): the survey's writes
during the call, the call page's read, the CSAT sums of the reports, and what the low-score rule needs
to know about the call (its customer, its tickets)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import Integer, Table, case, cast, func, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from callcenter.domain.kpis import INTERVAL
from callcenter.domain.surveys import CallSurvey, CsatTally, TicketBrief
from callcenter.domain.tickets import TicketCategory, TicketStatus
from callcenter.store.engine import DEFAULT_CONNECT_TIMEOUT, translate_errors, utc
from callcenter.store.models import Call, TicketRow
from callcenter.store.models_surveys import CallSurveyRow

_SURVEYS: Table = CallSurveyRow.__table__  # type: ignore[assignment]
_CALLS: Table = Call.__table__  # type: ignore[assignment]
_TICKETS: Table = TicketRow.__table__  # type: ignore[assignment]

CsatGroup = Literal["agent", "queue", "interval"]


def _ep(value: datetime | None) -> float | None:
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


def survey_from_row(r: Any) -> CallSurvey:
    return CallSurvey(
        call_id=r["call_id"],
        agent=r["agent_id"],
        queue=r["queue"],
        flow=r["flow"],
        offered_at=_ep(r["offered_at"]) or 0.0,
        score=r["score"],
        solved=r["solved"],
        answered_at=_ep(r["answered_at"]),
        customer_id=r["customer_id"],
    )


class SqlSurveyStore:
    def __init__(self, engine: AsyncEngine, *, timeout: float = DEFAULT_CONNECT_TIMEOUT * 4) -> None:
        self._engine = engine
        self._timeout = timeout
        insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
        self._insert = insert(_SURVEYS).on_conflict_do_nothing(index_elements=[_SURVEYS.c.call_id])

    async def _write(self, what: str, stmt: Any) -> int:
        with translate_errors(what):
            async with asyncio.timeout(self._timeout), self._engine.begin() as conn:
                return int((await conn.execute(stmt)).rowcount or 0)

    async def _read(self, what: str, stmt: Any) -> list[Any]:
        with translate_errors(what):
            async with asyncio.timeout(self._timeout), self._engine.connect() as conn:
                return list((await conn.execute(stmt)).mappings().all())

    # -- the survey during the call ------------------------------------------------------------------------

    async def add_offer(self, survey: CallSurvey) -> bool:
        """Store a survey offered (one per call: a second offer for the same call is ignored)."""
        stmt = self._insert.values(
            call_id=survey.call_id,
            agent_id=survey.agent,
            queue=survey.queue,
            flow=survey.flow,
            offered_at=utc(survey.offered_at),
            score=None,
            solved=None,
            answered_at=None,
            customer_id=survey.customer_id,
        )
        return await self._write("add_offer", stmt) > 0

    async def set_answer(self, call_id: str, score: int, solved: bool | None, at: float) -> bool:
        """Score and "solved" in one write (the survey node's end)."""
        stmt = (
            update(_SURVEYS)
            .where(_SURVEYS.c.call_id == call_id)
            .values(score=score, solved=solved, answered_at=utc(at))
        )
        return await self._write("set_answer", stmt) > 0

    async def set_score(self, call_id: str, score: int, at: float) -> bool:
        stmt = update(_SURVEYS).where(_SURVEYS.c.call_id == call_id).values(score=score, answered_at=utc(at))
        return await self._write("set_score", stmt) > 0

    async def set_solved(self, call_id: str, solved: bool) -> bool:
        stmt = update(_SURVEYS).where(_SURVEYS.c.call_id == call_id).values(solved=solved)
        return await self._write("set_solved", stmt) > 0

    async def get_survey(self, call_id: str) -> CallSurvey | None:
        rows = await self._read("get_survey", select(_SURVEYS).where(_SURVEYS.c.call_id == call_id))
        return survey_from_row(rows[0]) if rows else None

    async def call_context(self, call_id: str) -> tuple[int | None, list[TicketBrief]]:
        """The call's customer (None when unknown or not stored yet) and its tickets."""
        customers = await self._read(
            "call_context", select(_CALLS.c.customer_id).where(_CALLS.c.id == call_id)
        )
        tickets = await self._read(
            "call_tickets",
            select(_TICKETS.c.id, _TICKETS.c.category, _TICKETS.c.status, _TICKETS.c.customer_id)
            .where(_TICKETS.c.call_id == call_id)
            .order_by(_TICKETS.c.id),
        )
        customer = customers[0]["customer_id"] if customers else None
        if customer is None and tickets:
            customer = tickets[-1]["customer_id"]
        briefs = [
            TicketBrief(int(row["id"]), TicketCategory(row["category"]), TicketStatus(row["status"]))
            for row in tickets
        ]
        return (None if customer is None else int(customer)), briefs

    # -- the reports ---------------------------------------------------------------------------------------

    async def csat_tallies(
        self,
        since: float,
        until: float,
        group: CsatGroup,
        *,
        queue: str | None = None,
        agent: str | None = None,
    ) -> dict[str | int, CsatTally]:
        """Surveys offered in [since, until), summed per agent, per queue or per 15-minute interval of
        the offer (``INTERVAL``), of one queue and/or one agent when given."""
        s = _SURVEYS.c
        if group == "interval":  # as store/kpi_tallies.py cuts intervals, per dialect
            if self._engine.dialect.name == "sqlite":
                seconds = cast(func.strftime("%s", func.substr(s.offered_at, 1, 19)), Integer)
                key: Any = seconds.op("/")(literal(INTERVAL, Integer))
            else:
                key = cast(func.floor(func.date_part("epoch", s.offered_at) / INTERVAL), Integer)
        else:
            key = s.agent_id if group == "agent" else s.queue
        answered = case((s.score.is_not(None), 1), else_=0)
        yes = case((s.solved.is_(True), 1), else_=0)
        told = case((s.solved.is_not(None), 1), else_=0)
        conditions = [s.offered_at >= utc(since), s.offered_at < utc(until)]
        if queue:
            conditions.append(s.queue == queue)
        if agent:
            conditions.append(s.agent_id == agent)
        stmt = (
            select(
                key.label("key"),
                func.count().label("offered"),
                func.sum(answered).label("answered"),
                func.coalesce(func.sum(s.score), 0).label("score_sum"),
                func.sum(yes).label("yes"),
                func.sum(told).label("told"),
            )
            .where(*conditions)
            .group_by(key)
        )
        out: dict[str | int, CsatTally] = {}
        for r in await self._read("csat_tallies", stmt):
            k = r["key"]
            if k is None:
                continue
            out[int(k) if group == "interval" else str(k)] = CsatTally(
                offered=int(r["offered"] or 0),
                answered=int(r["answered"] or 0),
                score_sum=int(r["score_sum"] or 0),
                solved_yes=int(r["yes"] or 0),
                solved_answers=int(r["told"] or 0),
            )
        return out

    async def surveys_between(self, since: float, until: float, limit: int = 10_000) -> Sequence[CallSurvey]:
        stmt = (
            select(_SURVEYS)
            .where(_SURVEYS.c.offered_at >= utc(since), _SURVEYS.c.offered_at < utc(until))
            .order_by(_SURVEYS.c.offered_at, _SURVEYS.c.call_id)
            .limit(limit)
        )
        return [survey_from_row(r) for r in await self._read("surveys_between", stmt)]
