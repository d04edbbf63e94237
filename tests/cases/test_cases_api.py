"""The case API and pages on a real SQLite store: roles (QA reads only), validation 400, stage rules 409,
the overdue report and wallboard count, the OpenAPI document, the page's stage change form."""

from __future__ import annotations

import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from callcenter.config import Secret, Settings
from callcenter.domain.cases import SlaPolicy
from callcenter.domain.users import Role
from callcenter.services.accounts import Accounts
from callcenter.services.cases import CaseService
from callcenter.services.crm import CrmService
from callcenter.services.notify import Notifier, NotifyOptions
from callcenter.services.outbox import OutboxService
from callcenter.store.cases import SqlCaseStore
from callcenter.store.crm import SqlCrmStore, create_store
from callcenter.store.crm_records import SqlCrmRecords
from callcenter.store.outbox import SqlOutboxStore
from callcenter.webapp import create_web_app, views_cases, views_outbox
from tests.cases.conftest import CALENDAR, MONDAY, Clock
from tests.store.conftest import sqlite_template  # noqa: F401 - fixture
from tests.webapp.conftest import FAST_ARGON2, Health
from tests.webapp.helpers import PASSWORD, SECRET, login, session_csrf

Client = TestClient[Any, Any]


@pytest.fixture
async def web_store(tmp_path: Path, sqlite_template: Path) -> AsyncIterator[SqlCrmStore]:  # noqa: F811
    path = tmp_path / "web.db"
    shutil.copyfile(sqlite_template, path)
    store = create_store(f"sqlite+aiosqlite:///{path}")
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
async def client(web_store: SqlCrmStore) -> AsyncIterator[tuple[Client, Clock]]:
    clock = Clock()
    crm = CrmService(SqlCrmRecords(web_store.engine), clock=clock)
    accounts = Accounts(web_store, **FAST_ARGON2)
    for name, role in (
        ("admin", Role.ADMIN),
        ("sup", Role.SUPERVISOR),
        ("qa", Role.QA),
        ("alice", Role.AGENT),
    ):
        await accounts.create_user(
            name, PASSWORD, role, name.title(), agent="1001" if name == "alice" else None
        )
    app = create_web_app(
        Settings(session_secret=Secret(SECRET)), store=web_store, accounts=accounts, health=Health(), crm=crm
    )
    views_cases.setup(app)
    app[views_cases.CASES] = CaseService(
        SqlCaseStore(web_store.engine), crm, sla=SlaPolicy(CALENDAR), clock=clock
    )
    outbox_store = SqlOutboxStore(web_store.engine)
    notifier = Notifier(
        OutboxService(outbox_store, {}, clock=clock), crm, outbox_store, NotifyOptions(), clock=clock
    )
    views_outbox.setup(app)
    app[views_outbox.OUTBOX] = views_outbox.OutboxViews(outbox_store, notifier)
    async with TestClient(TestServer(app)) as test_client:
        yield test_client, clock


async def as_user(client: Client, username: str) -> dict[str, str]:
    resp = await login(client, username)
    assert resp.status == 303
    return {"X-CSRF-Token": await session_csrf(client)}


async def _setup_case(client: Client, h: dict[str, str]) -> tuple[int, dict[str, Any]]:
    resp = await client.post("/api/customers", json={"name": "Ann", "phones": ["+1 555 201 0001"]}, headers=h)
    customer = await resp.json()
    body = {"customer_id": customer["id"], "product": "Router X", "serial": "SN1", "fault": "no power"}
    resp = await client.post("/api/cases", json={**body, "purchase_date": "2026-01-10"}, headers=h)
    assert resp.status == 201, await resp.text()
    return customer["id"], (await resp.json())["case"]


async def test_lifecycle_roles_and_errors(client: tuple[Client, Clock]) -> None:
    c, clock = client
    assert (await c.get("/api/cases")).status == 401
    h = await as_user(c, "alice")
    customer_id, case = await _setup_case(c, h)
    assert case["stage"] == "received" and case["next_stages"] == ["warranty_checked"] and case["in_warranty"]
    resp = await c.post(f"/api/cases/{case['id']}/stage", json={"stage": "in_repair"}, headers=h)
    assert resp.status == 409 and "allowed: warranty_checked" in (await resp.json())["fields"]["stage"]
    resp = await c.post(
        f"/api/cases/{case['id']}/stage", json={"stage": "warranty_checked", "note": "ok"}, headers=h
    )
    assert resp.status == 200 and (await resp.json())["case"]["stage"] == "warranty_checked"
    resp = await c.patch(f"/api/cases/{case['id']}", json={"technician": "tom", "carrier": "DHL"}, headers=h)
    assert resp.status == 200 and (await resp.json())["case"]["technician"] == "tom"
    resp = await c.post("/api/cases", json={"customer_id": customer_id, "product": ""}, headers=h)
    assert resp.status == 400 and {"product", "serial", "fault"} <= set((await resp.json())["fields"])
    resp = await c.post(
        "/api/cases", json={"customer_id": 999, "product": "p", "serial": "s", "fault": "f"}, headers=h
    )
    assert resp.status == 404
    assert (await c.get("/api/cases/999")).status == 404
    assert (await c.get("/api/cases/99999999999")).status == 404  # past 32 bits: 404, not a database error
    assert (await c.get("/api/cases?customer_id=99999999999")).status == 400
    big = {"customer_id": 2**40, "product": "p", "serial": "s", "fault": "f"}
    assert (await c.post("/api/cases", json=big, headers=h)).status == 400
    assert (await c.post("/api/cases", data="nope", headers=h)).status == 400
    assert (await c.get("/api/cases?stage=bogus")).status == 400
    resp = await c.post(
        f"/api/cases/{case['id']}/links", json={"kind": "call", "ref": "1700000000.5"}, headers=h
    )
    assert resp.status == 200
    detail = await (await c.get(f"/api/cases/{case['id']}")).json()
    assert [e["field"] for e in detail["history"]] == ["created", "stage", "technician", "carrier"]
    assert detail["links"][0]["ref"] == "1700000000.5"
    assert (await c.get("/api/cases/report")).status == 403  # supervisors only

    h = await as_user(c, "qa")  # QA reads, writes nothing
    assert (await c.get(f"/api/cases/{case['id']}")).status == 200
    for method, path, payload in [
        ("POST", "/api/cases", {"customer_id": customer_id}),
        ("PATCH", f"/api/cases/{case['id']}", {"technician": "x"}),
        ("POST", f"/api/cases/{case['id']}/stage", {"stage": "in_repair"}),
        ("POST", f"/api/cases/{case['id']}/links", {"kind": "call", "ref": "x"}),
    ]:
        assert (await c.request(method, path, json=payload, headers=h)).status == 403, (method, path)

    clock.now = MONDAY + 3 * 86400  # past the 2 working days of "warranty_checked"
    h = await as_user(c, "sup")
    report = await (await c.get("/api/cases/report")).json()
    assert report["open"] == 1 and report["overdue"] == 1
    assert report["overdue_cases"][0]["number"] == case["number"]
    assert await (await c.get("/api/cases/overdue")).json() == {"open": 1, "overdue": 1}
    listed = await (await c.get("/api/cases?overdue=1")).json()
    assert [x["id"] for x in listed["cases"]] == [case["id"]] and listed["cases"][0]["overdue"]


