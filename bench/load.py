"""Load driver: N calls/s with M simulated agents through the whole service.

The simulated PBX (``callcenter.sim``) runs in its own process and generates Poisson traffic; the service
(``callcenter.app.Service`` with its web app: AMI link, tracker, recorder, store) runs in this process,
on a fresh SQLite file (or ``--database-url``). At the end the simulator's own count of calls is compared
with the call records in the store: a call the simulator placed that is not in the store, or is stored
without an end, is *lost*.

    .venv/bin/python bench/load.py --profile asterisk                  # 10 calls/s, 30 Local agents, 60 s
    .venv/bin/python bench/load.py --profile asterisk --rate 20        # the second point
    .venv/bin/python bench/load.py --profile classic                   # 100 calls/s, 2,000 agents, 300 s
    .venv/bin/python bench/load.py --rate 20 --agents 200 --duration 30       # a quick look (classic)

``--profile`` picks the traffic shape (``bench/load_shape.py``): ``asterisk`` is the real center's shape the
7 ms budget is checked against (the sample flow ``ivr_flows/main.yaml`` with scripted DTMF, ``Local/``
agents near saturation so callers wait, the shipped AMI event filter, INFO logging to a file);
``classic`` (the default) is the original throughput figure. ``--rate``, ``--agents``, ``--duration``
and ``--talk`` override the shape's values.

``--mode agi`` (the default) sends every call through the whole path: the simulated Asterisk dials into
the service's FastAGI server, a one-node IVR flow hands the call to the ACD (one ``support`` queue with
all M agents, round-robin), the ACD rings an agent from the caller's AGI session and the screen pop is
built for that agent. ``--mode direct`` lets the PBX ring the agents itself (the service only follows).

Prints ``service CPU per call: X ms`` (``time.process_time`` of this process only: the simulator's CPU
is not counted), the AMI events, AGI commands and database transactions per call, the calls lost and the
idle CPU per second (measured for 10 s with the agents logged in before the traffic starts). Also: calls
placed / completed by the simulator, calls stored, peak RSS, the recorder's write figures, and (agi mode)
the routing delay: from the ACD's ``call.queued`` to its ``call.offered`` (the agent's phone is dialled),
p50/p99, and the screen pop's delay after the offer (it is built synchronously when the offer is
published: its websocket delivery is ``bench/screenpop.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import gc
import logging
import multiprocessing as mp
import resource
import socket
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from aiohttp import web  # noqa: E402
from load_shape import (  # noqa: E402
    ASTERISK_SCRIPTS,
    SHAPES,
    Shape,
    known_numbers,
    open_hours_offset,
    write_center,
)
from sqlalchemy import event as sa_event  # noqa: E402

from callcenter.app import Service  # noqa: E402
from callcenter.config import Secret, Settings  # noqa: E402
from callcenter.domain.calls import CallOutcome, CallQuery  # noqa: E402
from callcenter.domain.errors import StoreError  # noqa: E402
from callcenter.logging_setup import setup_logging  # noqa: E402
from callcenter.sim.config import AgentPhoneProfile, CustomerProfile, SimConfig  # noqa: E402
from callcenter.sim.runner import Simulator  # noqa: E402
from callcenter.store.migrate import migrate  # noqa: E402

IDLE_SECONDS = 10.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
                    "placed": report.placed,
                    "answered": report.answered,
                    "abandoned": report.abandoned,
                    "failed": report.failed,
                    "completed": report.completed,
                    "still_up": report.still_up,
                    "events": report.events,
                    "wall": time.perf_counter() - started,
                    "sim_cpu": time.process_time() - cpu0,
                }
            )

    asyncio.run(run())


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def seed_customers(service: Service) -> None:
    """The CRM customers whose numbers the asterisk shape's callers use (the lookup and the pop find them)."""
    for number, name, vip in known_numbers():
        with contextlib.suppress(StoreError, ValueError):
            await service.store.add_customer(name, [(number, "mobile")], segment="vip" if vip else "regular")


