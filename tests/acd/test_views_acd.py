"""The ``/api/acd/...`` control API: roles, CSRF on session POSTs, bearer tokens, status codes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from callcenter.config import Secret, Settings
from callcenter.domain.acd import AcdConfig
from callcenter.domain.users import Role
from callcenter.services.accounts import Accounts
from callcenter.services.acd import AcdService
from callcenter.state.bus import InProcessBus
from callcenter.state.memory import MemoryAcdState
from callcenter.webapp import create_web_app, views_acd
from tests.acd.fakes import FAST, FakeLog, agents, queue
from tests.webapp.fakes import FakeCrmStore
from tests.webapp.helpers import PASSWORD, SECRET, login, session_csrf

Client = TestClient[Any, Any]


@pytest.fixture
async def env() -> AsyncIterator[tuple[Client, dict[str, str], AcdService]]:
    store = FakeCrmStore()
    accounts = Accounts(store, time_cost=1, memory_cost=8, parallelism=1)

    async def health() -> dict[str, Any]:
        return {"status": "ok"}

    app = create_web_app(
        Settings(session_secret=Secret(SECRET)), store=store, accounts=accounts, health=health
    )
    acd = AcdService(MemoryAcdState(), InProcessBus(), transitions=FakeLog(), options=FAST)
    await acd.start(AcdConfig(queues=(queue(),), agents=tuple(agents(2))))
    app[views_acd.ACD] = acd
    app[views_acd.ACD_LOG] = acd.transitions  # type: ignore[assignment]
    tokens = {}
    for name, role, agent in (
        ("admin", Role.ADMIN, None),
        ("sup", Role.SUPERVISOR, None),
        ("alice", Role.AGENT, "1001"),
        ("bob", Role.AGENT, "1002"),
    ):
        user = await accounts.create_user(name, PASSWORD, role, name, agent=agent)
        tokens[name] = await accounts.issue_api_token(user.id)
    async with TestClient(TestServer(app)) as client:
        yield client, tokens, acd
    await acd.close()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_agent_controls_own_state_with_bearer_token(
    env: tuple[Client, dict[str, str], AcdService],
) -> None:
    client, tokens, acd = env
    alice = bearer(tokens["alice"])
    resp = await client.post("/api/acd/agents/1001/login", headers=alice)
    assert resp.status == 200 and (await resp.json())["state"] == "available"
    resp = await client.post("/api/acd/agents/1001/pause", headers=alice, json={"reason": "lunch"})
    body = await resp.json()
    assert resp.status == 200 and body["state"] == "paused" and body["reason"] == "lunch"
    assert (
        await client.post("/api/acd/agents/1001/pause", headers=alice, json={"reason": "nap"})
    ).status == 409
    assert (await client.post("/api/acd/agents/1001/pause", headers=alice, json={})).status == 400
    assert (await client.post("/api/acd/agents/1001/unpause", headers=alice)).status == 200
    assert (await client.post("/api/acd/agents/1002/login", headers=alice)).status == 404  # not hers
    assert (await client.get("/api/acd/agents", headers=alice)).status == 403
    me = await (await client.get("/api/acd/me", headers=alice)).json()
    assert me["id"] == "1001" and me["state"] == "available"
    await acd.flush_log()
    resp = await client.get("/api/acd/agents/1001/transitions", headers=alice)
    states = [t["to"] for t in (await resp.json())["transitions"]]
    assert states == ["available", "paused", "available"]
    assert (await client.post("/api/acd/agents/1001/login")).status == 401


async def test_supervisor_session_needs_csrf(env: tuple[Client, dict[str, str], AcdService]) -> None:
    client, _tokens, _acd = env
    assert (await login(client, "sup")).status in (302, 303)
    assert (await client.post("/api/acd/agents/1002/login")).status == 403  # no CSRF token
    csrf = await session_csrf(client)
    resp = await client.post("/api/acd/agents/1002/login", headers={"X-CSRF-Token": csrf})
    assert resp.status == 200
    resp = await client.post("/api/acd/agents/1002/logout", headers={"X-CSRF-Token": csrf})
    assert (await resp.json())["state"] == "logged_out"
    agents_list = (await (await client.get("/api/acd/agents")).json())["agents"]
    assert [a["id"] for a in agents_list] == ["1001", "1002"]
    assert (await client.put("/api/acd/queues/x", json={}, headers={"X-CSRF-Token": csrf})).status == 403


async def test_queue_status_and_admin(env: tuple[Client, dict[str, str], AcdService]) -> None:
    client, tokens, acd = env
    admin = bearer(tokens["admin"])
    status = await (await client.get("/api/acd/queues/support", headers=bearer(tokens["bob"]))).json()
    assert (
        status["name"] == "support" and status["waiting"] == 0 and status["config"]["strategy"] == "rrmemory"
    )
    assert (await client.get("/api/acd/queues/nope", headers=admin)).status == 404
    resp = await client.put(
        "/api/acd/queues/sales", headers=admin, json={"strategy": "linear", "max_wait": 60}
    )
    assert resp.status == 200 and acd.has_queue("sales")
    resp = await client.put("/api/acd/queues/bad", headers=admin, json={"strategy": "best"})
    assert resp.status == 400 and "strategy" in (await resp.json())["error"]
    resp = await client.put("/api/acd/agents/3001", headers=admin, json={"queues": {"sales": 0}})
    assert resp.status == 200 and (await resp.json())["endpoint"] == "PJSIP/3001"
    assert (await client.put("/api/acd/agents/3002", headers=admin, json={"queues": ["gone"]})).status == 400
    names = [q["name"] for q in (await (await client.get("/api/acd/queues", headers=admin)).json())["queues"]]
    assert names == ["sales", "support"]
    assert (await client.delete("/api/acd/agents/3001", headers=admin)).status == 200
    assert (await client.delete("/api/acd/queues/sales", headers=admin)).status == 200
    assert (await client.delete("/api/acd/queues/sales", headers=admin)).status == 404
