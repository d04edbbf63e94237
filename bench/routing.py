"""Routing benchmark: assignment decisions per second and p99 decision latency, 2,000 agents and 500
waiting calls, on the in-process state and on Redis over loopback.

A *decision* is one ``AcdState.claim``: a waiting caller's tick that either reserves an agent (atomically:
agent → ringing, caller → offered) or says "not yet". Scenarios:

* ``agent frees``: every agent is on a call, 500 callers wait; one agent becomes available and the caller
  at the head claims it (the steady state of a busy center). Each decision assigns.
* ``caller ticks``: nobody is available; a random waiting caller ticks (what 500 waiting callers do
  about once a second each).
* ``burst``: 200 agents available at once (e.g. after a shift change) and callers at random positions
  tick: a caller at position k first matches the k callers ahead (greedy, priority/FIFO order).

Targets (issue #5): p99 at most 1 ms in process, 5 ms on Redis over loopback.

    python bench/routing.py [--decisions 5000] [--redis redis://127.0.0.1:6379/0] [--no-redis]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
import uuid
from collections import deque

from callcenter.domain.acd import AgentConfig, AgentState, EntryStatus, Membership, QueueConfig, WaitingEntry
from callcenter.domain.agent_state import transition
from callcenter.ports import AcdState
from callcenter.state.memory import MemoryAcdState
from callcenter.state.redis_acd import RedisAcdState
from callcenter.state.redis_conn import connect_redis

AGENTS = 2000
WAITING = 500
QUEUE = "bench"


async def set_state(state: AcdState, agent: str, to: AgentState, at: float, **kw: str) -> None:
    for _ in range(10):
        cur = await state.get_agent(agent)
        assert cur is not None
        new, _ = transition(cur, to, at, **kw)
        if await state.compare_and_set(new) is not None:
            return
    raise RuntimeError("contention")


async def setup(state: AcdState) -> deque[str]:
    await state.save_queue(QueueConfig(name=QUEUE))
    now = time.time()
    for i in range(AGENTS):
        agent = f"{10000 + i}"
        await state.save_agent(
            AgentConfig(id=agent, endpoint=f"PJSIP/{agent}", queues=(Membership(QUEUE),), order=i + 1)
        )
        await set_state(state, agent, AgentState.AVAILABLE, now)
        await set_state(state, agent, AgentState.RINGING, now, call_id="setup")
        await set_state(state, agent, AgentState.ON_CALL, now)
    waiting: deque[str] = deque()
    for _ in range(WAITING):
        waiting.append(await enqueue(state))
    return waiting


async def enqueue(state: AcdState) -> str:
    entry_id = uuid.uuid4().hex
    await state.enqueue(WaitingEntry(id=entry_id, queue=QUEUE, call_id=entry_id, enqueued_at=time.time()))
    return entry_id


def summary(name: str, lat: list[float], assigned: int, wall: float) -> tuple[float, str]:
    lat.sort()
    p99 = lat[int(len(lat) * 0.99) - 1] * 1000
    text = (
        f"  {name:<14} {len(lat) / wall:>9.0f} decisions/s  ({assigned} assignments)  "
        f"p50 {statistics.median(lat) * 1000:.3f} ms  p99 {p99:.3f} ms  max {lat[-1] * 1000:.3f} ms"
    )
    return p99, text


async def agent_frees(
    state: AcdState, waiting: deque[str], decisions: int, rng: random.Random
) -> tuple[float, str]:
    busy = [f"{10000 + i}" for i in range(AGENTS)]
    lat: list[float] = []
    assigned = 0
    wall = 0.0
    for _ in range(decisions):
        agent = busy.pop(rng.randrange(len(busy)))
        now = time.time()
        await set_state(state, agent, AgentState.AVAILABLE, now)
        head = waiting[0]
        t0 = time.perf_counter()
        claim = await state.claim(QUEUE, head, now, rng.random())
        dt = time.perf_counter() - t0
        lat.append(dt)
        wall += dt
        assert claim.status is EntryStatus.OFFERED and claim.agent is not None, claim
        assigned += 1
        waiting.popleft()
        await state.remove(head)
        waiting.append(await enqueue(state))
        await set_state(state, claim.agent.agent, AgentState.ON_CALL, now)
        busy.append(claim.agent.agent)
    return summary("agent frees", lat, assigned, wall)


async def caller_ticks(
    state: AcdState, waiting: deque[str], decisions: int, rng: random.Random
) -> tuple[float, str]:
    lat: list[float] = []
    wall = 0.0
    entries = list(waiting)
    for _ in range(decisions):
        entry = rng.choice(entries)
        t0 = time.perf_counter()
        claim = await state.claim(QUEUE, entry, time.time(), rng.random())
        dt = time.perf_counter() - t0
        lat.append(dt)
        wall += dt
        assert claim.status is EntryStatus.WAITING
    return summary("caller ticks", lat, 0, wall)


async def burst(
    state: AcdState, waiting: deque[str], decisions: int, rng: random.Random
) -> tuple[float, str]:
    lat: list[float] = []
    wall = 0.0
    assigned = 0
    free = [f"{10000 + i}" for i in rng.sample(range(AGENTS), 200)]
    now = time.time()
    for agent in free:
        await set_state(state, agent, AgentState.AVAILABLE, now)
    taken: list[str] = []
    for _ in range(decisions):
        entry = waiting[rng.randrange(len(waiting))]
        t0 = time.perf_counter()
        claim = await state.claim(QUEUE, entry, time.time(), rng.random())
        dt = time.perf_counter() - t0
        lat.append(dt)
        wall += dt
        if claim.status is EntryStatus.OFFERED and claim.agent is not None:
            assigned += 1
            waiting.remove(entry)
            await state.remove(entry)
            waiting.append(await enqueue(state))
            # the agent's call is short: it is available again (keeps ~200 available)
            await set_state(state, claim.agent.agent, AgentState.ON_CALL, now)
            await set_state(state, claim.agent.agent, AgentState.AVAILABLE, now)
            taken.append(claim.agent.agent)
    return summary("burst", lat, assigned, wall)


async def run(name: str, state: AcdState, decisions: int, target_ms: float) -> bool:
    rng = random.Random(1)
    t0 = time.perf_counter()
    waiting = await setup(state)
    print(f"{name}: {AGENTS} agents, {WAITING} waiting calls (setup {time.perf_counter() - t0:.1f} s)")
    results = [
        await agent_frees(state, waiting, decisions, rng),
        await caller_ticks(state, waiting, decisions, rng),
        await burst(state, waiting, max(500, decisions // 5), rng),
    ]
    ok = True
    for p99, text in results:
        print(text)
        ok = ok and p99 <= target_ms
    print(f"  target p99 <= {target_ms} ms: {'met' if ok else 'NOT met'}")
    return ok


async def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--decisions", type=int, default=5000)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--no-redis", action="store_true")
    args = parser.parse_args()
    ok = await run("in-process", MemoryAcdState(), args.decisions, 1.0)
    if not args.no_redis:
        client = connect_redis(args.redis, timeout=2.0)
        state = RedisAcdState(client, f"ccbench:{uuid.uuid4().hex[:8]}")
        try:
            await client.ping()
        except Exception as exc:  # a benchmark: report and go on
            print(f"Redis at {args.redis} unreachable ({exc!r}): Redis figures skipped")
        else:
            try:
                ok = await run("Redis (loopback)", state, args.decisions, 5.0) and ok
            finally:
                await state.clear()
        await client.aclose()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
