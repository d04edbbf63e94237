"""End to end: two service instances (ACD + FastAGI server each) share one Redis; one simulated PBX in
"agi" mode sends its calls to the two FastAGI servers alternately. Round-robin order holds across the
instances and no agent phone is ever dialed for two calls at once."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from callcenter.domain.acd import AcdConfig
from callcenter.domain.queueing import QueueRequest, RouteOutcome, RouteResult
from callcenter.pbx.fastagi import AgiHandler, FastAgiConfig, FastAgiServer
from callcenter.ports import AgiChannel
from callcenter.services.acd import AcdOptions, AcdService
from callcenter.sim.config import AgentPhoneProfile, CustomerProfile, SimConfig
from callcenter.sim.pbx import Channel
from callcenter.sim.runner import Simulator
from callcenter.state.redis_acd import RedisAcdState
from callcenter.state.redis_bus import RedisBus
from tests.acd.fakes import agents, queue
from tests.state.redis_support import redis_client, unique_prefix

pytestmark = pytest.mark.redis

SPEED = 20.0


@dataclass
class Instance:
    name: str
    acd: AcdService
    agi: FastAgiServer
    bus: RedisBus
    results: list[tuple[str, RouteResult]] = field(default_factory=list)


async def start_instance(
    name: str, prefix: str, config: AcdConfig, log: list[tuple[str, str, str]]
) -> Instance:
    client = await redis_client()
    bus = RedisBus(client, prefix)
    await bus.start()
    acd = AcdService(RedisAcdState(client, prefix), bus, options=AcdOptions(wait_slice=0.05, tick=0.02))
    await acd.start(config)
    inst = Instance(name, acd, FastAgiServer(lambda script: None), bus)

    async def handle(channel: AgiChannel) -> None:
        call_id = channel.env.get("linkedid") or channel.uniqueid
        result = await acd.route(
            channel, QueueRequest(call_id=call_id, uniqueid=channel.uniqueid, queue="support")
        )
        inst.results.append((call_id, result))
        log.append((name, call_id, result.agent or ""))

    def routes(script: str) -> AgiHandler | None:
        return handle

    inst.agi = FastAgiServer(routes, FastAgiConfig(host="127.0.0.1", port=0))
    await inst.agi.start()
    return inst


@pytest.fixture
async def rig() -> AsyncIterator[tuple[Simulator, list[Instance], list[tuple[str, str, str]], list[str]]]:
    prefix = unique_prefix()
    config = AcdConfig(queues=(queue(wrapup=0, ring_timeout=10),), agents=tuple(agents(4)))
    log: list[tuple[str, str, str]] = []
    instances = [await start_instance(n, prefix, config, log) for n in ("A", "B")]
    for agent in instances[0].acd.agents:
        await instances[0].acd.login(agent)
    sim = Simulator(
        SimConfig(
            ami_port=0,
            mode="agi",
            agents=4,
            first_agent=1001,
            agent_tech="PJSIP",
            agi_port=instances[0].agi.port,
            speed=SPEED,
            seed=3,
            dialplan_events=False,
            customers=CustomerProfile(
                dtmf_choices=("",),
                patience_min=1000,
                patience_max=1000,
                talk_min=1,
                talk_max=2,
                hostile_name_prob=0.0,
            ),
            phones=AgentPhoneProfile(
                ring_min=0.2,
                ring_max=0.4,
                no_answer_prob=0,
                busy_prob=0,
                talk_min=1,
                talk_max=2,
                agent_hangs_up_prob=1.0,
                wrapup=0.0,
            ),
        )
    )
    await sim.start()
    pbx = sim.pbx
    assert pbx is not None
    ports = itertools.cycle([inst.agi.port for inst in instances])
    original = pbx.agi_runner
    assert original is not None

    async def alternate(chan: Channel, url: str, args: list[str]) -> str:
        return await original(chan, url.replace(f":{instances[0].agi.port}/", f":{next(ports)}/"), args)

    pbx.agi_runner = alternate
    violations: list[str] = []
    claim = pbx.claim_agent

    def checked_claim(ext: str) -> None:
        if ext in pbx.agent_in_use:
            violations.append(f"agent {ext} dialed while already in a call")
        claim(ext)

    pbx.claim_agent = checked_claim  # type: ignore[method-assign]
    try:
        yield sim, instances, log, violations
    finally:
        await sim.stop()
        for inst in instances:
            await inst.agi.close()
            await inst.acd.close()
            await inst.bus.close()
        await instances[0].acd.state.clear()  # type: ignore[attr-defined]
        for inst in instances:
            await inst.acd.state._r.aclose()  # type: ignore[attr-defined]


async def wait_for(count: int, log: list[tuple[str, str, str]], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while len(log) < count:
        assert time.monotonic() < deadline, f"only {len(log)} of {count} calls routed"
        await asyncio.sleep(0.01)


async def test_two_instances_round_robin_and_no_double_offers(
    rig: tuple[Simulator, list[Instance], list[tuple[str, str, str]], list[str]],
) -> None:
    sim, instances, log, violations = rig
    # one call at a time: strict round robin across both instances
    for n in range(10):
        sim.place_call(number=f"55500{n:02d}", name=f"Caller {n}")
        await wait_for(n + 1, log)
    assert [agent for _, _, agent in log] == [f"100{1 + n % 4}" for n in range(10)]
    assert {name for name, _, _ in log} == {"A", "B"}  # both instances routed calls
    # then a burst: 16 callers at once for 4 agents, through both instances
    for n in range(16):
        sim.place_call(number=f"55510{n:02d}", name=f"Burst {n}")
    await wait_for(26, log, timeout=30.0)
    results = [r for inst in instances for _, r in inst.results]
    assert all(r.outcome is RouteOutcome.ANSWERED for r in results), Counter(r.outcome for r in results)
    assert violations == []
    assert len({call for _, call, _ in log}) == 26  # every call routed once
    per_agent = Counter(agent for _, _, agent in log)
    assert set(per_agent) == {"1001", "1002", "1003", "1004"}
    assert sum(inst.bus.received for inst in instances) > 0  # each saw the other's events
