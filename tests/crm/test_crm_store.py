"""``SqlCrmRecords`` on SQLite and PostgreSQL (``db_url`` is parametrized over both backends)."""

from __future__ import annotations

import dataclasses

import pytest

from callcenter.domain.calls import CallOutcome, CallRecord
from callcenter.domain.customers import (
    CustomerChanges,
    CustomerDraft,
    CustomerQuery,
    Segment,
    ValidationError,
)
from callcenter.domain.errors import NotFound
from callcenter.domain.tickets import (
    ConcurrentUpdate,
    TicketCategory,
    TicketChanges,
    TicketDraft,
    TicketPriority,
    TicketQuery,
    TicketStatus,
    apply_changes,
)
from callcenter.store.crm import SqlCrmStore
from callcenter.store.crm_records import SqlCrmRecords

T0 = 1_800_000_000.0
S = TicketStatus


async def seed(records: SqlCrmRecords) -> list[int]:
    drafts = [
        CustomerDraft(
            "Ann Able",
            "Acme Logistics",
            "ann@acme.example",
            Segment.VIP,
            90,
            ("+15552010001", "+442079460958"),
            ("gold", "key-account"),
            "prefers e-mail",
        ),
        CustomerDraft(
            "Bob Baker", "Blue Harbor Foods", "bob@harbor.example", Segment.REGULAR, 40, ("+15552010002",)
        ),
        CustomerDraft("Chloé Chen", "", "chloe@mail.example", Segment.NEW, 5, (), ("gold",)),
    ]
    return [(await records.create_customer(d, author="sam", now=T0 + i)).id for i, d in enumerate(drafts)]


async def test_create_and_read_customer_with_phones_tags_notes(records: SqlCrmRecords) -> None:
    ann, _, _ = await seed(records)
    customer = await records.get_customer(ann)
    assert customer is not None
    assert (customer.name, customer.company, customer.segment, customer.vip) == (
        "Ann Able",
        "Acme Logistics",
        Segment.VIP,
        True,
    )
    assert customer.phones == ("+15552010001", "+442079460958")
    assert customer.tags == ("gold", "key-account")
    assert customer.created_at == T0
    notes = await records.list_notes(ann)
    assert [(n.author, n.text, n.at) for n in notes] == [("sam", "prefers e-mail", T0)]
    assert await records.get_customer(99999) is None


@pytest.mark.parametrize(
    "number", ["+1 555 201 0001", "(555) 201-0001", "555.201.0001", "0015552010001", "tel:+15552010001"]
)
async def test_every_phone_format_finds_the_customer(records: SqlCrmRecords, number: str) -> None:
    ann, _, _ = await seed(records)
    found = await records.customer_by_phone(number)
    assert found is not None and found.id == ann and found.tags == ("gold", "key-account")
    page = await records.search_customers(CustomerQuery(phone=number))
    assert [c.id for c in page.customers] == [ann]


async def test_search_by_text_tag_segment_and_pages(records: SqlCrmRecords) -> None:
    ann, bob, chloe = await seed(records)

    async def ids(**criteria: object) -> list[int]:
        return [c.id for c in (await records.search_customers(CustomerQuery(**criteria))).customers]  # type: ignore[arg-type]

    assert await ids(text="acme") == [ann]  # company, any case
    assert await ids(text="HARBOR.example") == [bob]  # e-mail
    assert await ids(text="b") == [ann, bob]  # name "Bob", e-mail domains: by name
    assert await ids(text="%") == []  # LIKE wildcards are literal
    assert await ids(tag="GOLD") == [ann, chloe]
    assert await ids(segment=Segment.VIP) == [ann]
    assert await ids(tag="gold", segment=Segment.NEW) == [chloe]
    assert await ids(phone="not a number") == []
    page = await records.search_customers(CustomerQuery(limit=2, offset=1))
    assert page.total == 3 and [c.id for c in page.customers] == [bob, chloe]


async def test_update_replaces_phones_and_tags_and_refuses_a_taken_number(records: SqlCrmRecords) -> None:
    ann, bob, _ = await seed(records)
    updated = await records.update_customer(
        bob,
        CustomerChanges(
            name="Robert Baker", segment=Segment.VIP, phones=("+15552010099",), tags=("new-tag",)
        ),
        now=T0 + 100,
    )
    assert (updated.name, updated.vip, updated.phones, updated.tags) == (
        "Robert Baker",
        True,
        ("+15552010099",),
        ("new-tag",),
    )
    assert updated.updated_at == T0 + 100 and updated.company == "Blue Harbor Foods"
    assert await records.customer_by_phone("+15552010002") is None
    with pytest.raises(ValidationError) as info:
        await records.update_customer(bob, CustomerChanges(phones=("+15552010001",)), now=T0)
    assert info.value.fields == {"phones": f"+15552010001 belongs to customer #{ann}"}
    # keeping one's own number is fine
    await records.update_customer(ann, CustomerChanges(phones=("+15552010001",)), now=T0)
    with pytest.raises(ValidationError):
        await records.create_customer(CustomerDraft("Dup", phones=("+15552010099",)), author="x", now=T0)
    with pytest.raises(NotFound):
        await records.update_customer(4242, CustomerChanges(name="x"), now=T0)


