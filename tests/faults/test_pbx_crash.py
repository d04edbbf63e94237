"""The PBX killed (``kill -9``: EOF, no Hangup events, FastAGI sockets cut) under 10 calls/s and started
again: calls that were answered stay answered (not abandoned), each call is one row with its caller
number, agents are released within 10 s of the PBX coming back, /healthz says the PBX is down while it
is, and calls are answered again after the restart."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from callcenter.sim.runner import Simulator
from tests.faults.conftest import RATE
from tests.faults.rig import Center, HealthWatch, Ledger, ServiceProcess, Traffic, drain
from tests.faults.servers import RedisProcess, free_port
from tests.support.sim_agents import AGENT_TECHS, AgentTech

RELEASED_WITHIN = 10.0
DOWN = 3.0


@pytest.mark.parametrize("tech", AGENT_TECHS)
async def test_pbx_killed_and_restarted(tmp_path: Path, redis_proc: RedisProcess, tech: AgentTech) -> None:
    center = Center.write(tmp_path, agents=40, tech=tech)
    agi_port = free_port()
    db_url = f"sqlite+aiosqlite:///{tmp_path}/calls.db"
    async with Simulator(center.sim_config(agi_port)) as sim:
        service = ServiceProcess(center, sim.ami_port, db_url, redis_url=redis_proc.url, agi_port=agi_port)
        service.prepare()
        await service.start()
        watch = HealthWatch(service)
        try:
            await service.login_agents()
            watch.start()
            traffic = Traffic(sim, RATE)
            traffic.start()
            await asyncio.sleep(8)
            answered_at_crash = {n for n, c in traffic.stats.items() if c.connected}
            up_at_crash = {n for n, c in traffic.stats.items() if not c.ended}
            crashed_at = time.monotonic()
            await sim.crash()
            await asyncio.sleep(DOWN)
            await sim.restart(delay=0)
            back_at = time.monotonic()
            released, stuck_seen = await service.last_stuck(sim, back_at, window=RELEASED_WITHIN + 5)
            await traffic.stop()
            await drain(sim)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                ledger = await Ledger.read(db_url, traffic.numbers)
                if not ledger.lost and not ledger.open_rows:
                    break
                await asyncio.sleep(1)
            states = await service.agent_states()
        finally:
            await watch.stop()
            await service.stop()
    routable = traffic.answered_after(back_at)
    cut_answered = sorted(answered_at_crash & up_at_crash)
    wrong = {n: ledger.outcomes.get(n) for n in cut_answered if ledger.outcomes.get(n) != ["answered"]}
    print(f"\nPBX kill -9 ({tech} agents), down {DOWN:.0f} s: {ledger.summary()};"
          f" {len(cut_answered)} answered calls cut, stored otherwise: {len(wrong)};"
          f" agents stuck {sorted(stuck_seen)} last seen {released:.1f} s"
          f" after the restart; answered again after {routable} s; agents {dict(states)}")  # fmt: skip
    assert not ledger.lost, f"{ledger.summary()}: {ledger.lost[:10]}"
    assert not ledger.duplicated, f"{ledger.summary()}: {ledger.duplicated[:10]}"
    assert ledger.foreign_rows == 0, f"split records: {ledger.summary()}"
    assert ledger.open_rows == 0, ledger.summary()
    assert cut_answered, "no answered call was up at the crash: the test proves nothing"
    assert not wrong, f"answered calls cut by the crash stored as {list(wrong.items())[:5]}"
    assert released < RELEASED_WITHIN, f"{sorted(stuck_seen)} stuck {released:.1f} s after the restart"
    assert routable is not None and routable < RELEASED_WITHIN, f"calls answered again after {routable} s"
    assert states.get("available", 0) == center.agents, f"agents at the end: {dict(states)}"
    during = watch.between(crashed_at + 1.5, back_at - 0.5)
    assert during and all(s == 503 for s, _ in during), f"/healthz while the PBX is down: {during[:3]}"
