"""The outbound API on the whole service (fake PBX): roles, bad input → 4xx with the field, campaign
life cycle (start, pause, stop; a stopped campaign stays stopped: 409), contacts import all or nothing,
the do-not-call list, outcome codes on one's own attempts only."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from callcenter.app import Service
from callcenter.config import Secret
from callcenter.domain.outbound import Attempt, AttemptResult
from callcenter.domain.users import Role
from tests.support.ami_server import FakeAmiServer
from tests.webapp.helpers import PASSWORD, login, session_csrf


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[tuple[Service, TestClient[Any, Any]]]:
    async with FakeAmiServer() as pbx:
        settings = dataclasses.replace(
            pbx.settings(),
            database_url=f"sqlite+aiosqlite:///{tmp_path / 'api.db'}",
            session_secret=Secret("outbound-api-secret-0123456789"),
        )
        service = Service(settings)
        async with TestClient(TestServer(service.web_app())) as c:
            await service.accounts.create_user("sam", PASSWORD, Role.SUPERVISOR, "Sam")
            await service.accounts.create_user("ada", PASSWORD, Role.ADMIN, "Ada")
            await service.accounts.create_user("alice", PASSWORD, Role.AGENT, "Alice", agent="1001")
            await service.accounts.create_user("bob", PASSWORD, Role.AGENT, "Bob", agent="1002")
            yield service, c


async def as_user(c: TestClient[Any, Any], name: str) -> dict[str, str]:
    assert (await login(c, name)).status in (302, 303)
    return {"X-CSRF-Token": await session_csrf(c)}


async def test_roles_and_bad_input(client: tuple[Service, TestClient[Any, Any]]) -> None:
    _, c = client
    assert (await c.get("/api/outbound/campaigns")).status == 401
    h = await as_user(c, "alice")
    assert (await c.get("/api/outbound/campaigns", headers=h)).status == 403
    assert (await c.post("/api/outbound/campaigns", json={"name": "x"}, headers=h)).status == 403
    h = await as_user(c, "sam")
    r = await c.post(
        "/api/outbound/campaigns", data=b"{nope", headers={**h, "Content-Type": "application/json"}
    )
    assert r.status == 400
    r = await c.post(
        "/api/outbound/campaigns", json={"name": "a<b>", "queue": "nope", "max_attempts": "x"}, headers=h
    )
    assert r.status == 400
    assert set((await r.json())["fields"]) == {"name", "queue", "max_attempts"}
    assert (await c.get("/api/outbound/campaigns/99999999999", headers=h)).status == 404
    assert (await c.get("/api/outbound/campaigns/42", headers=h)).status == 404


async def test_life_cycle_import_dnc_outcome(client: tuple[Service, TestClient[Any, Any]]) -> None:
    service, c = client
    queue = sorted(service.acd.queues)[0]
    h = await as_user(c, "sam")
    r = await c.post(
        "/api/outbound/campaigns", json={"name": "Renewals", "queue": queue, "mode": "predictive"}, headers=h
    )
    assert r.status == 201, await r.text()
    cid = (await r.json())["campaign"]["id"]
    bad = await c.post(f"/api/outbound/campaigns/{cid}/contacts", data=b"phone,colour\n1,red\n", headers=h)
    assert bad.status == 400 and "unknown column" in (await bad.json())["errors"][0]
    good = await c.post(
        f"/api/outbound/campaigns/{cid}/contacts",
        data=b"phone,name\n2025550101,Ann\n2025550102,Bob\n",
        headers=h,
    )
    assert (await good.json()) == {"rows": 2, "added": 2, "errors": []}
    for action, status in (
        ("start", "running"),
        ("pause", "paused"),
        ("start", "running"),
        ("stop", "stopped"),
    ):
        r = await c.post(f"/api/outbound/campaigns/{cid}/{action}", headers=h)
        assert r.status == 200 and (await r.json())["campaign"]["status"] == status
    assert (await c.post(f"/api/outbound/campaigns/{cid}/start", headers=h)).status == 409
    r = await c.patch(f"/api/outbound/campaigns/{cid}", json={"abandon_cap": 0.5}, headers=h)
    assert r.status == 400 and "abandon_cap" in (await r.json())["fields"]
    detail = await (await c.get(f"/api/outbound/campaigns/{cid}", headers=h)).json()
    assert detail["report"]["contacts"] == {"pending": 2}

    # do not call: agents add (source agent), only admins remove
    ha = await as_user(c, "alice")
    r = await c.post("/api/outbound/dnc", json={"number": "(202) 555-0109", "source": "admin"}, headers=ha)
    assert r.status == 201 and (await r.json())["number"] == "+12025550109"
    assert (await c.post("/api/outbound/dnc", json={"number": "banana"}, headers=ha)).status == 400
    h = await as_user(c, "sam")
    listed = (await (await c.get("/api/outbound/dnc", headers=h)).json())["numbers"]
    assert [(n["number"], n["source"], n["added_by"]) for n in listed] == [("+12025550109", "agent", "alice")]
    assert (await c.delete("/api/outbound/dnc/+12025550109", headers=h)).status == 403
    hd = await as_user(c, "ada")
    assert (await c.delete("/api/outbound/dnc/+12025550109", headers=hd)).status == 200
    assert (await c.delete("/api/outbound/dnc/+12025550109", headers=hd)).status == 404

    # outcome: only on a connected attempt of one's own
    contact = (await service.outbound_store.list_contacts(cid))[0]
    attempt = await service.outbound_store.add_attempt(
        Attempt(0, cid, contact.id, contact.number, 1.0, AttemptResult.CONNECTED, agent="1001", ended_at=2.0)
    )
    hb = await as_user(c, "bob")
    assert (
        await c.post(f"/api/outbound/attempts/{attempt.id}/outcome", json={"code": "done"}, headers=hb)
    ).status == 404
    ha = await as_user(c, "alice")
    r = await c.post(f"/api/outbound/attempts/{attempt.id}/outcome", json={"code": "nope"}, headers=ha)
    assert r.status == 400 and "code" in (await r.json())["fields"]
    r = await c.post(f"/api/outbound/attempts/{attempt.id}/outcome", json={"code": "do_not_call"}, headers=ha)
    assert r.status == 200 and (await r.json())["contact_status"] == "done"
    assert await service.outbound_store.dnc_numbers([contact.number]) == {contact.number}
