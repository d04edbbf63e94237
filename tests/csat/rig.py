"""The whole service in this process against the PBX simulator on real AMI + FastAGI, with queues that
offer the post-call survey, and a webhook receiver that checks signatures."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiohttp import web

from callcenter.app import Service
from callcenter.config import Secret, Settings
from callcenter.domain.notify import verify
from callcenter.domain.surveys import CallSurvey
from callcenter.sim.config import AgentPhoneProfile, CustomerProfile, SimConfig
from callcenter.sim.runner import Simulator
from tests.acd.test_acd_service import eventually

ROOT = Path(__file__).resolve().parents[2]
SECRET = "csat-webhook-secret"

ACD_YAML = """
defaults: {ring_timeout: 15, wrapup: 0, announce: {interval: 0}, music_class: default}
queues:
  support: {strategy: linear, max_wait: 300, missed_call: {pause: false}, survey: survey}
  complaints: {strategy: linear, max_wait: 300, missed_call: {pause: false}, survey: survey}
  plain: {strategy: linear, max_wait: 300, missed_call: {pause: false}}
agents:
  - {id: "1001", name: Agent 1001, endpoint: PJSIP/1001, queues: [support, complaints, plain]}
"""

MAIN_YAML = """
flow: main
start: who
language: en
languages: [en]
nodes:
  who: {type: lookup, next: menu}
  menu:
    type: menu
    prompt: cc-main-menu
    options: {"1": support, "2": complaints, "3": plain}
    timeout: 3
    retries: 1
    fallback: bye
  support: {type: queue, queue: support, on_no_agents: bye}
  complaints: {type: queue, queue: complaints, on_no_agents: bye}
  plain: {type: queue, queue: plain, on_no_agents: bye}
  bye: {type: hangup}
"""


@dataclasses.dataclass
class Rig:
    service: Service
    sim: Simulator
    hooks: list[dict[str, Any]]

    async def surveys(self) -> list[CallSurvey]:
        return list(await self.service.surveys.store.surveys_between(0, 4e9))  # type: ignore[attr-defined]

    async def answered_survey(self, timeout: float = 20.0) -> CallSurvey:
        async def done() -> bool:
            return any(s.answered for s in await self.surveys()) and self.service.ivr.stats.active == 0

        await eventually(done, timeout=timeout)
        return next(s for s in await self.surveys() if s.answered)

    async def sessions_done(self, count: int, timeout: float = 20.0) -> None:
        ivr = self.service.ivr

        await eventually(lambda: ivr.stats.sessions >= count and ivr.stats.active == 0, timeout=timeout)


async def _receiver(hooks: list[dict[str, Any]]) -> tuple[web.AppRunner, int]:
    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        ok = verify(
            SECRET,
            request.headers["X-Callcenter-Timestamp"],
            body,
            request.headers["X-Callcenter-Signature"],
        )
        hooks.append({"event": request.headers["X-Callcenter-Event"], "ok": ok, "body": json.loads(body)})
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, port


@contextlib.asynccontextmanager
async def csat_rig(tmp_path: Path, phones: AgentPhoneProfile, speed: float = 4.0) -> AsyncIterator[Rig]:
    (tmp_path / "acd.yaml").write_text(ACD_YAML, encoding="utf-8")
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "main.yaml").write_text(MAIN_YAML, encoding="utf-8")
    shutil.copyfile(ROOT / "ivr_flows" / "survey.yaml", flows / "survey.yaml")
    shutil.copyfile(ROOT / "ivr_flows" / "sounds.txt", flows / "sounds.txt")
    hooks: list[dict[str, Any]] = []
    receiver, hook_port = await _receiver(hooks)
    sim = Simulator(
        SimConfig(
            ami_port=0,
            mode="agi",
            agi_port=1,  # replaced once the service's FastAGI server listens
            agents=1,
            first_agent=1001,
            agent_tech="PJSIP",
            speed=speed,
            seed=5,
            customers=CustomerProfile(hostile_name_prob=0.0, dtmf_choices=("",)),
            phones=phones,
        )
    )
    await sim.start()
    settings = Settings(
        ami_host="127.0.0.1",
        ami_port=sim.ami_port,
        ami_user=sim.cfg.ami_user,
        ami_secret=Secret(sim.cfg.ami_secret),
        ami_connect_timeout=1.0,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'csat.db'}",
        session_secret=Secret("csat-test-secret-0123456789"),
        http_port=0,
        agi_port=0,
        acd_config=str(tmp_path / "acd.yaml"),
        ivr_flows_dir=str(flows),
        recordings_dir=str(tmp_path / "recordings"),
        webhook_urls=f"http://127.0.0.1:{hook_port}/hook",
        webhook_secret=Secret(SECRET),
    )
    service = Service(settings)
    runner = web.AppRunner(service.web_app(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        assert sim.pbx is not None
        sim.pbx.cfg = dataclasses.replace(sim.pbx.cfg, agi_port=service.fastagi.port)
        await service.link.wait_ready(5)
        await service.acd.login("1001")
        yield Rig(service, sim, hooks)
    finally:
        await sim.stop()
        await runner.cleanup()
        await receiver.cleanup()
        await asyncio.sleep(0)
