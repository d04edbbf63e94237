"""Console actions the PBX does not carry out, end to end on the simulator (both agent endpoint kinds):
a hold whose agent side is gone once the dual Redirect is answered is rolled back (the customer goes to
the front of the queue, the audit log and the stored call say what happened), and a refused blind
transfer is reported to the agent and never stored as a transfer."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest

from callcenter.domain.acd import AgentState
from callcenter.domain.errors import AmiActionError
from callcenter.services.console import HoldFailed, TransferFailed
from tests.console.conftest import SimEnv
from tests.console.test_console_sim import (
    answered_call,
    in_context,
    sim_channels,
    stored_call,
    until,
    until_state,
)

SECOND_CALLER = "2025550111"


async def queue_callers(env: SimEnv, queue: str = "support") -> list[dict[str, Any]]:
    view = await env.service.acd.queue_view(queue)
    callers: list[dict[str, Any]] = view["callers"]
    return callers


async def until_callers(env: SimEnv, numbers: list[str], within: float = 15.0) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []

    async def check() -> bool:
        nonlocal seen
        seen = await queue_callers(env)
        return [c["caller_num"] for c in seen] == numbers

    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"queue callers {[c['caller_num'] for c in seen]}, not {numbers}")
        await asyncio.sleep(0.05)
    return seen


async def test_agent_gone_at_the_hold_sends_the_customer_to_the_front_of_the_queue(
    sim_console: SimEnv,
) -> None:
    """The agent's phone hangs up just as the hold redirect is answered: no customer is left alone with
    the music; they go back to the ACD ahead of a caller who was already waiting."""
    env = sim_console
    service = env.service
    await service.acd.login("1001")
    call_id = await answered_call(env)
    env.sim.place_call(number=SECOND_CALLER, name="Waiting", script="2;4711#", patience=600.0, talk=120.0)
    await until_callers(env, [SECOND_CALLER])
    assert env.sim.pbx is not None
    pbx = env.sim.pbx
    (agent_chan,) = [c for c in sim_channels(env) if c.agent == "1001" and not c.gone]
    link = service.link
    real = link.send_action

    async def agent_hangs_up_at_the_redirect(action: str, *args: Any, **kwargs: Any) -> Any:
        reply = await real(action, *args, **kwargs)
        if action == "Redirect" and not agent_chan.gone:
            pbx.request_hangup(agent_chan, 16)
        return reply

    link.send_action = agent_hangs_up_at_the_redirect  # type: ignore[method-assign]
    with pytest.raises(HoldFailed) as err:
        await service.console.hold("1001", True)
    link.send_action = real  # type: ignore[method-assign]
    assert err.value.outcome == "requeued"
    callers = await until_callers(env, ["2025550199", SECOND_CALLER])
    assert callers[0]["priority"] > callers[1]["priority"]
    assert await service.console.held("1001") is None
    await until_state(env, "1001", AgentState.WRAPUP)

    await service.acd.login("1002")  # the requeued customer is served first
    await until_state(env, "1002", AgentState.ON_CALL)
    legs = [leg for leg in service.agent_legs("1002") if leg.ended_at is None]
    assert legs and {leg.call_id for leg in legs} == {call_id}
    entries = await service.audit.list_audit(actor="agent:1001")
    assert [(e.action, e.ok, e.detail["outcome"], e.detail["call_id"]) for e in entries] == [
        ("console.hold", False, "requeued", call_id)
    ]
    await service.console.hangup("1002")
    await until(lambda: len(service.agent_legs("1002")) == 0 or _ended(env, "1002"), "1002's call to end")
    for chan in sim_channels(env):  # the second caller gives up
        if not chan.gone and chan.agent is None:
            pbx.request_hangup(chan, 16)
    call = await stored_call(env, call_id)
    # the tracker's view: the call went from 1001 to 1002 by a redirect (the requeue), not a transfer
    # the agents made; the audit entry above says why (the hold failed, outcome requeued)
    assert [(t.kind, t.target, t.from_agent) for t in call.transfers] == [("redirect", "1002", "1001")]
    assert [(o.agent, o.answered) for o in call.offers] == [("1001", True), ("1002", True)]
    assert call.agent == "1002"


def _ended(env: SimEnv, agent: str) -> bool:
    return all(leg.ended_at is not None for leg in env.service.agent_legs(agent))


async def test_a_refused_blind_transfer_is_reported_and_not_stored(sim_console: SimEnv) -> None:
    """BlindTransfer refused by the PBX (fact 33): on a Local agent's un-bridged ``;2`` (``Transfer invalid``
    plus a BlindTransfer event with ``Result: Invalid``), on a PJSIP channel gone meanwhile (``Channel
    specified does not exist``). The agent gets a 502-class error saying the call is still theirs, the
    call stays with them, and no transfer is stored."""
    env = sim_console
    service = env.service
    console = service.console
    await service.acd.login("1001")
    call_id = await answered_call(env)
    legs = [leg for leg in service.agent_legs("1001") if leg.ended_at is None]
    if env.agent_tech == "Local":
        (wrong,) = [leg for leg in legs if leg.channel.endswith(";2")]
        expected = "Transfer invalid"
    else:
        wrong = dataclasses.replace(legs[0], channel="PJSIP/1001-7fffffff")
        expected = "Channel specified does not exist"
    console.live_leg = lambda agent: wrong  # type: ignore[method-assign]
    with pytest.raises(TransferFailed) as err:
        await console.transfer("1001", "queue", "sales")
    del console.live_leg
    assert err.value.reason == expected
    assert "refused" in err.value.message and "still yours" in err.value.message
    assert isinstance(err.value, AmiActionError)
    assert await agent_state_of(env, "1001") is AgentState.ON_CALL
    # the refusal's BlindTransfer event (if any) comes before the hang-up's events on the AMI stream,
    # so the stored call below has seen it
    await console.hangup("1001")
    call = await stored_call(env, call_id)
    assert call.transfers == ()
    assert [(o.agent, o.answered) for o in call.offers] == [("1001", True)]


async def agent_state_of(env: SimEnv, agent: str) -> AgentState:
    status = await env.service.acd.state.get_agent(agent)
    assert status is not None
    return status.state


@pytest.mark.parametrize("reply", ["success", "secondary-failed"])
async def test_a_hold_on_the_wrong_local_half_never_strands_the_customer(
    sim_console: SimEnv, reply: str
) -> None:
    """Facts 32 (and the live run's ``Secondary redirect failed``): a dual Redirect whose ExtraChannel is a
    Local agent's ``;2`` moves the customer to [cc-hold] and app_dial hangs the agent pair up. Whatever
    the reply, the console must not leave the customer alone with the music: here the hold is forced
    onto ``;2`` (as the old channel choice did) and the customer ends up at the front of the queue."""
    env = sim_console
    if env.agent_tech != "Local":
        pytest.skip("a PJSIP agent is one channel: there is no wrong half")
    assert env.sim.pbx is not None and env.sim.ami is not None
    for holder in (env.sim.pbx, env.sim.ami):
        holder.cfg = dataclasses.replace(holder.cfg, dual_redirect_unbridged=reply)  # type: ignore[arg-type]
    service = env.service
    console = service.console
    await service.acd.login("1001")
    call_id = await answered_call(env)
    (two,) = [
        leg for leg in service.agent_legs("1001") if leg.ended_at is None and leg.channel.endswith(";2")
    ]
    console.live_leg = lambda agent: two  # type: ignore[method-assign]
    with pytest.raises(HoldFailed) as err:
        await console.hold("1001", True)
    del console.live_leg  # the rule again
    assert err.value.outcome == "requeued", err.value.reason
    assert await console.held("1001") is None
    await until(lambda: not in_context(env, "cc-hold"), "the customer out of [cc-hold]")
    await until_callers(env, ["2025550199"])
    await until_state(env, "1001", AgentState.WRAPUP)
    await service.acd.login("1002")
    await until_state(env, "1002", AgentState.ON_CALL)
    entries = await service.audit.list_audit(actor="agent:1001")
    assert [(e.detail["outcome"], e.detail["agent_channel"]) for e in entries] == [("requeued", two.channel)]
    await service.console.hangup("1002")
    call = await stored_call(env, call_id)
    assert [(o.agent, o.answered) for o in call.offers] == [("1001", True), ("1002", True)]
