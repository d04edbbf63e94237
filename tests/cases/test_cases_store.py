"""Cases through the service on both backends (SQLite and PostgreSQL): create, stage history, concurrency,
filters, overdue, links, report, the caller's cases, audit."""

from __future__ import annotations

import pytest

from callcenter.domain.cases import CaseQuery, CaseStage, InvalidStage
from callcenter.domain.customers import CustomerDraft, ValidationError
from callcenter.domain.errors import NotFound
from callcenter.domain.tickets import TicketDraft
from callcenter.domain.users import Role, User
from callcenter.services.cases import CaseService
from callcenter.services.crm import CrmService
from tests.cases.conftest import MONDAY, Clock, MemoryAudit

ALICE = User(1, "alice", Role.AGENT, "Alice", agent="1001")
S = CaseStage


async def _customer(crm: CrmService, name: str, phone: str) -> int:
    customer = await crm.records.create_customer(
        CustomerDraft(name=name, phones=(phone,)), author="t", now=MONDAY
    )
    return customer.id


def _body(customer_id: int, **extra: object) -> dict[str, object]:
    return {
        "customer_id": customer_id,
        "product": "Router X",
        "serial": "SN-001",
        "fault": "no power",
        "purchase_date": "2026-01-10",
        **extra,
    }


async def test_create_move_history_audit(
    cases: CaseService, crm: CrmService, clock: Clock, audit: MemoryAudit
) -> None:
    cid = await _customer(crm, "Ann", "+15552010001")
    case = await cases.create(ALICE, _body(cid, call_id="1700000000.1"))
    assert case.id > 0 and case.number == str(1_000_000 + case.id) and case.in_warranty
    assert case.stage_due == MONDAY + 86400  # 1 working day in "received"
    clock.now += 600
    moved = await cases.move(ALICE, case.id, "warranty_checked", "under warranty")
    assert moved.stage is S.WARRANTY_CHECKED and moved.version == 2
    with pytest.raises(InvalidStage):
        await cases.move(ALICE, case.id, "shipped")
    detail = await cases.detail(case.id)
    assert [(e.field, e.old, e.new) for e in detail.history] == [
        ("created", None, "received"),
        ("stage", "received", "warranty_checked"),
    ]
    assert detail.history[1].note == "under warranty" and detail.history[1].actor == "alice"
    assert [(link.kind, link.ref) for link in detail.links] == [("call", "1700000000.1")]
    assert [(e.action, e.target) for e in audit.entries] == [
        ("case.create", f"case:{case.id}"),
        ("case.stage", f"case:{case.id}"),
    ]


async def test_bad_input_and_unknown_ids(cases: CaseService, crm: CrmService) -> None:
    with pytest.raises(ValidationError) as info:
        await cases.create(ALICE, {"customer_id": "x", "product": "", "purchase_date": "2026-13-01"})
    assert {"customer_id", "product", "serial", "fault", "purchase_date"} <= set(info.value.fields)
    with pytest.raises(NotFound):
        await cases.create(ALICE, _body(999))
    with pytest.raises(NotFound):
        await cases.move(ALICE, 12345, "warranty_checked")
    cid = await _customer(crm, "Ann", "+15552010001")
    case = await cases.create(ALICE, _body(cid))
    with pytest.raises(ValidationError):
        await cases.move(ALICE, case.id, "nowhere")
    with pytest.raises(ValidationError):
        await cases.update(ALICE, case.id, {"stage": "closed"})  # not through PATCH


async def test_concurrent_stage_change_rechecks_the_rules(cases: CaseService, crm: CrmService) -> None:
    cid = await _customer(crm, "Ann", "+15552010001")
    case = await cases.create(ALICE, _body(cid))
    stale = case
    await cases.move(ALICE, case.id, "warranty_checked")
    # a writer still holding the old version loses: the store refuses it
    from callcenter.domain.cases import change_stage
    from callcenter.domain.tickets import ConcurrentUpdate

    new, event = change_stage(stale, S.WARRANTY_CHECKED, actor="x", now=MONDAY, sla=cases.sla)
    with pytest.raises(ConcurrentUpdate):
        await cases.store.save_case(stale, new, [event])
    assert (await cases.get(case.id)).version == 2


async def test_filters_overdue_report_links(cases: CaseService, crm: CrmService, clock: Clock) -> None:
    ann = await _customer(crm, "Ann", "+15552010001")
    bob = await _customer(crm, "Bob", "+15552010002")
    a1 = await cases.create(ALICE, _body(ann, technician="tom"))
    a2 = await cases.create(ALICE, _body(ann))
    b1 = await cases.create(ALICE, _body(bob))
    await cases.move(ALICE, a2.id, "warranty_checked")  # 2 working days
    clock.now = MONDAY + 1.5 * 86400  # a1 and b1 are past their 1-day "received" SLA
    page = await cases.search(CaseQuery(overdue=True, now=clock.now))
    assert sorted(c.id for c in page.cases) == sorted([a1.id, b1.id]) and page.total == 2
    page = await cases.search(CaseQuery(overdue=False, now=clock.now))
    assert [c.id for c in page.cases] == [a2.id]
    assert (await cases.search(CaseQuery(customer_id=ann))).total == 2
    assert [c.id for c in (await cases.search(CaseQuery(technician="tom"))).cases] == [a1.id]
    assert [c.id for c in (await cases.search(CaseQuery(stages=(S.WARRANTY_CHECKED,)))).cases] == [a2.id]
    report = await cases.report()
    assert report.open == 3 and report.overdue == 2
    # links: a ticket of the same customer, not of another
    ticket = await crm.records.create_ticket(
        TicketDraft(customer_id=ann, subject="RMA"), actor="t", now=MONDAY
    )
    await cases.link(ALICE, a1.id, "ticket", str(ticket.id))
    await cases.link(ALICE, a1.id, "ticket", str(ticket.id))  # twice: one link
    with pytest.raises(ValidationError):
        await cases.link(ALICE, b1.id, "ticket", str(ticket.id))
    with pytest.raises(NotFound):
        await cases.link(ALICE, a1.id, "ticket", "9999")
    assert [(x.kind, x.ref) for x in (await cases.detail(a1.id)).links] == [("ticket", str(ticket.id))]
    assert await cases.store.cases_linked("ticket", str(ticket.id)) == [a1.id]


async def test_callers_cases_never_another_customers(cases: CaseService, crm: CrmService) -> None:
    ann = await _customer(crm, "Ann", "+15552010001")
    bob = await _customer(crm, "Bob", "+15552010002")
    mine = await cases.create(ALICE, _body(ann))
    theirs = await cases.create(ALICE, _body(bob))
    assert [c.id for c in await cases.open_cases_for_caller("+15552010001")] == [mine.id]
    assert await cases.open_cases_for_caller("+15559999999") == []
    assert (await cases.case_for_caller("+15552010001", mine.number)) is not None
    assert await cases.case_for_caller("+15552010001", theirs.number) is None
    assert await cases.case_for_caller("+15559999999", mine.number) is None
    assert await cases.case_for_caller("+15552010001", "1999999") is None
