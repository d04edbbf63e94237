"""The ACD's reconciler, on the in-process state and on the real Redis: each rule repairs what a dead PBX,
a killed service or an emptied Redis leaves behind, and leaves alone what is alive or just changed."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import pytest

from callcenter.domain import events as ev
from callcenter.domain.acd import (
    AcdConfig,
    AgentState,
    AgentStatus,
    EntryKind,
    EntryStatus,
    WaitingEntry,
)
from callcenter.domain.agent_state import transition
from callcenter.domain.queueing import RouteOutcome
from callcenter.ports import AcdState
from tests.acd.conftest import MakeRig, Rig
from tests.acd.fakes import FAST, FakeChannel, Phone, agents, login_all, queue, request
from tests.acd.test_acd_service import eventually, snap, state_of

pytestmark = pytest.mark.usefixtures("acd_backend")

HEAL = replace(FAST, reconcile_grace=1.0, reconcile_interval=3600.0, lease_renew=0.05, lease_ttl=0.4)


async def force(state: AcdState, agent: str, to: AgentState, since: float, **kw: object) -> AgentStatus:
    """Put an agent in a state directly (what a killed process leaves in the shared state)."""
    current = await state.get_agent(agent)
    assert current is not None
    new, _ = transition(current, to, since, **kw)  # type: ignore[arg-type]
    stored = await state.compare_and_set(new)
    assert stored is not None
    return stored


async def settled(rig: Rig) -> None:
    """The pass every start runs is over (the tests then set the scene without a pass in between)."""
    await eventually(lambda: rig.acd.reconciler.last is not None)


async def resync(rig: Rig, *channels: ev.ChannelSnapshot) -> None:
    """The AMI link logged in again and CoreShowChannels listed ``channels``."""
    at = time.time()
    rig.acd.observe(ev.LinkUp(at=at, attempt=2))
    for chan in channels:
        rig.acd.observe(ev.ChannelListed(at=at, chan=chan))
    rig.acd.observe(ev.ResyncComplete(at=at, live_uniqueids=frozenset(c.uniqueid for c in channels)))


async def test_agents_on_a_call_with_no_channel_are_released_after_a_pbx_resync(make_rig: MakeRig) -> None:
    rig = await make_rig(AcdConfig(queues=(queue(wrapup=0.2),), agents=tuple(agents(4))), HEAL)
    await login_all(rig.acd)
    long_ago = time.time() - 60
    state = rig.acd.state
    await force(state, "1001", AgentState.RINGING, long_ago, call_id="dead-1", queue="support")
    await force(state, "1001", AgentState.ON_CALL, long_ago)
    await force(state, "1002", AgentState.RINGING, long_ago, call_id="live-2", queue="support")
    await force(state, "1002", AgentState.ON_CALL, long_ago)
    await force(state, "1003", AgentState.RINGING, long_ago, call_id="held-3", queue="support")
    await force(state, "1003", AgentState.ON_CALL, long_ago)
    await force(state, "1003", AgentState.ON_HOLD, long_ago)
    await force(state, "1004", AgentState.RINGING, time.time(), call_id="new-4", queue="support")
    await force(state, "1004", AgentState.ON_CALL, time.time())  # just answered: within the grace period
    # before any resync the channels are unknown: nothing is torn down
    report = await rig.acd.reconciler.reconcile("test")
    assert report.agents_released == 0
    # the PBX lists the agent 1002's phone and the customer's channel of the held call 1003 only
    await resync(
        rig, snap("PJSIP/1002-00000001", "u2", "live-2"), snap("PJSIP/cust-00000009", "u9", "held-3")
    )
    await eventually(lambda: _is(rig, "1001", AgentState.WRAPUP))
    await eventually(lambda: _is(rig, "1001", AgentState.AVAILABLE))  # the queue's timed wrap-up ended
    assert await state_of(rig, "1002") is AgentState.ON_CALL
    assert await state_of(rig, "1003") is AgentState.ON_HOLD
    assert await state_of(rig, "1004") is AgentState.ON_CALL
    await eventually(lambda: rig.acd.stats["reconcile_agents_released"] == 1)
    # the call of 1004 had no channel either: released once the grace period is over (follow-up pass)
    await eventually(lambda: _is(rig, "1004", AgentState.WRAPUP), timeout=5.0)
    await rig.acd.flush_log()
    released = [t for t in rig.log.rows if t.by == "reconcile"]
    assert [(t.agent, t.from_state, t.to_state) for t in released][:2] == [
        ("1001", AgentState.ON_CALL, AgentState.WRAPUP),
        ("1004", AgentState.ON_CALL, AgentState.WRAPUP),
    ]


async def test_busy_phone_without_a_channel_after_a_resync_is_available_again(make_rig: MakeRig) -> None:
    rig = await make_rig(
        AcdConfig(queues=(queue(),), agents=tuple(agents(1))), replace(HEAL, reconcile_grace=0)
    )
    await login_all(rig.acd)
    rig.acd.observe(ev.ChannelCreated(at=time.time(), chan=snap("PJSIP/1001-0000000a", "u1", "private")))
    await eventually(lambda: _is(rig, "1001", AgentState.BUSY))
    await resync(rig)  # the PBX restarted: no Hangup ever came for the private call
    await eventually(lambda: _is(rig, "1001", AgentState.AVAILABLE))
    await eventually(lambda: rig.acd.stats["reconcile_phones_idle"] == 1)


async def test_waiter_without_a_live_session_is_removed_and_its_ringing_agent_released(
    make_rig: MakeRig,
) -> None:
    rig = await make_rig(
        AcdConfig(queues=(queue(),), agents=tuple(agents(2))), replace(HEAL, reconcile_grace=0)
    )
    await login_all(rig.acd)
    await rig.acd.pause("1002", "break")
    await settled(rig)
    state = rig.acd.state
    me = rig.acd.instance
    # what a killed process of this instance left: a waiter, and a waiter whose agent rings
    await state.enqueue(WaitingEntry(id="ghost", queue="support", call_id="ghost", owner=me))
    await state.enqueue(WaitingEntry(id="ringing", queue="support", call_id="ringing", owner=me))
    claim = await state.claim("support", "ghost", time.time() - 30, 0.0, me)
    assert claim.status is EntryStatus.OFFERED and claim.agent is not None and claim.agent.agent == "1001"
    # a live caller of this instance waits too (its agents are paused)
    rig.phones.set("PJSIP/1001", Phone(talk=0.01))
    live = asyncio.create_task(
        rig.acd.route(FakeChannel(rig.phones, "alive", hangup_after=30), request("alive"))
    )
    await eventually(lambda: _waiting(rig, 2))
    report = await rig.acd.reconciler.reconcile("test")
    assert report.waiters_removed == 2 and report.agents_released == 1
    assert [e.id for e in await state.entries()] == ["alive"]
    status = await state.get_agent("1001")
    assert status is not None and status.call_id != "ghost"  # available, or offered the live caller
    assert (await rig.acd.reconciler.reconcile("again")).repaired == 0  # nothing left to repair
    result = await asyncio.wait_for(live, timeout=5)
    assert result.outcome is RouteOutcome.ANSWERED and result.agent == "1001"


async def _waiting(rig: Rig, n: int) -> bool:
    return len(await rig.acd.state.waiting("support")) == n


async def _is(rig: Rig, agent: str, state: AgentState) -> bool:
    return await state_of(rig, agent) is state


async def test_a_dead_instance_s_waiters_claims_and_ringing_agents_are_released_within_15s(
    make_rig: MakeRig,
) -> None:
    """Another instance died: its lease runs out and this survivor releases what it held."""
    rig = await make_rig(AcdConfig(queues=(queue(),), agents=tuple(agents(3))), HEAL)
    await login_all(rig.acd)
    await rig.acd.pause("1003", "break")
    await settled(rig)
    state = rig.acd.state
    died_at = time.time()
    long_ago = died_at - 30
    await state.renew_lease("dead-one", 1.0, died_at)
    await state.enqueue(WaitingEntry(id="w1", queue="support", call_id="w1", owner="dead-one"))
    await state.enqueue(WaitingEntry(id="w2", queue="support", call_id="w2", owner="dead-one"))
    claim = await state.claim("support", "w1", long_ago, 0.0, "dead-one")
    assert claim.agent is not None and claim.agent.agent == "1001"
    await state.enqueue(
        WaitingEntry(id="cb", queue="support", call_id="cb", kind=EntryKind.CALLBACK, priority=5)
    )
    assert await state.to_callback("cb", "5550100")
    claim = await state.claim("support", "cb", long_ago, 0.0, "dead-one")  # its callback originate
    assert claim.agent is not None and claim.agent.agent == "1002"
    assert await state_of(rig, "1002") is AgentState.RINGING
    await eventually(lambda: _no_calls_waiting(state), timeout=15.0)
    assert time.time() - died_at < 15.0
    # the callback request waits again and is offered to the next free agent by this survivor
    await eventually(lambda: len(rig.pbx.originated) >= 1, timeout=5.0)
    assert rig.pbx.originated[0].kwargs["variables"]["CC_CALLBACK"] == "cb"
    await eventually(lambda: _not_ringing_for(state, "1001", "w1"))  # released (then maybe offered cb)
    await eventually(lambda: _claimed_by(state, "cb", rig.acd.instance))  # offered again by the survivor
    assert "dead-one" not in await state.instances(time.time())
    await eventually(lambda: rig.acd.stats["reconcile_instances_released"] == 1)
    await eventually(lambda: rig.acd.stats["reconcile_waiters_removed"] == 2)
    await eventually(lambda: rig.acd.stats["reconcile_callbacks_requeued"] == 1)


async def _not_ringing_for(state: AcdState, agent: str, call_id: str) -> bool:
    status = await state.get_agent(agent)
    return status is not None and status.call_id != call_id


async def _claimed_by(state: AcdState, entry_id: str, instance: str) -> bool:
    entry = await state.get_entry(entry_id)
    return entry is not None and entry.claimed_by == instance


async def _no_calls_waiting(state: AcdState) -> bool:
    return not [e for e in await state.entries() if e.kind is EntryKind.CALL]


async def test_a_live_instance_s_offer_is_left_alone(make_rig: MakeRig) -> None:
    rig = await make_rig(
        AcdConfig(queues=(queue(),), agents=tuple(agents(1))), replace(HEAL, reconcile_grace=0)
    )
    await login_all(rig.acd)
    await settled(rig)
    state = rig.acd.state
    await state.renew_lease("other", 60, time.time())
    await state.enqueue(WaitingEntry(id="x", queue="support", call_id="x", owner="other"))
    await state.claim("support", "x", time.time() - 30, 0.0, "other")
    report = await rig.acd.reconciler.reconcile("test")
    assert report.repaired == 0
    assert await state_of(rig, "1001") is AgentState.RINGING
    entry = await state.get_entry("x")
    assert entry is not None and entry.status is EntryStatus.OFFERED and entry.claimed_by == "other"


async def test_pbx_killed_mid_call_agents_released_within_10s_of_its_return(make_rig: MakeRig) -> None:
    """kill -9 of the PBX: the AGI session reaches EOF in Dial, no Hangup event ever comes, and after the
    restart CoreShowChannels lists nothing (facts 34); the agent must not stay on the call."""
    rig = await make_rig(AcdConfig(queues=(queue(wrapup=0.2),), agents=tuple(agents(2))), HEAL)
    await login_all(rig.acd)
    await rig.acd.pause("1002", "break")
    rig.phones.set("PJSIP/1001", Phone(talk=60))
    channel = FakeChannel(rig.phones, "c1")
    task = asyncio.create_task(rig.acd.route(channel, request("c1")))
    await eventually(lambda: _is(rig, "1001", AgentState.RINGING))
    leg = snap("PJSIP/1001-00000001", "u-leg", "c1")
    rig.acd.observe(ev.ChannelCreated(at=time.time(), chan=leg))
    rig.acd.observe(
        ev.DialEnded(
            at=time.time(), caller=snap("PJSIP/cust-1", "c1", "c1"), dest=leg, status=ev.DialStatus.ANSWER
        )
    )
    await eventually(lambda: _is(rig, "1001", AgentState.ON_CALL))
    channel.dead = True  # kill -9: EOF on the AGI socket and on the AMI link
    rig.acd.observe(ev.LinkDown(at=time.time(), reason="EOF"))
    await asyncio.wait_for(task, timeout=5)
    assert await state_of(rig, "1001") is AgentState.ON_CALL  # nothing says the call is over yet
    back = time.monotonic()
    await resync(rig)  # the PBX is back, with no channels at all
    await eventually(lambda: _is(rig, "1001", AgentState.AVAILABLE), timeout=10.0)
    assert time.monotonic() - back < 10.0
    await rig.acd.flush_log()
    assert [(t.from_state, t.to_state) for t in rig.log.rows if t.by == "reconcile"] == [
        (AgentState.ON_CALL, AgentState.WRAPUP)
    ]
