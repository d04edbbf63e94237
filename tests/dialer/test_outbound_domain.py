"""Pure rules of outbound: pacing (the abandon cap), retries and outcomes, calling hours in the
customer's time zone, consent, and the contacts CSV."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from callcenter.domain.customers import ValidationError
from callcenter.domain.ivr import Holiday
from callcenter.domain.outbound import (
    AttemptResult,
    Campaign,
    CampaignKind,
    CampaignStatus,
    CampaignTransitionRefused,
    Contact,
    ContactStatus,
    OutcomeCode,
    after_outcome,
    after_result,
    blocked_by_consent,
    campaign_from_mapping,
    campaign_from_settings,
    contact_zone,
    may_call,
    originate_result,
    settings_of,
)
from callcenter.domain.outbound_csv import parse_contacts
from callcenter.domain.pacing import (
    PacingInput,
    RollingRates,
    abandon_target,
    agents_soon_free,
    expected_abandon_fraction,
    lines_to_dial,
)

C = Campaign(id=1, name="c", queue="support", max_attempts=3)


def contact(**kw: object) -> Contact:
    return Contact(**{"id": 1, "campaign_id": 1, "number": "+12025550101", **kw})  # type: ignore[arg-type]


# --- pacing ------------------------------------------------------------------------------------------
def test_expected_abandon_fraction_small_cases() -> None:
    assert expected_abandon_fraction(1, 0.3, 1.0) == 0.0
    # n=2, p=0.5, one agent: only X=2 overflows by 1 with P=0.25; E[X]=1
    assert expected_abandon_fraction(2, 0.5, 1.0) == pytest.approx(0.25)
    assert expected_abandon_fraction(0, 0.5, 1.0) == 0.0


@pytest.mark.parametrize("cap", [0.01, 0.03, 0.05])
@pytest.mark.parametrize("free", [1, 5, 20, 50])
def test_lines_keep_the_modelled_abandon_rate_under_the_cap(cap: float, free: int) -> None:
    x = PacingInput(
        free=free, busy=0, in_flight=0, answer_rate=0.3, handle=60, horizon=6, target=cap, max_ratio=5
    )
    n = lines_to_dial(x)
    assert n >= free  # never fewer lines than free agents at a 30 % answer rate
    assert expected_abandon_fraction(n, 0.3, free) <= cap
    # and one more line would break the cap (unless the ratio limit stopped it)
    if n < 5 * free:
        assert expected_abandon_fraction(n + 1, 0.3, free) > cap


def test_lines_to_dial_counts_calls_in_flight_and_busy_agents() -> None:
    base = PacingInput(free=10, busy=0, in_flight=0, answer_rate=0.3, handle=60, horizon=6, target=0.03)
    n = lines_to_dial(base)
    assert lines_to_dial(PacingInput(**{**_asdict(base), "in_flight": n})) == 0
    assert lines_to_dial(PacingInput(**{**_asdict(base), "busy": 40})) > n  # agents about to be free
    assert lines_to_dial(PacingInput(**{**_asdict(base), "free": 0, "busy": 0})) == 0


def _asdict(x: PacingInput) -> dict[str, float]:
    return {k: getattr(x, k) for k in PacingInput.__slots__}  # type: ignore[attr-defined]


def test_agents_soon_free_is_memoryless() -> None:
    assert agents_soon_free(2, 10, horizon=0, handle=60) == 2
    assert agents_soon_free(0, 10, horizon=60, handle=60) == pytest.approx(
        10 * (1 - 2.718281828**-1), rel=1e-6
    )


def test_abandon_target_shrinks_once_over_the_cap() -> None:
    assert abandon_target(0.03, None) == 0.03
    assert abandon_target(0.03, 0.02) == 0.03
    assert abandon_target(0.03, 0.045) == pytest.approx(0.015)
    assert abandon_target(0.03, 0.5) == pytest.approx(0.003)


def simulate(
    agents: int = 20, handle: float = 60.0, hours: float = 1.5, seed: int = 5
) -> tuple[float, float]:
    """A discrete simulation of the rule in 1 s steps, shaped like the simulator's customers: 30 %
    answered by a person and 10 % by a machine after 3-15 s, 15 % busy or failed at once, 45 % ringing
    until the 25 s timeout. An answered person waits up to 2 s for a free agent or is abandoned; handle
    times are exponential. Returns (abandoned / answered, agent occupancy)."""
    rng = random.Random(seed)
    busy_until = [0.0] * agents
    flights: list[tuple[float, float, bool]] = []  # (dialled at, resolves at, by a person)
    waiting: list[float] = []  # answered people: the end of their 2 s
    rates = RollingRates(window=3600.0)
    answered = abandoned = 0
    busy_time = 0.0
    for t in range(int(hours * 3600)):
        now = float(t)
        for start, end, human in [f for f in flights if f[1] <= now]:
            rates.dial_ended(now, human, end - start if human else None, end - start)
            if human:
                answered += 1
                waiting.append(now + 2.0)
        flights = [f for f in flights if f[1] > now]
        still = []
        for deadline in waiting:
            free = [i for i, b in enumerate(busy_until) if b <= now]
            if free:
                h = rng.expovariate(1 / handle)
                busy_until[free[0]] = now + h
                busy_time += h
                rates.answered(now, False)
                rates.handled(now, handle)
            elif deadline <= now:
                abandoned += 1
                rates.answered(now, True)
            else:
                still.append(deadline)
        waiting = still
        free_n = sum(1 for b in busy_until if b <= now)
        x = PacingInput(
            free=max(0, free_n - len(waiting)),
            busy=agents - free_n,
            in_flight=len(flights) + len(waiting),
            answer_rate=rates.answer_rate(now),
            handle=rates.handle_time(now),
            horizon=rates.ring_time(now) / 2 + 2.0,
            target=abandon_target(0.03, rates.abandon_rate(now)),
            flight_p=tuple(rates.answer_rate_at(now, now - f[0]) for f in flights) + (1.0,) * len(waiting),
        )
        for _ in range(lines_to_dial(x)):
            r = rng.random()
            if r < 0.4:
                flights.append((now, now + rng.uniform(3, 15), r < 0.3))
            elif r < 0.55:
                flights.append((now, now + 0.5, False))
            else:
                flights.append((now, now + 25, False))
    return abandoned / answered, busy_time / (agents * hours * 3600)


def test_simulated_pacing_holds_the_cap_and_keeps_agents_busy() -> None:
    abandon, occupancy = simulate()
    assert abandon <= 0.03
    assert occupancy >= 0.8


def test_answer_rate_by_age_falls_for_calls_ringing_long() -> None:
    rates = RollingRates(window=3600.0)
    for i in range(300):
        human = i % 10 < 3
        rates.dial_ended(float(i), human, 8.0 if human else None, 8.0 if human else 25.0)
    assert rates.answer_rate_at(300.0, 0.0) == pytest.approx(0.3, abs=0.02)
    assert rates.answer_rate_at(300.0, 10.0) < 0.05  # every person answered by 8 s


# --- rules ---------------------------------------------------------------------------------------------
def test_originate_reasons() -> None:
    assert originate_result(5) is AttemptResult.BUSY
    assert originate_result(3) is AttemptResult.NO_ANSWER
    assert originate_result(8) is AttemptResult.FAILED
    assert originate_result(0) is AttemptResult.FAILED
    assert originate_result(42) is AttemptResult.FAILED


def test_retry_delay_per_result_and_max_attempts() -> None:
    c = campaign_from_mapping({"name": "c", "queue": "support", "retry": {"busy": 120, "no_answer": 600}})
    busy = after_result(c, contact(attempts=1), AttemptResult.BUSY, 1000.0)
    assert busy.status is ContactStatus.PENDING and busy.due_at == 1120.0
    assert after_result(c, contact(attempts=1), AttemptResult.NO_ANSWER, 1000.0).due_at == 1600.0
    assert after_result(c, contact(attempts=3), AttemptResult.BUSY, 1000.0).status is ContactStatus.EXHAUSTED
    assert after_result(c, contact(), AttemptResult.DNC_BLOCKED, 1.0).status is ContactStatus.BLOCKED


def test_outcomes_close_or_reschedule() -> None:
    done = after_outcome(C, contact(attempts=1), OutcomeCode("done"), 10.0)
    assert done.status is ContactStatus.DONE and done.outcome == "done"
    later = after_outcome(C, contact(attempts=1), OutcomeCode("cb", closes=False, retry_after=60), 10.0)
    assert later.status is ContactStatus.PENDING and later.due_at == 70.0
    last = after_outcome(C, contact(attempts=3), OutcomeCode("cb", closes=False, retry_after=60), 10.0)
    assert last.status is ContactStatus.EXHAUSTED


def test_calling_hours_in_the_customers_zone_and_holidays() -> None:
    c = campaign_from_mapping(
        {
            "name": "c",
            "queue": "q",
            "hours_start": "09:00",
            "hours_end": "20:00",
            "days": "mon,tue,wed,thu,fri",
        }
    )
    paris = contact(number="+33145678901")
    ny = contact(number="+12025550101")
    assert contact_zone(c, paris) == "Europe/Paris" and contact_zone(c, ny) == "America/New_York"
    # Monday 2026-12-07 09:30 UTC: 10:30 in Paris (open), 04:30 in New York (closed)
    t = datetime(2026, 12, 7, 9, 30, tzinfo=UTC).timestamp()
    assert may_call(c, paris, t) and not may_call(c, ny, t)
    assert may_call(c, contact(number="+12025550101", timezone="Europe/Paris"), t)  # the customer's field
    saturday = datetime(2026, 12, 12, 12, 0, tzinfo=UTC).timestamp()
    assert not may_call(c, paris, saturday)
    from dataclasses import replace

    xmas = replace(c, hours=replace(c.hours, holidays=(Holiday(12, 7, None, "test"),)))
    assert not may_call(xmas, paris, t)


def test_no_marketing_keeps_out_of_marketing_only() -> None:
    flagged = contact(no_marketing=True)
    assert blocked_by_consent(Campaign(id=1, name="m", queue="q", kind=CampaignKind.MARKETING), flagged)
    assert not blocked_by_consent(Campaign(id=1, name="s", queue="q", kind=CampaignKind.SERVICE), flagged)


def test_status_transitions() -> None:
    assert C.with_status(CampaignStatus.RUNNING, 1.0).status is CampaignStatus.RUNNING
    stopped = C.with_status(CampaignStatus.STOPPED, 1.0)
    with pytest.raises(CampaignTransitionRefused):
        stopped.with_status(CampaignStatus.RUNNING, 2.0)


def test_settings_round_trip_and_validation() -> None:
    c = campaign_from_mapping(
        {
            "name": "Win back",
            "queue": "sales",
            "mode": "predictive",
            "kind": "marketing",
            "abandon_cap": "0.02",
            "outcomes": [{"code": "sale"}, {"code": "later", "closes": False, "retry_after": 300}],
            "hours_start": "10:00",
            "hours_end": "18:30",
        }
    )
    back = campaign_from_settings(
        Campaign(id=c.id, name=c.name, queue=c.queue, mode=c.mode, kind=c.kind), settings_of(c)
    )
    assert back == c
    with pytest.raises(ValidationError) as bad:
        campaign_from_mapping(
            {"name": "", "queue": "nope", "mode": "robot", "abandon_cap": 0.5, "retry": {"connected": 5}},
            queues=frozenset({"sales"}),
        )
    assert set(bad.value.fields) == {"name", "queue", "mode", "abandon_cap", "retry"}


# --- CSV -----------------------------------------------------------------------------------------------
def test_csv_contacts() -> None:
    data = "\ufeffPhone,Name,reason,no_marketing\n(202) 555-0101,Ann,case 1,yes\n+33 1 45 67 89 01,Bé,,\n"
    drafts, errors = parse_contacts(data.encode(), "1")
    assert not errors
    assert [(d.number, d.name, d.no_marketing) for d in drafts] == [
        ("+12025550101", "Ann", True),
        ("+33145678901", "Bé", False),
    ]


def test_csv_reports_every_error_by_line() -> None:
    data = b"phone,name,timezone\n12,x,\n2025550102,y,Mars/Olympus\n2025550101,z,\n2025550101,w,\n"
    _, errors = parse_contacts(data, "1")
    assert [(e.row, e.column) for e in errors] == [(2, "phone"), (3, "timezone"), (5, "phone")]
    assert errors[2].reason == "number repeated, first on row: 4"
    _, header = parse_contacts(b"phone,colour\n2025550101,red\n")
    assert header and "unknown column" in header[0].reason
    _, enc = parse_contacts(b"phone\n\xff\xfe\n")
    assert enc and "UTF-8" in enc[0].reason


# --- settings ------------------------------------------------------------------------------------------
def test_outbound_settings_are_validated() -> None:
    from callcenter.config import load_settings
    from callcenter.domain.errors import ConfigError

    ok = load_settings(env={"CALLCENTER_OUTBOUND_TRUNK": "carrier-1", "CALLCENTER_DIALER_TICK": "0.2"})
    assert ok.outbound_trunk == "carrier-1" and ok.dialer_tick == 0.2 and ok.missed_calls_campaign == ""
    with pytest.raises(ConfigError, match="CALLCENTER_OUTBOUND_TRUNK"):
        load_settings(env={"CALLCENTER_OUTBOUND_TRUNK": "bad trunk/x"})
    with pytest.raises(ConfigError, match="CALLCENTER_DIALER_TICK"):
        load_settings(env={"CALLCENTER_DIALER_TICK": "0"})
