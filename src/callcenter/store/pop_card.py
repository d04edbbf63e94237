"""The screen pop's card read in one connection (issue 14): a customer's last notes, open tickets, recent
calls and those calls' dispositions.

The card used four separate reads (``list_notes``, ``list_tickets``, ``customer_calls``,
``dispositions_for_calls``), each checking a connection out of the pool and returning it (on SQLite a
rollback; with aiosqlite every step is a hop to the connection's thread), plus a ticket ``COUNT`` the card
never shows. Here: one checkout, four prebuilt Core statements, and the dispositions are selected by a
subquery on the same calls (no second round trip waiting for the call ids). The answer is the same as
the separate reads' (``tests/store/test_pop_card_store.py``, SQLite and PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncEngine

from callcenter.domain.calls import CallDisposition, CallRecord
from callcenter.domain.customers import CustomerNote
from callcenter.domain.tickets import Ticket, TicketQuery
from callcenter.store.crm_rows import (
    call_summary_from_row,
    customer_calls_stmt,
    note_from_row,
    notes_stmt,
    ticket_from_row,
    tickets_stmts,
)
from callcenter.store.engine import translate_errors
from callcenter.store.models import CallDispositionRow

_DISPOSITIONS: Table = CallDispositionRow.__table__  # type: ignore[assignment]


class CardRecords(NamedTuple):
    notes: Sequence[CustomerNote]
    tickets: Sequence[Ticket]
    calls: Sequence[CallRecord]
    dispositions: Sequence[CallDisposition]  # of those calls, oldest first


def _disposition(r: Any) -> CallDisposition:
    return CallDisposition(
        call_id=r["call_id"],
        agent=r["agent"],
        code=r["code"],
        note=r["note"],
        queue=r["queue"],
        customer_id=r["customer_id"],
        at=r["at"].timestamp(),
        author=r["author"],
    )


class SqlPopCardReader:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def card_records(
        self, customer_id: int, notes: int, tickets: TicketQuery, calls: int, dispositions: bool = True
    ) -> CardRecords:
        """What ``list_notes(customer_id, limit=notes)``, ``list_tickets(tickets).tickets``,
        ``customer_calls(customer_id, limit=calls)`` and ``dispositions_for_calls`` of those calls
        answer, read in one connection."""
        _count, ticket_page = tickets_stmts(tickets)
        recent = customer_calls_stmt(customer_id, calls)
        by_calls = (
            select(_DISPOSITIONS)
            .where(_DISPOSITIONS.c.call_id.in_(select(recent.subquery().c.id)))
            .order_by(_DISPOSITIONS.c.at)
        )
        with translate_errors("pop card"):
            async with self._engine.connect() as conn:
                note_rows = (await conn.execute(notes_stmt(customer_id, notes))).mappings().all()
                ticket_rows = (await conn.execute(ticket_page)).mappings().all() if tickets.limit > 0 else []
                call_rows = (await conn.execute(recent)).mappings().all()
                disposition_rows = (
                    (await conn.execute(by_calls)).mappings().all() if dispositions and call_rows else []
                )
        return CardRecords(
            notes=[note_from_row(r) for r in note_rows],
            tickets=[ticket_from_row(r) for r in ticket_rows],
            calls=[call_summary_from_row(r) for r in call_rows],
            dispositions=[_disposition(r) for r in disposition_rows],
        )
