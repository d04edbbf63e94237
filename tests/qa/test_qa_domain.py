"""Pure tests: scoring formula, calibration math, sampling, ISO weeks, byte ranges, retention."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from callcenter.domain.qa import (
    Answer,
    Evaluation,
    QaForm,
    ValidationError,
    calibrate,
    iso_week_bounds,
    parse_answers,
    parse_form_sections,
    sample_calls,
    score,
    spread,
)
from callcenter.domain.qa_recordings import (
    RangeNotSatisfiable,
    RecordingInfo,
    RetentionPolicy,
    parse_range,
    parse_retention,
)
from tests.qa.conftest import FORM

DAY = 86400.0


def form() -> QaForm:
    return QaForm(1, "Standard", parse_form_sections(FORM["sections"]))


def answers(**values: float | None) -> tuple[Answer, ...]:
    base: dict[str, float | None] = {"greet": 1, "verify": 1, "solve": 5, "upsell": 1}
    base.update(values)
    return parse_answers(form(), {k: {"value": v, "comment": f"c-{k}"} for k, v in base.items()})


def test_perfect_score_is_100() -> None:
    result = score(form(), answers())
    assert result.score == 100.0 and not result.failed


def test_weighted_percentage() -> None:
    # greet 0 (w1), verify 1 (w2), solve 3/5 (w3), upsell 1 (w1): (0 + 2 + 1.8 + 1) / 7
    result = score(form(), answers(greet=0, solve=3))
    assert result.score == round(100 * 4.8 / 7, 2)
    assert result.possible == 7


def test_na_is_left_out_of_both_sums() -> None:
    result = score(form(), answers(upsell=None, greet=0))
    assert result.score == round(100 * 5 / 6, 2)


def test_instant_fail_sets_zero() -> None:
    result = score(form(), answers(verify=0))
    assert result.failed and result.score == 0.0


def test_answers_validation() -> None:
    with pytest.raises(ValidationError, match="not answered"):
        parse_answers(form(), {"greet": 1})
    with pytest.raises(ValidationError, match="cannot be n/a"):
        parse_answers(form(), {"greet": None, "verify": 1, "solve": 1, "upsell": 1})
    with pytest.raises(ValidationError, match="between 0 and 5"):
        parse_answers(form(), {"greet": 1, "verify": 1, "solve": 6, "upsell": 1})
    with pytest.raises(ValidationError, match="between 0 and 1"):
        parse_answers(form(), {"greet": 0.5, "verify": 1, "solve": 1, "upsell": 1})
    with pytest.raises(ValidationError, match="unknown"):
        parse_answers(form(), {"greet": 1, "verify": 1, "solve": 1, "upsell": 1, "zzz": 1})
    assert parse_answers(form(), {"greet": True, "verify": 1, "solve": 2, "upsell": None})[0].value == 1.0


@pytest.mark.parametrize(
    "sections",
    [
        [],
        [{"title": "", "questions": [{"id": "a", "text": "A"}]}],
        [{"title": "S", "questions": []}],
        [{"title": "S", "questions": [{"id": "a", "text": "A"}, {"id": "a", "text": "B"}]}],
        [{"title": "S", "questions": [{"id": "a", "text": "A", "kind": "essay"}]}],
        [{"title": "S", "questions": [{"id": "a", "text": "A", "weight": -1}]}],
        [{"title": "S", "questions": [{"id": "a", "text": "A", "kind": "scale", "max_points": 0}]}],
    ],
)
def test_invalid_forms(sections: object) -> None:
    with pytest.raises(ValidationError):
        parse_form_sections(sections)


def _ev(i: int, evaluator: str, s: float, greet: float) -> Evaluation:
    ans = answers(greet=greet)
    return Evaluation(i, "c1", 1, evaluator, "1001", 0.0, s, False, ans)


def test_calibration_spread() -> None:
    evals = [_ev(1, "a", 80.0, 1), _ev(2, "b", 90.0, 0), _ev(3, "c", 100.0, 1)]
    cal = calibrate("c1", form(), evals)
    assert cal.evaluators == ("a", "b", "c")
    assert cal.total.n == 3 and cal.total.min == 80 and cal.total.max == 100 and cal.total.mean == 90
    assert cal.total.stddev == pytest.approx(math.sqrt(200 / 3), abs=1e-4)
    greet = cal.questions["greet"]
    assert greet.min == 0 and greet.max == 1 and greet.mean == pytest.approx(0.6667, abs=1e-4)
    assert cal.questions["solve"].stddev == 0
    assert spread([]).n == 0 and spread([]).stddev is None


def test_sampling_is_reproducible_and_bounded() -> None:
    calls = {"1001": [f"a{i}" for i in range(20)], "1002": ["b1", "b2"]}
    one = sample_calls(calls, 5, seed=7)
    assert len(one["1001"]) == 5 and set(one["1001"]) <= set(calls["1001"])
    assert one["1002"] == ["b1", "b2"]
    assert sample_calls({"1001": list(reversed(calls["1001"])), "1002": ["b2", "b1"]}, 5, seed=7) == one
    with pytest.raises(ValidationError):
        sample_calls(calls, 0)


def test_iso_week_bounds() -> None:
    since, until = iso_week_bounds("2026-W48")
    assert datetime.fromtimestamp(since, UTC) == datetime(2026, 11, 23, tzinfo=UTC)
    assert until - since == 7 * DAY
    for bad in ("2026-48", "W48", "2026-W60", ""):
        with pytest.raises(ValidationError):
            iso_week_bounds(bad)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("bytes=0-", (0, 999)),
        ("bytes=0-99", (0, 99)),
        ("bytes=500-2000", (500, 999)),
        ("bytes=-100", (900, 999)),
        ("bytes=-5000", (0, 999)),
        ("bytes=999-999", (999, 999)),
    ],
)
def test_parse_range(header: str | None, expected: tuple[int, int] | None) -> None:
    assert parse_range(header, 1000) == expected


@pytest.mark.parametrize(
    "header", ["bytes=1000-", "bytes=5-2", "items=0-1", "bytes=0-1,5-6", "bytes=x-y", "bytes=-0", "bytes"]
)
def test_parse_range_refused(header: str) -> None:
    with pytest.raises(RangeNotSatisfiable):
        parse_range(header, 1000)


def test_retention_policy() -> None:
    policy = parse_retention("sales=30, vip=0, *=90")
    assert policy.days_for("sales") == 30 and policy.days_for("other") == 90 and policy.days_for(None) == 90
    assert policy.min_days() == 30
    now = 1000 * DAY
    old_sales = RecordingInfo(1, "c", "x.wav", started_at=now - 31 * DAY, queue="sales")
    young_support = RecordingInfo(2, "c", "y.wav", started_at=now - 31 * DAY, queue="support")
    vip = RecordingInfo(3, "c", "z.wav", started_at=now - 3000 * DAY, queue="vip")
    assert policy.expired(old_sales, now) and not policy.expired(young_support, now)
    assert not policy.expired(vip, now)  # 0: kept forever
    assert RetentionPolicy(0).min_days() == 0
    with pytest.raises(ValueError):
        parse_retention("sales")


def test_timeline_includes_ivr_path_wait_offers_hold_transfer() -> None:
    from callcenter.domain.ivr import IvrOutcome, IvrSessionRecord
    from callcenter.services.qa import build_timeline
    from tests.qa.conftest import sample_calls

    call = sample_calls()[0]
    ivr = IvrSessionRecord(
        call_id="c1",
        uniqueid="c1",
        flow="main",
        started_at=call.started_at + 1,
        ended_at=call.started_at + 5,
        outcome=IvrOutcome.QUEUED,
        path=(
            {"node": "main_menu", "type": "menu", "at": 0.5, "duration": 2.0, "digits": ["1"]},
            {"node": "sales", "type": "queue", "at": 3.0, "duration": 0.0},
        ),
    )
    timeline = build_timeline(call, [ivr])
    kinds = [e.kind for e in timeline]
    assert kinds == [
        "start",
        "ivr",
        "ivr_step",
        "ivr_step",
        "queued",
        "offer",
        "offer",
        "answer",
        "hold",
        "transfer",
        "end",
    ]
    assert timeline[2].text == "menu main_menu pressed 1"
    assert [e.at for e in timeline] == sorted(e.at for e in timeline)
    assert "noanswer" in timeline[5].text and "answered" in timeline[6].text
