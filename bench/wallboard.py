"""Wallboard benchmark: N wallboards connected while the simulated PBX sends R calls/s through the service.

Three processes: the PBX simulator (``callcenter.sim``, agi mode: every call runs our IVR and waits in the
ACD's queue until a simulated agent answers), the whole service (this process: AMI link, tracker, IVR on
FastAGI, ACD, recorder, KPI engine, web hub), and the wallboard clients (``--wallboards`` websockets
logged in with a supervisor's bearer token, in their own process so their CPU is not counted).

Measured, per run:

* **KPI CPU**: the thread CPU the KPI service spends ingesting events and building + queueing updates
  (``KpiService.stats["cpu_seconds"]``, measured with ``time.thread_time`` inside the service);
* **wallboard CPU**: the service process's CPU with the wallboards minus a baseline run without any
  (same seed and traffic: the same calls), which also counts the hub's websocket writers;
* **update delay**: receive time in the client − ``since`` of the update (when its oldest change reached
  the KPI service): p50 / p99 / max over every update every wallboard received.

    .venv/bin/python bench/wallboard.py                       # 200 wallboards, 100 calls/s, 30 s
    .venv/bin/python bench/wallboard.py --rate 20 --duration 10 --wallboards 50   # a quick look

Targets (issue #7): wallboard CPU at most 5 % of one core; delay p99 under 1.5 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import statistics
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import aiohttp  # noqa: E402
from aiohttp import web  # noqa: E402

from callcenter.app import Service  # noqa: E402
from callcenter.config import Secret, Settings  # noqa: E402
from callcenter.domain.users import Role  # noqa: E402
from callcenter.logging_setup import setup_logging  # noqa: E402
from callcenter.sim.config import AgentPhoneProfile, CustomerProfile, SimConfig  # noqa: E402
from callcenter.sim.runner import Simulator  # noqa: E402

FLOW = """\
flow: main
start: queue
language: en
languages: [en]
nodes:
  queue: {type: queue, queue: support, on_no_agents: bye}
  bye: {type: hangup}
