"""Wallboard and supervisor HTTP API: roles, the snapshot, the websocket, monitoring, state changes, audit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import WSServerHandshakeError
from aiohttp.test_utils import TestClient, TestServer

from callcenter.config import Secret, Settings
from callcenter.domain.acd import AcdConfig, AgentState
from callcenter.domain.audit import AuditEntry
from callcenter.domain.users import Role
from callcenter.services.accounts import Accounts
from callcenter.services.acd import AcdService
from callcenter.services.kpi import KpiService
from callcenter.services.kpi_config import KpiConfig
from callcenter.services.supervisor import SupervisorService
from callcenter.state.bus import InProcessBus
from callcenter.state.memory import MemoryAcdState
from callcenter.webapp import create_web_app, openapi, views_acd, views_supervisor, views_wallboard
from callcenter.webapp.hub import HUB
from tests.acd.fakes import FAST, FakeLog, FakePbx, agents, queue
from tests.webapp.fakes import FakeCrmStore
from tests.webapp.helpers import PASSWORD, SECRET

Client = TestClient[Any, Any]


class MemoryAudit:
    def __init__(self) -> None:
        self.rows: list[AuditEntry] = []

    async def save_audit(self, entry: AuditEntry) -> int:
        self.rows.append(entry)
        return len(self.rows)

    async def list_audit(
        self, since: float | None = None, actor: str | None = None, limit: int = 200
    ) -> list[AuditEntry]:
        rows = [
            r for r in self.rows if (since is None or r.at >= since) and (actor is None or r.actor == actor)
        ]
        return list(reversed(rows))[:limit]


class Env:
    def __init__(
        self,
        client: Client,
        tokens: dict[str, str],
        acd: AcdService,
        kpi: KpiService,
        pbx: FakePbx,
        audit: MemoryAudit,
    ) -> None:
        self.client, self.tokens, self.acd, self.kpi, self.pbx, self.audit = (
            client,
            tokens,
            acd,
            kpi,
            pbx,
            audit,
        )

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    store = FakeCrmStore()
    accounts = Accounts(store, time_cost=1, memory_cost=8, parallelism=1)

    async def health() -> dict[str, Any]:
        return {"status": "ok"}

    app = create_web_app(
        Settings(session_secret=Secret(SECRET)), store=store, accounts=accounts, health=health
    )
    acd = AcdService(MemoryAcdState(), InProcessBus(), transitions=FakeLog(), options=FAST)
    await acd.start(AcdConfig(queues=(queue(), queue("sales")), agents=tuple(agents(3))))
    config = KpiConfig(publish_interval=0.05, supervisor_phones={"sup": "PJSIP/2001"})
    kpi = KpiService(acd, config=config)
    kpi.attach(views_wallboard.HubBroadcaster(app[HUB]))
    pbx = FakePbx()
    audit = MemoryAudit()
    supervisor = SupervisorService(
        acd,
        pbx=pbx,
        audit=audit,
        config=config,
        channel_of=lambda a: "PJSIP/1001-0000002a" if a == "1001" else None,
    )
    app[views_acd.ACD] = acd
    app[views_wallboard.KPI] = kpi
    app[views_supervisor.SUPERVISOR] = supervisor
    tokens = {}
    for name, role, agent in (
        ("admin", Role.ADMIN, None),
        ("sup", Role.SUPERVISOR, None),
        ("qa", Role.QA, None),
        ("alice", Role.AGENT, "1001"),
    ):
        user = await accounts.create_user(name, PASSWORD, role, name, agent=agent)
        tokens[name] = await accounts.issue_api_token(user.id)
    await kpi.start()
    async with TestClient(TestServer(app)) as client:
        yield Env(client, tokens, acd, kpi, pbx, audit)
    await kpi.close()
    await acd.close()


async def test_roles_and_snapshot(env: Env) -> None:
    c = env.client
    assert (await c.get("/api/wallboard", headers=env.auth("alice"))).status == 403
    assert (await c.get("/api/wallboard")).status == 401
    r = await c.get("/api/wallboard", headers=env.auth("sup"))
    assert r.status == 200
    snap = await r.json()
    assert set(snap["scopes"]) == {"*", "support", "sales"}
    assert snap["scopes"]["support"]["service_level"]["label"] == "≤20s / answered"
    assert {a["agent"] for a in snap["agents"]} == {"1001", "1002", "1003"}
    r = await c.get("/api/kpis?scope=support", headers=env.auth("qa"))
    assert set((await r.json())["scopes"]) == {"support"}
    page = await c.get("/wallboard", headers=env.auth("sup"))
    assert page.status == 200 and "/static/wallboard.js" in await page.text()


async def test_websocket_snapshot_then_coalesced_updates(env: Env) -> None:
    ws = await env.client.ws_connect("/ws/wallboard", headers=env.auth("sup"))
    first = await ws.receive_json(timeout=5)
    assert first["type"] == "snapshot"
    for agent in ("1001", "1002"):
        await env.acd.login(agent)
        await env.acd.pause(agent, "break")
    update = await ws.receive_json(timeout=5)
    assert update["type"] == "update"
    changed = {a["agent"]: a for a in update["agents"]}
    assert changed["1001"]["state"] in ("available", "paused")
    # four state changes, one message: coalesced (then maybe one more for the rest)
    states = {a["agent"]: a["state"] for a in update["agents"]}
    if states.get("1002") != "paused":
        update = await ws.receive_json(timeout=5)
        states.update({a["agent"]: a["state"] for a in update["agents"]})
    assert (states["1001"], states["1002"]) == ("paused", "paused")
    assert update["since"] <= update["at"]
    await ws.close()
    with pytest.raises(WSServerHandshakeError) as refused:  # agents may not watch the wallboard
        await env.client.ws_connect("/ws/wallboard", headers=env.auth("alice"))
    assert refused.value.status == 403


async def test_monitor_and_state_changes_are_audited(env: Env) -> None:
    c = env.client
    await env.acd.login("1001")
    await env.acd.login("1002")
    # 1001 has a live channel (the tracker): ChanSpy on it, to the supervisor's configured phone
    r = await c.post("/api/supervisor/agents/1001/monitor", json={"mode": "whisper"}, headers=env.auth("sup"))
    assert r.status == 200, await r.text()
    sent = env.pbx.originated[-1]
    assert sent.channel == "PJSIP/2001"
    assert sent.kwargs["application"] == "ChanSpy" and sent.kwargs["data"] == "PJSIP/1001-0000002a,qEw"
    r = await c.post("/api/supervisor/agents/1001/monitor", json={"mode": "barge"}, headers=env.auth("sup"))
    assert env.pbx.originated[-1].kwargs["data"].endswith(",qEB")
    # 1002 is not on a call: refused, and the refusal is audited too
    r = await c.post("/api/supervisor/agents/1002/monitor", json={"mode": "listen"}, headers=env.auth("sup"))
    assert r.status == 409
    # the admin has no configured phone: must give one, and it must look like one
    r = await c.post(
        "/api/supervisor/agents/1001/monitor",
        json={"mode": "listen", "phone": "x;rm"},
        headers=env.auth("admin"),
    )
    assert r.status == 409
    r = await c.post(
        "/api/supervisor/agents/1001/monitor",
        json={"mode": "listen", "phone": "PJSIP/2009"},
        headers=env.auth("admin"),
    )
    assert r.status == 200 and env.pbx.originated[-1].kwargs["data"] == "PJSIP/1001-0000002a,qE"
    assert (
        await c.post("/api/supervisor/agents/1001/monitor", json={"mode": "x"}, headers=env.auth("sup"))
    ).status == 400
    assert (
        await c.post("/api/supervisor/agents/1001/monitor", json={}, headers=env.auth("alice"))
    ).status == 403
    # agent states through the ACD
    r = await c.post(
        "/api/supervisor/agents/1002/state",
        json={"action": "pause", "reason": "training"},
        headers=env.auth("sup"),
    )
    assert (await r.json())["state"] == "paused"
    status = await env.acd.state.get_agent("1002")
    assert status is not None and status.state is AgentState.PAUSED
    # forcing a state needs a reason: refused (and audited) without one
    r = await c.post("/api/supervisor/agents/1002/state", json={"action": "unpause"}, headers=env.auth("sup"))
    assert r.status == 400 and "reason is required" in (await r.json())["error"]
    r = await c.post(
        "/api/supervisor/agents/1002/state",
        json={"action": "unpause", "reason": "queue spike"},
        headers=env.auth("sup"),
    )
    assert (await r.json())["state"] == "available"
    r = await c.post(
        "/api/supervisor/agents/1002/state",
        json={"action": "logout", "reason": "shift over"},
        headers=env.auth("sup"),
    )
    assert (await r.json())["state"] == "logged_out"
    # the grid's reason: the last forced state per agent, with who and why
    forced = (await (await c.get("/api/supervisor/monitors", headers=env.auth("sup"))).json())["forced"]
    assert {k: forced["1002"][k] for k in ("action", "reason", "by")} == {
        "action": "logout",
        "reason": "shift over",
        "by": "sup",
    }
    r = await c.post(
        "/api/supervisor/agents/9999/state", json={"action": "logout", "reason": "x"}, headers=env.auth("sup")
    )
    assert r.status == 404
    # the audit log: every action, newest first; agents and QA may not read it
    assert (await c.get("/api/audit", headers=env.auth("alice"))).status == 403
    entries = (await (await c.get("/api/audit", headers=env.auth("admin"))).json())["entries"]
    actions = [(e["actor"], e["action"], e["target"], e["ok"]) for e in reversed(entries)]
    assert actions == [
        ("sup", "monitor.whisper", "1001", True),
        ("sup", "monitor.barge", "1001", True),
        ("sup", "monitor.listen", "1002", False),
        ("admin", "monitor.listen", "1001", False),
        ("admin", "monitor.listen", "1001", True),
        ("sup", "agent.pause", "1002", True),
        ("sup", "agent.unpause", "1002", False),
        ("sup", "agent.unpause", "1002", True),
        ("sup", "agent.logout", "1002", True),
        ("sup", "agent.logout", "9999", False),
    ]
    assert entries[-1]["detail"]["phone"] == "PJSIP/2001"
    await env.acd.flush_log()
    transitions = [t for t in env.acd.transitions.rows if t.agent == "1002"]  # type: ignore[union-attr]
    assert transitions[-1].by == "supervisor:sup"


def test_every_route_is_documented(env: Env) -> None:
    doc = openapi.document(env.client.app)
    for path in (
        "/api/wallboard",
        "/api/kpis",
        "/api/kpis/report",
        "/api/audit",
        "/api/supervisor/agents/{agent}/monitor",
        "/api/supervisor/agents/{agent}/state",
    ):
        assert path in doc["paths"], path
