"""The outbound dialer (issue 17): a 50-agent campaign on the PBX simulator, predictive then progressive.

    .venv/bin/python bench/dialer.py [--agents 50] [--minutes 10] [--speed 5] [--mode both]

The whole service (ACD, dialer, FastAGI, AMI link, SQLite store) runs in this process; the simulator
runs in a child process (its CPU is not the service's), over real AMI + FastAGI on loopback. Customers:
30 % answered by a person, 10 % answering machines, 10 % busy, 45 % no answer (the 25 s ring timeout),
5 % carrier failures; a person answers after 3-15 s of ringing and talks 30-90 s (60 s on average);
agents answer in 1 s and never hang up first. ``--minutes`` are simulated minutes; the simulator runs
``--speed`` times faster than wall time, and the campaign's times (ring timeout, 2 s connect limit) and
the dialer's tick are scaled by the same factor, so the service sees the center as it would be.

Printed per mode: dials, people reached, the abandon rate (answered people with no agent within the
connect limit / answered people; target ≤ 3 % for predictive), agent occupancy (time on calls or in
wrap-up / logged-in time, from the ACD's state log; target ≥ 80 %; the time agents were reserved for a
dial or ringing is printed beside it), and the service's CPU per dialled call. The first minute (lines
filling up) is left out of the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import multiprocessing as mp
import pstats
import socket
import sys
import tempfile
import time
from dataclasses import replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from aiohttp import web  # noqa: E402

from callcenter.app import Service  # noqa: E402
from callcenter.config import Secret, Settings  # noqa: E402
from callcenter.domain.acd import AgentState  # noqa: E402
from callcenter.domain.outbound import AttemptResult, CampaignStatus, ContactDraft, DialMode  # noqa: E402
from callcenter.domain.users import Role  # noqa: E402
from callcenter.services.campaigns import Actor  # noqa: E402
from callcenter.sim.config import AgentPhoneProfile, OutboundProfile, SimConfig  # noqa: E402
from callcenter.sim.runner import Simulator  # noqa: E402
from callcenter.store.migrate import migrate  # noqa: E402

ACTOR = Actor("bench", Role.ADMIN)
ALL_DAY = {"hours_start": "00:00", "hours_end": "23:59", "days": "mon,tue,wed,thu,fri,sat,sun"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sim_process(pipe: Connection, cfg: SimConfig) -> None:
    async def run() -> None:
        async with Simulator(cfg) as sim:
            pipe.send(sim.ami_port)
            await asyncio.to_thread(pipe.recv)  # "stop"
            pipe.send({"sim_cpu": time.process_time()})

    asyncio.run(run())


def sim_config(agents: int, speed: float, ami_port: int, agi_port: int) -> SimConfig:
    return SimConfig(
        ami_port=ami_port,
        mode="agi",
        agi_port=agi_port,
        agents=agents,
        speed=speed,
        seed=17,
        outbound=OutboundProfile(
            human=0.30,
            machine=0.10,
            busy=0.10,
            no_answer=0.45,
            failed=0.05,
            ring_min=3.0,
            ring_max=15.0,
            talk_min=30.0,
            talk_max=90.0,
        ),
        phones=AgentPhoneProfile(
            ring_min=1.0,
            ring_max=1.0,
            no_answer_prob=0.0,
            busy_prob=0.0,
            talk_min=3600.0,
            talk_max=3600.0,
            agent_hangs_up_prob=0.0,
            wrapup=0.0,
        ),
    )


def write_acd(tmp: Path, agents: int) -> Path:
    lines = [
        "defaults: {ring_timeout: 15, wrapup: 0, announce: {interval: 0}}",
        "queues:",
        "  outbound: {strategy: linear}",
        "agents:",
    ]
    lines += [
        f'  - {{id: "{1001 + i}", endpoint: PJSIP/{1001 + i}, queues: [outbound]}}' for i in range(agents)
    ]
    path = tmp / "acd.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


async def run_mode(mode: DialMode, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    speed = args.speed
    db_url = f"sqlite+aiosqlite:///{tmp / f'{mode.value}.db'}"
    await migrate(db_url)
    ami_port = free_port()
    settings = Settings(
        ami_port=ami_port,
        ami_secret=Secret("callcenter"),
        database_url=db_url,
        http_port=0,
        agi_port=0,
        acd_config=str(write_acd(tmp, args.agents)),
        dialer_tick=max(0.05, 0.5 / speed),
        recordings_dir=str(tmp / "rec"),
    )
    service = Service(settings, auto_migrate=False)
    runner = web.AppRunner(service.web_app(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    parent, child = mp.Pipe()
    cfg = sim_config(args.agents, speed, ami_port, service.fastagi.port)
    proc = mp.get_context("spawn").Process(target=sim_process, args=(child, cfg), daemon=True)
    proc.start()
    await asyncio.to_thread(parent.recv)
    try:
        await service.link.wait_ready(15)
        for i in range(args.agents):
            await service.acd.login(str(1001 + i), by="bench")
        campaign = await service.campaigns.create(
            {
                "name": f"bench-{mode.value}",
                "queue": "outbound",
                "mode": mode.value,
                "abandon_cap": 0.03,
                "retry": {
                    k.value: 86400
                    for k in (
                        AttemptResult.NO_ANSWER,
                        AttemptResult.BUSY,
                        AttemptResult.MACHINE,
                        AttemptResult.FAILED,
                        AttemptResult.ABANDONED,
                        AttemptResult.HUNG_UP,
                    )
                },
                **ALL_DAY,
            },
            ACTOR,
        )
        # the campaign's times in wall seconds at this speed (the validation's floors are for people)
        # (the Originate Timeout is read by the simulator in simulated time: not scaled)
        scaled = replace(campaign, ring_timeout=25.0, connect_limit=2.0 / speed)
        await service.outbound_store.save_campaign(scaled)
        contacts = [ContactDraft(f"+1202{7000000 + i:07d}") for i in range(args.agents * args.minutes * 12)]
        await service.outbound_store.add_contacts(campaign.id, contacts, time.time())
        window = args.minutes * 60 / speed
        await service.campaigns.set_status(campaign.id, CampaignStatus.RUNNING, ACTOR)
        warm = min(window * 0.1, 60.0 / speed)  # the first minute fills the lines
        await asyncio.sleep(warm)
        profiler = cProfile.Profile(time.process_time) if args.cprofile else None
        if profiler is not None:
            profiler.enable()
        cpu0, t0, dials0 = time.process_time(), time.time(), service.dialer.stats["dials"]
        attempts0 = {a.id for a in await service.outbound_store.list_attempts(campaign.id, limit=100_000)}
        await asyncio.sleep(window - warm)
        cpu1, t1, dials1 = time.process_time(), time.time(), service.dialer.stats["dials"]
        if profiler is not None:
            profiler.disable()
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
        await service.campaigns.set_status(campaign.id, CampaignStatus.STOPPED, ACTOR)
        await asyncio.sleep(40.0 / speed)  # calls in flight end
        await service.acd.flush_log()
        spent = {state: 0.0 for state in AgentState}
        for tr in await service.acd_log.list_transitions(since=t0, limit=1_000_000):
            start, end = max(t0, tr.at - tr.duration), min(t1, tr.at)
            if end > start:
                spent[tr.from_state] += end - start
        for s in await service.acd.state.list_agents():  # states still running at t1
            if s.since < t1:
                spent[s.state] += t1 - max(t0, s.since)
        busy = spent[AgentState.ON_CALL] + spent[AgentState.ON_HOLD] + spent[AgentState.WRAPUP]
        reserved = spent[AgentState.RINGING]
        staffed = args.agents * (t1 - t0)
        attempts = [
            a
            for a in await service.outbound_store.list_attempts(campaign.id, limit=100_000)
            if a.id not in attempts0
        ]
        count = {r: sum(1 for a in attempts if a.result is r) for r in AttemptResult}
        people = (
            count[AttemptResult.CONNECTED] + count[AttemptResult.ABANDONED] + count[AttemptResult.HUNG_UP]
        )
        dials = dials1 - dials0
        return {
            "mode": mode.value,
            "dials": dials,
            "reached": count[AttemptResult.CONNECTED],
            "abandoned": count[AttemptResult.ABANDONED],
            "abandon_rate": count[AttemptResult.ABANDONED] / people if people else 0.0,
            "occupancy": busy / staffed,
            "reserved_share": reserved / staffed,
            "cpu_ms_per_dial": (cpu1 - cpu0) * 1000 / dials if dials else 0.0,
            "results": {r.value: n for r, n in count.items() if n},
        }
    finally:
        parent.send("stop")
        await asyncio.to_thread(parent.recv)
        proc.join(10)
        await runner.cleanup()


def show(r: dict[str, Any]) -> None:
    print(f"\n== {r['mode']} ==")
    print(f"  dials {r['dials']}, people reached {r['reached']}, abandoned {r['abandoned']}")
    print(f"  abandon rate   {r['abandon_rate'] * 100:5.2f} %   (target <= 3 %)")
    print(
        f"  occupancy      {r['occupancy'] * 100:5.1f} %   (target >= 80 %: on calls or in wrap-up; "
        f"reserved for a dial or ringing {r['reserved_share'] * 100:.1f} %)"
    )
    print(f"  service CPU    {r['cpu_ms_per_dial']:5.2f} ms per dialled call")
    print(f"  results        {r['results']}")


async def main_async(args: argparse.Namespace) -> None:
    modes = [DialMode.PREDICTIVE, DialMode.PROGRESSIVE] if args.mode == "both" else [DialMode(args.mode)]
    with tempfile.TemporaryDirectory() as tmp:
        for mode in modes:
            sub = Path(tmp) / mode.value
            sub.mkdir()
            show(await run_mode(mode, args, sub))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--minutes", type=int, default=10, help="simulated minutes of dialing")
    parser.add_argument("--speed", type=float, default=5.0, help="simulated seconds per wall second")
    parser.add_argument("--mode", choices=["both", "predictive", "progressive"], default="both")
    parser.add_argument("--cprofile", action="store_true", help="profile the service over the window")
    args = parser.parse_args()
    print(
        f"{args.agents} agents, {args.minutes} simulated minutes at {args.speed:g}x, "
        "30 % answered by a person, "
        "60 s average talk"
    )
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
