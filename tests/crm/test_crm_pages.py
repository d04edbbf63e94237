"""CRM pages: escaping of hostile names, the forms (CSRF, errors, redirects), QA read-only."""

from __future__ import annotations

import re
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from callcenter.domain.calls import CallOutcome, CallRecord
from callcenter.domain.customers import CustomerQuery
from callcenter.services.crm import CrmService
from callcenter.store.crm import SqlCrmStore
from tests.webapp.helpers import csrf_from, login

Client = TestClient[Any, Any]
HOSTILE = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>']


@pytest.fixture
async def hostile(crm: CrmService) -> int:
    customer = await crm.create_customer(
        {
            "name": HOSTILE[0],
            "company": HOSTILE[1],
            "phones": ["555-201-0001"],
            "tags": ["vip-gold"],
            "segment": "vip",
            "notes": HOSTILE[1],
        },
        actor="import",
    )
    await crm.add_note(customer.id, HOSTILE[0], actor="sam")
    await crm.create_ticket(
        {"subject": HOSTILE[1], "description": HOSTILE[0]}, actor="sam", customer_id=customer.id
    )
    return customer.id


def assert_escaped(html: str) -> None:
    for text in HOSTILE:
        assert text not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<script>" not in html.replace('<script type="module" src="/static/app.js"></script>', "")


async def test_hostile_names_are_escaped_on_every_crm_page(client: Client, hostile: int) -> None:
    await login(client, "sup")
    page = await client.get(f"/customers/{hostile}")
    assert page.status == 200
    html = await page.text()
    assert_escaped(html)
    assert 'class="badge vip-badge"' in html
    assert page.headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert_escaped(await (await client.get("/customers", params={"q": "alert"})).text())
    ticket_url = re.search(r'href="(/tickets/\d+)"', html)
    assert ticket_url is not None
    assert_escaped(await (await client.get(ticket_url.group(1))).text())


async def test_search_page(client: Client, crm: CrmService) -> None:
    for i in range(30):
        await crm.create_customer({"name": f"Person {i:02d}", "phones": [f"555-301-{i:04d}"]}, actor="x")
    first = await crm.records.search_customers(CustomerQuery(limit=1))
    await crm.create_ticket(
        {"subject": "Ring back <b>now</b>", "category": "follow_up", "assignee": "1001", "due_at": 1000},
        actor="sam",
        customer_id=first.customers[0].id,
    )
    await login(client, "alice")
    html = await (await client.get("/customers", params={"phone": "(555) 301-0007"})).text()
    assert "Your follow-up calls due now (1)" in html and "Ring back &lt;b&gt;now&lt;/b&gt;" in html
    assert "Person 07" in html and "Person 08" not in html and "1 customer" in html
    html = await (await client.get("/customers")).text()
    assert "30 customers" in html and "Next →" in html and "Person 24" in html and "Person 25" not in html
    resp = await client.get("/customers", params={"segment": "gold"})
    assert resp.status == 400 and "unknown segment" in await resp.text()
    assert (await client.get("/customers/999")).status == 404


async def test_note_ticket_and_status_forms(client: Client, crm: CrmService, web_store: SqlCrmStore) -> None:
    customer = await crm.create_customer({"name": "Ann Able", "phones": ["555-201-0001"]}, actor="x")
    await web_store.save_calls(
        [
            CallRecord(
                call_id="1800000000.5",
                started_at=1_800_000_000.0,
                caller_num="5552010001",
                agent="1001",
                outcome=CallOutcome.ANSWERED,
                ended_at=1_800_000_090.0,
                talk_seconds=80.0,
                version=1,
            )
        ]
    )
    await login(client, "alice")
    page = await client.get(f"/customers/{customer.id}")
    html = await page.text()
    assert "1800000000.0" not in html and "5552010001" in html  # the recent call (agent 1001 = alice)
    token = csrf_from(html)
    base = f"/customers/{customer.id}"

    resp = await client.post(base + "/notes", data={"text": "hello"}, allow_redirects=False)
    assert resp.status == 403  # no CSRF token
    resp = await client.post(base + "/notes", data={"csrf": token, "text": "  "}, allow_redirects=False)
    assert resp.status == 400 and "required" in await resp.text()
    resp = await client.post(
        base + "/notes", data={"csrf": token, "text": "Called about invoice"}, allow_redirects=False
    )
    assert resp.status == 303 and resp.headers["Location"] == f"{base}#notes"
    assert [n.text for n in await crm.notes(customer.id)] == ["Called about invoice"]

    form = {
        "csrf": token,
        "subject": "",
        "category": "follow_up",
        "priority": "high",
        "assignee": "",
        "due_at": "",
        "call_id": "",
        "description": "",
    }
    resp = await client.post(base + "/tickets", data=form, allow_redirects=False)
    assert resp.status == 400
    html = await resp.text()
    assert "required for a follow-up call" in html and '<details class="new-ticket" open>' in html
    form |= {"subject": "Call back", "due_at": "2030-01-02T03:04:05"}
    resp = await client.post(base + "/tickets", data=form, allow_redirects=False)
    assert resp.status == 303
    ticket_url = resp.headers["Location"]
    ticket = await crm.get_ticket(int(ticket_url.rsplit("/", 1)[1]))
    assert ticket.due_at == 1893553445.0 and ticket.created_by == "alice"

    change = {
        "csrf": token,
        "status": "resolved",
        "priority": "high",
        "assignee": "",
        "due_at": "2030-01-02T03:04:05",
        "comment": "",
    }
    resp = await client.post(ticket_url, data=change, allow_redirects=False)
    assert (
        resp.status == 400 and "cannot move a ticket from new to resolved; allowed: open" in await resp.text()
    )
    for status in ("open", "resolved"):
        resp = await client.post(ticket_url, data=change | {"status": status}, allow_redirects=False)
        assert resp.status == 303
    html = await (await client.get(ticket_url)).text()
    assert 'id="ticket-status" data-label="resolved">resolved<' in html
    history = await crm.history(ticket.id)
    assert [(e.field, e.new, e.actor) for e in history] == [
        ("created", "new", "alice"),
        ("status", "open", "alice"),
        ("status", "resolved", "alice"),
    ]  # the unchanged due date and priority made no entries


async def test_qa_sees_no_forms_and_cannot_post(client: Client, crm: CrmService) -> None:
    customer = await crm.create_customer({"name": "Ann Able"}, actor="x")
    ticket = await crm.create_ticket({"subject": "x"}, actor="x", customer_id=customer.id)
    await login(client, "qa")
    html = await (await client.get(f"/customers/{customer.id}")).text()
    assert "Add note" not in html and "Create ticket" not in html
    html = await (await client.get(f"/tickets/{ticket.id}")).text()
    assert 'action="/tickets/' not in html
    token = csrf_from(html)  # the logout form's token
    resp = await client.post(
        f"/customers/{customer.id}/notes", data={"csrf": token, "text": "x"}, allow_redirects=False
    )
    assert resp.status == 403


async def test_pages_need_a_login(client: Client) -> None:
    resp = await client.get("/customers/1", allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"].startswith("/login?next=")
