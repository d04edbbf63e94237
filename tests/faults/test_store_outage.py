"""PostgreSQL down for 30 s under 10 calls/s: no call record is lost or written twice, /healthz says the
database is down while it is, and calls keep being answered (the ACD does not need the database)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from callcenter.sim.runner import Simulator
from tests.faults.conftest import OUTAGE, RATE
from tests.faults.rig import Center, HealthWatch, Ledger, ServiceProcess, Traffic, drain
from tests.faults.servers import PostgresProcess, free_port


async def test_postgres_down_then_back(tmp_path: Path, pg_proc: PostgresProcess) -> None:
    center = Center.write(tmp_path, agents=40)
    agi_port = free_port()
    async with Simulator(center.sim_config(agi_port)) as sim:
        service = ServiceProcess(center, sim.ami_port, pg_proc.url, agi_port=agi_port)
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
            pg_proc.kill()
            await asyncio.sleep(OUTAGE)
            pg_proc.start()
            up_at = time.monotonic()
            await asyncio.sleep(10)
            await traffic.stop()
            await drain(sim)
            # the backlog is written once the database is back
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                ledger = await Ledger.read(pg_proc.url, traffic.numbers)
                if not ledger.lost and not ledger.open_rows:
                    break
                await asyncio.sleep(1)
            await watch.stop()
        finally:
            await watch.stop()
            await service.stop()
    print(f"\nPostgreSQL down {OUTAGE:.0f} s: {ledger.summary()}")
    assert not ledger.lost, ledger.summary()
    assert not ledger.duplicated, ledger.summary()
    assert ledger.open_rows == 0, ledger.summary()
    during = watch.between(down_at + 3, up_at - 1)
    assert during and all(s == 503 for s, _ in during), f"/healthz during the outage: {during[:3]}"
    assert any(b.get("database", {}).get("state") == "down" for _, b in during)  # type: ignore[union-attr]
    after = watch.between(up_at + 8, time.monotonic())
    assert after and after[-1][0] == 200, f"/healthz after: {after[-1:]}"
    # agents stayed routable: calls placed during the outage were answered
    answered_during = traffic.answered_after(down_at)
    assert answered_during is not None and answered_during < 3.0, answered_during
