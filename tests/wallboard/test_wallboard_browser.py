"""The wallboard in Chromium against the whole service and the PBX simulator (agi mode: IVR → ACD).

Simulated calls arrive and are answered by simulated agent phones; the page must update over its
websocket without reloads, and once the traffic is over the numbers it shows must equal the API's
(``GET /api/wallboard``) for the same moment. A screenshot of the busy board goes to
``test-artifacts/wallboard.png``."""

from __future__ import annotations

import asyncio
import dataclasses
import math
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from callcenter.app import Service
from callcenter.config import Secret, Settings
from callcenter.domain.users import Role
from callcenter.sim.config import AgentPhoneProfile, CustomerProfile, SimConfig
from callcenter.sim.pbx import Channel
from callcenter.sim.runner import Simulator
from tests.browser.conftest import browser, page, screenshot_path  # noqa: F401  (fixtures)

ROOT = Path(__file__).resolve().parents[2]

FLOW = """\
flow: main
start: queue
language: en
languages: [en]
nodes:
  queue:
    type: queue
    queue: support
    on_no_agents: bye
  bye:
    type: hangup
"""

ACD = """\
queues:
  support:
    service_level: {threshold: 20, target: 0.8}
    wrapup: 1
    announce: {interval: 0}
    ring_timeout: 10
    missed_call: {pause: false}
  sales:
    service_level: {threshold: 30, target: 0.8}
agents:
  - {id: "1001", name: Ada, endpoint: PJSIP/1001, queues: [support]}
  - {id: "1002", name: Bob, endpoint: PJSIP/1002, queues: [support, sales]}
  - {id: "1003", name: Cy, endpoint: PJSIP/1003, queues: [support]}
"""


@dataclasses.dataclass
class Center:
    service: Service
    url: str
    sim: Simulator


