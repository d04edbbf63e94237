"""The ``AcdState`` contract: the same tests on the in-process and the Redis implementation."""

from __future__ import annotations

import asyncio
import random
import time

import pytest

from callcenter.domain.acd import (
    AgentConfig,
    AgentState,
    AgentStatus,
    EntryKind,
    EntryStatus,
    Membership,
    QueueConfig,
    Strategy,
    WaitingEntry,
)
from callcenter.domain.agent_state import transition
from callcenter.ports import AcdState

T0 = 1_700_000_000.0


async def setup(
    state: AcdState,
    agents: int = 3,
    strategy: Strategy = Strategy.RRMEMORY,
    *,
    queue: str = "q",
    skills: tuple[tuple[str, int], ...] = (),
    agent_skills: dict[str, tuple[tuple[str, int], ...]] | None = None,
    penalties: dict[str, int] | None = None,
    login: bool = True,
) -> list[str]:
    await state.save_queue(QueueConfig(name=queue, strategy=strategy, required_skills=skills))
    ids = [f"a{i + 1}" for i in range(agents)]
    for i, agent in enumerate(ids):
        await state.save_agent(
            AgentConfig(
                id=agent,
                endpoint=f"PJSIP/{agent}",
                queues=(Membership(queue, (penalties or {}).get(agent, 0)),),
                skills=(agent_skills or {}).get(agent, ()),
                order=i + 1,
            )
        )
        if login:
            await set_state(state, agent, AgentState.AVAILABLE, T0 + i * 0.001)
    return ids


async def set_state(state: AcdState, agent: str, to: AgentState, at: float = T0, **kw: object) -> AgentStatus:
    current = await state.get_agent(agent)
    assert current is not None
    new, _ = transition(current, to, at, **kw)  # type: ignore[arg-type]
    stored = await state.compare_and_set(new)
    assert stored is not None
    return stored


async def enqueue(
    state: AcdState, entry_id: str, priority: int = 0, queue: str = "q", **kw: object
) -> WaitingEntry:
    return await state.enqueue(
        WaitingEntry(id=entry_id, queue=queue, call_id=entry_id, priority=priority, enqueued_at=T0, **kw)  # type: ignore[arg-type]
    )


async def serve(state: AcdState, entry_id: str, queue: str = "q", rnd: float = 0.0) -> str | None:
    claim = await state.claim(queue, entry_id, T0 + 1, rnd)
    if claim.status is EntryStatus.OFFERED:
        assert claim.agent is not None
        return claim.agent.agent
    return None


async def finish(state: AcdState, agent: str, at: float) -> None:
    await set_state(state, agent, AgentState.ON_CALL, at)
    await set_state(state, agent, AgentState.AVAILABLE, at + 0.5)


async def test_configuration_round_trip(acd_state: AcdState) -> None:
    q = QueueConfig(name="support", strategy=Strategy.LINEAR, max_wait=60, required_skills=(("en", 2),))
    await acd_state.save_queue(q)
    a = AgentConfig(id="1001", name="Ann", endpoint="PJSIP/1001", queues=(Membership("support", 2),), order=4)
    await acd_state.save_agent(a)
    assert await acd_state.load_queues() == [q]
    assert await acd_state.load_agents() == [a]
    status = await acd_state.get_agent("1001")
    assert status is not None and status.state is AgentState.LOGGED_OUT and status.version == 0
    await acd_state.delete_agent("1001")
    assert await acd_state.load_agents() == []
    assert await acd_state.get_agent("1001") is None
    await acd_state.delete_queue("support")
    assert await acd_state.load_queues() == []


async def test_compare_and_set_detects_concurrent_changes(acd_state: AcdState) -> None:
    await setup(acd_state, 1, login=False)
    status = await acd_state.get_agent("a1")
    assert status is not None
    new, _ = transition(status, AgentState.AVAILABLE, T0)
    stored = await acd_state.compare_and_set(new)
    assert stored is not None and stored.version == 1 and stored.state is AgentState.AVAILABLE
    again, _ = transition(status, AgentState.PAUSED, T0, reason="break")
    assert await acd_state.compare_and_set(again) is None  # stale version
    got = await acd_state.get_agent("a1")
    assert got == stored
    counts = await acd_state.counts("q")
    assert (counts.logged_in, counts.staffed, counts.available) == (1, 1, 1)
    await set_state(acd_state, "a1", AgentState.PAUSED, T0 + 1, reason="lunch")
    counts = await acd_state.counts("q")
    assert (counts.logged_in, counts.staffed, counts.available) == (1, 0, 0)