def sim_config(args: argparse.Namespace, shape: Shape, agi_port: int) -> SimConfig:
    real = shape.real_flow
    return SimConfig(
        ami_port=0,
        ami_secret="bench",
        mode=args.mode,
        agi_port=agi_port,
        agents=args.agents,
        agent_tech="Local" if shape.agent_tech == "Local" else "PJSIP",
        dialplan="project" if args.dialplan == "project" else "traces",
        rate=args.rate,
        duration=args.duration,
        seed=args.seed,
        drain_timeout=args.drain,
        # the simulator applies the shipped dialplan/manager.conf account (read= + eventfilter: no
        # Newexten, AGIExec, DTMF, security events, most VarSet dropped); --dialplan-events sends all.
        # classic: no dialplan events at all (as before); asterisk: every event Asterisk emits, filtered
        dialplan_events=args.dialplan_events or real,
        event_filter="all" if args.dialplan_events else "shipped",
        customers=CustomerProfile(
            known_numbers=tuple(n for n, _, _ in known_numbers()) if real else (),
            scripts=ASTERISK_SCRIPTS if real else (),
            patience_min=30,
            patience_max=120,
            talk_min=args.talk[0],
            talk_max=args.talk[1],
            dtmf_choices=("",),  # nobody presses 1 for a callback while waiting
        ),
        phones=AgentPhoneProfile(
            ring_min=0.5, ring_max=2.0, talk_min=args.talk[0], talk_max=args.talk[1], wrapup=0.5
        ),
    )


