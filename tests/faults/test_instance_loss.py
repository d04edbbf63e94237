"""Two service instances share Redis and PostgreSQL; the simulated PBX sends each call to one of them and,
as the dialplan in ``dialplan/extensions.conf`` does, to the other one when the first cannot be reached.
One instance is SIGKILLed under 10 calls/s: the survivor releases what it held (claims, ringing agents,
waiters) within 15 s, calls keep being answered, and every call is stored exactly once."""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path

from callcenter.sim.pbx import Channel
from callcenter.sim.runner import Simulator
from tests.faults.conftest import RATE
from tests.faults.rig import Center, Ledger, ServiceProcess, Traffic, drain
from tests.faults.servers import PostgresProcess, RedisProcess, free_port

RELEASED_WITHIN = 15.0


async def test_one_of_two_instances_sigkilled(
    tmp_path: Path, redis_proc: RedisProcess, pg_proc: PostgresProcess
) -> None:
    center = Center.write(tmp_path, agents=40)
    ports = [free_port(), free_port()]
    async with Simulator(center.sim_config(ports[0])) as sim:
        pbx = sim.pbx
        assert pbx is not None
        original = pbx.agi_runner
        assert original is not None
        orders = itertools.cycle([ports, ports[::-1]])

        async def two_hosts(chan: Channel, url: str, args: list[str]) -> str:
            # [incoming]: AGI(agi://first/...), and on AGISTATUS=FAILURE AGI(agi://second/...)
            status = "FAILURE"
            for port in next(orders):
                status = await original(chan, url.replace(f":{ports[0]}/", f":{port}/"), args)
                if status != "FAILURE":
                    break
            return status

        pbx.agi_runner = two_hosts
        a = ServiceProcess(center, sim.ami_port, pg_proc.url, redis_proc.url, name="a", agi_port=ports[0])
        b = ServiceProcess(center, sim.ami_port, pg_proc.url, redis_proc.url, name="b", agi_port=ports[1])
        a.prepare()
        b.token = a.token
        await a.start()
        await b.start()
        try:
            await a.login_agents()
            traffic = Traffic(sim, RATE)
            traffic.start()
            await asyncio.sleep(8)
            killed_at = time.monotonic()
            a.kill()
            # the survivor releases what the dead instance held
            released, stuck_seen = await b.last_stuck(sim, killed_at, window=RELEASED_WITHIN + 10)
            await traffic.stop()
            await drain(sim)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                ledger = await Ledger.read(pg_proc.url, traffic.numbers)
                if not ledger.lost and not ledger.open_rows:
                    break
                await asyncio.sleep(1)
            end_states = await b.agent_states()
            _, end_queue = await b.api("GET", "/api/acd/queues/support")
        finally:
            await a.stop()
            await b.stop()
    routable = traffic.answered_after(killed_at)
    print(f"\none of two instances SIGKILLed: {ledger.summary()}; agents stuck {sorted(stuck_seen)},"
          f" the last seen {released:.1f} s after the kill;"
          f" answered again after {routable} s; agents at the end {dict(end_states)}")  # fmt: skip
    assert not ledger.lost, f"{ledger.summary()}: {ledger.lost[:10]}"
    assert not ledger.duplicated, f"{ledger.summary()}: {ledger.duplicated[:10]}"
    assert ledger.open_rows == 0, ledger.summary()
    assert routable is not None and routable < 3.0, f"calls answered again after {routable} s"
    assert released < RELEASED_WITHIN, f"{sorted(stuck_seen)} stuck {released:.1f} s after the kill"
    assert end_states.get("available", 0) == center.agents, f"agents at the end: {dict(end_states)}"
    assert isinstance(end_queue, dict) and not end_queue.get("waiting"), f"waiters left: {end_queue}"
