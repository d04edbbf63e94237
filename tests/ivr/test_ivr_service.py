"""The IVR inside the composed service (app.py): FastAGI as a cleanup_ctx with a readiness signal, flows
validated at start, reload by admin API and SIGHUP keeping the last good version, recorded paths in the
``ivr_sessions`` table shown in ``GET /api/calls/{id}``; driven by the simulator in agi mode."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shutil
import signal
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from callcenter.app import Service
from callcenter.config import Secret, Settings
from callcenter.domain.calls import CallOutcome, CallQuery
from callcenter.domain.errors import ConfigError
from callcenter.domain.users import Role
from callcenter.services.accounts import Accounts
from callcenter.sim.config import AgentPhoneProfile, SimConfig
from callcenter.sim.runner import Simulator
from tests.ivr.harness import FLOWS_DIR, OPEN, Clock

VIP = "2025500001"


async def until(predicate: Callable[[], bool], within: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


@dataclasses.dataclass
class Env:
    service: Service
    sim: Simulator
    client: TestClient[Any, Any]
    flows: Path
    admin: dict[str, str]
    agent: dict[str, str]


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    flows = tmp_path / "flows"
    shutil.copytree(FLOWS_DIR, flows)
    sim = Simulator(
        SimConfig(
            ami_port=0,
            mode="agi",
            agents=2,
            agent_tech="Local",
            speed=40.0,
            dialplan_events=True,
            phones=AgentPhoneProfile(no_answer_prob=0.0, busy_prob=0.0),
        )
    )
    await sim.start()
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/cc.db",
        ami_port=sim.ami_port,
        agi_port=0,
        ivr_flows_dir=str(flows),
        session_secret=Secret("test-session-secret-0123456789abcdef"),
        store_flush_interval=0.05,
    )
    service = Service(settings)
    service.accounts = Accounts(service.store, time_cost=1, memory_cost=8, parallelism=1)
    service.ivr.clock = Clock(OPEN)
    try:
        async with TestClient(TestServer(service.web_app())) as client:
            await service.link.wait_ready(5)
            assert sim.pbx is not None
            sim.pbx.cfg = dataclasses.replace(sim.pbx.cfg, agi_port=service.fastagi.port)
            admin = await service.accounts.create_user("root", "correct-horse-battery", Role.ADMIN)
            agent = await service.accounts.create_user(
                "al", "correct-horse-battery", Role.AGENT, agent="1001"
            )
            tokens = [await service.accounts.issue_api_token(u.id) for u in (admin, agent)]
            await service.store.add_customer("Vera Important", [(VIP, "mobile")], segment="vip")
            yield Env(
                service,
                sim,
                client,
                flows,
                {"Authorization": f"Bearer {tokens[0]}"},
                {"Authorization": f"Bearer {tokens[1]}"},
            )
    finally:
        await sim.stop()


async def test_readiness_and_health(env: Env) -> None:
    assert env.service.ivr_ready.is_set()
    health = await env.service.health()
    assert health["ivr"]["ready"] and health["ivr"]["fastagi"]["state"] == "listening"
    assert health["ivr"]["flows"]["flows"] == ["after_hours", "main", "survey"]
    metrics = env.service.metrics()
    assert metrics["callcenter_fastagi_sessions_active"] == 0.0


async def test_call_path_is_stored_and_shown_in_the_call(env: Env) -> None:
    service = env.service
    env.sim.place_call(number=VIP, name="Vera", script="1;4;1", patience=600, talk=1)
    await until(lambda: service.ivr_recorder.written >= 1)
    page = None

    async def ended() -> bool:
        nonlocal page
        page = await service.store.list_calls(CallQuery())
        return bool(page.calls) and page.calls[0].outcome is not CallOutcome.IN_PROGRESS

    for _ in range(200):
        if await ended():
            break
        await asyncio.sleep(0.05)
    assert page is not None and page.calls
    call_id = page.calls[0].call_id
    resp = await env.client.get(f"/api/calls/{call_id}", headers=env.admin)
    assert resp.status == 200
    body = await resp.json()
    (ivr,) = body["ivr"]
    assert ivr["call_id"] == call_id and ivr["flow"] == "main"
    assert ivr["vip"] and ivr["customer_id"] is not None
    nodes = [s["node"] for s in ivr["path"]]
    assert nodes[:5] == ["greeting", "choose_language", "identify", "vip_check", "vip_welcome"]
    assert nodes[7:9] == ["main_menu", "complaints"]
    # what follows depends on the ACD wired in (no agents logged in): its fallback or the flow's
    assert ivr["route_outcome"] == "no_agents" and ivr["outcome"] in ("callback", "voicemail")
    # the tracker saw the IVR's VarSets: the queue and the menu choices are on the call record
    assert body["queue"] == "complaints"


async def test_reload_by_admin_api_keeps_the_last_good_version(env: Env) -> None:
    client = env.client
    assert (await client.post("/api/admin/ivr/reload")).status == 401
    assert (await client.post("/api/admin/ivr/reload", headers=env.agent)).status == 403
    resp = await client.post("/api/admin/ivr/reload", headers=env.admin)
    assert resp.status == 200 and (await resp.json())["flows"] == ["after_hours", "main", "survey"]
    good = env.service.ivr_flows.current
    main = env.flows / "main.yaml"
    main.write_text(
        main.read_text().replace("queue: sales", "queue: nope").replace("type: play", "type: plya", 1)
    )
    resp = await client.post("/api/admin/ivr/reload", headers=env.admin)
    assert resp.status == 422
    report = await resp.json()
    assert not report["ok"] and report["flows"] == ["after_hours", "main", "survey"]
    assert any(p.startswith(f"{main}:") and "unknown node type 'plya'" in p for p in report["problems"])
    assert env.service.ivr_flows.current is good
    status = await (await client.get("/api/admin/ivr", headers=env.admin)).json()
    assert status["flows"]["rejected"] == 1 and status["fastagi"]["state"] == "listening"
    # calls still run on the last good flows
    env.sim.place_call(number="2025509999", name="X", script="cc-welcome:h", patience=60, talk=1)
    await until(lambda: env.service.ivr.stats.sessions >= 1)
    await until(lambda: env.service.ivr.stats.active == 0)
    assert env.service.ivr.stats.outcomes == {"abandoned": 1}


async def test_sighup_reloads(env: Env) -> None:
    before = env.service.ivr_flows.reloads
    os.kill(os.getpid(), signal.SIGHUP)
    await until(lambda: env.service.ivr_flows.reloads == before + 1)


async def test_service_refuses_to_start_with_bad_flows(tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    shutil.copytree(FLOWS_DIR, flows)
    (flows / "after_hours.yaml").write_text(
        (FLOWS_DIR / "after_hours.yaml").read_text().replace("next: done", "next: gone")
    )
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/cc.db",
        ami_port=1,
        agi_port=0,
        ivr_flows_dir=str(flows),
        session_secret=Secret("test-session-secret-0123456789abcdef"),
    )
    service = Service(settings)
    server = TestServer(service.web_app())
    try:
        with pytest.raises(
            ConfigError, match=r"after_hours.yaml:\d+: node '.*': next → 'gone' does not exist"
        ):
            await server.start_server()
    finally:
        await server.close()
