"""Fixtures of the outbound dialer suite: the whole ``Service`` against the PBX simulator over real AMI
and FastAGI (the simulator's outbound customers: ``sim/outbound.py``), agents 1001-1002 in queue
``support``, customers whose behaviour is pinned by number."""

from __future__ import annotations

import contextlib
import dataclasses
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from callcenter.app import Service
from callcenter.config import Secret, Settings
from callcenter.domain.users import Role
from callcenter.services.campaigns import Actor
from callcenter.sim.config import AgentPhoneProfile, OutboundProfile, SimConfig
from callcenter.sim.runner import Simulator
from tests.support.sim_agents import AGENT_TECHS, AgentTech, agent_endpoint

ACD_YAML = """
defaults: {ring_timeout: 15, wrapup: 0, announce: {interval: 0}, music_class: default}
queues:
  support: {strategy: linear, max_wait: 300}
agents:
  - {id: "1001", name: Agent 1001, endpoint: @1001, queues: [support]}
  - {id: "1002", name: Agent 1002, endpoint: @1002, queues: [support]}
pause_reasons: [break, lunch, missed_call]
"""

HUMAN, BUSY, NO_ANSWER, MACHINE, FAILED, ON_DNC, HANG_UP = (
    "+12025550104",
    "+12025550101",
    "+12025550103",
    "+12025550105",
    "+12025550102",
    "+12025550109",
    "+12025550106",
)
FIXED = (
    (HUMAN, "human"),
    (BUSY, "busy"),
    (NO_ANSWER, "no_answer"),
    (MACHINE, "machine"),
    (FAILED, "failed"),
    (ON_DNC, "human"),
    (HANG_UP, "hangup"),  # answered, hung up at once: never reaches FastAGI (fact 37)
)
SUPERVISOR = Actor("sam", Role.SUPERVISOR)
ALL_DAY = {"hours_start": "00:00", "hours_end": "23:59", "days": "mon,tue,wed,thu,fri,sat,sun"}
NO_RETRY_SOON = {"no_answer": 86400, "busy": 86400, "machine": 86400, "failed": 86400, "abandoned": 86400}


@dataclasses.dataclass
class OutboundEnv:
    service: Service
    sim: Simulator
    url: str


@pytest.fixture(params=AGENT_TECHS)
def agent_tech(request: pytest.FixtureRequest) -> AgentTech:
    tech: AgentTech = request.param
    return tech


def settings_for(tmp_path: Path, sim: Simulator, agent_tech: AgentTech) -> Settings:
    conf = tmp_path / "config"
    conf.mkdir()
    acd = re.sub(r"@(\d+)", lambda m: agent_endpoint(agent_tech, m.group(1)), ACD_YAML)
    (conf / "acd.yaml").write_text(acd, encoding="utf-8")
    return Settings(
        ami_host="127.0.0.1",
        ami_port=sim.ami_port,
        ami_user=sim.cfg.ami_user,
        ami_secret=Secret(sim.cfg.ami_secret),
        ami_connect_timeout=1.0,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'outbound.db'}",
        session_secret=Secret("outbound-test-secret-0123456789"),
        http_port=0,
        agi_port=0,
        acd_config=str(conf / "acd.yaml"),
        acd_wait_slice=0.2,
        dialer_tick=0.2,
        recordings_dir=str(tmp_path / "recordings"),
    )


def sim_config(agent_tech: AgentTech, **outbound: Any) -> SimConfig:
    values: dict[str, Any] = {
        "fixed": FIXED,
        "ring_min": 1.0,
        "ring_max": 1.0,
        "talk_min": 3.0,
        "talk_max": 3.0,
        "amd_error": 0.0,
        **outbound,
    }
    profile = OutboundProfile(**values)
    return SimConfig(
        ami_port=0,
        mode="agi",
        agi_port=1,  # replaced once the service's FastAGI server listens
        agents=2,
        first_agent=1001,
        agent_tech=agent_tech,
        speed=2.0,
        seed=7,
        dialplan_events=False,
        outbound=profile,
        phones=AgentPhoneProfile(
            ring_min=1.0,
            ring_max=1.0,
            no_answer_prob=0.0,
            busy_prob=0.0,
            talk_min=600.0,
            talk_max=600.0,
            agent_hangs_up_prob=0.0,
            wrapup=0.0,
        ),
    )


@pytest.fixture
def make_env(tmp_path: Path) -> Callable[[SimConfig], Any]:
    """``async with make_env(cfg) as env``: the simulator and the service on loopback."""

    @contextlib.asynccontextmanager
    async def make(cfg: SimConfig) -> AsyncIterator[OutboundEnv]:
        sim = Simulator(cfg)
        await sim.start()
        service = Service(settings_for(tmp_path, sim, cfg.agent_tech))
        runner = web.AppRunner(service.web_app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        try:
            assert sim.pbx is not None
            sim.pbx.cfg = dataclasses.replace(sim.pbx.cfg, agi_port=service.fastagi.port)
            await service.link.wait_ready(5)
            yield OutboundEnv(service, sim, f"http://127.0.0.1:{runner.addresses[0][1]}")
        finally:
            await sim.stop()
            await runner.cleanup()

    return make