async def test_claim_reserves_the_agent_atomically(acd_state: AcdState) -> None:
    await setup(acd_state, 1)
    await enqueue(acd_state, "c1")
    await enqueue(acd_state, "c2")
    claim = await acd_state.claim("q", "c1", T0 + 5)
    assert claim.status is EntryStatus.OFFERED and claim.agent is not None
    assert claim.agent.state is AgentState.RINGING and claim.agent.call_id == "c1"
    assert claim.agent.offers == 1 and claim.agent.since == T0 + 5
    assert claim.previous_since == T0
    assert (await acd_state.get_agent("a1")) == claim.agent
    again = await acd_state.claim("q", "c1", T0 + 6)  # idempotent for the same entry
    assert again.status is EntryStatus.OFFERED and again.agent is not None and again.agent.agent == "a1"
    other = await acd_state.claim("q", "c2", T0 + 6)
    assert other.status is EntryStatus.WAITING and other.position == 1 and other.available == 0
    entry = await acd_state.get_entry("c1")
    assert entry is not None and entry.status is EntryStatus.OFFERED and entry.agent == "a1"


async def test_round_robin_with_memory(acd_state: AcdState) -> None:
    agents = await setup(acd_state, 4)
    order = []
    for n in range(9):
        await enqueue(acd_state, f"c{n}")
        agent = await serve(acd_state, f"c{n}")
        assert agent is not None
        order.append(agent)
        await acd_state.remove(f"c{n}")
        await finish(acd_state, agent, T0 + 10 + n)
    assert order == (agents * 3)[:9]
    # continue after the last agent offered even when an agent came back in between
    await set_state(acd_state, "a2", AgentState.PAUSED, T0 + 50, reason="break")
    await enqueue(acd_state, "x1")
    assert await serve(acd_state, "x1") == "a3"  # after a1 (the 9th), a2 is paused


async def test_linear_longest_idle_fewest_calls_random(acd_state: AcdState) -> None:
    await setup(acd_state, 3, Strategy.LINEAR, queue="lin")
    for n in range(3):
        await enqueue(acd_state, f"l{n}", queue="lin")
        assert await serve(acd_state, f"l{n}", queue="lin") == "a1"
        await acd_state.remove(f"l{n}")
        await finish(acd_state, "a1", T0 + 10 + n)


async def test_longest_idle(acd_state: AcdState) -> None:
    await setup(acd_state, 3, Strategy.LONGEST_IDLE)
    # a1 idle since T0+0.000, a2 since +0.001, a3 since +0.002: a1 first, then a2 ...
    await enqueue(acd_state, "c1")
    assert await serve(acd_state, "c1") == "a1"
    await finish(acd_state, "a1", T0 + 20)
    await enqueue(acd_state, "c2")
    assert await serve(acd_state, "c2") == "a2"
    await finish(acd_state, "a2", T0 + 30)
    await enqueue(acd_state, "c3")
    assert await serve(acd_state, "c3") == "a3"


async def test_fewest_calls(acd_state: AcdState) -> None:
    await setup(acd_state, 3, Strategy.FEWEST_CALLS)
    # a1 and a2 take a call each; a3 has none: it goes first, then a1 (order breaks the tie)
    for n, agent in enumerate(("a1", "a2")):
        await enqueue(acd_state, f"p{n}")
        await acd_state.remove(f"p{n}")
        status = await acd_state.get_agent(agent)
        assert status is not None
        await set_state(acd_state, agent, AgentState.RINGING, T0 + 1, call_id=f"p{n}")
        await finish(acd_state, agent, T0 + 2)
    await enqueue(acd_state, "c1")
    assert await serve(acd_state, "c1") == "a3"
    await enqueue(acd_state, "c2")
    assert await serve(acd_state, "c2") == "a1"


async def test_random_uses_the_given_draw(acd_state: AcdState) -> None:
    await setup(acd_state, 4, Strategy.RANDOM)
    await enqueue(acd_state, "c1")
    assert await serve(acd_state, "c1", rnd=0.6) == "a3"
    await enqueue(acd_state, "c2")
    assert await serve(acd_state, "c2", rnd=0.99) == "a4"
    await enqueue(acd_state, "c3")
    assert await serve(acd_state, "c3", rnd=0.99) == "a2"  # a4 taken: wraps around the tier


async def test_penalty_tiers(acd_state: AcdState) -> None:
    await setup(acd_state, 3, penalties={"a1": 2, "a2": 0, "a3": 1})
    served = []
    for n in range(3):
        await enqueue(acd_state, f"c{n}")
        served.append(await serve(acd_state, f"c{n}"))
    assert served == ["a2", "a3", "a1"]


