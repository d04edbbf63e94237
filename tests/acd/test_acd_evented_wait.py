"""The event-driven wait: callers sleep with music and no AGI command outstanding, and claim only when an
agent frees, an announcement or the max wait is due; the behaviour a caller sees stays the same."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import pytest

from callcenter.domain.acd import AcdConfig, AgentState
from callcenter.domain.queueing import RouteOutcome
from tests.acd.conftest import MakeRig, Rig
from tests.acd.fakes import FAST, FakeChannel, Phone, agents, login_all, queue, request
from tests.acd.test_acd_service import eventually, state_of

pytestmark = pytest.mark.usefixtures("acd_backend")

#: a one-second wait slice: the old loop would take up to a second to see a freed agent
EVENTED = replace(FAST, wait_slice=1.0, idle_claim=5.0, callback_window=0.3)


async def _waiting(rig: Rig, n: int) -> bool:
    return len(await rig.acd.state.waiting("support")) == n


async def test_a_freed_agent_is_offered_to_the_head_caller_at_once_and_idle_callers_do_not_poll(
    make_rig: MakeRig,
) -> None:
    rig = await make_rig(
        AcdConfig(queues=(queue(announce_interval=60, callback=False),), agents=tuple(agents(1))), EVENTED
    )
    await login_all(rig.acd)
    await rig.acd.pause("1001", "break")
    rig.phones.set("PJSIP/1001", Phone(talk=0.01))
    channels = [FakeChannel(rig.phones, f"c{n}") for n in range(3)]
    tasks = []
    for n, channel in enumerate(channels):
        tasks.append(asyncio.create_task(rig.acd.route(channel, request(f"c{n}"))))
        await eventually(lambda n=n: _waiting(rig, n + 1))  # type: ignore[misc]
    claims = rig.acd.stats["wait_claims"]
    await asyncio.sleep(0.5)  # the callers wait: nothing changes, nobody claims
    assert rig.acd.stats["wait_claims"] == claims
    assert all(not any(c.startswith("WAIT FOR DIGIT") for c in ch.commands) for ch in channels)
    assert all(ch.idle_waits >= 1 for ch in channels)
    freed = time.monotonic()
    await rig.acd.unpause("1001")
    await eventually(lambda: len(rig.phones.offers) >= 1)
    assert time.monotonic() - freed < 0.5  # at once (bench/load.py prints the routing delay)
    results = await asyncio.wait_for(asyncio.gather(*tasks), timeout=10)
    assert [r.outcome for r in results] == [RouteOutcome.ANSWERED] * 3
    assert [call for call, _ in rig.phones.offers] == ["c0", "c1", "c2"]  # the order is kept
    # each caller claimed on entry and when the agent came back for it, not once a second
    assert rig.acd.stats["wait_claims"] <= claims + 3 * 4


async def test_several_agents_freed_at_once_serve_several_callers(make_rig: MakeRig) -> None:
    rig = await make_rig(
        AcdConfig(queues=(queue(announce_interval=60, callback=False),), agents=tuple(agents(3))), EVENTED
    )
    await login_all(rig.acd)
    for agent in ("1001", "1002", "1003"):
        await rig.acd.pause(agent, "break")
        rig.phones.set(f"PJSIP/{agent}", Phone(talk=0.5))
    tasks = [
        asyncio.create_task(rig.acd.route(FakeChannel(rig.phones, f"c{n}"), request(f"c{n}")))
        for n in range(3)
    ]
    await eventually(lambda: _waiting(rig, 3))
    for agent in ("1001", "1002", "1003"):
        await rig.acd.unpause(agent)
    await eventually(lambda: len(rig.phones.offers) == 3, timeout=1.0)
    assert sorted(call for call, _ in rig.phones.offers) == ["c0", "c1", "c2"]
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=10)


async def test_hang_up_while_idle_is_noticed_at_once(make_rig: MakeRig) -> None:
    rig = await make_rig(
        AcdConfig(queues=(queue(announce_interval=60, callback=False),), agents=tuple(agents(1))), EVENTED
    )
    await login_all(rig.acd)
    await rig.acd.pause("1001", "break")
    result = await rig.acd.route(FakeChannel(rig.phones, "c1", hangup_after=0.2), request("c1"))
    assert result.outcome is RouteOutcome.ABANDONED and 0.2 <= result.wait_seconds < 0.35
    assert await rig.acd.state.waiting("support") == []


async def test_last_agent_logging_out_sends_the_waiting_caller_to_the_fallback(make_rig: MakeRig) -> None:
    rig = await make_rig(
        AcdConfig(
            queues=(queue(announce_interval=60, callback=False, fallback="op"),), agents=tuple(agents(1))
        ),
        EVENTED,
    )
    await login_all(rig.acd)
    await rig.acd.pause("1001", "break")
    task = asyncio.create_task(rig.acd.route(FakeChannel(rig.phones, "c1"), request("c1")))
    await eventually(lambda: _waiting(rig, 1))
    gone = time.monotonic()
    await rig.acd.logout("1001")
    result = await asyncio.wait_for(task, timeout=2)
    assert result.outcome is RouteOutcome.NO_AGENTS and result.target == "op"
    assert time.monotonic() - gone < 0.2


async def test_announcements_keep_their_interval_and_the_callback_digit_works_after_the_offer(
    make_rig: MakeRig,
) -> None:
    rig = await make_rig(AcdConfig(queues=(queue(announce_interval=0.4),), agents=tuple(agents(1))), EVENTED)
    await login_all(rig.acd)
    await rig.acd.pause("1001", "break")
    # "1" pressed while idle (between commands) is lost, as on Asterisk; pressed right after the
    # callback offer (the listening window) it is taken
    channel = FakeChannel(rig.phones, "cb", digits=[(0.2, "1"), (0.5, "1")])
    result = await asyncio.wait_for(rig.acd.route(channel, request("cb")), timeout=5)
    assert result.outcome is RouteOutcome.CALLBACK
    assert channel.dropped_digits == ["1"]
    assert "STREAM FILE acd-callback-offer 1" in channel.commands
    assert 0.4 <= result.wait_seconds < 1.0
    [entry] = await rig.acd.state.callbacks()
    assert entry.id == "cb"
    # an announcement at each interval: 3 of them in about 1.3 s of waiting
    listener = FakeChannel(rig.phones, "long", hangup_after=1.3)
    assert (await rig.acd.route(listener, request("long"))).outcome is RouteOutcome.ABANDONED
    assert listener.commands.count("STREAM FILE acd-callback-offer 1") in (2, 3)
    assert await state_of(rig, "1001") is AgentState.PAUSED
