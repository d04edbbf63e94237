"""Load driver: N calls/s with M simulated agents through the whole service.

The simulated PBX (``callcenter.sim``) runs in its own process and generates Poisson traffic; the service
(``callcenter.app.Service`` with its web app: AMI link, tracker, recorder, store) runs in this process,
on a fresh SQLite file (or ``--database-url``). At the end the simulator's own count of calls is compared
with the call records in the store: a call the simulator placed that is not in the store, or is stored
without an end, is *lost*.

    .venv/bin/python bench/load.py --rate 100 --agents 2000 --duration 300
    .venv/bin/python bench/load.py --rate 20 --agents 200 --duration 30       # a quick look

Prints: calls placed / completed by the simulator, calls stored and lost, the service's CPU seconds per
call (``time.process_time`` of this process only: the simulator's CPU is not counted), peak RSS, and the
recorder's write figures. Routing and screen-pop delays are added when the ACD and the screen pop exist.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import multiprocessing as mp
import resource
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from aiohttp import web  # noqa: E402

from callcenter.app import Service  # noqa: E402
from callcenter.config import Secret, Settings  # noqa: E402
from callcenter.domain.calls import CallOutcome, CallQuery  # noqa: E402
from callcenter.logging_setup import setup_logging  # noqa: E402
from callcenter.sim.config import AgentPhoneProfile, CustomerProfile, SimConfig  # noqa: E402
from callcenter.sim.runner import Simulator  # noqa: E402
from callcenter.store.migrate import migrate  # noqa: E402


def sim_process(pipe: Connection, cfg: SimConfig) -> None:
    """Serve AMI, wait for the service to log in, run the traffic, drain, report."""

    async def run() -> None:
        async with Simulator(cfg) as sim:
            pipe.send(sim.ami_port)
            await asyncio.to_thread(pipe.recv)  # "go": the service is connected
            started = time.perf_counter()
            cpu0 = time.process_time()
            await sim.run_traffic()
            await sim.drain(cfg.drain_timeout)
            report = sim.report()
            pipe.send(
                {
                    "placed": report.placed, "answered": report.answered, "abandoned": report.abandoned,
                    "failed": report.failed, "completed": report.completed, "still_up": report.still_up,
                    "events": report.events, "wall": time.perf_counter() - started,
                    "sim_cpu": time.process_time() - cpu0,
                }
            )

    asyncio.run(run())


async def drive(args: argparse.Namespace, db_url: str) -> None:
    cfg = SimConfig(
        ami_port=0, ami_secret="bench", mode=args.mode, agents=args.agents, rate=args.rate,
        duration=args.duration, seed=args.seed, drain_timeout=args.drain,
        customers=CustomerProfile(patience_min=30, patience_max=120, talk_min=args.talk[0], talk_max=args.talk[1]),
        phones=AgentPhoneProfile(ring_min=0.5, ring_max=2.0, talk_min=args.talk[0], talk_max=args.talk[1],
                                 wrapup=0.5),
    )
    parent, child = mp.Pipe()
    proc = mp.get_context("spawn").Process(target=sim_process, args=(child, cfg), daemon=True)
    proc.start()
    port = await asyncio.to_thread(parent.recv)
    settings = Settings(ami_port=port, ami_secret=Secret("bench"), database_url=db_url, http_port=0)
    await migrate(db_url)
    service = Service(settings, auto_migrate=False)
    runner = web.AppRunner(service.web_app(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    await service.link.wait_ready(10)
    cpu0 = time.process_time()
    t0 = time.time()
    parent.send("go")
    print(f"running {args.rate} calls/s for {args.duration:.0f} s with {args.agents} simulated agents ...", flush=True)
    sim = await asyncio.to_thread(parent.recv)
    # the last calls' records: wait until the tracker has nothing live and everything is written
    deadline = time.monotonic() + 30
    while (service.tracker.live_calls or service.recorder.pending) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    cpu = time.process_time() - cpu0
    await runner.cleanup()  # closes the link, flushes the recorder, closes the store
    proc.join(timeout=10)

    store = Service(dataclasses.replace(settings), auto_migrate=False).store
    try:
        inbound = await store.list_calls(CallQuery(since=t0 - 1, limit=1))
        unfinished = await store.list_calls(CallQuery(since=t0 - 1, outcome=CallOutcome.IN_PROGRESS, limit=1))
        answered = await store.list_calls(CallQuery(since=t0 - 1, outcome=CallOutcome.ANSWERED, limit=1))
    finally:
        await store.close()
    stored, open_calls = inbound.total, unfinished.total
    lost = max(0, sim["placed"] - stored) + open_calls
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  simulator: placed {sim['placed']}, answered {sim['answered']}, abandoned {sim['abandoned']},"
          f" failed {sim['failed']}, completed {sim['completed']}, still up {sim['still_up']},"
          f" {sim['events']} AMI events in {sim['wall']:.0f} s (simulator CPU {sim['sim_cpu']:.1f} s)")
    print(f"  service:   calls stored {stored} (answered {answered.total}), left open {open_calls},"
          f" LOST {lost}")
    per_call = cpu / max(1, sim["placed"])
    print(f"  service CPU {cpu:.1f} s = {1000 * per_call:.2f} ms per call"
          f" ({100 * cpu / max(1e-9, sim['wall']):.0f}% of one core); peak RSS {peak:.0f} MB")
    print(f"  recorder: {service.recorder.stats()}; link: events {service.link.status()['events_received']},"
          f" dropped {service.link.status()['events_dropped']}, read pauses {service.link.status()['read_pauses']}")
    print("  routing / screen-pop delays: not measured yet (no ACD or screen pop in this build)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=100.0, help="calls per second")
    parser.add_argument("--agents", type=int, default=2000)
    parser.add_argument("--duration", type=float, default=300.0, help="seconds of arrivals")
    parser.add_argument("--talk", type=float, nargs=2, default=(5.0, 15.0), metavar=("MIN", "MAX"))
    parser.add_argument("--drain", type=float, default=120.0, help="seconds to let calls finish")
    parser.add_argument("--mode", choices=("direct", "agi"), default="direct")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    setup_logging("WARNING")
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{tmp}/load.db"
        asyncio.run(drive(args, url))


if __name__ == "__main__":
    main()
