"""The live (incremental) KPI engine and the report recomputed from the store give identical numbers.

A seeded scenario of 90 minutes drives the real ``AcdService`` state machine for agent states (so the
bus events the wallboard consumes and the rows the ACD writes to ``agent_state_log`` come from the same
code) and finishes calls through the KPI service's tracker listener, while the same call records go to
the calls table. Then ``live_figures(now)`` must equal ``report(now)`` for every scope and window."""

from __future__ import annotations

import random
from typing import Any

from callcenter.domain.acd import AgentState
from callcenter.domain.calls import CallOutcome, CallRecord
from callcenter.domain.kpis import CENTER
from tests.wallboard.conftest import NOON, KpiRig

S = AgentState


async def set_state(rig: KpiRig, agent: str, to: AgentState, at: float, **kw: Any) -> None:
    """One agent transition through the ACD's own compare-and-set path (recorded + published)."""
    rig.clock.now = at

    def decide(s: Any) -> tuple[AgentState, dict[str, Any]] | None:
        return None if s.state is to else (to, kw)

    await rig.acd._change(agent, decide, at=at, by="test")


def record(i: int, queue: str, arrived: float, outcome: CallOutcome, wait: float, **kw: Any) -> CallRecord:
    answered = arrived + wait if outcome is CallOutcome.ANSWERED else None
    return CallRecord(
        call_id=f"17950000{i:05d}.1",
        started_at=arrived - 8,
        queue=queue,
        queued_at=arrived,
        answered_at=answered,
        ended_at=kw.pop("ended_at"),
        wait_seconds=wait,
        outcome=outcome,
        version=1,
        **kw,
    )


async def run_scenario(rig: KpiRig, seed: int = 7) -> float:
    rng = random.Random(seed)
    start, now = NOON - 5400, NOON
    agents = [a.id for a in rig.acd.agents.values()]
    free_at = dict.fromkeys(agents, start)
    for a in agents:
        await set_state(rig, a, S.AVAILABLE, start - rng.uniform(0, 600))
    # (time, kind, payload): call finishes and agent transitions, applied in time order
    timeline: list[tuple[float, int, Any]] = []
    records: list[CallRecord] = []
    t = start
    i = 0
    while t < now - 5:
        t += rng.expovariate(1 / 25)
        i += 1
        queue = "sales" if rng.random() < 0.3 else "support"
        q = rig.acd.queues[queue]
        roll = rng.random()
        members = [a for a in agents if queue in rig.kpi.queues_of(a) and a != "1003"]  # 1003 pauses
        wait = rng.uniform(0, 60)
        agent = next(
            (a for a in sorted(members, key=lambda a: free_at[a]) if free_at[a] <= t + wait - 2), None
        )
        if roll < 0.72 and agent is not None:
            talk, hold = rng.uniform(20, 200), rng.choice([0.0, rng.uniform(5, 30)])
            ring = t + wait - 2
            end = t + wait + talk + hold
            wrap_end = end + q.wrapup + rng.uniform(0, 5)
            cid = f"17950000{i:05d}.1"
            timeline += [
                (ring, 1, (agent, S.RINGING, {"call_id": cid, "queue": queue})),
                (t + wait, 1, (agent, S.ON_CALL, {})),
                (end, 1, (agent, S.WRAPUP, {})),
                (wrap_end, 1, (agent, S.AVAILABLE, {})),
            ]
            free_at[agent] = wrap_end + 1
            rec = record(
                i,
                queue,
                t,
                CallOutcome.ANSWERED,
                wait,
                ended_at=end,
                agent=agent,
                talk_seconds=talk,
                hold_seconds=hold,
            )
        elif roll < 0.93:
            rec = record(
                i, queue, t, CallOutcome.ABANDONED, rng.choice([rng.uniform(0, 5), wait]), ended_at=t + wait
            )
        else:
            rec = record(i, queue, t, CallOutcome.UNANSWERED, wait, ended_at=t + wait)
        assert rec.ended_at is not None
        records.append(rec)
        timeline.append((rec.ended_at, 2, rec))
    # a pause and a log-out in the middle of the day
    timeline += [
        (NOON - 1800, 1, ("1003", S.PAUSED, {"reason": "lunch"})),
        (NOON - 900, 1, ("1003", S.AVAILABLE, {})),
    ]
    next_tick = start
    for at, kind, payload in sorted(timeline, key=lambda x: (x[0], x[1])):
        if at > now:
            break
        while next_tick <= at:  # the service's publish ticks move the engine's clock (pruning)
            rig.kpi.engine.advance(next_tick)
            next_tick += 30
        rig.clock.now = at
        if kind == 1:
            agent, state, kw = payload
            current = await rig.acd.state.get_agent(agent)
            if current is not None and current.state is not state:
                await set_state(rig, agent, state, at, **kw)
        else:
            rig.kpi.on_call_finished(payload)
            await rig.store.save_calls([payload])
    await rig.acd.flush_log()
    return now


async def test_live_and_store_give_identical_numbers(kpi_rig: KpiRig) -> None:
    now = await run_scenario(kpi_rig)
    kpi_rig.clock.now = now
    live = kpi_rig.kpi.live_figures(now)
    stored = await kpi_rig.kpi.report(now)
    assert live["scopes"].keys() == stored["scopes"].keys() >= {CENTER, "support", "sales"}
    for scope, windows in live["scopes"].items():
        for window, numbers in windows.items():
            assert numbers == stored["scopes"][scope][window], (scope, window)
    assert live["chart"] == stored["chart"]
    assert live["agent_calls"] == stored["agent_calls"]
    # the scenario is not trivial: every figure is populated
    today = live["scopes"][CENTER]["today"]
    assert today["offered"] > 150 and today["answered"] > 100 and today["abandoned_short"] > 0
    assert all(today[k] is not None for k in ("service_level", "asa", "aht", "abandon_rate", "occupancy"))
    assert live["scopes"]["support"]["15m"]["offered"] < live["scopes"]["support"]["60m"]["offered"]
    # the API-shaped snapshot shows the same figures as live_figures
    snap = kpi_rig.kpi.snapshot()
    assert snap["scopes"]["sales"]["windows"] == live["scopes"]["sales"]
    assert snap["scopes"]["sales"]["service_level"]["convention"] == "asterisk_sl2"
    assert "staffing" in snap["scopes"]["support"]