async def test_notes_newest_first(records: SqlCrmRecords) -> None:
    _, bob, _ = await seed(records)
    await records.add_note(bob, author="alice", text="first", now=T0 + 10)
    await records.add_note(bob, author="sam", text="second", now=T0 + 20)
    assert [n.text for n in await records.list_notes(bob)] == ["second", "first"]
    with pytest.raises(NotFound):
        await records.add_note(4242, author="x", text="y", now=T0)


async def test_recent_calls_of_a_customer(sql_store: SqlCrmStore, records: SqlCrmRecords) -> None:
    ann, _, _ = await seed(records)
    calls = [
        CallRecord(
            call_id=f"1800000000.{i}",
            started_at=T0 + i,
            caller_num="(555) 201-0001",
            agent=agent,
            outcome=CallOutcome.ANSWERED,
            ended_at=T0 + i + 60,
            version=1,
        )
        for i, agent in enumerate(["1001", "1002", "1001"])
    ]
    await sql_store.save_calls([*calls, dataclasses.replace(calls[0], call_id="x.1", caller_num="5550000")])
    assert [c.call_id for c in await records.customer_calls(ann)] == [
        "1800000000.2",
        "1800000000.1",
        "1800000000.0",
    ]
    assert [c.call_id for c in await records.customer_calls(ann, agent="1002")] == ["1800000000.1"]


async def test_tickets_create_update_history_and_filters(records: SqlCrmRecords) -> None:
    ann, bob, _ = await seed(records)
    first = await records.create_ticket(
        TicketDraft(ann, "Invoice wrong", call_id="1800000000.7", assignee="1001", due_at=T0 + 100),
        actor="alice",
        now=T0,
    )
    assert (first.status, first.version, first.created_by) == (S.NEW, 1, "alice")
    assert await records.get_ticket(first.id) == first
    follow = await records.create_ticket(
        TicketDraft(bob, "Call back", category=TicketCategory.FOLLOW_UP, assignee="bob", due_at=T0 + 50),
        actor="sam",
        now=T0 + 1,
    )
    urgent = await records.create_ticket(
        TicketDraft(bob, "Broken", priority=TicketPriority.URGENT), actor="sam", now=T0 + 2
    )
    with pytest.raises(NotFound):
        await records.create_ticket(TicketDraft(4242, "x"), actor="x", now=T0)

    opened, events = apply_changes(first, TicketChanges(status=S.OPEN, comment="on it"), "alice", T0 + 10)
    await records.save_ticket_update(opened, expected_version=1, events=events)
    with pytest.raises(ConcurrentUpdate):  # a second writer that read version 1 loses
        await records.save_ticket_update(opened, expected_version=1, events=events)
    resolved, events = apply_changes(opened, TicketChanges(status=S.RESOLVED), "sam", T0 + 20)
    await records.save_ticket_update(resolved, expected_version=2, events=events)
    assert await records.get_ticket(first.id) == resolved
    history = await records.ticket_history(first.id)
    assert [(e.field, e.old, e.new, e.actor, e.at, e.comment) for e in history] == [
        ("created", None, "new", "alice", T0, ""),
        ("status", "new", "open", "alice", T0 + 10, "on it"),
        ("status", "open", "resolved", "sam", T0 + 20, ""),
    ]

    async def ids(**criteria: object) -> list[int]:
        return [t.id for t in (await records.list_tickets(TicketQuery(**criteria))).tickets]  # type: ignore[arg-type]

    assert await ids() == [urgent.id, follow.id, first.id]  # newest first
    assert await ids(statuses=(S.NEW,)) == [urgent.id, follow.id]
    assert await ids(customer_id=bob) == [urgent.id, follow.id]
    assert await ids(assignees=("bob", "1002")) == [follow.id]
    assert await ids(category=TicketCategory.FOLLOW_UP) == [follow.id]
    # at T0+200 both due dates are past, but the resolved one is not overdue
    assert await ids(overdue=True, now=T0 + 200) == [follow.id]
    assert await ids(overdue=False, now=T0 + 200) == [urgent.id, first.id]
    assert await ids(overdue=True, now=T0) == []
    due = dict(statuses=(S.NEW, S.OPEN, S.PENDING), category=TicketCategory.FOLLOW_UP, now=T0 + 60)
    assert await ids(**due, due_before=T0 + 60, assignees=("bob",)) == [follow.id]
    assert await ids(**due, due_before=T0 + 40, assignees=("bob",)) == []
    assert await ids(**due, due_before=T0 + 60, assignees=("alice", "1001")) == []


async def test_import_transaction_rolls_back(records: SqlCrmRecords) -> None:
    await seed(records)

    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        async with records.customer_import() as tx:
            assert await tx.taken_phones(["+15552010001", "+15559999999"]) == {"+15552010001": 1}
            assert (
                await tx.add_customers(
                    [CustomerDraft("Zed", phones=("+15559999999",))], author="import", now=T0
                )
                == 1
            )
            raise Boom
    assert await records.customer_by_phone("+15559999999") is None
    async with records.customer_import() as tx:
        await tx.add_customers(
            [CustomerDraft(f"Bulk {i}", phones=(f"+1555300{i:04d}",), tags=("bulk",)) for i in range(1500)],
            author="import",
            now=T0,
        )
    page = await records.search_customers(CustomerQuery(tag="bulk", limit=1))
    assert page.total == 1500
    found = await records.customer_by_phone("+15553001499")
    assert found is not None and found.name == "Bulk 1499"
