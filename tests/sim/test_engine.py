"""The call engine: generated traffic in direct and agi mode, people, reproducibility, report."""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import replace

from callcenter.sim import (
    AgentPhoneProfile,
    CustomerProfile,
    SimConfig,
    Simulator,
    add_sim_arguments,
    config_from_args,
    run_simulator,
)
from callcenter.sim.config import HOSTILE_NAMES

from .amiclient import AmiClient, first

FAST_PHONES = AgentPhoneProfile(
    ring_min=1, ring_max=2, no_answer_prob=0.0, busy_prob=0.0, talk_min=5, talk_max=8, wrapup=1
)
PEOPLE = CustomerProfile(
    known_numbers=("0611223344", "0699887766"),
    known_prob=0.5,
    hostile_name_prob=0.3,
    patience_min=30,
    patience_max=40,
    talk_min=5,
    talk_max=8,
    dtmf_delay=1.0,
)


def cfg(**kw: object) -> SimConfig:
    base = SimConfig(
        ami_port=0,
        speed=50,
        seed=3,
        agents=4,
        rate=1.0,
        max_calls=6,
        customers=PEOPLE,
        phones=FAST_PHONES,
        drain_timeout=120,
        event_filter="all",
    )
    return replace(base, **kw)  # type: ignore[arg-type]


async def run_with_client(c: SimConfig) -> tuple[Simulator, AmiClient]:
    sim = Simulator(c)
    await sim.start()
    client = await AmiClient.connect(sim.ami_port)
    await client.login()
    await sim.run_traffic()
    await sim.drain(c.drain_timeout)
    await asyncio.sleep(0.05)
    return sim, client


async def test_direct_mode_dials_free_pjsip_agents_round_robin() -> None:
    sim, client = await run_with_client(cfg())
    report = sim.report()
    await sim.stop()
    await client.close()
    assert report.placed == 6
    assert report.answered == 6 and report.completed == 6 and report.abandoned == 0
    evs = [dict(reversed(m)) for m in client.msgs if m and m[0][0] == "Event"]
    begins = [d for d in evs if d["Event"] == "DialBegin" and d["DestChannel"].startswith("PJSIP/")]
    agents = [d["DestChannel"].split("-")[0] for d in begins]
    assert agents[:4] == ["PJSIP/1001", "PJSIP/1002", "PJSIP/1003", "PJSIP/1004"]
    for d in begins:
        # the agent leg inherits the call's Linkedid and CC_CALLID; the customer is the connected line
        assert d["DestLinkedid"] == d["Linkedid"]
        assert d["DestConnectedLineNum"] == d["CallerIDNum"]
        assert first(list(d.items()), "DestCallerIDNum") == "8006"
    assert sum(1 for d in evs if d["Event"] == "MixMonitorStart") == 6
    assert sum(1 for d in evs if d["Event"] == "BridgeEnter") == 12
    # every channel that appeared is gone again, with Hangup and a Q.850 cause
    news = {d["Channel"] for d in evs if d["Event"] == "Newchannel"}
    gone = {d["Channel"] for d in evs if d["Event"] == "Hangup"}
    assert news == gone
    names = {d.get("CallerIDName") for d in evs if d["Event"] == "Newstate"}
    assert names & set(HOSTILE_NAMES)


async def test_same_seed_same_customers_and_outcomes() -> None:
    runs = []
    for _ in range(2):
        sim, client = await run_with_client(cfg(seed=11))
        runs.append(([(c.number, c.name) for c in sim.pbx.calls], sim.report()))  # type: ignore[union-attr]
        await sim.stop()
        await client.close()
    (calls1, r1), (calls2, r2) = runs
    assert calls1 == calls2
    assert (r1.placed, r1.answered, r1.abandoned, r1.failed) == (
        r2.placed,
        r2.answered,
        r2.abandoned,
        r2.failed,
    )
    other, client = await run_with_client(cfg(seed=12))
    assert [(c.number, c.name) for c in other.pbx.calls] != calls1  # type: ignore[union-attr]
    await other.stop()
    await client.close()


async def test_no_free_agent_customers_abandon_after_their_patience() -> None:
    report = await run_simulator(cfg(agents=0, max_calls=3, rate=2.0))
    assert (report.placed, report.answered, report.abandoned, report.still_up) == (3, 0, 3, 0)