async def test_priority_first_fifo_within_priority(acd_state: AcdState) -> None:
    await setup(acd_state, 1, login=False)
    await enqueue(acd_state, "low1", 0)
    await enqueue(acd_state, "low2", 0)
    await enqueue(acd_state, "vip", 10)
    await enqueue(acd_state, "mid", 5)
    assert [e.id for e in await acd_state.waiting("q")] == ["vip", "mid", "low1", "low2"]
    await set_state(acd_state, "a1", AgentState.AVAILABLE, T0)
    # only the caller at the head may take the one free agent
    for entry_id in ("low1", "low2", "mid"):
        claim = await acd_state.claim("q", entry_id, T0 + 1)
        assert claim.status is EntryStatus.WAITING
    assert (await acd_state.claim("q", "low1", T0 + 1)).position == 3
    assert await serve(acd_state, "vip") == "a1"
    assert (await acd_state.claim("q", "low1", T0 + 1)).position == 2


async def test_callers_ahead_take_agents_in_turn(acd_state: AcdState) -> None:
    await setup(acd_state, 2)
    for n in range(4):
        await enqueue(acd_state, f"c{n}")
    # two agents, four callers: the second caller may claim at once (the first takes the other agent)
    assert await serve(acd_state, "c1") == "a2"
    assert await serve(acd_state, "c2") is None
    assert await serve(acd_state, "c0") == "a1"
    assert await serve(acd_state, "c3") is None


async def test_skills_filter(acd_state: AcdState) -> None:
    await setup(
        acd_state,
        3,
        skills=(("billing", 1),),
        agent_skills={"a1": (("billing", 0),), "a3": (("billing", 2), ("fr", 1))},
    )
    await enqueue(acd_state, "c1")
    assert await serve(acd_state, "c1") == "a3"  # only a3 has billing >= 1
    await acd_state.remove("c1")
    await finish(acd_state, "a3", T0 + 3)
    # a caller needing french (skill level 2) is not served; the caller behind it is
    await enqueue(acd_state, "fr", skills=(("fr", 2),))
    await enqueue(acd_state, "plain")
    assert await serve(acd_state, "fr") is None
    assert await serve(acd_state, "plain") == "a3"


async def test_requeue_keeps_the_place_and_callbacks(acd_state: AcdState) -> None:
    await setup(acd_state, 1)
    await enqueue(acd_state, "first")
    await enqueue(acd_state, "second")
    assert await serve(acd_state, "first") == "a1"
    assert [e.id for e in await acd_state.waiting("q")] == ["second"]
    await set_state(acd_state, "a1", AgentState.PAUSED, T0 + 2, reason="missed_call")
    assert await acd_state.requeue("first")
    assert [e.id for e in await acd_state.waiting("q")] == ["first", "second"]
    assert await acd_state.to_callback("first", "5551234")
    [cb] = await acd_state.callbacks()
    assert cb.id == "first" and cb.kind is EntryKind.CALLBACK and cb.caller_num == "5551234"
    assert [e.id for e in await acd_state.waiting("q")] == ["first", "second"]
    removed = await acd_state.remove("first")
    assert removed is not None and removed.kind is EntryKind.CALLBACK
    assert await acd_state.callbacks() == []
    assert await acd_state.remove("first") is None
    assert (await acd_state.claim("q", "first", T0)).status is EntryStatus.GONE


async def test_timers_statistics_and_queue_deletion(acd_state: AcdState) -> None:
    await setup(acd_state, 2)
    await set_state(acd_state, "a1", AgentState.RINGING, T0 + 1, call_id="c")
    await set_state(acd_state, "a1", AgentState.ON_CALL, T0 + 2)
    await set_state(acd_state, "a1", AgentState.WRAPUP, T0 + 3, until=T0 + 13)
    await set_state(acd_state, "a2", AgentState.BUSY, T0 + 3, reason="busy", until=T0 + 8)
    assert await acd_state.due_timers(T0 + 5) == []
    assert await acd_state.due_timers(T0 + 9) == ["a2"]
    assert sorted(await acd_state.due_timers(T0 + 20)) == ["a1", "a2"]
    await set_state(acd_state, "a2", AgentState.AVAILABLE, T0 + 20)
    assert await acd_state.due_timers(T0 + 20) == ["a1"]
    for seconds in (10.0, 20.0, 30.0):
        await acd_state.add_handle_time("q", seconds, keep=2)
    assert await acd_state.handle_times("q") == [30.0, 20.0]
    await acd_state.incr("q", "answered")
    await acd_state.incr("q", "answered", 2)
    assert await acd_state.counters("q") == {"answered": 3}
    await enqueue(acd_state, "c9")
    await acd_state.delete_queue("q")
    assert await acd_state.get_entry("c9") is None
    assert await acd_state.load_queues() == []


