"""The service SIGKILLed under 10 calls/s and started again: every call placed while it was up is stored
exactly once, no agent is left ``on_call``/``ringing`` without a call, no phantom waiter is left, and
agents take calls again soon after the restart."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from callcenter.sim.runner import Simulator
from tests.faults.conftest import RATE
from tests.faults.rig import Center, Ledger, ServiceProcess, Traffic, drain
from tests.faults.servers import RedisProcess, free_port

ROUTABLE_WITHIN = 10.0


async def test_service_sigkill_and_restart(tmp_path: Path, redis_proc: RedisProcess) -> None:
    center = Center.write(tmp_path, agents=40)
    agi_port = free_port()
    db_url = f"sqlite+aiosqlite:///{tmp_path}/calls.db"
    async with Simulator(center.sim_config(agi_port)) as sim:
        service = ServiceProcess(center, sim.ami_port, db_url, redis_url=redis_proc.url, agi_port=agi_port)
        service.prepare()
        await service.start()
        try:
            await service.login_agents()
            traffic = Traffic(sim, RATE)
            traffic.start()
            await asyncio.sleep(8)
            killed_at = time.monotonic()
            service.kill()
            placed_before = len(traffic.numbers)
            await asyncio.sleep(2)
            await service.start()
            up_at = time.monotonic()
            up_from = len(traffic.numbers)
            await asyncio.sleep(ROUTABLE_WITHIN + 5)
            await traffic.stop()
            await drain(sim)
            while_up = traffic.numbers[:placed_before] + traffic.numbers[up_from:]
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                ledger = await Ledger.read(db_url, while_up, traffic.numbers[placed_before:up_from])
                if not ledger.lost and not ledger.open_rows:
                    break
                await asyncio.sleep(1)
            states = await service.agent_states()
            _, queue = await service.api("GET", "/api/acd/queues/support")
        finally:
            await service.stop()
    routable = traffic.answered_after(up_at)
    print(f"\nservice SIGKILL {time.monotonic() - killed_at:.0f} s ago: {ledger.summary()};"
          f" routable after {routable} s; agents {dict(states)}; queue {queue}")  # fmt: skip
    assert not ledger.lost, f"{ledger.summary()}: {ledger.lost[:10]}"
    assert not ledger.duplicated, f"{ledger.summary()}: {ledger.duplicated[:10]}"
    assert ledger.open_rows == 0, ledger.summary()
    assert ledger.foreign_rows == 0, ledger.summary()
    assert routable is not None and routable < ROUTABLE_WITHIN, f"agents routable after {routable} s"
    assert states.get("available", 0) == center.agents, f"agents at the end: {dict(states)}"
    assert isinstance(queue, dict) and not queue.get("waiting"), f"waiters left: {queue}"
