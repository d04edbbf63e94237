"""Redis down for 30 s under 10 calls/s, then back **empty** (Redis keeps nothing on disk): the ACD
reloads its queues and agents, agents are routable again within seconds without anybody logging in again,
/healthz says Redis is down while it is, and every call is stored exactly once."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from callcenter.sim.runner import Simulator
from tests.faults.conftest import OUTAGE, RATE
from tests.faults.rig import Center, HealthWatch, Ledger, ServiceProcess, Traffic, drain
from tests.faults.servers import RedisProcess, free_port

#: seconds after Redis is back within which agents take calls again
ROUTABLE_WITHIN = 10.0


async def test_redis_down_then_back_empty(tmp_path: Path, redis_proc: RedisProcess) -> None:
    center = Center.write(tmp_path, agents=40)
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
            await asyncio.sleep(5)
            down_at = time.monotonic()
            redis_proc.kill()
            await asyncio.sleep(OUTAGE)
            redis_proc.start()  # a new, empty Redis on the same port
            up_at = time.monotonic()
            await asyncio.sleep(ROUTABLE_WITHIN + 5)
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
    routable = traffic.answered_after(up_at)
    print(f"\nRedis down {OUTAGE:.0f} s, back empty: {ledger.summary()}; routable again after {routable} s;"
          f" agents at the end {dict(states)}")  # fmt: skip
    assert not ledger.lost, ledger.summary()
    assert not ledger.duplicated, ledger.summary()
    assert ledger.open_rows == 0, ledger.summary()
    assert routable is not None and routable < ROUTABLE_WITHIN, f"agents routable after {routable} s"
    assert states.get("available", 0) == center.agents, f"agents at the end: {dict(states)}"
    during = watch.between(down_at + 3, up_at - 1)
    assert during and all(s == 503 for s, _ in during), f"/healthz during the outage: {during[:3]}"
    assert any(b.get("redis", {}).get("state") == "down" for _, b in during)  # type: ignore[union-attr]
    after = watch.between(up_at + ROUTABLE_WITHIN, time.monotonic())
    assert after and after[-1][0] == 200, f"/healthz after: {after[-1:]}"
