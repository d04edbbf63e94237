"""The ACD service with a fake AGI channel and fake phones: offering, the wait, callbacks, agent states."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter

import pytest

from callcenter.domain import events as ev
from callcenter.domain.acd import AcdConfig, AgentState, InvalidTransition, UnknownAgent, UnknownQueue
from callcenter.domain.queueing import RouteOutcome
from tests.acd.conftest import MakeRig, Rig
from tests.acd.fakes import FakeChannel, Phone, agents, login_all, queue, request


async def eventually(check: object, timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        result = check() if callable(check) else check
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.005)


async def state_of(rig: Rig, agent: str) -> AgentState:
    status = await rig.acd.state.get_agent(agent)
    assert status is not None
    return status.state


def snap(channel: str, uniqueid: str, linkedid: str) -> ev.ChannelSnapshot:
    return ev.ChannelSnapshot(channel=channel, uniqueid=uniqueid, linkedid=linkedid)


async def test_answered_call_goes_through_every_state(make_rig: MakeRig) -> None:
    rig = await make_rig(AcdConfig(queues=(queue(),), agents=tuple(agents(2))))
    await login_all(rig.acd)
    rig.phones.set("PJSIP/1001", Phone(ring=0.02, talk=0.05))
    channel = FakeChannel(rig.phones, "call-1")
    result = await rig.acd.route(channel, request("call-1", customer_id=7, ivr_choices=("2",)))
    assert result.outcome is RouteOutcome.ANSWERED and result.agent == "1001"
    assert result.wait_seconds < 1.0
    assert "EXEC Dial PJSIP/1001,1,m(default)U(mixmon)" in channel.commands
    assert channel.vars["CC_QUEUE"] == "support" and channel.vars["CC_AGENT"] == "1001"
    assert await state_of(rig, "1001") is AgentState.AVAILABLE
    await rig.acd.flush_log()
    path = [(t.from_state.value, t.to_state.value) for t in rig.log.rows if t.agent == "1001"]
    assert path == [
        ("logged_out", "available"),
        ("available", "ringing"),
        ("ringing", "on_call"),
        ("on_call", "available"),
    ]
    ringing = next(t for t in rig.log.rows if t.to_state is AgentState.RINGING)
    assert ringing.call_id == "call-1" and ringing.queue == "support"
    offered = rig.events.of("call.offered")[0]
    assert offered["agent"] == "1001" and offered["customer_id"] == 7 and offered["ivr_choices"] == ["2"]
    assert [e["type"] for e in rig.events.items if e["type"].startswith("call.")] == [
        "call.queued",
        "call.offered",
        "call.answered",
    ]
    assert await rig.acd.state.waiting("support") == []
    assert (await rig.acd.state.counters("support"))["answered_within_threshold"] == 1


async def test_timed_wrapup_and_wrapup_until_the_agent_ends_it(make_rig: MakeRig) -> None:
    rig = await make_rig(
        AcdConfig(
            queues=(queue(wrapup=0.1), queue("manual", wrapup=-1)),
            agents=tuple(agents(1)) + tuple(agents(1, "manual", first=2001)),
        )
    )
    await login_all(rig.acd)
    result = await rig.acd.route(FakeChannel(rig.phones, "c1"), request("c1"))
    assert result.outcome is RouteOutcome.ANSWERED
    status = await rig.acd.state.get_agent("1001")
    assert status is not None and status.state is AgentState.WRAPUP and status.until > 0
    await eventually(lambda: _is(rig, "1001", AgentState.AVAILABLE))
    await rig.acd.route(FakeChannel(rig.phones, "c2"), request("c2", "manual"))
    assert await state_of(rig, "2001") is AgentState.WRAPUP
    await asyncio.sleep(0.05)
    assert await state_of(rig, "2001") is AgentState.WRAPUP
    await rig.acd.end_wrapup("2001")
    assert await state_of(rig, "2001") is AgentState.AVAILABLE


async def _is(rig: Rig, agent: str, state: AgentState) -> bool:
    return await state_of(rig, agent) is state


async def test_no_answer_pauses_the_agent_and_tries_the_next(make_rig: MakeRig) -> None:
    rig = await make_rig(AcdConfig(queues=(queue(ring_timeout=1),), agents=tuple(agents(3))))
    await login_all(rig.acd)
    rig.phones.set("PJSIP/1001", Phone("noanswer", ring=0.03))
    rig.phones.set("PJSIP/1002", Phone("busy"))
    rig.phones.set("PJSIP/1003", Phone(ring=0.01))
    result = await rig.acd.route(FakeChannel(rig.phones, "c1"), request("c1"))
    assert result.outcome is RouteOutcome.ANSWERED and result.agent == "1003"
    assert [e for _, e in rig.phones.offers] == ["PJSIP/1001", "PJSIP/1002", "PJSIP/1003"]
    s1 = await rig.acd.state.get_agent("1001")
    s2 = await rig.acd.state.get_agent("1002")
    assert s1 is not None and s1.state is AgentState.PAUSED and s1.reason == "missed_call"
    assert s2 is not None and s2.state is AgentState.BUSY and s2.reason == "busy" and s2.until > 0
    assert (await rig.acd.state.counters("support"))["missed"] == 1


async def test_missed_call_pause_can_be_disabled_and_unreachable_agents_rest(make_rig: MakeRig) -> None:
    rig = await make_rig(
        AcdConfig(queues=(queue(missed_call_pause=False, busy_rest=0.05),), agents=tuple(agents(2)))
    )
    await login_all(rig.acd)
    rig.phones.set("PJSIP/1001", Phone("unavail"))
    rig.phones.set("PJSIP/1002", Phone("noanswer", ring=0.02))
    channel = FakeChannel(rig.phones, "c1", hangup_after=0.3)
    result = await rig.acd.route(channel, request("c1"))
    assert result.outcome is RouteOutcome.ABANDONED
    s2 = await rig.acd.state.get_agent("1002")
    assert s2 is not None and s2.state is AgentState.AVAILABLE  # not paused: disabled
    assert ("c1", "PJSIP/1001") in rig.phones.offers
    await eventually(lambda: _is(rig, "1001", AgentState.AVAILABLE))  # the busy rest ended


async def test_caller_hangs_up_while_waiting_and_while_ringing(make_rig: MakeRig) -> None:
    rig = await make_rig(AcdConfig(queues=(queue(ring_timeout=5),), agents=tuple(agents(1))))
    await login_all(rig.acd)
    await rig.acd.pause("1001", "break")
    result = await rig.acd.route(FakeChannel(rig.phones, "c1", hangup_after=0.1), request("c1"))
    assert result.outcome is RouteOutcome.ABANDONED
    assert 0.08 <= result.wait_seconds < 1.0
    assert await rig.acd.state.waiting("support") == []
    [abandoned] = rig.events.of("call.abandoned")
    assert abandoned["call_id"] == "c1" and abandoned["wait"] >= 0.08
    await rig.acd.unpause("1001")
    rig.phones.set("PJSIP/1001", Phone("noanswer", ring=5))
    result = await rig.acd.route(FakeChannel(rig.phones, "c2", hangup_after=0.1), request("c2"))
    assert result.outcome is RouteOutcome.ABANDONED
    assert await state_of(rig, "1001") is AgentState.AVAILABLE  # not the agent's fault
    assert (await rig.acd.state.counters("support"))["abandoned"] == 2


async def test_max_wait_overflow_voicemail_and_max_callers(make_rig: MakeRig) -> None:
    rig = await make_rig(
        AcdConfig(
            queues=(
                queue(max_wait=0.1, overflow="sales"),
                queue("vm", max_wait=0.05),
                queue("small", max_callers=1),
            ),
            agents=tuple(agents(1)) + tuple(agents(1, "vm", 2001)) + tuple(agents(1, "small", 3001)),
        )
    )
    await login_all(rig.acd)
    for agent in ("1001", "2001", "3001"):
        await rig.acd.pause(agent, "lunch")
    result = await rig.acd.route(FakeChannel(rig.phones, "c1"), request("c1"))
    assert result.outcome is RouteOutcome.OVERFLOW and result.target == "sales"
    assert 0.1 <= result.wait_seconds < 0.5
    result = await rig.acd.route(FakeChannel(rig.phones, "c2"), request("c2", "vm"))
    assert result.outcome is RouteOutcome.VOICEMAIL and result.target == "vm"
    first = asyncio.create_task(
        rig.acd.route(FakeChannel(rig.phones, "c3", hangup_after=0.2), request("c3", "small"))
    )
    await eventually(lambda: _waiting(rig, "small", 1))
    result = await rig.acd.route(FakeChannel(rig.phones, "c4"), request("c4", "small"))
    assert result.outcome is RouteOutcome.VOICEMAIL and result.wait_seconds < 0.05
    assert (await first).outcome is RouteOutcome.ABANDONED
    assert [e["reason"] for e in rig.events.of("call.overflow")] == ["max_wait", "max_wait", "max_callers"]


async def _waiting(rig: Rig, q: str, n: int) -> bool:
    return len(await rig.acd.state.waiting(q)) == n


async def test_no_agents_logged_in_uses_the_fallback(make_rig: MakeRig) -> None:
    rig = await make_rig(AcdConfig(queues=(queue(fallback="operator"),), agents=tuple(agents(1))))
    result = await rig.acd.route(FakeChannel(rig.phones, "c1"), request("c1"))
    assert result.outcome is RouteOutcome.NO_AGENTS and result.target == "operator"
    await rig.acd.login("1001")
    await rig.acd.pause("1001", "break")
    task = asyncio.create_task(rig.acd.route(FakeChannel(rig.phones, "c2"), request("c2")))
    await eventually(lambda: _waiting(rig, "support", 1))
    await rig.acd.logout("1001", by="supervisor:sam")
    result = await task
    assert result.outcome is RouteOutcome.NO_AGENTS and result.target == "operator"
    assert not rig.acd.has_queue("nope") and rig.acd.has_queue("support")
    assert (
        await rig.acd.route(FakeChannel(rig.phones, "c3"), request("c3", "nope"))
    ).outcome is RouteOutcome.ERROR


async def test_wait_plays_music_and_announces_position_and_expected_wait(make_rig: MakeRig) -> None:
    rig = await make_rig(
        AcdConfig(queues=(queue(announce_interval=0.05, default_handle_time=90),), agents=tuple(agents(2)))
    )
    await login_all(rig.acd)
    await rig.acd.pause("1001", "break")
    rig.phones.set("PJSIP/1002", Phone(talk=0.5))
    busy = asyncio.create_task(rig.acd.route(FakeChannel(rig.phones, "c0"), request("c0")))
    await eventually(lambda: _is(rig, "1002", AgentState.RINGING))
    first = FakeChannel(rig.phones, "c1", hangup_after=0.3)
    second = FakeChannel(rig.phones, "c2", hangup_after=0.3)
    results = await asyncio.gather(rig.acd.route(first, request("c1")), rig.acd.route(second, request("c2")))
    assert [r.outcome for r in results] == [RouteOutcome.ABANDONED] * 2
    await busy
    assert "SET MUSIC ON default" in first.commands and any(
        c.startswith("WAIT FOR DIGIT") for c in first.commands
    )
    assert "STREAM FILE queue-youarenext 1" in first.commands
    # second in line: "there are 2 calls waiting", expected wait 2 * 90 s / 1 staffed agent = 3 minutes
    i = second.commands.index("STREAM FILE queue-thereare 1")
    assert second.commands[i + 1] == 'SAY NUMBER 2 "1"'
    j = second.commands.index("STREAM FILE queue-holdtime 1")
    assert second.commands[j + 1] == 'SAY NUMBER 3 "1"'
    assert "STREAM FILE acd-callback-offer 1" in second.commands
    assert "SET MUSIC OFF" in second.commands


async def test_vip_and_priority_jump_ahead(make_rig: MakeRig) -> None:
    rig = await make_rig(AcdConfig(queues=(queue(),), agents=tuple(agents(1))))
    await login_all(rig.acd)
    await rig.acd.pause("1001", "break")
    tasks = []
    for call, kw in (("low", {}), ("vip", {"vip": True}), ("prio", {"priority": 5}), ("low2", {})):
        tasks.append(asyncio.create_task(rig.acd.route(FakeChannel(rig.phones, call), request(call, **kw))))
        count = len(tasks)
        await eventually(lambda count=count: _waiting(rig, "support", count))  # type: ignore[misc]
    await rig.acd.unpause("1001")
    results = await asyncio.gather(*tasks)
    assert all(r.outcome is RouteOutcome.ANSWERED for r in results)
    assert [call for call, _ in rig.phones.offers] == ["vip", "prio", "low", "low2"]


async def test_callback_keeps_the_place_and_calls_the_agent_first(make_rig: MakeRig) -> None:
    rig = await make_rig(AcdConfig(queues=(queue(wrapup=0),), agents=tuple(agents(1))))
    await login_all(rig.acd)
    await rig.acd.pause("1001", "break")
    waiting = asyncio.create_task(
        rig.acd.route(FakeChannel(rig.phones, "early", hangup_after=5), request("early"))
    )
    await eventually(lambda: _waiting(rig, "support", 1))
    channel = FakeChannel(rig.phones, "cb1", digits=[(0.05, "1")])
    result = await rig.acd.route(channel, request("cb1", caller_name="Ann"))
    assert result.outcome is RouteOutcome.CALLBACK
    assert "STREAM FILE acd-callback-confirm " in channel.commands
    [entry] = await rig.acd.state.callbacks()
    assert entry.id == "cb1" and entry.caller_num == "5551234"
    await rig.acd.unpause("1001")
    assert (await waiting).outcome is RouteOutcome.ANSWERED  # the caller ahead is served first
    await eventually(lambda: len(rig.pbx.originated) == 1)
    originated = rig.pbx.originated[0]
    assert originated.channel == "PJSIP/1001"
    assert originated.kwargs["context"] == "outbound" and originated.kwargs["exten"] == "5551234"
    assert originated.kwargs["variables"]["CC_CALLBACK"] == "cb1"
    assert await state_of(rig, "1001") is AgentState.RINGING
    at = time.time()
    action = originated.kwargs["action_id"]
    rig.acd.observe(
        ev.OriginateResult(
            at=at, action_id=action, success=True, reason=4, channel="PJSIP/1001", uniqueid="u-agent"
        )
    )
    await eventually(lambda: _is(rig, "1001", AgentState.ON_CALL))
    assert await rig.acd.state.callbacks() == []
    rig.acd.observe(
        ev.ChannelHungUp(at=at + 1, chan=snap("PJSIP/1001-00000001", "u-agent", "u-agent"), cause=16)
    )
    await eventually(lambda: _is(rig, "1001", AgentState.AVAILABLE))
    assert [e["type"] for e in rig.events.items if e["type"].startswith("callback.")] == [
        "callback.connected"
    ]


async def test_callback_not_answered_by_the_agent_is_offered_again(make_rig: MakeRig) -> None:
    rig = await make_rig(AcdConfig(queues=(queue(),), agents=tuple(agents(2))))
    await login_all(rig.acd)
    await rig.acd.pause("1002", "break")
    await rig.acd.pause("1001", "break")
    result = await rig.acd.route(FakeChannel(rig.phones, "cb", digits=[(0.0, "1")]), request("cb"))
    assert result.outcome is RouteOutcome.CALLBACK
    await rig.acd.unpause("1001")
    await eventually(lambda: len(rig.pbx.originated) == 1)
    action = rig.pbx.originated[0].kwargs["action_id"]
    rig.acd.observe(
        ev.OriginateResult(
            at=time.time(), action_id=action, success=False, reason=3, channel="PJSIP/1001", uniqueid=None
        )
    )
    await eventually(lambda: _is(rig, "1001", AgentState.PAUSED))
    await rig.acd.unpause("1002")
    await eventually(lambda: len(rig.pbx.originated) == 2)
    assert rig.pbx.originated[1].channel == "PJSIP/1002"


async def test_phone_in_use_outside_the_acd_makes_the_agent_unavailable(make_rig: MakeRig) -> None:
    rig = await make_rig(AcdConfig(queues=(queue(),), agents=tuple(agents(2))))
    await login_all(rig.acd)
    at = time.time()
    rig.acd.observe(ev.ChannelCreated(at=at, chan=snap("PJSIP/1001-0000000a", "u1", "private")))
    await eventually(lambda: _is(rig, "1001", AgentState.BUSY))
    status = await rig.acd.state.get_agent("1001")
    assert status is not None and status.reason == "phone_in_use"
    result = await rig.acd.route(FakeChannel(rig.phones, "c1"), request("c1"))
    assert result.agent == "1002"
    await rig.acd.pause("1001", "break")
    await rig.acd.unpause("1001")  # the phone is still in use: busy, not available
    assert await state_of(rig, "1001") is AgentState.BUSY
    rig.acd.observe(ev.ChannelHungUp(at=at + 1, chan=snap("PJSIP/1001-0000000a", "u1", "private"), cause=16))
    await eventually(lambda: _is(rig, "1001", AgentState.AVAILABLE))


async def test_answer_and_hold_seen_on_ami(make_rig: MakeRig) -> None:
    rig = await make_rig(AcdConfig(queues=(queue(),), agents=tuple(agents(1))))
    await login_all(rig.acd)
    rig.phones.set("PJSIP/1001", Phone(ring=0.02, talk=0.4))
    task = asyncio.create_task(rig.acd.route(FakeChannel(rig.phones, "c1"), request("c1")))
    await eventually(lambda: _is(rig, "1001", AgentState.RINGING))
    leg = snap("PJSIP/1001-00000001", "u-leg", "c1")
    rig.acd.observe(ev.ChannelCreated(at=time.time(), chan=leg))  # the ACD's own leg: not "busy"
    rig.acd.observe(
        ev.DialEnded(
            at=time.time(), caller=snap("Local/x;2", "c1", "c1"), dest=leg, status=ev.DialStatus.ANSWER
        )
    )
    await eventually(lambda: _is(rig, "1001", AgentState.ON_CALL))
    rig.acd.observe(ev.HoldStarted(at=time.time(), chan=leg))
    await eventually(lambda: _is(rig, "1001", AgentState.ON_HOLD))
    await rig.acd.pause("1001", "coaching" if "coaching" in rig.acd.options.pause_reasons else "training")
    rig.acd.observe(ev.HoldEnded(at=time.time(), chan=leg))
    await eventually(lambda: _is(rig, "1001", AgentState.ON_CALL))
    result = await task
    assert result.outcome is RouteOutcome.ANSWERED
    status = await rig.acd.state.get_agent("1001")
    assert status is not None and status.state is AgentState.PAUSED and status.reason == "training"
    rig.acd.observe(ev.ChannelHungUp(at=time.time(), chan=leg, cause=16))
    await rig.acd.flush_log()
    states = [t.to_state for t in rig.log.rows]
    assert states.count(AgentState.ON_HOLD) == 1 and states.count(AgentState.ON_CALL) == 2


async def test_control_api_validation(make_rig: MakeRig) -> None:
    rig = await make_rig(AcdConfig(queues=(queue(),), agents=tuple(agents(1))))
    with pytest.raises(UnknownAgent):
        await rig.acd.login("9999")
    with pytest.raises(InvalidTransition):
        await rig.acd.pause("1001", "break")  # logged out
    await rig.acd.login("1001")
    with pytest.raises(InvalidTransition):
        await rig.acd.pause("1001", "nap")
    assert (await rig.acd.login("1001")).state is AgentState.AVAILABLE  # idempotent
    paused = await rig.acd.pause("1001", "lunch", by="supervisor:sam")
    assert paused.state is AgentState.PAUSED and paused.reason == "lunch"
    await rig.acd.logout("1001")
    await rig.acd.flush_log()
    last = rig.log.rows[-1]
    assert (
        last.to_state is AgentState.LOGGED_OUT and last.from_state is AgentState.PAUSED and last.duration >= 0
    )
    assert [t.by for t in rig.log.rows] == ["agent", "supervisor:sam", "agent"]
    assert [e["state"] for e in rig.events.of("agent.state")] == ["available", "paused", "logged_out"]


async def test_admin_changes_queues_and_agents(make_rig: MakeRig) -> None:
    rig = await make_rig(AcdConfig(queues=(queue(),), agents=tuple(agents(1))))
    await rig.acd.put_queue("sales", {"strategy": "linear", "max_wait": 30})
    assert rig.acd.queue("sales").max_wait == 30
    cfg = await rig.acd.put_agent({"id": "2001", "endpoint": "PJSIP/2001", "queues": {"sales": 0}})
    assert cfg.order == 2
    await rig.acd.login("2001")
    result = await rig.acd.route(FakeChannel(rig.phones, "s1"), request("s1", "sales"))
    assert result.agent == "2001"
    view = await rig.acd.queue_view("sales")
    assert view["counters"]["answered"] == 1 and view["agents_by_state"] == {"available": 1}
    await rig.acd.delete_agent("2001")
    await rig.acd.delete_queue("sales")
    assert not rig.acd.has_queue("sales") and "2001" not in rig.acd.agents


@pytest.mark.usefixtures("acd_backend")
async def test_many_concurrent_callers_and_agents_no_double_offers(make_rig: MakeRig) -> None:
    rig = await make_rig(AcdConfig(queues=(queue(),), agents=tuple(agents(15))))
    await login_all(rig.acd)
    rnd = random.Random(5)
    for i in range(15):
        rig.phones.set(f"PJSIP/{1001 + i}", Phone(ring=rnd.uniform(0, 0.02), talk=rnd.uniform(0, 0.03)))
    rig.phones.set("PJSIP/1003", Phone("noanswer", ring=0.01))
    calls = [f"c{n}" for n in range(60)]
    results = await asyncio.wait_for(
        asyncio.gather(*(rig.acd.route(FakeChannel(rig.phones, c), request(c)) for c in calls)), timeout=30
    )
    assert rig.phones.violations == []
    assert all(r.outcome is RouteOutcome.ANSWERED for r in results)
    assert all(len(rig.phones.answered[c]) == 1 for c in calls)  # no call reached two agents
    assert Counter(r.agent for r in results)["1003"] == 0
    assert await rig.acd.state.waiting("support") == []


@pytest.mark.usefixtures("acd_backend")
async def test_round_robin_fairness_with_equal_availability(make_rig: MakeRig) -> None:
    rig = await make_rig(AcdConfig(queues=(queue(),), agents=tuple(agents(7))))
    await login_all(rig.acd)
    for n in range(45):
        result = await rig.acd.route(FakeChannel(rig.phones, f"c{n}"), request(f"c{n}"))
        assert result.outcome is RouteOutcome.ANSWERED
    offers = Counter(endpoint for _, endpoint in rig.phones.offers)
    assert len(offers) == 7 and max(offers.values()) - min(offers.values()) <= 1
    assert [e for _, e in rig.phones.offers[:8]] == [f"PJSIP/{1001 + i}" for i in range(7)] + ["PJSIP/1001"]


async def test_ivr_callback_request_is_filed_and_the_next_free_agent_is_called(make_rig: MakeRig) -> None:
    """The IVR's callback node (ports.CallbackRequests) files the request with the ACD."""
    rig = await make_rig(AcdConfig(queues=(queue(),), agents=tuple(agents(1))))
    await login_all(rig.acd)
    await rig.acd.pause("1001", "break")
    await rig.acd.request_callback("ivr-cb", "5550199", "support", "en", None)
    [entry] = await rig.acd.state.callbacks()
    assert entry.id == "ivr-cb" and entry.caller_num == "5550199"
    await rig.acd.unpause("1001")
    await eventually(lambda: len(rig.pbx.originated) == 1)
    originated = rig.pbx.originated[0]
    assert originated.channel == "PJSIP/1001" and originated.kwargs["exten"] == "5550199"
    with pytest.raises(UnknownQueue):
        await rig.acd.request_callback("x", "5550199", "no-such-queue", "en", None)
