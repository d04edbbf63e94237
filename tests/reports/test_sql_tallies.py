"""The database's sums of the KPI counters (``store/kpi_tallies.py``) equal the KPI engine fed with the same
calls and agent transitions (``domain/kpis.py``), on SQLite and PostgreSQL (issue #8).

The engine is the reference: the wallboard runs it live, and the reports used to run it over the stored
rows. The calls here are chosen to sit on the edges: arrivals exactly on interval boundaries and on the
period's ends, waits equal to the thresholds, calls known only by their offer time, calls still in progress
or never queued, arrivals before the start of the call's row window, wrap-ups ending after the period.
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import astuple

import pytest
from sqlalchemy import text

from callcenter.domain.acd import AgentState, AgentTransition
from callcenter.domain.calls import CallOutcome, CallRecord
from callcenter.domain.kpi_tallies import (
    CallWindow,
    Thresholds,
    WrapWindow,
    split_agent_time,
    sum_agent_time,
)
from callcenter.domain.kpis import INTERVAL, KpiEngine, Tally, call_fact, feed_transitions
from callcenter.services.records import CallRecorder
from callcenter.store.agent_log import SqlAgentStateLog
from callcenter.store.crm import SqlCrmStore
from callcenter.store.kpi_tallies import SqlKpiTallies
from tests.reports.seed import DAY_END, DAY_START, Seed, seed_day

THRESHOLDS = Thresholds(by_queue={"sales": 15.0, "support": 30.0}, default=20.0, short_abandon=5.0)
LOOKBACK = 3600.0


def _threshold(queue: str) -> float:
    return THRESHOLDS.by_queue.get(queue, THRESHOLDS.default)


def _edge_calls(rnd: random.Random) -> list[CallRecord]:
    """Calls on the edges of intervals, thresholds and the period (queues with their own thresholds and one
    with the default)."""
    out = []
    for i in range(300):
        queue = rnd.choice(("sales", "support", "billing"))
        if i % 5 == 0:  # exactly on a 15-minute boundary, or on the period's ends
            arrival = rnd.choice(
                (DAY_START, DAY_END, DAY_START + INTERVAL * rnd.randrange(1, 96), DAY_END - 0.000001)
            )
        else:
            arrival = rnd.uniform(DAY_START - 2 * 3600, DAY_END + 3600) + rnd.randrange(10**6) / 10**6
        wait = rnd.choice((0.0, 4.999, 5.0, 15.0, 15.000001, 20.0, 30.0, rnd.uniform(0, 200), None))
        kind = rnd.random()
        started = arrival - rnd.choice((2.0, 30.0, 3599.0, 3601.0))  # some start before the row window
        base = CallRecord(
            call_id=f"edge-{i:04d}",
            started_at=started,
            caller_num=f"+331450{i:05d}",
            queue=queue if kind > 0.03 else None,
            queued_at=arrival if i % 7 else None,
            offered_at=arrival + 1 if i % 7 == 0 or kind < 0.85 else None,
            wait_seconds=wait,
        )
        if kind < 0.6:
            answered, talk, hold = arrival + (wait or 0.0), rnd.uniform(10, 300), rnd.choice((0.0, 5.5))
            record = dataclasses.replace(
                base,
                agent=rnd.choice(("1001", "1002", "1003", "1004")),
                answered_at=answered,
                talk_seconds=talk,
                hold_seconds=hold,
                outcome=CallOutcome.ANSWERED,
                ended_at=answered + talk + hold,
            )
        elif kind < 0.8:
            record = dataclasses.replace(
                base, outcome=CallOutcome.ABANDONED, ended_at=arrival + (wait or 0.0)
            )
        elif kind < 0.9:
            outcome = rnd.choice((CallOutcome.UNANSWERED, CallOutcome.ABANDONED_IN_IVR))
            record = dataclasses.replace(base, outcome=outcome, ended_at=arrival + 60)
        else:  # still in progress (no end, no outcome): not counted
            record = base
        out.append(record)
    return out


def _edge_wrapups(calls: list[CallRecord], rnd: random.Random) -> list[AgentTransition]:
    """A wrap-up for most answered edge calls, written as the ACD writes it (the row leaving wrap-up names
    the call); some end after the period, one agent per call so the stints do not overlap."""
    out = []
    for n, c in enumerate(calls):
        if c.outcome is not CallOutcome.ANSWERED or c.ended_at is None or rnd.random() < 0.1:
            continue
        agent = f"w{n}"
        wrap = rnd.uniform(1, 90)
        out.append(
            AgentTransition(agent, AgentState.ON_CALL, AgentState.WRAPUP, c.ended_at, 1.0, "", c.call_id, "q")
        )
        out.append(
            AgentTransition(
                agent, AgentState.WRAPUP, AgentState.AVAILABLE, c.ended_at + wrap, wrap, "", c.call_id, "q"
            )
        )
    return out


async def _load(crm: SqlCrmStore, calls: list[CallRecord], transitions: list[AgentTransition]) -> None:
    async with crm.engine.begin() as conn:
        await conn.execute(text("DELETE FROM agent_state_log"))
    recorder = CallRecorder(crm, lambda: calls, batch_size=500)
    recorder.collect()
    await recorder.flush()
    assert recorder.pending == 0
    await SqlAgentStateLog(crm.engine).save_transitions(transitions)


def _engine_by_interval(
    calls: list[CallRecord], transitions: list[AgentTransition], since: float, until: float
) -> dict[tuple[str, int], Tally]:
    """The reference: the engine fed like the reports fed it before the sums moved to SQL."""
    engine = KpiEngine(
        short_abandon=THRESHOLDS.short_abandon, day_start=lambda _now: since, recent_calls=10**6
    )
    engine.advance(until)
    queues = set()
    for record in calls:
        if not since - LOOKBACK <= record.started_at < until:
            continue
        fact = call_fact(record, _threshold)
        if fact is not None and since <= fact.arrived_at < until:
            engine.add_call(fact)
            queues.add(fact.queue)
    for t in sorted(transitions, key=lambda t: t.at):
        if not since - LOOKBACK <= t.at < until + LOOKBACK:
            continue
        if t.to_state is AgentState.WRAPUP:
            engine.agent_state(t.agent, AgentState.WRAPUP, t.at, call_id=t.call_id, queue=t.queue)
        elif t.from_state is AgentState.WRAPUP:
            engine.agent_state(t.agent, AgentState.LOGGED_OUT, t.at)
    return {(q, i): tally for q in queues for i, tally in engine.interval_rows(q).items()}


def _same(a: Tally, b: Tally) -> bool:
    return all(x == pytest.approx(y, abs=1e-3) for x, y in zip(astuple(a), astuple(b), strict=True))


@pytest.mark.parametrize("rnd_seed", [1, 2])
async def test_interval_tallies_equal_the_engine(crm: SqlCrmStore, rnd_seed: int) -> None:
    rnd = random.Random(rnd_seed)
    seed = seed_day(rnd_seed)
    calls = seed.calls + _edge_calls(rnd)
    transitions = seed.transitions + _edge_wrapups(calls, rnd)
    await _load(crm, calls, transitions)
    store = SqlKpiTallies(crm.engine)
    for since, until in ((DAY_START, DAY_END), (DAY_START + 9 * 3600 + 450, DAY_START + 13 * 3600)):
        rows = await store.call_tallies(
            CallWindow(since, until, LOOKBACK), WrapWindow(since - LOOKBACK, until + LOOKBACK), THRESHOLDS
        )
        got = {(r.key, r.interval): r.tally for r in rows}
        expected = _engine_by_interval(calls, transitions, since, until)
        assert set(got) == set(expected)
        for key, tally in expected.items():
            assert _same(got[key], tally), (key, got[key], tally)
        assert sum(t.wrapup for t in got.values()) > 0
        # the longest wait of each interval is the maximum over its calls
        for r in rows:
            waits = [
                c.wait_seconds or 0.0
                for c in calls
                if (f := call_fact(c, _threshold)) is not None
                and since - LOOKBACK <= c.started_at < until
                and since <= f.arrived_at < until
                and f.queue == r.key
                and int(f.arrived_at // INTERVAL) == r.interval
            ]
            assert r.max_wait == pytest.approx(max(waits), abs=1e-6)


def _engine_agents(seed: Seed, since: float, until: float) -> dict[str, Tally]:
    """The reference agent figures: every agent their own engine scope (``@agent``)."""
    engine = KpiEngine(queues_of=lambda a: ("@" + a,), day_start=lambda _now: since, recent_calls=10**6)
    engine.advance(until)
    for record in seed.calls:
        fact = call_fact(record, _threshold)
        if (
            fact is not None
            and fact.agent
            and record.outcome is CallOutcome.ANSWERED
            and since <= fact.arrived_at < until
            and since - LOOKBACK <= record.started_at < until
        ):
            engine.add_call(dataclasses.replace(fact, queue="@" + fact.agent))
    feed_transitions(engine, [t for t in seed.transitions if since - 86_400 <= t.at < until])
    return {a: engine.window("@" + a, "today", until) for a in {t.agent for t in seed.transitions}}


@pytest.mark.parametrize("rnd_seed", [3, 4])
async def test_agent_time_and_calls_equal_the_engine(crm: SqlCrmStore, rnd_seed: int) -> None:
    seed = seed_day(rnd_seed)
    await _load(crm, seed.calls, seed.transitions)
    store = SqlKpiTallies(crm.engine)
    for since, until in ((DAY_START, DAY_END), (DAY_START + 10 * 3600 + 17.5, DAY_START + 14 * 3600)):
        expected = _engine_agents(seed, since, until)
        calls = await store.call_tallies(
            CallWindow(since, until, LOOKBACK),
            WrapWindow(since - 86_400, until),
            THRESHOLDS,
            group="agent",
        )
        rows = await store.agent_log(since, until)
        starts = await store.agent_states_before(since, 86_400)
        times = sum_agent_time(
            (agent, part) for (agent, _), part in split_agent_time(rows, starts, since, until).items()
        )
        by_agent: dict[str, Tally] = {}
        for r in calls:
            by_agent.setdefault(r.key, Tally()).add(r.tally)
        for agent, e in expected.items():
            got = by_agent.get(agent, Tally())
            assert (got.answered, got.talk, got.hold, got.wrapup) == pytest.approx(
                (e.answered, e.talk, e.hold, e.wrapup), abs=1e-3
            ), agent
            t = times[agent]
            assert (t.staffed, t.handling) == pytest.approx((e.staffed_time, e.handling_time), abs=1e-3), (
                agent
            )