"""


def acd_yaml(agents: int) -> str:
    lines = [
        "queues:",
        "  support: {service_level: {threshold: 20, target: 0.8}, wrapup: 1, announce: {interval: 0},",
        "            ring_timeout: 10, missed_call: {pause: false}, max_callers: 0}",
        "  sales: {service_level: {threshold: 30, target: 0.8}}",
        "agents:",
    ]
    for i in range(agents):
        ext = 1001 + i
        queues = "[support, sales]" if i % 3 == 0 else "[support]"
        lines.append(f'  - {{id: "{ext}", endpoint: PJSIP/{ext}, queues: {queues}}}')
    return "\n".join(lines) + "\n"


def sim_process(pipe: Connection, cfg: SimConfig) -> None:
    async def run() -> None:
        async with Simulator(cfg) as sim:
            pipe.send(sim.ami_port)
            agi_port = await asyncio.to_thread(pipe.recv)
            pbx = sim.pbx
            assert pbx is not None and pbx.agi_runner is not None
            original = pbx.agi_runner

            async def to_service(chan: Any, url: str, args: list[str]) -> str:
                return await original(chan, url.replace(":4573/", f":{agi_port}/"), args)

            pbx.agi_runner = to_service
            await asyncio.to_thread(pipe.recv)  # "go"
            await sim.run_traffic()
            await sim.drain(cfg.drain_timeout)
            r = sim.report()
            pipe.send(
                {"placed": r.placed, "answered": r.answered, "abandoned": r.abandoned, "failed": r.failed}
            )

    asyncio.run(run())


def clients_process(pipe: Connection, url: str, token: str, count: int) -> None:
    async def one(
        session: aiohttp.ClientSession, delays: list[float], stop: asyncio.Event, counts: list[int]
    ) -> None:
        async with session.ws_connect(
            url, headers={"Authorization": f"Bearer {token}"}, max_msg_size=0
        ) as ws:
            counts[0] += 1
            while not stop.is_set():
                try:
                    msg = await asyncio.wait_for(ws.receive(), timeout=0.5)
                except TimeoutError:
                    continue
                if msg.type is not aiohttp.WSMsgType.TEXT:
                    counts[2] += 1
                    return
                now = time.time()
                data = json.loads(msg.data)
                if data.get("type") == "update":
                    delays.append(now - float(data["since"]))
                counts[1] += 1

    async def run() -> None:
        delays: list[float] = []
        counts = [0, 0, 0]  # connected, messages, closed early
        stop = asyncio.Event()
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
            tasks = [asyncio.create_task(one(session, delays, stop, counts)) for _ in range(count)]
            while counts[0] < count and not all(t.done() for t in tasks):
                await asyncio.sleep(0.05)
            pipe.send(counts[0])
            await asyncio.to_thread(pipe.recv)  # "stop"
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
        pipe.send({"delays": delays, "connected": counts[0], "messages": counts[1], "closed": counts[2]})

    asyncio.run(run())


async def one_run(args: argparse.Namespace, wallboards: int, tmp: Path) -> dict[str, Any]:
    flows = tmp / f"flows-{wallboards}"
    flows.mkdir()
    (flows / "main.yaml").write_text(FLOW)
    (flows / "queues.yaml").write_text("queues: [support, sales]\n")
    (flows / "sounds.txt").write_text((ROOT / "ivr_flows" / "sounds.txt").read_text())
    acd = tmp / f"acd-{wallboards}.yaml"
    acd.write_text(acd_yaml(args.agents))
    cfg = SimConfig(
        ami_port=0,
        mode="agi",
        agents=args.agents,
        agent_tech="PJSIP",
        rate=args.rate,
        duration=args.duration,
        seed=args.seed,
        drain_timeout=30,
        dialplan_events=True,  # VarSet CC_QUEUE: the tracker learns the queue (manager.conf keeps CC_*)
        customers=CustomerProfile(
            dtmf_choices=("",),
            patience_min=20,
            patience_max=90,
            talk_min=args.talk[0],
            talk_max=args.talk[1],
            hostile_name_prob=0.0,
        ),
        phones=AgentPhoneProfile(
            ring_min=0.3,
            ring_max=1.0,
            no_answer_prob=0.01,
            busy_prob=0.0,
            talk_min=args.talk[0],
            talk_max=args.talk[1],
            wrapup=0.0,
        ),
    )
    ctx = mp.get_context("spawn")
    sim_pipe, sim_child = ctx.Pipe()
    sim = ctx.Process(target=sim_process, args=(sim_child, cfg), daemon=True)
    sim.start()
    ami_port = await asyncio.to_thread(sim_pipe.recv)
    settings = Settings(
        ami_port=ami_port,
        ami_secret=Secret("callcenter"),
        database_url=f"sqlite+aiosqlite:///{tmp}/wb-{wallboards}.db",
        session_secret=Secret("bench-secret-bench-secret-bench-secret"),
        http_port=0,
        agi_port=0,
        ivr_flows_dir=str(flows),
        acd_config=str(acd),
        acd_wait_slice=0.5,
    )
    service = Service(settings)
    runner = web.AppRunner(service.web_app(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    await service.link.wait_ready(10)
    for agent in list(service.acd.agents):
        await service.acd.login(agent)
    user = await service.accounts.create_user("boss", "bench-password-1", Role.SUPERVISOR)
    token = await service.accounts.issue_api_token(user.id)
    sim_pipe.send(service.fastagi.port)
    cl_pipe, cl_child = ctx.Pipe()
    clients = ctx.Process(
        target=clients_process,
        args=(cl_child, f"http://127.0.0.1:{port}/ws/wallboard", token, wallboards),
        daemon=True,
    )
    if wallboards:
        clients.start()
        connected = await asyncio.to_thread(cl_pipe.recv)
        print(f"  {connected} wallboards connected", flush=True)
    kpi0 = service.kpi.stats["cpu_seconds"]
    cpu0 = time.process_time()
    wall0 = time.perf_counter()
    sim_pipe.send("go")
    report = await asyncio.to_thread(sim_pipe.recv)
    wall = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0
    kpi_cpu = service.kpi.stats["cpu_seconds"] - kpi0
    stats = dict(service.kpi.stats)
    result: dict[str, Any] = {"sim": report, "wall": wall, "cpu": cpu, "kpi_cpu": kpi_cpu, "kpi": stats}
    if wallboards:
        cl_pipe.send("stop")
        result["clients"] = await asyncio.to_thread(cl_pipe.recv)
        clients.join(timeout=10)
    await runner.cleanup()
    sim.join(timeout=10)
    return result


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


async def drive(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        print(
            f"{args.rate:g} calls/s for {args.duration:g} s, {args.agents} agents; baseline ...",
            flush=True,
        )
        base = await one_run(args, 0, tmp) if args.baseline else None
        print(f"run with {args.wallboards} wallboards ...", flush=True)
        run = await one_run(args, args.wallboards, tmp)
    sim = run["sim"]
    print(
        f"  simulator: placed {sim['placed']}, answered {sim['answered']}, abandoned {sim['abandoned']},"
        f" failed {sim['failed']} in {run['wall']:.1f} s"
    )
    kpi = run["kpi"]
    print(
        f"  KPI service: {kpi['calls']:.0f} calls and {kpi['agent_events']:.0f} agent events ingested,"
        f" {kpi['updates']:.0f} updates ({kpi['updates'] / max(1e-9, run['wall']):.2f}/s),"
        f" {kpi['deliveries']:.0f} deliveries"
    )
    # steady state: CPU per call x calls per second (the run's wall time also holds the drain)
    kpi_share = 100 * run["kpi_cpu"] / max(1, sim["placed"]) * args.rate
    print(
        f"  KPI CPU (ingest + compute + queue to {args.wallboards} sockets): {run['kpi_cpu']:.2f} s"
        f" = {1000 * run['kpi_cpu'] / max(1, sim['placed']):.3f} ms per call = {kpi_share:.2f}% of one core"
        f" at {args.rate:g} calls/s"
    )
    if base is not None:
        extra = run["cpu"] - base["cpu"]
        share = 100 * extra / max(1, sim["placed"]) * args.rate
        print(
            f"  service CPU: {run['cpu']:.1f} s with wallboards, {base['cpu']:.1f} s without (baseline placed"
            f" {base['sim']['placed']}): wallboards cost {extra:.2f} s"
            f" = {1000 * extra / max(1, sim['placed']):.3f} ms"
            f" per call = {share:.2f}% of one core at {args.rate:g} calls/s"
            f" [target <= 5%] {'OK' if share <= 5 else 'OVER'}"
        )
    c = run.get("clients") or {}
    delays = c.get("delays", [])
    if delays:
        p99 = pct(delays, 0.99)
        print(
            f"  update delay over {len(delays)} deliveries to {c['connected']} wallboards (closed early"
            f" {c['closed']}): p50 {1000 * statistics.median(delays):.0f} ms, p99 {1000 * p99:.0f} ms,"
            f" max {1000 * max(delays):.0f} ms [target p99 < 1500 ms] {'OK' if p99 < 1.5 else 'OVER'}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=100.0, help="calls per second")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of arrivals")
    parser.add_argument("--agents", type=int, default=1500)
    parser.add_argument("--wallboards", type=int, default=200)
    parser.add_argument("--talk", type=float, nargs=2, default=(5.0, 12.0), metavar=("MIN", "MAX"))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-baseline", dest="baseline", action="store_false")
    args = parser.parse_args()
    setup_logging("WARNING")
    asyncio.run(drive(args))


if __name__ == "__main__":
    main()
