"""QA adapter (issue #8): scoring forms, evaluations, the call search and the weekly sampling query.

The search filters and sorts on indexed columns of ``calls`` (started_at, queue, agent, outcome, caller,
customer, talk_seconds); the derived filters are ``EXISTS`` on indexed children: call_transfers(call_id),
ivr_sessions(call_id, ...), call_dispositions (primary key call_id, agent), recordings(call_id),
qa_evaluations(call_id).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, and_, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from callcenter.domain.calls import CallOutcome
from callcenter.domain.phones import search_digits
from callcenter.domain.qa import Answer, Evaluation, QaForm, parse_form_sections, sections_to_json
from callcenter.domain.qa_recordings import CallHit, CallHits, CallSearch, SearchOutcome, SortKey
from callcenter.domain.tickets import Ticket
from callcenter.store.crm_records import _ticket
from callcenter.store.engine import translate_errors
from callcenter.store.models import (
    Call,
    CallDispositionRow,
    CallTransfer,
    IvrSession,
    QaEvaluationRow,
    QaFormRow,
    Recording,
    TicketRow,
)
from callcenter.store.models_surveys import CallSurveyRow

_CALLS: Table = Call.__table__  # type: ignore[assignment]
_TRANSFERS: Table = CallTransfer.__table__  # type: ignore[assignment]
_IVR: Table = IvrSession.__table__  # type: ignore[assignment]
_DISP: Table = CallDispositionRow.__table__  # type: ignore[assignment]
_REC: Table = Recording.__table__  # type: ignore[assignment]
_FORMS: Table = QaFormRow.__table__  # type: ignore[assignment]
_EVALS: Table = QaEvaluationRow.__table__  # type: ignore[assignment]
_TICKETS: Table = TicketRow.__table__  # type: ignore[assignment]
_SURVEYS: Table = CallSurveyRow.__table__  # type: ignore[assignment]


def _dt(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _ep(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _form(r: Any) -> QaForm:
    return QaForm(
        id=r["id"],
        name=r["name"],
        sections=parse_form_sections((r["sections"] or {}).get("sections")),
        created_by=r["created_by"],
        created_at=r["created_at"].timestamp(),
        active=bool(r["active"]),
    )


def _evaluation(r: Any) -> Evaluation:
    raw = (r["answers"] or {}).get("answers", [])
    return Evaluation(
        id=r["id"],
        call_id=r["call_id"],
        form_id=r["form_id"],
        evaluator=r["evaluator"],
        agent=r["agent"],
        at=r["at"].timestamp(),
        score=float(r["score"]),
        failed=bool(r["failed"]),
        answers=tuple(
            Answer(
                str(a["question_id"]),
                None if a.get("value") is None else float(a["value"]),
                a.get("comment", ""),
            )
            for a in raw
        ),
        comment=r["comment"],
        acknowledged_at=_ep(r["acknowledged_at"]),
        acknowledged_by=r["acknowledged_by"],
    )


class SqlQaStore:
    def __init__(self, engine: AsyncEngine, *, default_country_code: str = "1") -> None:
        self._engine = engine
        self._cc = default_country_code  # how a national number typed in the caller search is read

    # -- forms -------------------------------------------------------------------------------------------

    async def add_form(self, form: QaForm) -> QaForm:
        row = {
            "name": form.name,
            "sections": {"sections": sections_to_json(form.sections)},
            "created_by": form.created_by,
            "created_at": _dt(form.created_at),
            "active": form.active,
        }
        with translate_errors("add_qa_form"):
            async with self._engine.begin() as conn:
                new_id = (await conn.execute(insert(_FORMS).returning(_FORMS.c.id), row)).scalar_one()
        return QaForm(int(new_id), form.name, form.sections, form.created_by, form.created_at, form.active)

    async def get_form(self, form_id: int) -> QaForm | None:
        with translate_errors("get_qa_form"):
            async with self._engine.connect() as conn:
                row = (await conn.execute(select(_FORMS).where(_FORMS.c.id == form_id))).mappings().first()
        return None if row is None else _form(row)

    async def list_forms(self, *, active_only: bool = False) -> list[QaForm]:
        stmt = select(_FORMS).order_by(_FORMS.c.id)
        if active_only:
            stmt = stmt.where(_FORMS.c.active.is_(True))
        with translate_errors("list_qa_forms"):
            async with self._engine.connect() as conn:
                rows = (await conn.execute(stmt)).mappings().all()
        return [_form(r) for r in rows]

    async def set_form_active(self, form_id: int, active: bool) -> bool:
        with translate_errors("set_qa_form_active"):
            async with self._engine.begin() as conn:
                result = await conn.execute(
                    update(_FORMS).where(_FORMS.c.id == form_id).values(active=active)
                )
        return bool(result.rowcount)

    # -- evaluations -------------------------------------------------------------------------------------

    async def add_evaluation(self, ev: Evaluation) -> Evaluation:
        row = {
            "call_id": ev.call_id,
            "form_id": ev.form_id,
            "evaluator": ev.evaluator,
            "agent": ev.agent,
            "at": _dt(ev.at),
            "score": ev.score,
            "failed": ev.failed,
            "answers": {
                "answers": [
                    {"question_id": a.question_id, "value": a.value, "comment": a.comment} for a in ev.answers
                ]
            },
            "comment": ev.comment,
            "acknowledged_at": None,
            "acknowledged_by": None,
        }
        with translate_errors("add_qa_evaluation"):
            async with self._engine.begin() as conn:
                new_id = (await conn.execute(insert(_EVALS).returning(_EVALS.c.id), row)).scalar_one()
        found = await self.get_evaluation(int(new_id))
        assert found is not None
        return found

    async def get_evaluation(self, evaluation_id: int) -> Evaluation | None:
        with translate_errors("get_qa_evaluation"):
            async with self._engine.connect() as conn:
                row = (
                    (await conn.execute(select(_EVALS).where(_EVALS.c.id == evaluation_id)))
                    .mappings()
                    .first()
                )
        return None if row is None else _evaluation(row)

    async def evaluations_for_call(self, call_id: str) -> list[Evaluation]:
        stmt = select(_EVALS).where(_EVALS.c.call_id == call_id).order_by(_EVALS.c.at, _EVALS.c.id)
        with translate_errors("qa_evaluations_for_call"):
            async with self._engine.connect() as conn:
                rows = (await conn.execute(stmt)).mappings().all()
        return [_evaluation(r) for r in rows]

    async def acknowledge(self, evaluation_id: int, *, by: str, at: float) -> bool:
        """Mark an evaluation acknowledged (first acknowledgement wins)."""
        stmt = (
            update(_EVALS)
            .where(_EVALS.c.id == evaluation_id, _EVALS.c.acknowledged_at.is_(None))
            .values(acknowledged_at=_dt(at), acknowledged_by=by)
        )
        with translate_errors("acknowledge_qa_evaluation"):
            async with self._engine.begin() as conn:
                result = await conn.execute(stmt)
        return bool(result.rowcount)

    # -- call search -------------------------------------------------------------------------------------

    async def search_calls(self, q: CallSearch) -> CallHits:
        c = _CALLS.c
        conditions: list[Any] = []
        if q.since is not None:
            conditions.append(c.started_at >= _dt(q.since))
        if q.until is not None:
            conditions.append(c.started_at < _dt(q.until))
        if q.queue:
            conditions.append(c.queue == q.queue)
        if q.agent:
            conditions.append(c.agent_id == q.agent)
        if q.customer_id is not None:
            conditions.append(c.customer_id == q.customer_id)
        if q.caller:
            digits = search_digits(q.caller, self._cc)  # any format finds any stored format
            conditions.append(c.caller_num.like("%" + _escape_like(digits) + "%", escape="\\"))
        if q.outcome is SearchOutcome.TRANSFERRED:
            conditions.append(select(_TRANSFERS.c.id).where(_TRANSFERS.c.call_id == c.id).exists())
        elif q.outcome is SearchOutcome.CALLBACK:
            conditions.append(
                select(_IVR.c.call_id)
                .where(
                    _IVR.c.call_id == c.id,
                    or_(_IVR.c.outcome == "callback", _IVR.c.route_outcome == "callback"),
                )
                .exists()
            )
        elif q.outcome is not None:
            conditions.append(c.outcome == CallOutcome(q.outcome.value).value)
        if q.disposition:
            conditions.append(
                select(_DISP.c.call_id).where(_DISP.c.call_id == c.id, _DISP.c.code == q.disposition).exists()
            )
        if q.min_duration is not None:
            conditions.append(c.talk_seconds >= q.min_duration)
        if q.max_duration is not None:
            conditions.append(c.talk_seconds <= q.max_duration)
        has_rec = select(_REC.c.id).where(_REC.c.call_id == c.id).exists()
        if q.has_recording is True:
            conditions.append(has_rec)
        elif q.has_recording is False:
            conditions.append(~has_rec)
        best = select(func.max(_EVALS.c.score)).where(_EVALS.c.call_id == c.id).scalar_subquery()
        if q.min_score is not None or q.max_score is not None:
            score_cond = [_EVALS.c.call_id == c.id]
            if q.min_score is not None:
                score_cond.append(_EVALS.c.score >= q.min_score)
            if q.max_score is not None:
                score_cond.append(_EVALS.c.score <= q.max_score)
            conditions.append(select(_EVALS.c.id).where(and_(*score_cond)).exists())
        csat = select(_SURVEYS.c.score).where(_SURVEYS.c.call_id == c.id).scalar_subquery()
        if q.min_csat is not None or q.max_csat is not None:
            csat_cond = [_SURVEYS.c.call_id == c.id, _SURVEYS.c.score.is_not(None)]
            if q.min_csat is not None:
                csat_cond.append(_SURVEYS.c.score >= q.min_csat)
            if q.max_csat is not None:
                csat_cond.append(_SURVEYS.c.score <= q.max_csat)
            conditions.append(select(_SURVEYS.c.call_id).where(and_(*csat_cond)).exists())
        sort_col: Any = {
            SortKey.STARTED: c.started_at,
            SortKey.DURATION: c.talk_seconds,
            SortKey.WAIT: c.wait_seconds,
            SortKey.QUEUE: c.queue,
            SortKey.AGENT: c.agent_id,
            SortKey.SCORE: best,
        }[q.sort]
        order = [(sort_col.desc() if q.descending else sort_col.asc()).nulls_last()]
        if q.sort is not SortKey.STARTED:
            order.append(c.started_at.desc())
        order.append(c.id)
        limit = max(0, min(q.limit, 500))
        offset = max(0, q.offset)
        rec_count = select(func.count(_REC.c.id)).where(_REC.c.call_id == c.id).scalar_subquery()
        ev_count = select(func.count(_EVALS.c.id)).where(_EVALS.c.call_id == c.id).scalar_subquery()
        page = (
            select(
                c.id,
                c.started_at,
                c.caller_num,
                c.caller_name,
                c.queue,
                c.agent_id,
                c.customer_id,
                c.outcome,
                c.wait_seconds,
                c.talk_seconds,
                rec_count.label("recordings"),
                best.label("score"),
                ev_count.label("evaluations"),
                csat.label("csat"),
            )
            .where(*conditions)
            .order_by(*order)
            .limit(limit)
            .offset(offset)
        )
        count = select(func.count()).select_from(_CALLS).where(*conditions)
        with translate_errors("search_calls"):
            async with self._engine.connect() as conn:
                total = int((await conn.execute(count)).scalar_one())
                rows = (await conn.execute(page)).mappings().all() if limit and offset < total else []
        hits = tuple(
            CallHit(
                call_id=r["id"],
                started_at=r["started_at"].timestamp(),
                caller_num=r["caller_num"],
                caller_name=r["caller_name"],
                queue=r["queue"],
                agent=r["agent_id"],
                customer_id=r["customer_id"],
                outcome=r["outcome"],
                wait_seconds=r["wait_seconds"],
                talk_seconds=float(r["talk_seconds"] or 0.0),
                recordings=int(r["recordings"] or 0),
                score=None if r["score"] is None else float(r["score"]),
                evaluations=int(r["evaluations"] or 0),
                csat=None if r["csat"] is None else int(r["csat"]),
            )
            for r in rows
        )
        return CallHits(hits=hits, total=total, limit=limit, offset=offset)

    # -- sampling, tickets -------------------------------------------------------------------------------

    async def answered_calls_by_agent(self, since: float, until: float) -> dict[str, list[str]]:
        """Answered calls started in [since, until), by agent (any queue)."""
        stmt = (
            select(_CALLS.c.agent_id, _CALLS.c.id)
            .where(
                _CALLS.c.outcome == CallOutcome.ANSWERED.value,
                _CALLS.c.started_at >= _dt(since),
                _CALLS.c.started_at < _dt(until),
                _CALLS.c.agent_id.is_not(None),
            )
            .order_by(_CALLS.c.agent_id, _CALLS.c.id)
        )
        out: dict[str, list[str]] = {}
        with translate_errors("answered_calls_by_agent"):
            async with self._engine.connect() as conn:
                for agent, call_id in (await conn.execute(stmt)).all():
                    out.setdefault(str(agent), []).append(str(call_id))
        return out

    async def tickets_for_call(self, call_id: str) -> Sequence[Ticket]:
        stmt = select(_TICKETS).where(_TICKETS.c.call_id == call_id).order_by(_TICKETS.c.id)
        with translate_errors("tickets_for_call"):
            async with self._engine.connect() as conn:
                rows = (await conn.execute(stmt)).mappings().all()
        return [_ticket(r) for r in rows]