@pytest.fixture
async def center(tmp_path: Path) -> AsyncIterator[Center]:
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "main.yaml").write_text(FLOW)
    (flows / "queues.yaml").write_text("queues: [support, sales]\n")
    shutil.copy(ROOT / "ivr_flows" / "sounds.txt", flows / "sounds.txt")
    (tmp_path / "acd.yaml").write_text(ACD)
    # nobody sets disposition codes here: the 1 s wrap-up must end on its timer (services/wrapup_rule.py)
    (tmp_path / "console.yaml").write_text("dispositions:\n  timed_wrapup_waits: false\n")
    (tmp_path / "wallboard.yaml").write_text("supervisor_phones: {sam: Local/listen@supervisor/n}\n")
    sim = Simulator(
        SimConfig(
            ami_port=0,
            mode="agi",
            agents=3,
            first_agent=1001,
            agent_tech="PJSIP",
            seed=5,
            dialplan_events=True,  # VarSet CC_QUEUE: the tracker learns the queue (manager.conf keeps CC_*)
            customers=CustomerProfile(
                dtmf_choices=("",),
                patience_min=600,
                patience_max=600,
                talk_min=1,
                talk_max=2,
                hostile_name_prob=0.0,
            ),
            phones=AgentPhoneProfile(
                ring_min=0.2,
                ring_max=0.4,
                no_answer_prob=0,
                busy_prob=0,
                talk_min=1,
                talk_max=2,
                agent_hangs_up_prob=1.0,
                wrapup=0.0,
            ),
        )
    )
    await sim.start()
    settings = Settings(
        ami_port=sim.ami_port,
        ami_secret=Secret("callcenter"),
        ami_connect_timeout=1.0,
        ami_reconnect_min=0.02,
        ami_reconnect_max=0.2,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'wb.db'}",
        session_secret=Secret("wallboard-test-secret"),
        http_port=0,
        agi_port=0,
        ivr_flows_dir=str(flows),
        acd_config=str(tmp_path / "acd.yaml"),
        acd_wait_slice=0.1,
    )
    service = Service(settings)
    runner = web.AppRunner(service.web_app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    pbx = sim.pbx
    assert pbx is not None
    original = pbx.agi_runner
    assert original is not None
    agi_port = service.fastagi.port

    async def to_service(chan: Channel, url: str, args: list[str]) -> str:
        return await original(chan, url.replace(":4573/", f":{agi_port}/"), args)

    pbx.agi_runner = to_service
    try:
        await service.link.wait_ready(10)
        for agent in ("1001", "1002", "1003"):
            await service.acd.login(agent)
        yield Center(service, f"http://127.0.0.1:{runner.addresses[0][1]}", sim)
    finally:
        await sim.stop()
        await runner.cleanup()


async def tile(pg: Any, scope: str, kpi: str) -> str:
    return str(await pg.text_content(f'.wb-scope[data-scope="{scope}"] [data-kpi="{kpi}"] .v')).strip()


def pct(v: float | None) -> str:
    return "–" if v is None else f"{v * 100:.1f}%"


def secs(v: float | None) -> str:
    return "–" if v is None else f"{math.floor(v + 0.5)}s"  # JavaScript's Math.round


async def test_wallboard_updates_live_and_matches_the_api(page: Any, center: Center) -> None:  # noqa: F811
    svc = center.service
    await svc.accounts.create_user("sam", "supervisor-pass-1", Role.SUPERVISOR, display_name="Sam")
    await page.goto(f"{center.url}/login?next=/wallboard")
    await page.fill("input[name=username]", "sam")
    await page.fill("input[name=password]", "supervisor-pass-1")
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{center.url}/wallboard")
    await page.wait_for_selector('[data-testid=status]:has-text("live")')
    await page.wait_for_selector('.wb-scope[data-scope="*"] [data-kpi="offered"]')
    assert await tile(page, "*", "offered") == "0"
    navigations: list[str] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url))

    # traffic: 9 calls over ~3 s for 3 agents; the board must move while they are handled
    for n in range(9):
        center.sim.place_call(number=f"55501{n:02d}", name=f"Caller {n}")
        await asyncio.sleep(0.3)
    await page.wait_for_function(
        '() => Number(document.querySelector(\'.wb-scope[data-scope="support"] [data-kpi="answered"] .v\')'
        "?.textContent) >= 3",
        timeout=20_000,
    )
    await page.screenshot(path=screenshot_path("wallboard"), full_page=True)
    # wait for the traffic to be over, then for one more update
    deadline = time.monotonic() + 30
    while svc.tracker.live_calls or svc.kpi.engine.window("support", "today").offered < 9:
        assert time.monotonic() < deadline, "calls did not finish"
        await asyncio.sleep(0.1)
    await asyncio.sleep(2.5)
    api = await (await page.request.get(f"{center.url}/api/wallboard")).json()
    for scope in ("*", "support"):
        w = api["scopes"][scope]["windows"]["today"]
        assert w["offered"] == 9
        shown = {
            k: await tile(page, scope, k)
            for k in ("offered", "answered", "abandoned", "service_level", "asa", "aht", "abandon_rate")
        }
        assert shown == {
            "offered": str(w["offered"]),
            "answered": str(w["answered"]),
            "abandoned": str(w["abandoned"]),
            "service_level": pct(w["service_level"]),
            "asa": secs(w["asa"]),
            "aht": secs(w["aht"]),
            "abandon_rate": pct(w["abandon_rate"]),
        }, scope
    assert api["scopes"]["*"]["windows"]["today"]["answered"] == 9
    # the live figures and the store recomputation agree too
    live = (await (await page.request.get(f"{center.url}/api/kpis?scope=support")).json())["scopes"][
        "support"
    ]
    report = await svc.kpi.report(live_at := svc.kpi._clock())
    assert report["scopes"]["support"]["today"]["answered"] == 9 and live_at > 0
    calls_per_agent = {row["agent"]: row["calls"] for row in api["agents"]}
    assert sum(calls_per_agent.values()) == 9
    assert live["today"]["answered"] == 9
    assert navigations == []  # no reload: everything came over the websocket
    chart_bars = await page.locator("#wb-chart svg g[data-start]").count()
    assert chart_bars >= 1
