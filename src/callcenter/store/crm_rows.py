"""Read statements and row conversions shared by the CRM records (``store/crm_records``) and the screen
pop's card read (``store/pop_card``): a customer's notes, recent calls (summaries) and tickets."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, Table, and_, func, or_, select

from callcenter.domain.calls import CallOutcome, CallRecord, HangupSide
from callcenter.domain.customers import CustomerNote
from callcenter.domain.tickets import (
    DONE,
    Ticket,
    TicketCategory,
    TicketPriority,
    TicketQuery,
    TicketStatus,
)
from callcenter.store.models import Call, CustomerNoteRow, TicketRow

_NOTES: Table = CustomerNoteRow.__table__  # type: ignore[assignment]
_TICKETS: Table = TicketRow.__table__  # type: ignore[assignment]
_CALLS: Table = Call.__table__  # type: ignore[assignment]


def _dt(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _ep(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def notes_stmt(customer_id: int, limit: int) -> Select[Any]:
    """A customer's notes, newest first."""
    return (
        select(_NOTES)
        .where(_NOTES.c.customer_id == customer_id)
        .order_by(_NOTES.c.at.desc(), _NOTES.c.id.desc())
        .limit(limit)
    )


def note_from_row(r: Any) -> CustomerNote:
    return CustomerNote(r["id"], r["customer_id"], r["at"].timestamp(), r["author"], r["text"])


def customer_calls_stmt(customer_id: int, limit: int, agent: str | None = None) -> Select[Any]:
    """A customer's most recent calls, newest first (optionally one agent's)."""
    conditions: list[ColumnElement[bool]] = [_CALLS.c.customer_id == customer_id]
    if agent is not None:
        conditions.append(_CALLS.c.agent_id == agent)
    return select(_CALLS).where(*conditions).order_by(_CALLS.c.started_at.desc(), _CALLS.c.id).limit(limit)


def call_summary_from_row(r: Any) -> CallRecord:
    """A ``calls`` row as a call record without legs."""
    return CallRecord(
        call_id=r["id"],
        started_at=r["started_at"].timestamp(),
        direction=r["direction"],
        caller_num=r["caller_num"],
        caller_name=r["caller_name"],
        dnis=r["dnis"],
        queue=r["queue"],
        agent=r["agent_id"],
        answered_at=_ep(r["answered_at"]),
        ended_at=_ep(r["ended_at"]),
        wait_seconds=r["wait_seconds"],
        talk_seconds=r["talk_seconds"],
        hold_seconds=r["hold_seconds"],
        outcome=CallOutcome(r["outcome"]),
        hangup_cause=r["hangup_cause"],
        hangup_by=None if r["hangup_by"] is None else HangupSide(r["hangup_by"]),
        recording_file=r["recording_file"],
        version=r["version"],
    )


def ticket_from_row(row: Any) -> Ticket:
    return Ticket(
        id=row["id"],
        customer_id=row["customer_id"],
        subject=row["subject"],
        category=TicketCategory(row["category"]),
        priority=TicketPriority(row["priority"]),
        status=TicketStatus(row["status"]),
        description=row["description"],
        call_id=row["call_id"],
        assignee=row["assignee"],
        due_at=_ep(row["due_at"]),
        created_by=row["created_by"],
        created_at=row["created_at"].timestamp(),
        updated_at=row["updated_at"].timestamp(),
        version=row["version"],
    )


def tickets_stmts(query: TicketQuery) -> tuple[Select[Any], Select[Any]]:
    """The count and the page of the tickets matching ``query``. Order: by due date (earliest first)
    when ``due_before`` is given, else newest first."""
    conditions: list[ColumnElement[bool]] = []
    if query.statuses:
        conditions.append(_TICKETS.c.status.in_([s.value for s in query.statuses]))
    if query.assignees:
        conditions.append(_TICKETS.c.assignee.in_(list(query.assignees)))
    if query.customer_id is not None:
        conditions.append(_TICKETS.c.customer_id == query.customer_id)
    if query.category is not None:
        conditions.append(_TICKETS.c.category == query.category.value)
    done = [s.value for s in DONE]
    if query.overdue is True:
        conditions.append(
            and_(
                _TICKETS.c.due_at.is_not(None),
                _TICKETS.c.due_at < _dt(query.now),
                _TICKETS.c.status.not_in(done),
            )
        )
    elif query.overdue is False:
        conditions.append(
            or_(
                _TICKETS.c.due_at.is_(None),
                _TICKETS.c.due_at >= _dt(query.now),
                _TICKETS.c.status.in_(done),
            )
        )
    if query.due_before is not None:
        conditions.append(_TICKETS.c.due_at <= _dt(query.due_before))
    order = (
        (_TICKETS.c.due_at, _TICKETS.c.id)
        if query.due_before is not None
        else (_TICKETS.c.created_at.desc(), _TICKETS.c.id.desc())
    )
    limit, offset = max(0, query.limit), max(0, query.offset)
    count = select(func.count()).select_from(_TICKETS).where(*conditions)
    page = select(_TICKETS).where(*conditions).order_by(*order).limit(limit).offset(offset)
    return count, page
