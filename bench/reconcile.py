"""Reconcile benchmark: one pass of the ACD's reconciler at 2,000 agents, on the in-process state and on
Redis over loopback.

The scene is a busy center: 2,000 agents in 4 queues, 1,000 of them on a call (their phone channel
known from the AMI events), 100 ringing for live waiters, 300 callers waiting in live FastAGI sessions,
the rest available. Figures:

* ``steady``: a pass that finds nothing to repair (what runs every 30 s and after every resync);
* ``pbx died``: the pass after the PBX came back with no channels (kill -9): 1,000 agents released.

Target: a pass well under the 30 s period at 2,000 agents (issue 13 asks for it to be cheap); the
service's event loop is busy for at most the pass's duration (each step awaits the state).

    python bench/reconcile.py [--passes 10] [--redis redis://127.0.0.1:6379/0] [--no-redis]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid

from callcenter.domain import events as ev
from callcenter.domain.acd import (
    AcdConfig,
    AgentConfig,
    AgentState,
    Membership,
    QueueConfig,
    WaitingEntry,
)
from callcenter.domain.agent_state import transition
from callcenter.domain.agents import AgentDirectory
from callcenter.ports import AcdState
from callcenter.services.acd import AcdOptions, AcdService
from callcenter.state.bus import InProcessBus
from callcenter.state.memory import MemoryAcdState
from callcenter.state.redis_acd import RedisAcdState
from callcenter.state.redis_conn import connect_redis

AGENTS = 2000
QUEUES = 4
ON_CALL = 1000
RINGING = 100
WAITING = 300


async def force(state: AcdState, agent: str, to: AgentState, at: float, **kw: str) -> None:
    cur = await state.get_agent(agent)
    assert cur is not None
    new, _ = transition(cur, to, at, **kw)
    assert await state.compare_and_set(new) is not None


async def scene(state: AcdState) -> AcdService:
    queues = tuple(QueueConfig(name=f"q{i}") for i in range(QUEUES))
    agents = tuple(
        AgentConfig(
            id=str(10000 + i),
            endpoint=f"PJSIP/{10000 + i}",
            queues=(Membership(f"q{i % QUEUES}"),),
            order=i + 1,
        )
        for i in range(AGENTS)
    )
    acd = AcdService(
        state, InProcessBus(), directory=AgentDirectory(), options=AcdOptions(reconcile_grace=5.0)
    )
    await acd.apply_config(AcdConfig(queues=queues, agents=agents))
    await state.mark_seeded()
    long_ago = time.time() - 60
    live: set[str] = set()
    for i, a in enumerate(agents):
        await force(state, a.id, AgentState.AVAILABLE, long_ago)
        if i < ON_CALL:
            call = f"call-{i}"
            await force(state, a.id, AgentState.RINGING, long_ago, call_id=call, queue=a.queues[0].queue)
            await force(state, a.id, AgentState.ON_CALL, long_ago)
            leg = ev.ChannelSnapshot(channel=f"PJSIP/{a.id}-{i:08x}", uniqueid=f"leg-{i}", linkedid=call)
            await acd.handle_event(ev.ChannelCreated(at=long_ago, chan=leg))
            live.add(leg.uniqueid)
    for n in range(WAITING + RINGING):
        entry_id = f"wait-{n}"
        acd.live_entries.add(entry_id)
        await state.enqueue(
            WaitingEntry(
                id=entry_id,
                queue=f"q{n % QUEUES}",
                call_id=entry_id,
                enqueued_at=long_ago,
                owner=acd.instance,
            )
        )
        if n < RINGING:
            claim = await state.claim(f"q{n % QUEUES}", entry_id, long_ago, 0.0, acd.instance)
            assert claim.agent is not None
    await acd.handle_event(ev.ResyncComplete(at=time.time(), live_uniqueids=frozenset(live)))
    return acd


async def measure(name: str, state: AcdState, passes: int) -> None:
    started = time.perf_counter()
    acd = await scene(state)
    setup = time.perf_counter() - started
    times = []
    for _ in range(passes):
        t0 = time.perf_counter()
        report = await acd.reconciler.reconcile("bench")
        times.append(time.perf_counter() - t0)
        assert report.repaired == 0, report
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    await acd.handle_event(ev.ResyncComplete(at=time.time(), live_uniqueids=frozenset()))
    died = await acd.reconciler.reconcile("bench: pbx died")
    died_s = time.perf_counter() - t0
    died_cpu = time.process_time() - cpu0
    assert died.agents_released == ON_CALL, died
    print(
        f"{name:<8} agents={AGENTS} entries={WAITING + RINGING}  steady pass: median "
        f"{statistics.median(times) * 1000:7.1f} ms  max {max(times) * 1000:7.1f} ms  |  "
        f"pbx died pass: {died_s * 1000:7.1f} ms ({died_cpu * 1000:.0f} ms CPU, "
        f"{died.agents_released} agents released)  [setup {setup:.1f} s]"
    )


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--passes", type=int, default=10)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--no-redis", action="store_true")
    args = parser.parse_args()
    await measure("memory", MemoryAcdState(), args.passes)
    if args.no_redis:
        return 0
    client = connect_redis(args.redis, timeout=5.0)
    state = RedisAcdState(client, f"ccbench:{uuid.uuid4().hex[:8]}", timeout=30.0)
    try:
        await client.ping()
    except Exception as exc:
        print(f"redis   skipped: {type(exc).__name__}: {exc}")
        await client.aclose()
        return 0
    try:
        await measure("redis", state, args.passes)
    finally:
        await state.clear()
        await client.aclose()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