async def test_agent_no_answer_and_busy_move_on_to_the_next_agent() -> None:
    phones = replace(FAST_PHONES, no_answer_prob=0.5, busy_prob=0.2)
    sim, client = await run_with_client(cfg(phones=phones, dial_timeout=3, max_calls=4))
    report = sim.report()
    await sim.stop()
    await client.close()
    ends = [dict(m) for m in client.msgs if m and m[0] == ("Event", "DialEnd") and "Channel" in dict(m)]
    statuses = {d["DialStatus"] for d in ends}
    assert "ANSWER" in statuses and statuses - {"ANSWER"}
    hangups = [dict(m) for m in client.msgs if m and m[0] == ("Event", "Hangup")]
    causes = {d["Cause"] for d in hangups if d["Channel"].startswith("PJSIP/")}
    assert causes <= {"0", "16", "17"}
    assert report.answered == 4


class MiniIvr:
    """A FastAGI IVR: answer, read one digit, remember it, dial the next agent."""

    def __init__(self, agents: list[str]) -> None:
        self.agents = agents
        self.n = 0
        self.envs: list[dict[str, str]] = []
        self.digits: list[str] = []
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        env = {}
        while (line := (await reader.readline()).decode()) not in ("\n", ""):
            k, _, v = line.rstrip("\n").partition(": ")
            env[k] = v
        self.envs.append(env)

        async def cmd(text: str) -> str:
            writer.write(text.encode() + b"\n")
            while True:
                reply = (await reader.readline()).decode()
                if not reply or reply[:1].isdigit():
                    return reply.strip()

        try:
            await cmd("ANSWER")
            data = await cmd("GET DATA beep 5000 1")
            digit = data.split("result=")[1].split(" ")[0] if "result=" in data else ""
            self.digits.append(digit)
            await cmd(f"SET VARIABLE IVR_CHOICE {digit or 0}")
            agent = self.agents[self.n % len(self.agents)]
            self.n += 1
            await cmd(f'EXEC Dial "PJSIP/{agent},20,U(mixmon)"')
        finally:
            writer.close()

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


async def test_agi_mode_runs_the_services_fastagi_ivr() -> None:
    ivr = MiniIvr(["1001", "1002", "1003", "1004"])
    port = await ivr.start()
    people = replace(PEOPLE, dtmf_choices=("2",), hostile_name_prob=0.0)
    sim, client = await run_with_client(
        cfg(mode="agi", agi_port=port, customers=people, max_calls=4, speed=20)
    )
    report = sim.report()
    await sim.stop()
    await client.close()
    await ivr.stop()
    assert report.placed == 4 and report.answered == 4 and report.completed == 4
    assert ivr.digits == ["2", "2", "2", "2"]
    assert all(e["agi_extension"] == "8002" and e["agi_network_script"] == "ivr" for e in ivr.envs)
    agi_events = [dict(m) for m in client.msgs if m and m[0][0] == "Event" and m[0][1].startswith("AGIExec")]
    assert len(agi_events) == 4 * 4 * 2
    legs = [
        m
        for m in client.msgs
        if m and m[0] == ("Event", "BridgeEnter") and dict(m)["Channel"].startswith("PJSIP")
    ]
    for m in legs:
        assert ("ChanVariable", "IVR_CHOICE=") in m or ("ChanVariable", "IVR_CHOICE=2") in m
        assert any(k == "ChanVariable" and v.startswith("CC_CALLID=") and len(v) > 10 for k, v in m)


async def test_agi_server_down_counts_as_failed() -> None:
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    report = await run_simulator(cfg(mode="agi", agi_port=port, max_calls=2, agi_connect_timeout=0.5))
    assert report.placed == 2 and report.failed == 2 and report.answered == 0


def test_cli_arguments_build_a_config() -> None:
    parser = argparse.ArgumentParser()
    add_sim_arguments(parser)
    ns = parser.parse_args(
        [
            "--mode",
            "agi",
            "--agents",
            "20",
            "--rate",
            "3",
            "--duration",
            "60",
            "--speed",
            "5",
            "--seed",
            "9",
            "--known-numbers",
            "0611,0622",
            "--ami-port",
            "0",
            "--patience",
            "5",
            "10",
        ]
    )
    c = config_from_args(ns)
    assert (c.mode, c.agents, c.rate, c.duration, c.speed, c.seed, c.ami_port) == (
        "agi",
        20,
        3.0,
        60.0,
        5.0,
        9,
        0,
    )
    assert c.customers.known_numbers == ("0611", "0622")
    assert (c.customers.patience_min, c.customers.patience_max) == (5.0, 10.0)
    assert (c.event_filter, c.dialplan, c.agent_tech) == ("shipped", "traces", "PJSIP")
    flags = (
        "--agent-tech Local --dialplan project --event-filter all --dual-redirect-unbridged secondary-failed"
    )
    ns = parser.parse_args(flags.split())
    c = config_from_args(ns)
    assert (c.agent_tech, c.dialplan, c.event_filter, c.dual_redirect_unbridged) == (
        "Local",
        "project",
        "all",
        "secondary-failed",
    )
