"""The CRM JSON API on a real SQLite store: roles, validation (400 with field names), 404, CSRF,
status transitions through PATCH, history, due follow-ups."""

from __future__ import annotations

import time
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from callcenter.services.crm import CrmService
from tests.webapp.helpers import login, session_csrf

Client = TestClient[Any, Any]


async def as_user(client: Client, username: str) -> dict[str, str]:
    """Log in; the headers a fetch() sends (the session's CSRF token)."""
    resp = await login(client, username)
    assert resp.status == 303
    return {"X-CSRF-Token": await session_csrf(client)}


async def make_customer(client: Client, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    payload = {"name": "Ann Able", "phones": ["+1 555 201 0001"], **body}
    resp = await client.post("/api/customers", json=payload, headers=headers)
    assert resp.status == 201, await resp.text()
    data: dict[str, Any] = await resp.json()
    return data


async def test_customer_crud_search_notes_and_by_phone(client: Client) -> None:
    h = await as_user(client, "alice")
    ann = await make_customer(
        client, h, company="Acme", email="ann@acme.example", segment="vip", value_score=88, tags=["gold"]
    )
    assert ann["phones"] == ["+15552010001"] and ann["vip"] is True and ann["tags"] == ["gold"]
    bob = await make_customer(
        client, h, name="Bob Baker", phones="555-201-0002|555-201-0003", segment="regular"
    )

    resp = await client.get("/api/customers", params={"q": "ACME"})
    assert [c["id"] for c in (await resp.json())["customers"]] == [ann["id"]]
    resp = await client.get("/api/customers", params={"phone": "(555) 201-0003"})
    assert [c["id"] for c in (await resp.json())["customers"]] == [bob["id"]]
    resp = await client.get("/api/customers", params={"segment": "regular", "limit": "1"})
    body = await resp.json()
    assert (body["total"], body["limit"], body["offset"]) == (1, 1, 0)

    resp = await client.post(
        f"/api/customers/{ann['id']}/notes", json={"text": "Wants a call at 5"}, headers=h
    )
    assert resp.status == 201
    note = await resp.json()
    assert note["author"] == "alice" and note["at_iso"].endswith("Z")

    resp = await client.patch(
        f"/api/customers/{bob['id']}", json={"email": "bob@harbor.example", "tags": "x,y"}, headers=h
    )
    assert resp.status == 200
    assert (await resp.json())["tags"] == ["x", "y"]

    resp = await client.get("/api/customers/by-phone/+1 (555) 201-0001")
    detail = await resp.json()
    assert resp.status == 200 and detail["id"] == ann["id"]
    assert [n["text"] for n in detail["notes"]] == ["Wants a call at 5"] and detail["open_tickets"] == []
    resp = await client.get(f"/api/customers/{ann['id']}")
    assert (await resp.json())["name"] == "Ann Able"


async def test_validation_errors_name_the_fields(client: Client) -> None:
    h = await as_user(client, "sup")
    await make_customer(client, h)
    resp = await client.post(
        "/api/customers",
        json={"name": "", "email": "nope", "segment": "gold", "phones": ["555-201-0001"], "extra": 1},
        headers=h,
    )
    assert resp.status == 400
    body = await resp.json()
    assert body["error"] == "invalid input"
    assert set(body["fields"]) == {
        "name",
        "email",
        "segment",
        "extra",
    }  # the phone is checked once the rest is valid
    resp = await client.post("/api/customers", json={"name": "Dup", "phones": ["5552010001"]}, headers=h)
    assert resp.status == 400 and "belongs to customer #1" in (await resp.json())["fields"]["phones"]
    resp = await client.post(
        "/api/customers", data="{not json", headers={**h, "Content-Type": "application/json"}
    )
    assert resp.status == 400 and (await resp.json())["fields"] == {"body": "not valid JSON"}
    resp = await client.post("/api/customers", json=["a list"], headers=h)
    assert (await resp.json())["fields"] == {"body": "must be a JSON object"}
    resp = await client.get("/api/customers", params={"limit": "0", "segment": "x"})
    assert resp.status == 400
    resp = await client.get("/api/customers", params={"colour": "red"})
    assert resp.status == 400 and "colour" in (await resp.json())["fields"]
    resp = await client.post("/api/tickets", json={"customer_id": 999, "subject": "x"}, headers=h)
    assert resp.status == 400 and (await resp.json())["fields"] == {"customer_id": "no customer with id 999"}
    resp = await client.post("/api/customers/1/notes", json={"text": "  "}, headers=h)
    assert resp.status == 400 and (await resp.json())["fields"] == {"text": "required"}


@pytest.mark.parametrize(
    "path",
    [
        "/api/customers/999",
        "/api/customers/by-phone/5559999999",
        "/api/tickets/999",
        "/api/tickets/999/history",
        "/api/customers/99999999999999999999",
    ],
)
async def test_unknown_ids_are_404(client: Client, path: str) -> None:
    await as_user(client, "qa")
    resp = await client.get(path)
    assert resp.status == 404
    assert "error" in await resp.json()


async def test_patch_and_note_on_unknown_ids_are_404(client: Client) -> None:
    h = await as_user(client, "admin")
    assert (await client.patch("/api/customers/999", json={"name": "x"}, headers=h)).status == 404
    assert (await client.post("/api/customers/999/notes", json={"text": "x"}, headers=h)).status == 404
    assert (await client.patch("/api/tickets/999", json={"status": "open"}, headers=h)).status == 404


async def test_roles(client: Client) -> None:
    assert (await client.get("/api/customers")).status == 401
    h = await as_user(client, "bob")
    customer = await make_customer(client, h)
    resp = await client.post(
        "/api/tickets", json={"customer_id": customer["id"], "subject": "Help"}, headers=h
    )
    ticket = await resp.json()

    h = await as_user(client, "qa")  # QA reads everything, writes nothing
    assert (await client.get(f"/api/customers/{customer['id']}")).status == 200
    assert (await client.get(f"/api/tickets/{ticket['id']}/history")).status == 200
    assert (await client.get("/api/tickets")).status == 200
    for method, path, body in [
        ("POST", "/api/customers", {"name": "X"}),
        ("PATCH", f"/api/customers/{customer['id']}", {"name": "X"}),
        ("POST", f"/api/customers/{customer['id']}/notes", {"text": "X"}),
        ("POST", "/api/tickets", {"customer_id": customer["id"], "subject": "X"}),
        ("PATCH", f"/api/tickets/{ticket['id']}", {"status": "open"}),
    ]:
        resp = await client.request(method, path, json=body, headers=h)
        assert resp.status == 403, (method, path)

    # a session without the CSRF token cannot write
    await as_user(client, "sup")
    resp = await client.post("/api/customers", json={"name": "No Token"})
    assert resp.status == 403
    h = {"X-CSRF-Token": await session_csrf(client)}
    assert (
        await client.patch(f"/api/tickets/{ticket['id']}", json={"status": "open"}, headers=h)
    ).status == 200


async def test_ticket_lifecycle_through_patch(client: Client) -> None:
    h = await as_user(client, "sup")
    customer = await make_customer(client, h)
    resp = await client.post(
        "/api/tickets",
        json={
            "customer_id": customer["id"],
            "subject": "Parcel lost",
            "category": "complaint",
            "priority": "high",
            "call_id": "1800000000.12",
            "assignee": "alice",
        },
        headers=h,
    )
    assert resp.status == 201
    ticket = await resp.json()
    assert resp.headers["Location"] == f"/api/tickets/{ticket['id']}"
    assert (ticket["status"], ticket["next_statuses"], ticket["overdue"]) == ("new", ["open"], False)
    url = f"/api/tickets/{ticket['id']}"

    resp = await client.patch(url, json={"status": "closed"}, headers=h)
    # 409, not 400: a refused state transition is a conflict, as for ACD agent states (webapp/errors.py)
    assert resp.status == 409
    assert (await resp.json())["fields"] == {
        "status": "cannot move a ticket from new to closed; allowed: open"
    }
    for status in ("open", "pending", "resolved", "closed", "open"):  # ... and reopened
        resp = await client.patch(url, json={"status": status, "comment": f"to {status}"}, headers=h)
        assert resp.status == 200, await resp.text()
        assert (await resp.json())["status"] == status
    resp = await client.patch(
        url, json={"priority": "urgent", "assignee": "", "due_at": "2020-01-01T00:00:00Z"}, headers=h
    )
    body = await resp.json()
    assert (body["priority"], body["assignee"], body["overdue"]) == ("urgent", None, True)
    resp = await client.patch(url, json={"status": "bogus"}, headers=h)
    assert resp.status == 400 and "status" in (await resp.json())["fields"]

    history = (await (await client.get(url + "/history")).json())["history"]
    assert [(e["field"], e["old"], e["new"]) for e in history] == [
        ("created", None, "new"),
        ("status", "new", "open"),
        ("status", "open", "pending"),
        ("status", "pending", "resolved"),
        ("status", "resolved", "closed"),
        ("status", "closed", "open"),
        ("priority", "high", "urgent"),
        ("assignee", "alice", None),
        ("due_at", None, "1577836800.0"),
    ]
    assert {e["actor"] for e in history} == {"sup"} and history[1]["comment"] == "to open"

    resp = await client.get("/api/tickets", params={"overdue": "true", "status": "open,pending"})
    assert [t["id"] for t in (await resp.json())["tickets"]] == [ticket["id"]]
    resp = await client.get("/api/tickets", params={"customer": str(customer["id"]), "category": "inquiry"})
    assert (await resp.json())["total"] == 0
    resp = await client.get("/api/tickets", params={"overdue": "maybe"})
    assert resp.status == 400 and "overdue" in (await resp.json())["fields"]


async def test_due_followups_are_the_agents_own(client: Client, crm: CrmService) -> None:
    h = await as_user(client, "sup")
    customer = await make_customer(client, h)
    now = time.time()

    async def followup(assignee: str, due: float, subject: str) -> int:
        resp = await client.post(
            "/api/tickets",
            json={
                "customer_id": customer["id"],
                "subject": subject,
                "category": "follow_up",
                "assignee": assignee,
                "due_at": due,
            },
            headers=h,
        )
        assert resp.status == 201, await resp.text()
        return int((await resp.json())["id"])

    mine_by_name = await followup("alice", now - 60, "by username")
    mine_by_ext = await followup("1001", now - 120, "by extension")
    await followup("alice", now + 3600, "later")
    bobs = await followup("bob", now - 30, "bob's")
    done = await followup("alice", now - 30, "done")
    for status in ("open", "resolved"):
        await client.patch(f"/api/tickets/{done}", json={"status": status}, headers=h)
    resp = await client.post(
        "/api/tickets",
        json={"customer_id": customer["id"], "subject": "no date", "category": "follow_up"},
        headers=h,
    )
    assert resp.status == 400 and (await resp.json())["fields"] == {"due_at": "required for a follow-up call"}

    body = await (await client.get("/api/followups/due")).json()  # supervisor: everybody's
    assert [t["id"] for t in body["tickets"]] == [mine_by_ext, mine_by_name, bobs]
    body = await (await client.get("/api/followups/due", params={"assignee": "bob"})).json()
    assert [t["id"] for t in body["tickets"]] == [bobs]

    await as_user(client, "alice")  # an agent: only their own, whatever they ask for
    body = await (await client.get("/api/followups/due", params={"assignee": "bob"})).json()
    assert [t["id"] for t in body["tickets"]] == [mine_by_ext, mine_by_name]
    assert (await client.get("/api/followups/due", params={"x": "1"})).status == 400


async def test_bearer_token_needs_no_csrf(client: Client, crm_app: Any) -> None:
    from callcenter.webapp.keys import ACCOUNTS

    token = await crm_app[ACCOUNTS].issue_api_token(1, "script")  # admin
    client.session.cookie_jar.clear()
    resp = await client.post(
        "/api/customers", json={"name": "Via Token"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert resp.status == 201