async def test_concurrent_claims_never_double_book(acd_state: AcdState) -> None:
    agents = await setup(acd_state, 12)
    entries = [f"c{n}" for n in range(40)]
    for entry_id in entries:
        await enqueue(acd_state, entry_id, priority=random.Random(entry_id).randrange(3))
    offered: dict[str, str] = {}
    rounds = 0
    while len(offered) < len(entries) and rounds < 50:
        rounds += 1
        pending = [e for e in entries if e not in offered]
        random.Random(rounds).shuffle(pending)
        claims = await asyncio.gather(*(acd_state.claim("q", e, T0 + rounds) for e in pending))
        got = [(e, c.agent.agent) for e, c in zip(pending, claims, strict=True) if c.agent is not None]
        busy = [a for _, a in got]
        assert len(busy) == len(set(busy)), "an agent was offered two calls at once"
        for entry_id, agent in got:
            assert entry_id not in offered
            offered[entry_id] = agent
            await acd_state.remove(entry_id)
        await asyncio.gather(*(finish(acd_state, a, T0 + rounds + 0.1) for a in busy))
    assert len(offered) == len(entries)
    counts = {a: 0 for a in agents}
    for agent in offered.values():
        counts[agent] += 1
    assert max(counts.values()) - min(counts.values()) <= 1


async def test_entries_record_their_owner_and_claiming_instance(acd_state: AcdState) -> None:
    await setup(acd_state, 1)
    await enqueue(acd_state, "c1", owner="inst-a")
    await enqueue(acd_state, "c2", owner="inst-b")
    await enqueue(acd_state, "cb", kind=EntryKind.CALLBACK)
    claim = await acd_state.claim("q", "c1", T0 + 1, 0.0, "inst-a")
    assert claim.status is EntryStatus.OFFERED
    by_id = {e.id: e for e in await acd_state.entries()}
    assert set(by_id) == {"c1", "c2", "cb"}  # waiting and offered, calls and callbacks
    assert (by_id["c1"].owner, by_id["c1"].claimed_by, by_id["c1"].status) == (
        "inst-a",
        "inst-a",
        EntryStatus.OFFERED,
    )
    assert (by_id["c2"].owner, by_id["c2"].claimed_by) == ("inst-b", "")
    assert await acd_state.requeue("c1")
    entry = await acd_state.get_entry("c1")
    assert entry is not None and entry.claimed_by == "" and entry.owner == "inst-a"
    await acd_state.remove("c2")
    await acd_state.delete_queue("q")
    assert await acd_state.entries() == []


async def test_instance_leases_expire_and_the_seed_marker(acd_state: AcdState) -> None:
    assert not await acd_state.seeded()
    await acd_state.mark_seeded()
    assert await acd_state.seeded()
    now = time.time()
    await acd_state.renew_lease("a", 0.2, now)
    await acd_state.renew_lease("b", 30.0, now)
    assert await acd_state.instances(now) == {"a": True, "b": True}
    deadline = time.monotonic() + 5
    while (await acd_state.instances(time.time()))["a"]:
        assert time.monotonic() < deadline, "lease a never expired"
        await asyncio.sleep(0.02)
    assert await acd_state.instances(time.time()) == {"a": False, "b": True}
    await acd_state.forget_instance("a")
    await acd_state.drop_lease("b")
    assert await acd_state.instances(time.time()) == {"b": False}
    await acd_state.renew_lease("b", 30.0, time.time())  # an instance that comes back is alive again
    assert await acd_state.instances(time.time()) == {"b": True}


# --- a call transferred to the queue by an agent: not offered back to them (domain.routing) ----------

ALL_STRATEGIES = [
    Strategy.RRMEMORY,
    Strategy.LINEAR,
    Strategy.RANDOM,
    Strategy.LONGEST_IDLE,
    Strategy.FEWEST_CALLS,
]