async def drive(args: argparse.Namespace, db_url: str, tmp: Path) -> None:
    shape: Shape = SHAPES[args.profile]
    # the project's dialplan runs agents as Local/<ext>@agent-sim/n (ring 1 s, hello-world, talk 5 s)
    context = "agent-sim" if args.dialplan == "project" else "agents"
    acd_file, flows_dir = write_center(tmp, dataclasses.replace(shape, agents=args.agents), context)
    agi_port = free_port()
    cfg = sim_config(args, shape, agi_port)
    parent, child = mp.Pipe()
    proc = mp.get_context("spawn").Process(target=sim_process, args=(child, cfg), daemon=True)
    proc.start()
    port = await asyncio.to_thread(parent.recv)
    settings = Settings(
        ami_port=port,
        ami_secret=Secret("bench"),
        database_url=db_url,
        http_port=0,
        agi_port=agi_port,
        acd_config=str(acd_file),
        ivr_flows_dir=str(flows_dir),
    )
    await migrate(db_url)
    service = Service(settings, auto_migrate=False)
    if shape.real_flow:
        await seed_customers(service)
        # ivr_flows/main.yaml has opening hours: run it as on a Wednesday at 10:00 in Paris
        offset = open_hours_offset()
        service.ivr.clock = lambda: time.time() + offset
    transactions = [0]

    def on_begin(_conn: Any) -> None:
        transactions[0] += 1

    sa_event.listen(service.store.engine.sync_engine, "begin", on_begin)
    pops: list[float] = []
    original_pop = service.screenpop.on_bus

    def timed_pop(topic: str, event: Any) -> None:
        started = time.perf_counter()
        original_pop(topic, event)
        if event.get("type") == "call.offered":
            pops.append(time.perf_counter() - started)

    service.screenpop.on_bus = timed_pop  # type: ignore[method-assign]
    runner = web.AppRunner(service.web_app(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    await service.link.wait_ready(10)
    for i in range(args.agents):
        await service.acd.login(str(1001 + i), by="bench")
    queued: dict[str, float] = {}
    routing: list[float] = []

    def on_bus(topic: str, event: Any) -> None:
        now = time.perf_counter()
        kind = event.get("type")
        if kind == "call.queued":
            queued[event["call_id"]] = now
        elif kind == "call.offered" and event.get("call_id") in queued:
            routing.append(now - queued.pop(event["call_id"]))

    service.acd_bus.subscribe(on_bus)
    # idle: logged-in agents, no calls (timers, the Ping watchdog, background rounds)
    await asyncio.sleep(1.0)
    gc.collect()  # the seeding's garbage is not the idle service's
    idle0 = time.process_time()
    await asyncio.sleep(IDLE_SECONDS)
    idle_cpu = (time.process_time() - idle0) / IDLE_SECONDS
    events0 = service.link.status()["events_received"]
    commands0 = service.fastagi.stats.commands
    tx0 = transactions[0]
    cpu0 = time.process_time()
    usage0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.time()
    parent.send("go")
    print(
        f"[{shape.name}] running {args.rate:g} calls/s for {args.duration:.0f} s with {args.agents}"
        f" simulated {shape.agent_tech} agents ...",
        flush=True,
    )
    sim = await asyncio.to_thread(parent.recv)
    # the last calls' records: wait until the tracker has nothing live and everything is written
    deadline = time.monotonic() + 30
    while (service.tracker.live_calls or service.recorder.pending) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    cpu = time.process_time() - cpu0
    usage = resource.getrusage(resource.RUSAGE_SELF)
    user, system = usage.ru_utime - usage0.ru_utime, usage.ru_stime - usage0.ru_stime
    link = service.link.status()
    events = link["events_received"] - events0
    commands = service.fastagi.stats.commands - commands0
    tx = transactions[0] - tx0
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
    placed = max(1, sim["placed"])
    print(
        f"  simulator: placed {sim['placed']}, answered {sim['answered']}, abandoned {sim['abandoned']},"
        f" failed {sim['failed']}, completed {sim['completed']}, still up {sim['still_up']},"
        f" {sim['events']} AMI events in {sim['wall']:.0f} s before the manager.conf account's filter"
        f" (simulator CPU {sim['sim_cpu']:.1f} s)"
    )
    print(f"  service:   calls stored {stored} (answered {answered.total}), left open {open_calls}")
    print(
        f"  service CPU per call: {1000 * cpu / placed:.2f} ms"
        f" (user {1000 * user / placed:.2f}, system {1000 * system / placed:.2f})"
    )
    print(
        f"  per call: {events / placed:.1f} AMI events, {commands / placed:.1f} AGI commands,"
        f" {tx / placed:.2f} database transactions; calls lost: {lost}"
    )
    print(f"  idle CPU per second: {1000 * idle_cpu:.2f} ms")
    print(
        f"  service CPU {cpu:.1f} s ({100 * cpu / max(1e-9, sim['wall']):.0f}% of one core);"
        f" peak RSS {peak:.0f} MB"
    )
    print(
        f"  recorder: {service.recorder.stats()}; link: events {link['events_received']}"
        f" (skipped at intake {link.get('events_skipped', 0)}),"
        f" dropped {link['events_dropped']}, read pauses {link['read_pauses']}"
    )
    if args.mode == "agi":
        acd = service.acd.stats
        print(
            f"  ACD: routed {acd.get('routed')}, offers {acd.get('offers')}, missed {acd.get('missed')},"
            f" answered {acd.get('answered')}, abandoned {acd.get('abandoned')},"
            f" PBX events dropped by the ACD {acd.get('observe_dropped')}"
        )
        print(
            f"  routing delay (call.queued → call.offered, {len(routing)} offers):"
            f" p50 {1000 * percentile(routing, 0.5):.2f} ms, p99 {1000 * percentile(routing, 0.99):.2f} ms"
        )
        print(
            f"  screen pop built after the offer: p50 {1000 * percentile(pops, 0.5):.3f} ms,"
            f" p99 {1000 * percentile(pops, 0.99):.3f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--profile", choices=tuple(SHAPES), default="classic", help="traffic shape")
    parser.add_argument("--rate", type=float, default=None, help="calls per second")
    parser.add_argument("--agents", type=int, default=None)
    parser.add_argument("--duration", type=float, default=None, help="seconds of arrivals")
    parser.add_argument("--talk", type=float, nargs=2, default=None, metavar=("MIN", "MAX"))
    parser.add_argument("--drain", type=float, default=120.0, help="seconds to let calls finish")
    parser.add_argument("--mode", choices=("direct", "agi"), default="agi")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--dialplan-events",
        action="store_true",
        help="send every VarSet/Newexten unfiltered (as an Asterisk without the shipped eventfilter would)",
    )
    parser.add_argument(
        "--dialplan",
        choices=("traces", "project"),
        default="traces",
        help="the simulator's dialplan: the traces' recorder (agents with random ring/talk times) or the"
        " project's dialplan/extensions.conf as in the real run (agent-sim: ring 1 s, talk 5 s)",
    )
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--log", default=None, help="service log file (default: a temporary file)")
    args = parser.parse_args()
    shape = SHAPES[args.profile]
    args.rate = shape.rate if args.rate is None else args.rate
    args.agents = shape.agents if args.agents is None else args.agents
    args.duration = shape.duration if args.duration is None else args.duration
    args.talk = shape.talk if args.talk is None else tuple(args.talk)
    with tempfile.TemporaryDirectory() as tmp:
        if shape.real_flow:
            # INFO, as a production service logs; to a file, as journald would take it
            setup_logging("INFO")
            handler = logging.getLogger().handlers[0]
            assert isinstance(handler, logging.StreamHandler)
            handler.setStream(open(args.log or f"{tmp}/service.log", "w"))  # noqa: SIM115
        else:
            setup_logging("WARNING")
        url = args.database_url or f"sqlite+aiosqlite:///{tmp}/load.db"
        asyncio.run(drive(args, url, Path(tmp)))


if __name__ == "__main__":
    main()
