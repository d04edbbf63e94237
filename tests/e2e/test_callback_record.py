"""A callback is one call record (issue 13: "109 calls stored twice": the caller as ``unanswered`` plus
an ``answered`` row with an empty caller number). The simulated PBX plays Asterisk; the service runs
whole (FastAGI IVR, ACD with ``callback`` on, tracker, recorder, SQLite): callers press 1 while they
wait, hang up, and the ACD's Originate calls the agent first (``CC_CALLID`` = the waiting call), then
the customer. Each caller must be one row, with its number, answered by the callback."""

from __future__ import annotations

import asyncio
import socket
import sqlite3
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from aiohttp import web

from callcenter.app import Service
from callcenter.config import Secret, Settings
from callcenter.sim.config import AgentPhoneProfile, CustomerProfile, SimConfig
from callcenter.sim.pbx import CallStat
from callcenter.sim.runner import Simulator

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.faults, pytest.mark.timeout(90)]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _until(cond: Callable[[], bool], within: float = 40.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not cond():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


def _center(tmp: Path) -> tuple[Path, Path]:
    acd = tmp / "acd.yaml"
    acd.write_text(
        "defaults: {ring_timeout: 20, wrapup: 0, announce: {interval: 0}}\n"
        "queues:\n"
        "  support: {strategy: rrmemory, max_wait: 600, fallback: voicemail, overflow: voicemail,"
        " missed_call: {pause: false}, callback: {enabled: true, digit: '1', context: outbound}}\n"
        "agents:\n"
        '  - {id: "1001", name: Agent 1001, endpoint: PJSIP/1001, queues: [support]}\n'
    )
    flows = tmp / "flows"
    flows.mkdir()
    (flows / "main.yaml").write_text(
        "flow: main\nstart: route\nlanguage: en\nlanguages: [en]\nnodes:\n"
        "  route: {type: queue, queue: support, on_no_agents: bye}\n"
        "  bye: {type: hangup}\n"
    )
    (flows / "sounds.txt").write_text((ROOT / "ivr_flows" / "sounds.txt").read_text())
    (flows / "queues.yaml").write_text("queues: [support]\n")
    return acd, flows


async def test_a_callback_is_stored_as_the_callers_one_call(tmp_path: Path) -> None:
    acd, flows = _center(tmp_path)
    agi_port = _free_port()
    cfg = SimConfig(
        ami_port=0,
        ami_secret="cb",
        mode="agi",
        agi_port=agi_port,
        agents=1,
        dialplan_events=False,  # the shipped eventfilter's view
        customers=CustomerProfile(
            patience_min=60, patience_max=60, talk_min=3, talk_max=3, dtmf_choices=("1",), dtmf_delay=1.0
        ),
        phones=AgentPhoneProfile(
            ring_min=0.2, ring_max=0.3, no_answer_prob=0, busy_prob=0, talk_min=3, talk_max=3, wrapup=0.1
        ),
    )
    db = tmp_path / "calls.db"
    placed: dict[str, CallStat] = {}
    async with Simulator(cfg) as sim:
        settings = Settings(
            ami_port=sim.ami_port,
            ami_secret=Secret("cb"),
            database_url=f"sqlite+aiosqlite:///{db}",
            http_port=0,
            agi_port=agi_port,
            acd_config=str(acd),
            ivr_flows_dir=str(flows),
            store_flush_interval=0.05,
        )
        service = Service(settings)
        runner = web.AppRunner(service.web_app(), access_log=None)
        await runner.setup()
        try:
            await service.link.wait_ready(10)
            await service.acd.login("1001", by="test")
            for i in range(2):  # the first talks to the agent for 3 s; the second waits, presses 1 at 1 s
                number = f"0611{i:06d}"
                placed[number] = sim.place_call(number=number, name=f"Caller {i}")
                await asyncio.sleep(0.3)
            await _until(lambda: all(s.ended for s in placed.values()))
            # the two callers' calls and the callback (agent first, then the customer) have ended
            await _until(lambda: service.tracker.calls_finished >= 3 and service.tracker.live_calls == 0)
        finally:
            await runner.cleanup()
    rows = sqlite3.connect(db).execute("SELECT caller_num, outcome, extra FROM calls").fetchall()
    per_number = Counter(num for num, _, _ in rows)
    assert per_number == Counter(dict.fromkeys(placed, 1)), rows
    by_number = {num: (outcome, extra) for num, outcome, extra in rows}
    assert by_number["0611000000"][0] == "answered" and "continued_in" not in by_number["0611000000"][1]
    assert by_number["0611000001"][0] == "answered" and "continued_in" in by_number["0611000001"][1]