@pytest.mark.parametrize("strategy", ALL_STRATEGIES, ids=lambda s: s.value)
async def test_a_transferred_call_skips_its_transferer(acd_state: AcdState, strategy: Strategy) -> None:
    # a1 is what every strategy picks next here (first in order, idle longest, no calls, draw 0)
    await setup(acd_state, 3, strategy)
    await enqueue(acd_state, "xfer", avoid_agent="a1")
    entry = await acd_state.get_entry("xfer")
    assert entry is not None and entry.avoid_agent == "a1"
    assert await serve(acd_state, "xfer") == "a2"
    # a1 was free and first: only the transfer skipped it (round robin goes on after a2: a3)
    await enqueue(acd_state, "plain")
    assert await serve(acd_state, "plain") == ("a3" if strategy is Strategy.RRMEMORY else "a1")


async def test_the_transferer_is_skipped_for_a_busy_substitute(acd_state: AcdState) -> None:
    await setup(acd_state, 3)
    await set_state(acd_state, "a3", AgentState.PAUSED, T0 + 1, reason="break")
    await set_state(acd_state, "a2", AgentState.RINGING, T0 + 1, call_id="other")
    await set_state(acd_state, "a2", AgentState.ON_CALL, T0 + 2)
    await enqueue(acd_state, "xfer", avoid_agent="a1")
    assert await serve(acd_state, "xfer") is None  # a2 (on a call) is staffed: the caller waits for a2
    await set_state(acd_state, "a2", AgentState.WRAPUP, T0 + 3, until=T0 + 30)
    assert await serve(acd_state, "xfer") is None  # in wrap-up: still staffed
    await set_state(acd_state, "a2", AgentState.AVAILABLE, T0 + 4)
    assert await serve(acd_state, "xfer") == "a2"


async def test_the_transferer_gets_the_call_when_nobody_else_could(acd_state: AcdState) -> None:
    await setup(acd_state, 1)
    await enqueue(acd_state, "alone", avoid_agent="a1")
    assert await serve(acd_state, "alone") == "a1"  # the only member of the queue


async def test_the_transferer_gets_it_after_the_others_were_tried(acd_state: AcdState) -> None:
    await setup(acd_state, 3)
    await set_state(acd_state, "a3", AgentState.LOGGED_OUT, T0 + 1)
    await enqueue(acd_state, "xfer", avoid_agent="a1")
    assert await serve(acd_state, "xfer") == "a2"
    # a2 does not answer: paused (missed_call), the offer fails and the caller waits again
    await set_state(acd_state, "a2", AgentState.PAUSED, T0 + 2, reason="missed_call")
    assert await acd_state.requeue("xfer")
    entry = await acd_state.get_entry("xfer")
    assert entry is not None and entry.avoid_agent == "a1" and entry.status is EntryStatus.WAITING
    assert await serve(acd_state, "xfer") == "a1"


async def test_the_transferer_gets_it_when_only_they_have_the_skills(acd_state: AcdState) -> None:
    await setup(acd_state, 3, agent_skills={"a1": (("fr", 2),), "a3": (("fr", 1),)})
    await enqueue(acd_state, "fr", avoid_agent="a1", skills=(("fr", 2),))
    assert await serve(acd_state, "fr") == "a1"  # a2 and a3 are free, but without french at level 2
    await acd_state.remove("fr")
    await set_state(acd_state, "a1", AgentState.ON_CALL, T0 + 2)
    await set_state(acd_state, "a1", AgentState.AVAILABLE, T0 + 3)
    await enqueue(acd_state, "fr1", avoid_agent="a1", skills=(("fr", 1),))
    assert await serve(acd_state, "fr1") == "a3"  # a3 speaks enough french: a1 is skipped


async def test_callers_behind_a_transfer_take_the_agent_it_skips(acd_state: AcdState) -> None:
    await setup(acd_state, 2)
    await set_state(acd_state, "a2", AgentState.RINGING, T0 + 1, call_id="other")
    await enqueue(acd_state, "xfer", avoid_agent="a1")
    await enqueue(acd_state, "next")
    # a1 is the only free agent and the transfer ahead waits for a2: the caller behind takes a1
    assert await serve(acd_state, "xfer") is None
    assert await serve(acd_state, "next") == "a1"
    await acd_state.remove("next")
    await set_state(acd_state, "a1", AgentState.ON_CALL, T0 + 2)
    await set_state(acd_state, "a1", AgentState.AVAILABLE, T0 + 3)
    await set_state(acd_state, "a2", AgentState.AVAILABLE, T0 + 3)
    await enqueue(acd_state, "last")
    # both free: the greedy round gives the transfer a2, so the caller behind it may claim a1 at once
    assert await serve(acd_state, "last") == "a1"
    assert await serve(acd_state, "xfer") == "a2"
