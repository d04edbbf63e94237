"""A call an agent blind-transfers to a queue is not offered back to them while someone else could take
it: end to end over real TCP (the PBX simulator in agi mode, AMI + FastAGI). The console sets
``CC_TRANSFERRED_BY`` on the customer's channel before ``BlindTransfer``; the ``[cc-queue]`` session
reads it and the ACD's claim skips the transferer while another member is staffed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from callcenter.domain.acd import AgentState
from callcenter.domain.queueing import TRANSFERRED_BY_VARIABLE
from tests.console.conftest import SimEnv, sim_env
from tests.console.test_console_sim import agent_state, answered_call, stored_call, until, until_state
from tests.support.sim_agents import AgentTech

#: three agents in both queues; linear: 1001 is always the first choice when free
ACD_YAML = """
defaults: {ring_timeout: 15, wrapup: -1, announce: {interval: 0}, music_class: default}
queues:
  support: {strategy: linear, max_wait: 300}
  sales: {strategy: linear, max_wait: 300}
agents:
  - {id: "1001", name: Agent 1001, endpoint: @1001, queues: [support, sales]}
  - {id: "1002", name: Agent 1002, endpoint: @1002, queues: [support, sales]}
  - {id: "1003", name: Agent 1003, endpoint: @1003, queues: [support, sales]}
pause_reasons: [break, lunch, missed_call]
"""


@pytest.fixture
async def sim3(tmp_path: Path, agent_tech: AgentTech) -> AsyncIterator[SimEnv]:
    async with sim_env(tmp_path, agent_tech, agents=3, acd_yaml=ACD_YAML) as env:
        yield env


async def other_call(env: SimEnv, number: str, agent: str) -> None:
    """Another customer (menu 2 → support) whom ``agent`` answers, then hangs up: ``agent`` is left in
    wrap-up (support's wrap-up lasts until the agent ends it), staffed but not free."""
    env.sim.place_call(number=number, name="Other", script="2;4711#", patience=600.0, talk=120.0)
    await until_state(env, agent, AgentState.ON_CALL)
    await asyncio.sleep(0.3)
    await env.service.console.hangup(agent)
    await until_state(env, agent, AgentState.WRAPUP)


async def waiting_transfer(env: SimEnv, call_id: str) -> None:
    async def waiting() -> bool:
        return [e.call_id for e in await env.service.acd.state.waiting("sales")] == [call_id]

    loop = asyncio.get_running_loop()
    deadline = loop.time() + 15.0
    while not await waiting():
        assert loop.time() < deadline, "the transferred call never waited in sales"
        await asyncio.sleep(0.05)


async def test_the_transferer_free_again_is_skipped_for_another_agent(sim3: SimEnv) -> None:
    env = sim3
    acd = env.service.acd
    for agent in ("1001", "1002", "1003"):
        await acd.login(agent)
    call_id = await answered_call(env)  # 1001 answers (linear, all free)
    await other_call(env, "2025550111", "1002")
    await other_call(env, "2025550112", "1003")

    await env.service.console.transfer("1001", "queue", "sales")
    await until_state(env, "1001", AgentState.WRAPUP)
    await waiting_transfer(env, call_id)  # everyone in wrap-up: the caller waits
    (entry,) = await acd.state.waiting("sales")
    assert entry.avoid_agent == "1001"
    # the transferer is free again and first by the strategy, but 1002 and 1003 are staffed: skipped
    await acd.end_wrapup("1001")
    await asyncio.sleep(1.5)
    assert await agent_state(env, "1001") is AgentState.AVAILABLE
    assert [e.call_id for e in await acd.state.waiting("sales")] == [call_id]
    await acd.end_wrapup("1002")
    await until_state(env, "1002", AgentState.ON_CALL)
    legs = [leg for leg in env.service.agent_legs("1002") if leg.ended_at is None]
    assert {leg.call_id for leg in legs} == {call_id}
    assert await agent_state(env, "1001") is AgentState.AVAILABLE
    # the variable was read once and cleared: nothing left on the customer's channel
    assert env.sim.pbx is not None
    customers = [c for c in env.sim.pbx.channels.values() if not c.gone and c.context == "cc-queue"]
    assert customers and all(not c.vars.get(TRANSFERRED_BY_VARIABLE) for c in customers)
    await env.service.console.hangup("1002")
    call = await stored_call(env, call_id)
    assert [(o.agent, o.answered) for o in call.offers] == [("1001", True), ("1002", True)]
    assert call.agent == "1002"


async def test_the_transferer_alone_gets_the_call_back(sim3: SimEnv) -> None:
    env = sim3
    acd = env.service.acd
    await acd.login("1001")  # 1002 and 1003 stay logged out: nobody else could take it
    call_id = await answered_call(env)
    await env.service.console.transfer("1001", "queue", "sales")
    await until_state(env, "1001", AgentState.WRAPUP)
    await waiting_transfer(env, call_id)
    await acd.end_wrapup("1001")
    await until_state(env, "1001", AgentState.ON_CALL)
    await until(
        lambda: any(
            leg.call_id == call_id and leg.ended_at is None and leg.answered_at is not None
            for leg in env.service.agent_legs("1001")
        ),
        "1001 to be connected to the transferred call again",
    )
    await env.service.console.hangup("1001")
    call = await stored_call(env, call_id)
    assert [(o.agent, o.answered) for o in call.offers] == [("1001", True), ("1001", True)]
    assert call.agent == "1001"
