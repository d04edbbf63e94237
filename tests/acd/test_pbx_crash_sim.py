"""Issue 12 end to end: the whole service against the simulator, which is killed (kill -9: EOF on AMI and
every FastAGI socket, no Hangup, no reply; fact 34) while two callers talk to agents and a third waits,
then started again with no channels. The agents must be released (wrap-up, then available) within
10 s of the PBX coming back, and the next call is routed."""

from __future__ import annotations

import dataclasses
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from callcenter.app import Service
from callcenter.config import Secret, Settings
from callcenter.domain.acd import AgentState
from callcenter.sim.config import AgentPhoneProfile, CustomerProfile, SimConfig
from callcenter.sim.runner import Simulator
from tests.acd.test_acd_service import eventually

ROOT = Path(__file__).resolve().parents[2]

ACD_YAML = """
defaults: {ring_timeout: 15, wrapup: 1, announce: {interval: 30}, music_class: default}
queues:
  support: {strategy: linear, max_wait: 300, missed_call: {pause: false}}
agents:
  - {id: "1001", name: Agent 1001, endpoint: PJSIP/1001, queues: [support]}
  - {id: "1002", name: Agent 1002, endpoint: PJSIP/1002, queues: [support]}
"""

FLOW_YAML = """
flow: main
start: support
language: en
nodes:
  support: {type: queue, queue: support, on_no_agents: bye}
  bye: {type: hangup}
"""


@dataclasses.dataclass
class Env:
    service: Service
    sim: Simulator


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    (tmp_path / "acd.yaml").write_text(ACD_YAML, encoding="utf-8")
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "main.yaml").write_text(FLOW_YAML, encoding="utf-8")
    shutil.copyfile(ROOT / "ivr_flows" / "sounds.txt", flows / "sounds.txt")
    sim = Simulator(
        SimConfig(
            ami_port=0,
            mode="agi",
            agi_port=1,  # replaced once the service's FastAGI server listens
            agents=2,
            first_agent=1001,
            agent_tech="PJSIP",
            speed=1.0,
            seed=3,
            customers=CustomerProfile(hostile_name_prob=0.0, dtmf_choices=("",)),
            phones=AgentPhoneProfile(
                ring_min=0.2,
                ring_max=0.2,
                no_answer_prob=0.0,
                busy_prob=0.0,
                talk_min=600.0,
                talk_max=600.0,
                wrapup=0.0,
            ),
        )
    )
    await sim.start()
    settings = Settings(
        ami_host="127.0.0.1",
        ami_port=sim.ami_port,
        ami_user=sim.cfg.ami_user,
        ami_secret=Secret(sim.cfg.ami_secret),
        ami_connect_timeout=1.0,
        ami_reconnect_min=0.2,
        ami_reconnect_max=0.5,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'crash.db'}",
        session_secret=Secret("crash-test-secret-0123456789"),
        http_port=0,
        agi_port=0,
        acd_config=str(tmp_path / "acd.yaml"),
        ivr_flows_dir=str(flows),
        recordings_dir=str(tmp_path / "recordings"),
    )
    service = Service(settings)
    runner = web.AppRunner(service.web_app(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        assert sim.pbx is not None
        sim.pbx.cfg = dataclasses.replace(sim.pbx.cfg, agi_port=service.fastagi.port)
        await service.link.wait_ready(5)
        yield Env(service, sim)
    finally:
        await sim.stop()
        await runner.cleanup()


async def _state(service: Service, agent: str) -> AgentState:
    status = await service.acd.state.get_agent(agent)
    assert status is not None
    return status.state


async def _all(service: Service, state: AgentState) -> bool:
    return all([await _state(service, a) is state for a in ("1001", "1002")])


async def test_pbx_killed_mid_call_agents_released_within_10s_of_its_return(env: Env) -> None:
    service, sim = env.service, env.sim
    for agent in ("1001", "1002"):
        await service.acd.login(agent)
    sim.place_call(number="5550001", patience=600.0, talk=600.0)
    sim.place_call(number="5550002", patience=600.0, talk=600.0)
    await eventually(lambda: _all(service, AgentState.ON_CALL), timeout=10.0)
    sim.place_call(number="5550003", patience=600.0, talk=600.0)  # waits: both agents talk
    await eventually(lambda: _waiting(service, 1), timeout=10.0)
    await sim.crash()  # kill -9: no Hangup will ever come for these calls
    await eventually(lambda: not service.link.connected, timeout=10.0)
    assert await _state(service, "1001") is AgentState.ON_CALL  # nothing told the ACD otherwise
    await sim.restart(delay=0.2)
    await service.link.wait_ready(10)
    back = time.monotonic()
    await eventually(lambda: _all(service, AgentState.AVAILABLE), timeout=10.0)
    assert time.monotonic() - back < 10.0
    assert await service.acd.state.entries() == []  # the waiter's session died with the PBX
    assert service.acd.stats["reconcile_agents_released"] == 2
    await service.acd.flush_log()
    # a new call after the restart reaches an agent
    assert sim.pbx is not None
    sim.pbx.cfg = dataclasses.replace(sim.pbx.cfg, agi_port=service.fastagi.port)
    sim.place_call(number="5550004", patience=600.0, talk=600.0)
    await eventually(lambda: _any_on_call(service), timeout=10.0)


async def _waiting(service: Service, n: int) -> bool:
    return len(await service.acd.state.waiting("support")) == n


async def _any_on_call(service: Service) -> bool:
    return any([await _state(service, a) is AgentState.ON_CALL for a in ("1001", "1002")])
