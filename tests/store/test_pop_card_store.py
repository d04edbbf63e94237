"""The screen pop's one-connection card read (``store/pop_card.py``) gives the answer of the four separate
reads it replaces (notes, open tickets, recent calls, their dispositions), on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import update

from callcenter.domain.calls import CallDisposition, CallOutcome, CallRecord
from callcenter.domain.customers import CustomerDraft, Segment
from callcenter.domain.tickets import DONE, TicketDraft, TicketQuery, TicketStatus
from callcenter.store.console import SqlDispositionStore
from callcenter.store.crm import SqlCrmStore, create_store
from callcenter.store.crm_records import SqlCrmRecords
from callcenter.store.models import TicketRow
from callcenter.store.pop_card import SqlPopCardReader
from tests.store.conftest import db_url, pg, sqlite_template  # noqa: F401 - fixtures

T0 = 1_780_000_000.0
OPEN = tuple(s for s in TicketStatus if s not in DONE)


@pytest.fixture
async def sql_store(db_url: str) -> AsyncIterator[SqlCrmStore]:  # noqa: F811 - the imported fixture
    store = create_store(db_url)
    try:
        yield store
    finally:
        await store.close()


async def _separate(
    records: SqlCrmRecords, dispositions: SqlDispositionStore, customer_id: int, query: TicketQuery
) -> tuple[list[object], list[object], list[object], list[object]]:
    notes = await records.list_notes(customer_id, limit=3)
    tickets = (await records.list_tickets(query)).tickets
    calls = await records.customer_calls(customer_id, limit=4)
    disposed = await dispositions.dispositions_for_calls([c.call_id for c in calls]) if calls else []
    return list(notes), list(tickets), list(calls), list(disposed)


async def test_card_read_equals_the_separate_reads(sql_store: SqlCrmStore) -> None:
    engine = sql_store.engine
    records = SqlCrmRecords(engine)
    dispositions = SqlDispositionStore(engine)
    reader = SqlPopCardReader(engine)
    ann = await records.create_customer(
        CustomerDraft("Ann Archer", "Acme", "", Segment.VIP, 90, ("+15552010001",)), author="t", now=T0
    )
    bob = await records.create_customer(
        CustomerDraft("Bob Brown", phones=("+15552010002",)), author="t", now=T0
    )
    for i in range(5):  # more than the card shows, some at the same time (the id breaks the tie)
        await records.add_note(ann.id, author="t", text=f"note {i}", now=T0 + 10 * (i // 2))
    await records.add_note(bob.id, author="t", text="bob's", now=T0 + 100)
    ticket_ids = []
    for i in range(4):
        ticket = await records.create_ticket(
            TicketDraft(ann.id, f"ticket {i}", due_at=T0 + 1000 * i), actor="t", now=T0 + i
        )
        ticket_ids.append(ticket.id)
    async with engine.begin() as conn:  # one closed: not on the card
        await conn.execute(
            update(TicketRow.__table__)
            .where(TicketRow.__table__.c.id == ticket_ids[1])
            .values(status=TicketStatus.CLOSED.value)
        )
    calls = [
        CallRecord(
            call_id=f"call-{i}",
            started_at=T0 + 60 * i,
            caller_num="+15552010001" if i != 2 else "+15552010002",
            queue="support",
            agent="1001",
            answered_at=T0 + 60 * i + 5,
            ended_at=T0 + 60 * i + 30,
            outcome=CallOutcome.ANSWERED,
            version=1,
        )
        for i in range(7)
    ]
    await sql_store.save_calls(calls)
    # distinct times: the dispositions are ordered by time only
    for k, (i, agent) in enumerate(((6, "1001"), (6, "1002"), (5, "1001"), (0, "1001"), (2, "1001"))):
        await dispositions.save_disposition(
            CallDisposition(f"call-{i}", agent, f"code-{i}", note="n", customer_id=ann.id, at=T0 + 500 - k)
        )
    for customer_id in (ann.id, bob.id, 999_999):
        for query in (
            TicketQuery(customer_id=customer_id, statuses=OPEN, now=T0 + 1500, limit=2),
            TicketQuery(customer_id=customer_id, statuses=OPEN, now=T0, limit=10),
            TicketQuery(customer_id=customer_id, statuses=OPEN, now=T0, limit=0),
        ):
            expected = await _separate(records, dispositions, customer_id, query)
            card = await reader.card_records(customer_id, 3, query, 4)
            got = (list(card.notes), list(card.tickets), list(card.calls), list(card.dispositions))
            assert got == expected, (customer_id, query)
    card = await reader.card_records(ann.id, 3, TicketQuery(customer_id=ann.id, statuses=OPEN, limit=10), 4)
    assert [n.text for n in card.notes] == ["note 4", "note 3", "note 2"]
    assert [c.call_id for c in card.calls] == ["call-6", "call-5", "call-4", "call-3"]
    assert [(d.call_id, d.agent) for d in card.dispositions] == [
        ("call-5", "1001"),
        ("call-6", "1002"),
        ("call-6", "1001"),
    ]
    assert len(card.tickets) == 3
    without = await reader.card_records(ann.id, 3, TicketQuery(customer_id=ann.id), 4, False)
    assert without.dispositions == []
