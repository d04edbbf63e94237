"""Fixtures of the agent console suite.

``console`` runs the whole ``Service`` (ACD, screen pop, CRM on SQLite, web app) on a fake PBX and gives an
aiohttp test client; ``sim_console`` runs it against the PBX simulator in agi mode (simulator → FastAGI →
IVR → ACD → the agent's phone rings) on a real port, for the browser. Both use a small ACD config
(queue ``support`` with wrap-up until the agent ends it) and a two-choice IVR flow.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from callcenter.app import Service
from callcenter.config import Secret, Settings
from callcenter.domain.users import Role
from callcenter.sim.config import AgentPhoneProfile, CustomerProfile, SimConfig
from callcenter.sim.runner import Simulator
from tests.browser.conftest import browser, page  # noqa: F401 - fixtures
from tests.support.ami_server import FakeAmiServer
from tests.support.sim_agents import AGENT_TECHS, AgentTech, agent_endpoint
from tests.webapp.helpers import PASSWORD

ROOT = Path(__file__).resolve().parents[2]

ACD_YAML = """
defaults: {ring_timeout: 15, wrapup: -1, announce: {interval: 0}, music_class: default}
queues:
  support: {strategy: linear, max_wait: 300}
  sales: {strategy: linear, wrapup: 0}
agents:
  - {id: "1001", name: Agent 1001, endpoint: @1001, queues: [support, sales]}
  - {id: "1002", name: Agent 1002, endpoint: @1002, queues: [support, sales]}
pause_reasons: [break, lunch, missed_call]
"""


CONSOLE_YAML = """
dispositions:
  default: {codes: [resolved, escalated, follow_up_needed], required: true}
  queues:
    sales: {codes: [sale, no_sale], required: false}
"""

FLOW_YAML = """
flow: main
description: console test line
start: identify
language: en
nodes:
  identify: {type: lookup, by: caller, next: main_menu}
  main_menu:
    type: menu
    prompt: cc-main-menu
    options: {"1": sales, "2": support_number}
    timeout: 5
    retries: 2
    fallback: support
  support_number:
    type: collect
    prompt: cc-enter-customer-number
    var: customer_number
    min_length: 1
    max_length: 8
    pattern: "[0-9]+"
    timeout: 4
    retries: 1
    next: support
    fallback: support
  sales: {type: queue, queue: sales, on_no_agents: bye}
  support: {type: queue, queue: support, on_no_agents: bye}
  bye: {type: hangup}
"""


def write_config(
    tmp_path: Path, agent_tech: AgentTech = "PJSIP", acd_yaml: str = ACD_YAML
) -> tuple[Path, Path]:
    conf = tmp_path / "config"
    conf.mkdir()
    acd = re.sub(r"@(\d+)", lambda m: agent_endpoint(agent_tech, m.group(1)), acd_yaml)
    (conf / "acd.yaml").write_text(acd, encoding="utf-8")
    (conf / "console.yaml").write_text(CONSOLE_YAML, encoding="utf-8")
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "main.yaml").write_text(FLOW_YAML, encoding="utf-8")
    shutil.copyfile(ROOT / "ivr_flows" / "sounds.txt", flows / "sounds.txt")
    return conf / "acd.yaml", flows


async def add_users(service: Service) -> None:
    accounts = service.accounts
    await accounts.create_user("alice", PASSWORD, Role.AGENT, "Alice Agent", agent="1001")
    await accounts.create_user("bob", PASSWORD, Role.AGENT, "Bob Agent", agent="1002")
    await accounts.create_user("sam", PASSWORD, Role.SUPERVISOR, "Sam Supervisor")
    await accounts.create_user("quinn", PASSWORD, Role.QA, "Quinn QA")


def service_settings(
    tmp_path: Path, base: Settings, agent_tech: AgentTech = "PJSIP", acd_yaml: str = ACD_YAML
) -> Settings:
    acd, flows = write_config(tmp_path, agent_tech, acd_yaml)
    return dataclasses.replace(
        base,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'console.db'}",
        session_secret=Secret("console-test-secret-0123456789"),
        http_port=0,
        agi_port=0,
        acd_config=str(acd),
        ivr_flows_dir=str(flows),
        acd_wait_slice=0.2,
        recordings_dir=str(tmp_path / "recordings"),
    )


@dataclasses.dataclass
class ConsoleEnv:
    service: Service
    client: TestClient[Any, Any]
    pbx: FakeAmiServer


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[ConsoleEnv]:
    async with FakeAmiServer() as pbx:
        service = Service(service_settings(tmp_path, pbx.settings()))
        async with TestClient(TestServer(service.web_app())) as client:
            await service.link.wait_ready(5)
            await add_users(service)
            yield ConsoleEnv(service, client, pbx)


@dataclasses.dataclass
class SimEnv:
    service: Service
    sim: Simulator
    url: str
    agent_tech: AgentTech = "PJSIP"


@pytest.fixture(params=AGENT_TECHS)
def agent_tech(request: pytest.FixtureRequest) -> AgentTech:
    """Every end-to-end console test runs with both kinds of agent endpoint (pbx-traces fact 30)."""
    tech: AgentTech = request.param
    return tech


@pytest.fixture
async def sim_console(tmp_path: Path, agent_tech: AgentTech) -> AsyncIterator[SimEnv]:
    async with sim_env(tmp_path, agent_tech) as env:
        yield env


@contextlib.asynccontextmanager
async def sim_env(
    tmp_path: Path, agent_tech: AgentTech, *, agents: int = 2, acd_yaml: str = ACD_YAML
) -> AsyncIterator[SimEnv]:
    """The whole service against the simulator (agi mode) with ``agents`` phones from 1001 and
    ``acd_yaml`` as the ACD configuration (``@<ext>`` = that agent's endpoint)."""
    sim = Simulator(
        SimConfig(
            ami_port=0,
            mode="agi",
            agi_port=1,  # replaced below, once the service's FastAGI server listens
            agents=agents,
            first_agent=1001,
            agent_tech=agent_tech,
            speed=1.0,
            seed=5,
            dialplan_events=False,
            customers=CustomerProfile(hostile_name_prob=0.0, dtmf_choices=("",)),
            phones=AgentPhoneProfile(
                ring_min=2.0,
                ring_max=2.0,
                no_answer_prob=0.0,
                busy_prob=0.0,
                talk_min=120.0,
                talk_max=120.0,
                agent_hangs_up_prob=1.0,
                wrapup=0.0,
            ),
        )
    )
    await sim.start()
    base = Settings(
        ami_host="127.0.0.1",
        ami_port=sim.ami_port,
        ami_user=sim.cfg.ami_user,
        ami_secret=Secret(sim.cfg.ami_secret),
        ami_connect_timeout=1.0,
    )
    service = Service(service_settings(tmp_path, base, agent_tech, acd_yaml))
    runner = web.AppRunner(service.web_app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        assert sim.pbx is not None
        sim.pbx.cfg = dataclasses.replace(sim.pbx.cfg, agi_port=service.fastagi.port)
        await service.link.wait_ready(5)
        await add_users(service)
        yield SimEnv(service, sim, f"http://127.0.0.1:{runner.addresses[0][1]}", agent_tech)
    finally:
        await sim.stop()
        await runner.cleanup()
