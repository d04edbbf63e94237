"""Hold / resume and the blind transfer to a queue, end to end over real TCP: the PBX simulator (agi mode,
AMI + FastAGI) → our IVR → ACD → the agent's phone; the console acts with AMI Setvar + Redirect (hold),
Bridge (resume), Hangup and BlindTransfer, and the tracker, the ACD and the store follow."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from callcenter.domain.acd import AgentState
from callcenter.domain.calls import CallOutcome, CallRecord, LegRecord
from callcenter.domain.customers import ValidationError
from callcenter.sim.pbx import Channel
from tests.console.conftest import SimEnv

CALLER = "2025550199"


async def until(check: Callable[[], bool], what: str, within: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def agent_state(env: SimEnv, agent: str) -> AgentState:
    status = await env.service.acd.state.get_agent(agent)
    assert status is not None
    return status.state


async def until_state(env: SimEnv, agent: str, state: AgentState, within: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while (current := await agent_state(env, agent)) is not state:
        if loop.time() > deadline:
            raise AssertionError(f"agent {agent} is {current.value}, not {state.value}")
        await asyncio.sleep(0.05)


def sim_channels(env: SimEnv) -> list[Channel]:
    assert env.sim.pbx is not None
    return list(env.sim.pbx.channels.values())


def in_context(env: SimEnv, context: str) -> list[Channel]:
    return [c for c in sim_channels(env) if c.context == context and not c.gone]


async def stored_call(env: SimEnv, call_id: str) -> CallRecord:
    service = env.service
    await until(lambda: service.tracker.live_calls == 0, "the call to end")
    await until(lambda: not service.tracker._dirty, "the tracker to settle")
    await service.recorder.flush()
    call = await service.store.get_call(call_id)
    assert call is not None
    return call


async def answered_call(env: SimEnv, talk: float = 120.0) -> str:
    """A customer calls (menu 2 → support), agent 1001 answers; returns the call id (Linkedid)."""
    env.sim.place_call(number=CALLER, name="Hold Tester", script="2;4711#", patience=600.0, talk=talk)
    await until_state(env, "1001", AgentState.ON_CALL)
    await until(lambda: bridged_agent_leg(env, "1001") is not None, "the agent to be bridged")
    leg = bridged_agent_leg(env, "1001")
    assert leg is not None
    return leg.call_id


def bridged_agent_leg(env: SimEnv, agent: str) -> LegRecord | None:
    """The agent's leg the tracker sees in a bridge (a Local agent's ``;1``, never its ``;2``)."""
    tracker = env.service.tracker
    bridged = [
        leg
        for leg in env.service.agent_legs(agent)
        if leg.ended_at is None and tracker.bridge_peers(leg.uniqueid)
    ]
    assert len(bridged) <= 1, bridged
    return bridged[0] if bridged else None


async def test_hold_resume_hold_then_hang_up_from_the_console(sim_console: SimEnv) -> None:
    env = sim_console
    console = env.service.console
    await env.service.acd.login("1001")
    call_id = await answered_call(env)

    held = await console.hold("1001", True)
    assert held["held"] is True and held["call_id"] == call_id
    await until(lambda: len(in_context(env, "cc-hold")) == 1, "the customer in cc-hold")
    (customer,) = in_context(env, "cc-hold")
    await until(lambda: customer.moh, "music on hold")
    await until(lambda: len(in_context(env, "cc-hold-agent")) == 1, "the agent parked")
    (agent_chan,) = in_context(env, "cc-hold-agent")
    assert customer.bridge is None and agent_chan.bridge is None
    await until_state(env, "1001", AgentState.ON_HOLD)
    assert (await console.state("1001"))["held_by_console"] is True
    await asyncio.sleep(1.0)

    resumed = await console.hold("1001", False)
    assert resumed == {"call_id": call_id, "held": False}
    await until(lambda: customer.bridge is not None and customer.bridge is agent_chan.bridge, "the bridge")
    assert not customer.moh
    await until_state(env, "1001", AgentState.ON_CALL)
    await asyncio.sleep(0.5)

    await console.hold("1001", True)  # a second hold, from the Bridge action's bridge this time
    await until(lambda: customer.moh and customer.context == "cc-hold", "music on hold again")
    await asyncio.sleep(0.5)
    await console.hangup("1001")  # on hold: both sides end
    call = await stored_call(env, call_id)
    assert customer.gone and agent_chan.gone
    assert call.outcome is CallOutcome.ANSWERED and call.agent == "1001"
    assert call.transfers == ()  # a hold redirect is not a transfer
    assert 1.3 <= call.hold_seconds <= 3.5, call.hold_seconds
    assert call.talk_seconds > 0.3
    assert call.ended_at is not None
    await until_state(env, "1001", AgentState.WRAPUP)  # support: wrap-up until the agent ends it
    assert await console.held("1001") is None


async def test_customer_hangs_up_while_on_hold(sim_console: SimEnv) -> None:
    env = sim_console
    await env.service.acd.login("1001")
    call_id = await answered_call(env, talk=2.5)  # the customer hangs up 2.5 s after being connected
    await env.service.console.hold("1001", True)
    await until(lambda: len(in_context(env, "cc-hold-agent")) == 1, "the agent parked")
    (agent_chan,) = in_context(env, "cc-hold-agent")
    call = await stored_call(env, call_id)  # the service hung up the waiting agent channel
    assert agent_chan.gone
    assert call.outcome is CallOutcome.ANSWERED and call.transfers == ()
    assert call.hold_seconds > 0.5
    await until_state(env, "1001", AgentState.WRAPUP)
    assert await env.service.console.held("1001") is None
    assert env.service.console.stats["hold_hangups"] == 1


async def test_blind_transfer_to_a_queue_reenters_the_acd(sim_console: SimEnv) -> None:
    env = sim_console
    acd = env.service.acd
    await acd.login("1001")
    call_id = await answered_call(env)
    await acd.login("1002")
    result = await env.service.console.transfer("1001", "queue", "sales")
    assert result == {"call_id": call_id, "context": "cc-queue", "exten": "sales"}
    await until_state(env, "1001", AgentState.WRAPUP)  # 1001's part of the call is over
    await until_state(env, "1002", AgentState.ON_CALL)  # ...and the sales queue gave it to 1002
    legs = [leg for leg in env.service.agent_legs("1002") if leg.ended_at is None]
    assert legs and {leg.call_id for leg in legs} == {call_id}  # the same call (Linkedid)
    pop = env.service.screenpop.pop_for_call("1002", call_id)
    assert pop is not None and pop["call"]["queue"] == "sales"
    await env.service.console.hangup("1002")
    call = await stored_call(env, call_id)
    assert [(t.kind, t.target, t.from_agent) for t in call.transfers] == [("blind", "sales@cc-queue", "1001")]
    assert call.agent == "1002"
    assert [(o.agent, o.answered) for o in call.offers] == [("1001", True), ("1002", True)]
    assert call.outcome is CallOutcome.ANSWERED


async def test_an_unknown_queue_is_refused_before_any_action(sim_console: SimEnv) -> None:
    env = sim_console
    await env.service.acd.login("1001")
    await answered_call(env)
    sent: list[str] = []
    link = env.service.link
    real = link.send_action

    async def spy(action: str, *args: object, **kwargs: object) -> dict[str, object]:
        sent.append(action)
        return await real(action, *args, **kwargs)  # type: ignore[arg-type]

    link.send_action = spy  # type: ignore[method-assign]
    with pytest.raises(ValidationError) as err:
        await env.service.console.transfer("1001", "queue", "nosuchqueue")
    assert "unknown queue 'nosuchqueue'" in err.value.fields["target"]
    assert sent == []
    await env.service.console.hangup("1001")


async def test_a_queue_the_service_does_not_know_goes_to_the_failsafe(sim_console: SimEnv) -> None:
    """A transfer into ``[cc-queue]`` made behind the console's back (a phone's own transfer key) with a
    queue name the ACD does not have: the FastAGI session fails over to ``cc-failsafe``."""
    env = sim_console
    await env.service.acd.login("1001")
    call_id = await answered_call(env)
    assert env.sim.pbx is not None
    (agent_chan,) = [c for c in sim_channels(env) if c.agent == "1001" and not c.gone]
    assert env.sim.pbx.blind_transfer(agent_chan, "cc-queue", "nosuchqueue") is None
    stats = env.service.fastagi.stats
    await until(lambda: stats.failsafe >= 1, "the failsafe")
    call = await stored_call(env, call_id)
    assert [(t.kind, t.target) for t in call.transfers] == [("blind", "nosuchqueue@cc-queue")]


async def test_blind_transfer_to_an_agent_then_hang_up_there(sim_console: SimEnv) -> None:
    """Agent 1001 transfers to agent 1002 (``1002@transfer``): the BlindTransfer goes on 1001's bridged
    half (a Local agent's ``;2`` would be ``Transfer invalid``, fact 33), 1002's phone takes the call, and
    1002's console hangs up the half bridged to the customer."""
    env = sim_console
    console = env.service.console
    await env.service.acd.login("1001")
    call_id = await answered_call(env)
    sent: list[dict[str, object]] = []
    link = env.service.link
    real = link.send_action

    async def spy(action: str, fields: dict[str, object] | None = None, **kwargs: object) -> object:
        if action == "BlindTransfer":
            sent.append(dict(fields or {}))
        return await real(action, fields, **kwargs)  # type: ignore[arg-type]

    link.send_action = spy  # type: ignore[method-assign]
    before = console.live_leg("1001")
    result = await console.transfer("1001", "agent", "1002")
    assert result == {"call_id": call_id, "context": "transfer", "exten": "1002"}
    assert [f["Channel"] for f in sent] == [before.channel]
    await until(lambda: bridged_agent_leg(env, "1002") is not None, "agent 1002 bridged to the customer")
    leg = bridged_agent_leg(env, "1002")
    assert leg is not None and leg.call_id == call_id
    assert console.live_leg("1002") == leg
    await console.hangup("1002")
    call = await stored_call(env, call_id)
    assert [(t.kind, t.target, t.from_agent) for t in call.transfers] == [("blind", "1002@transfer", "1001")]
    assert call.outcome is CallOutcome.ANSWERED


async def test_blind_transfer_to_a_number(sim_console: SimEnv) -> None:
    env = sim_console
    console = env.service.console
    await env.service.acd.login("1001")
    call_id = await answered_call(env, talk=4.0)  # the customer hangs up 4 s after being connected
    result = await console.transfer("1001", "number", "555-1000")
    assert result == {"call_id": call_id, "context": "outbound", "exten": "5551000"}
    await until_state(env, "1001", AgentState.WRAPUP)  # 1001's part of the call is over
    call = await stored_call(env, call_id)
    assert [(t.kind, t.target, t.from_agent) for t in call.transfers] == [
        ("blind", "5551000@outbound", "1001")
    ]
