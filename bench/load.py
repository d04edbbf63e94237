"""Load driver: N calls/s with M simulated agents through the whole service.

The simulated PBX (``callcenter.sim``) runs in its own process and generates Poisson traffic; the service
(``callcenter.app.Service`` with its web app: AMI link, tracker, recorder, store) runs in this process,
on a fresh SQLite file (or ``--database-url``). At the end the simulator's own count of calls is compared
with the call records in the store: a call the simulator placed that is not in the store, or is stored
without an end, is *lost*.

    .venv/bin/python bench/load.py --rate 100 --agents 2000 --duration 300
    .venv/bin/python bench/load.py --rate 20 --agents 200 --duration 30       # a quick look

``--mode agi`` (the default) sends every call through the whole path: the simulated Asterisk dials into
the service's FastAGI server, a one-node IVR flow hands the call to the ACD (one ``support`` queue with
all M agents, round-robin), the ACD rings an agent from the caller's AGI session and the screen pop is
built for that agent. ``--mode direct`` lets the PBX ring the agents itself (the service only follows).

Prints: calls placed / completed by the simulator, calls stored and lost, the service's CPU seconds per
call (``time.process_time`` of this process only: the simulator's CPU is not counted), peak RSS, the
recorder's write figures, and (agi mode) the routing delay: from the ACD's ``call.queued`` to its
``call.offered`` (the agent's phone is dialled), p50/p99, and the screen pop's delay after the offer
(it is built synchronously when the offer is published: its websocket delivery is ``bench/screenpop.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
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

from aiohttp import web  # noqa: E402

from callcenter.app import Service  # noqa: E402
from callcenter.config import Secret, Settings  # noqa: E402
from callcenter.domain.calls import CallOutcome, CallQuery  # noqa: E402
from callcenter.logging_setup import setup_logging  # noqa: E402
from callcenter.sim.config import AgentPhoneProfile, CustomerProfile, SimConfig  # noqa: E402
from callcenter.sim.runner import Simulator  # noqa: E402
from callcenter.store.migrate import migrate  # noqa: E402


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


def write_center(tmp: Path, agents: int) -> tuple[Path, Path]:
    """An ACD config with one round-robin queue and ``agents`` PJSIP agents, and a one-node IVR flow."""
    acd = tmp / "acd.yaml"
    lines = [
        "defaults: {ring_timeout: 20, wrapup: 0, announce: {interval: 0}}",
        "queues:",
        # simulated agents never come back from a pause: a missed call must not take them out for good
        "  support: {strategy: rrmemory, max_wait: 600, fallback: voicemail, overflow: voicemail,"
        " missed_call: {pause: false}}",
        "agents:",
    ]
    lines += [
        f'  - {{id: "{1001 + i}", name: Agent {1001 + i}, endpoint: PJSIP/{1001 + i}, queues: [support]}}'
        for i in range(agents)
    ]
    acd.write_text("\n".join(lines) + "\n")
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


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def drive(args: argparse.Namespace, db_url: str, tmp: Path) -> None:
    acd_file, flows_dir = write_center(tmp, args.agents)
    agi_port = free_port()
    cfg = SimConfig(
        ami_port=0,
        ami_secret="bench",
        mode=args.mode,
        agi_port=agi_port,
        agents=args.agents,
        rate=args.rate,
        duration=args.duration,
        seed=args.seed,
        drain_timeout=args.drain,
        # the simulator applies the shipped dialplan/manager.conf account (read= + eventfilter: no
        # Newexten, AGIExec, DTMF, security events, most VarSet dropped); --dialplan-events sends all
        dialplan_events=args.dialplan_events,
        event_filter="all" if args.dialplan_events else "shipped",
        customers=CustomerProfile(
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
    cpu0 = time.process_time()
    t0 = time.time()
    parent.send("go")
    print(
        f"running {args.rate} calls/s for {args.duration:.0f} s with {args.agents} simulated agents ...",
        flush=True,
    )
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
    print(
        f"  simulator: placed {sim['placed']}, answered {sim['answered']}, abandoned {sim['abandoned']},"
        f" failed {sim['failed']}, completed {sim['completed']}, still up {sim['still_up']},"
        f" {sim['events']} AMI events in {sim['wall']:.0f} s (simulator CPU {sim['sim_cpu']:.1f} s)"
    )
    print(
        f"  service:   calls stored {stored} (answered {answered.total}), left open {open_calls}, LOST {lost}"
    )
    per_call = cpu / max(1, sim["placed"])
    print(
        f"  service CPU {cpu:.1f} s = {1000 * per_call:.2f} ms per call"
        f" ({100 * cpu / max(1e-9, sim['wall']):.0f}% of one core); peak RSS {peak:.0f} MB"
    )
    link = service.link.status()
    print(
        f"  recorder: {service.recorder.stats()}; link: events {link['events_received']},"
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
    parser.add_argument("--rate", type=float, default=100.0, help="calls per second")
    parser.add_argument("--agents", type=int, default=2000)
    parser.add_argument("--duration", type=float, default=300.0, help="seconds of arrivals")
    parser.add_argument("--talk", type=float, nargs=2, default=(5.0, 15.0), metavar=("MIN", "MAX"))
    parser.add_argument("--drain", type=float, default=120.0, help="seconds to let calls finish")
    parser.add_argument("--mode", choices=("direct", "agi"), default="agi")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--dialplan-events",
        action="store_true",
        help="also send VarSet/Newexten (as an Asterisk without the shipped eventfilter would)",
    )
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    setup_logging("WARNING")
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{tmp}/load.db"
        asyncio.run(drive(args, url, Path(tmp)))


if __name__ == "__main__":
    main()
