"""Pure KPI formulas and Erlang C."""

from __future__ import annotations

import math

import pytest

from callcenter.domain import erlang
from callcenter.domain.acd import AgentState
from callcenter.domain.kpis import (
    CENTER,
    CallFact,
    FactKind,
    KpiEngine,
    SlConvention,
    Tally,
    figures,
    service_level,
)

NOON = 1_800_000_000.0 - (1_800_000_000.0 % 86400) + 43200  # a UTC noon; day start injected below


def engine() -> KpiEngine:
    e = KpiEngine(
        short_abandon=5.0, queues_of=lambda a: ("support",), day_start=lambda now: now - now % 86400
    )
    e.advance(NOON)
    return e


def fact(i: int, kind: FactKind, wait: float, at: float, **kw: float) -> CallFact:
    return CallFact(
        call_id=f"c{i}",
        queue="support",
        agent="1001" if kind is FactKind.ANSWERED else None,
        arrived_at=at,
        kind=kind,
        wait=wait,
        talk=kw.get("talk", 0.0),
        hold=kw.get("hold", 0.0),
        threshold=20.0,
    )


def test_service_level_conventions() -> None:
    t = Tally(offered=12, answered=8, answered_within=6, abandoned=3, abandoned_within=2)
    assert service_level(t, SlConvention.ANSWERED) == 6 / 8
    assert service_level(t, SlConvention.ANSWERED_ABANDONED) == 6 / 11
    assert service_level(t, SlConvention.ASTERISK_SL2) == 8 / 11
    assert service_level(t, SlConvention.OFFERED) == 6 / 12
    assert service_level(Tally(), SlConvention.ANSWERED) is None
    assert "answered" in SlConvention.ANSWERED.label(20)


def test_engine_counts_and_formulas() -> None:
    e = engine()
    e.add_call(fact(1, FactKind.ANSWERED, 10, NOON - 100, talk=100, hold=20))
    e.add_call(fact(2, FactKind.ANSWERED, 30, NOON - 200, talk=50))
    e.add_call(fact(3, FactKind.ABANDONED, 2, NOON - 300))  # short abandon
    e.add_call(fact(4, FactKind.ABANDONED, 40, NOON - 2000))  # outside 15m, inside 60m
    e.add_call(fact(5, FactKind.OTHER, 70, NOON - 50))
    # wrap-up of call 1: agent state machine, 30 s
    e.agent_state("1001", AgentState.WRAPUP, NOON - 60, call_id="c1", queue="support")
    e.agent_state("1001", AgentState.AVAILABLE, NOON - 30)
    f15 = figures(e.window("support", "15m"), SlConvention.ANSWERED)
    assert (f15["offered"], f15["answered"], f15["abandoned"], f15["abandoned_short"]) == (4, 2, 1, 1)
    assert f15["service_level"] == 0.5
    assert f15["asa"] == 20.0
    assert f15["aht"] == round((100 + 20 + 50 + 30) / 2, 1)
    assert f15["abandon_rate"] == 0.0  # the only abandon in 15 min was short
    # occupancy: 30 s wrap-up + 30 s available (open interval up to now)
    assert f15["occupancy"] == 0.5
    f60 = figures(e.window(CENTER, "60m"), SlConvention.ANSWERED_ABANDONED)
    assert f60["offered"] == 5 and f60["abandoned"] == 2
    assert f60["service_level"] == round(1 / 4, 4)
    assert f60["abandon_rate"] == round(1 / 4, 4)
    assert e.agent_calls == {"1001": 2}


def test_wrapup_before_call_is_kept_and_order_does_not_matter() -> None:
    a, b = engine(), engine()
    call = fact(1, FactKind.ANSWERED, 5, NOON - 100, talk=60)
    for e, call_first in ((a, True), (b, False)):
        if call_first:
            e.add_call(call)
        e.agent_state("1001", AgentState.WRAPUP, NOON - 40, call_id="c1")
        e.agent_state("1001", AgentState.AVAILABLE, NOON - 10)
        if not call_first:
            e.add_call(call)
    assert figures(a.window("support", "today"), SlConvention.ANSWERED) == figures(
        b.window("support", "today"), SlConvention.ANSWERED
    )
    assert a.window("support", "today").wrapup == 30


def test_windows_slide_and_days_reset() -> None:
    e = engine()
    e.add_call(fact(1, FactKind.ANSWERED, 5, NOON - 10))
    assert e.window("support", "15m").offered == 1
    e.advance(NOON + 16 * 60)
    assert e.window("support", "15m").offered == 0
    assert e.window("support", "60m").offered == 1
    e.advance(NOON + 86400)
    assert e.window("support", "today").offered == 0
    assert e.agent_calls == {}


def erlang_c_reference(n: int, a: float) -> float:
    top = a**n / math.factorial(n) * n / (n - a)
    return top / (sum(a**k / math.factorial(k) for k in range(n)) + top)


@pytest.mark.parametrize(("n", "a"), [(11, 10.0), (12, 10.0), (15, 10.0), (3, 1.5), (30, 25.0)])
def test_erlang_c_matches_the_textbook_formula(n: int, a: float) -> None:
    assert erlang.erlang_c(n, a) == pytest.approx(erlang_c_reference(n, a), rel=1e-9)


def test_staffing_advice() -> None:
    rate, aht = 100 / 1800, 180.0  # 100 calls per half hour, 3 min: 10 Erlangs
    n = erlang.agents_needed(rate, aht, 20, 0.8)
    assert erlang.service_level(n, 10.0, aht, 20) >= 0.8 > erlang.service_level(n - 1, 10.0, aht, 20)
    assert n == 14  # the classic 10-Erlang example: 14 agents for 80/20
    advice = erlang.advise(rate, rate * 1.2, aht, 20, 0.8, staffed=12)
    assert advice.needed_next >= advice.needed_now == 14
    assert advice.sl_minus_one is not None and advice.sl_plus_one is not None
    assert advice.sl_minus_one < (advice.sl_staffed or 0) < advice.sl_plus_one
    assert erlang.asa(10, 10.0, aht) is None  # unstable
    assert erlang.agents_needed(0, aht, 20, 0.8) == 0