async def test_openapi_documents_the_case_api(client: tuple[Client, Clock]) -> None:
    c, _ = client
    doc = await (await c.get("/api/openapi.json")).json()
    assert {"/api/cases", "/api/cases/{case_id}", "/api/cases/{case_id}/stage", "/api/cases/report"} <= set(
        doc["paths"]
    )


async def test_pages_list_and_stage_form(client: tuple[Client, Clock]) -> None:
    c, _ = client
    h = await as_user(c, "alice")
    _, case = await _setup_case(c, h)
    page = await (await c.get("/cases?open=1")).text()
    assert case["number"] in page and "Router X" in page
    page = await (await c.get(f"/cases/{case['id']}")).text()
    token = re.search(r'name="csrf" value="([^"]+)"', page)
    assert token is not None and 'value="warranty_checked"' in page
    form = {"csrf": token.group(1), "stage": "shipped", "note": "<b>x</b>"}
    resp = await c.post(f"/cases/{case['id']}/stage", data=form, allow_redirects=False)
    assert resp.status == 409 and "cannot move a case" in await resp.text()
    form["stage"] = "warranty_checked"
    resp = await c.post(f"/cases/{case['id']}/stage", data=form, allow_redirects=False)
    assert resp.status == 303
    page = await (await c.get(f"/cases/{case['id']}")).text()
    assert "&lt;b&gt;x&lt;/b&gt;" in page and "<b>x</b>" not in page  # autoescaped note
    await as_user(c, "qa")
    page = await (await c.get(f"/cases/{case['id']}")).text()
    assert 'action="/cases/' not in page  # QA: no form
    assert web is not None


async def test_status_page_by_token_only_that_case_until_it_expires(client: tuple[Client, Clock]) -> None:
    c, clock = client
    h = await as_user(c, "alice")
    _, case = await _setup_case(c, h)
    resp = await c.post("/api/customers", json={"name": "Zed", "phones": ["+1 555 201 0009"]}, headers=h)
    other_id = (await resp.json())["id"]
    body = {"customer_id": other_id, "product": "Secret Phone", "serial": "ZZZ-1", "fault": "x"}
    other = (await (await c.post("/api/cases", json=body, headers=h)).json())["case"]
    resp = await c.post(f"/api/cases/{case['id']}/status-link", headers=h)
    assert resp.status == 200, await resp.text()
    url = (await resp.json())["url"]
    token = url.rsplit("/", 1)[1]
    assert len(token) >= 40
    await c.post("/logout", data={"csrf": h["X-CSRF-Token"]})
    c.session.cookie_jar.clear()
    resp = await c.get(f"/status/{token}")
    page = await resp.text()
    assert resp.status == 200 and case["number"] in page and "received" in page
    assert "Ann" not in page and other["number"] not in page and "Secret Phone" not in page
    assert resp.headers["Cache-Control"] == "no-store"
    assert (await c.get(f"/status/{token[:-1]}x")).status == 404
    assert (await c.get("/status/")).status == 404
    clock.now += 31 * 86400
    assert (await c.get(f"/status/{token}")).status == 404  # expired


async def test_outbox_api_roles(client: tuple[Client, Clock]) -> None:
    c, _ = client
    await as_user(c, "alice")
    assert (await c.get("/api/admin/outbox")).status == 403
    h = await as_user(c, "sup")
    assert (await (await c.get("/api/admin/outbox?kind=email")).json()) == {"messages": []}
    assert (await c.post("/api/admin/outbox/1/retry", headers=h)).status == 403
    h = await as_user(c, "admin")
    assert (await c.post("/api/admin/outbox/999/retry", headers=h)).status == 404
    assert (await c.get("/api/admin/outbox/999")).status == 404


async def test_wallboard_has_the_case_card(client: tuple[Client, Clock]) -> None:
    c, _ = client
    await as_user(c, "sup")
    page = await (await c.get("/wallboard")).text()
    assert 'id="cases-card"' in page and 'src="/static/cases_card.js"' in page
    script = await c.get("/static/cases_card.js")
    assert script.status == 200 and "/api/cases/overdue" in await script.text()
