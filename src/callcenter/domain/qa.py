"""Quality assurance: scoring forms, evaluations, calibration statistics and weekly sampling (issue #8).

Score formula (documented in the API and the form page):

* a yes/no question earns its full weight for "yes" and 0 for "no";
* a scale question (``0..max_points``) earns ``weight * points / max_points``;
* a question answered "n/a" (``None``, only where ``allow_na``) is left out of both sums;
* ``score = 100 * earned / possible``, rounded to 2 decimals (100 when nothing is applicable);
* any *instant-fail* question answered "no" (or 0 on a scale) sets the score to **0** (``failed``).
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from callcenter.domain.errors import CallcenterError


class ValidationError(CallcenterError):
    """A QA form, answer or sampling request is invalid (HTTP 400)."""


class QuestionKind(StrEnum):
    YES_NO = "yes_no"
    SCALE = "scale"


@dataclass(frozen=True, slots=True)
class Question:
    id: str
    text: str
    kind: QuestionKind = QuestionKind.YES_NO
    weight: float = 1.0
    max_points: int = 1  # scale questions: answers 0..max_points
    instant_fail: bool = False
    allow_na: bool = False


@dataclass(frozen=True, slots=True)
class Section:
    title: str
    questions: tuple[Question, ...]


@dataclass(frozen=True, slots=True)
class QaForm:
    id: int
    name: str
    sections: tuple[Section, ...]
    created_by: str = ""
    created_at: float = 0.0
    active: bool = True

    def questions(self) -> list[Question]:
        return [q for s in self.sections for q in s.questions]


@dataclass(frozen=True, slots=True)
class Answer:
    question_id: str
    value: float | None  # yes/no: 1 or 0; scale: 0..max_points; None: n/a
    comment: str = ""


@dataclass(frozen=True, slots=True)
class ScoreResult:
    score: float
    failed: bool
    earned: float
    possible: float


@dataclass(frozen=True, slots=True)
class Evaluation:
    id: int
    call_id: str
    form_id: int
    evaluator: str
    agent: str | None
    at: float
    score: float
    failed: bool
    answers: tuple[Answer, ...]
    comment: str = ""
    acknowledged_at: float | None = None
    acknowledged_by: str | None = None


# -- forms ----------------------------------------------------------------------------------------------


def _num(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValidationError(f"{what} must be a number")
    return float(value)


def parse_form_sections(raw: Any) -> tuple[Section, ...]:
    """Validate a form definition: ``[{"title", "questions": [{"id", "text", "kind", "weight",
    "max_points", "instant_fail", "allow_na"}]}]``. Question ids are unique across the form."""
    if not isinstance(raw, list) or not raw:
        raise ValidationError("sections must be a non-empty list")
    seen: set[str] = set()
    sections: list[Section] = []
    for i, sec in enumerate(raw):
        if not isinstance(sec, dict) or not str(sec.get("title", "")).strip():
            raise ValidationError(f"section {i + 1}: needs a title")
        qs_raw = sec.get("questions")
        if not isinstance(qs_raw, list) or not qs_raw:
            raise ValidationError(f"section {i + 1}: needs at least one question")
        questions: list[Question] = []
        for j, q in enumerate(qs_raw):
            where = f"section {i + 1} question {j + 1}"
            if not isinstance(q, dict):
                raise ValidationError(f"{where}: must be an object")
            qid = str(q.get("id", "")).strip()
            text = str(q.get("text", "")).strip()
            if not qid or not text:
                raise ValidationError(f"{where}: needs an id and a text")
            if qid in seen:
                raise ValidationError(f"{where}: duplicate id {qid!r}")
            seen.add(qid)
            try:
                kind = QuestionKind(str(q.get("kind", "yes_no")))
            except ValueError:
                raise ValidationError(f"{where}: kind must be yes_no or scale") from None
            weight = _num(q.get("weight", 1), f"{where}: weight")
            if weight < 0:
                raise ValidationError(f"{where}: weight must be >= 0")
            max_points = 1
            if kind is QuestionKind.SCALE:
                max_points = int(_num(q.get("max_points", 5), f"{where}: max_points"))
                if max_points < 1:
                    raise ValidationError(f"{where}: max_points must be >= 1")
            questions.append(
                Question(
                    id=qid,
                    text=text,
                    kind=kind,
                    weight=weight,
                    max_points=max_points,
                    instant_fail=bool(q.get("instant_fail", False)),
                    allow_na=bool(q.get("allow_na", False)),
                )
            )
        sections.append(Section(str(sec["title"]).strip(), tuple(questions)))
    return tuple(sections)


def sections_to_json(sections: Iterable[Section]) -> list[dict[str, Any]]:
    return [
        {
            "title": s.title,
            "questions": [
                {
                    "id": q.id,
                    "text": q.text,
                    "kind": q.kind.value,
                    "weight": q.weight,
                    "max_points": q.max_points,
                    "instant_fail": q.instant_fail,
                    "allow_na": q.allow_na,
                }
                for q in s.questions
            ],
        }
        for s in sections
    ]


# -- scoring --------------------------------------------------------------------------------------------


def parse_answers(form: QaForm, raw: Any) -> tuple[Answer, ...]:
    """``{"qid": {"value": 1|0|n|null, "comment": ""}}`` (or ``{"qid": value}``) checked against the form:
    every question must be answered (``null`` only where ``allow_na``), values in range."""
    if not isinstance(raw, dict):
        raise ValidationError("answers must be an object keyed by question id")
    known = {q.id for q in form.questions()}
    unknown = set(raw) - known
    if unknown:
        raise ValidationError(f"unknown question(s): {', '.join(sorted(unknown))}")
    answers: list[Answer] = []
    for q in form.questions():
        if q.id not in raw:
            raise ValidationError(f"question {q.id!r} is not answered")
        item = raw[q.id]
        comment = ""
        if isinstance(item, dict):
            comment = str(item.get("comment", ""))[:2000]
            item = item.get("value")
        if item is None:
            if not q.allow_na:
                raise ValidationError(f"question {q.id!r} cannot be n/a")
            answers.append(Answer(q.id, None, comment))
            continue
        value = float(item) if isinstance(item, bool) else _num(item, f"answer to {q.id!r}")
        top = 1 if q.kind is QuestionKind.YES_NO else q.max_points
        if value < 0 or value > top or (q.kind is QuestionKind.YES_NO and value not in (0.0, 1.0)):
            raise ValidationError(f"answer to {q.id!r} must be between 0 and {top}")
        answers.append(Answer(q.id, value, comment))
    return tuple(answers)


def score(form: QaForm, answers: Sequence[Answer]) -> ScoreResult:
    """The weighted percentage of ``answers`` on ``form`` (see the module docstring)."""
    by_id = {a.question_id: a for a in answers}
    earned = possible = 0.0
    failed = False
    for q in form.questions():
        answer = by_id.get(q.id)
        if answer is None or answer.value is None:
            continue
        top = 1 if q.kind is QuestionKind.YES_NO else q.max_points
        fraction = answer.value / top
        if q.instant_fail and answer.value == 0:
            failed = True
        earned += q.weight * fraction
        possible += q.weight
    pct = 100.0 if possible == 0 else 100.0 * earned / possible
    final = 0.0 if failed else round(pct, 2)
    return ScoreResult(score=final, failed=failed, earned=earned, possible=possible)


# -- calibration ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Spread:
    n: int
    min: float | None
    max: float | None
    mean: float | None
    stddev: float | None  # population standard deviation (0 for one evaluator)


@dataclass(frozen=True, slots=True)
class Calibration:
    call_id: str
    evaluators: tuple[str, ...]
    total: Spread
    questions: dict[str, Spread] = field(default_factory=dict)


def spread(values: Sequence[float]) -> Spread:
    if not values:
        return Spread(0, None, None, None, None)
    return Spread(
        n=len(values),
        min=min(values),
        max=max(values),
        mean=round(statistics.fmean(values), 4),
        stddev=round(statistics.pstdev(values), 4),
    )


def calibrate(call_id: str, form: QaForm, evaluations: Sequence[Evaluation]) -> Calibration:
    """Spread of several evaluators' answers on one call with one form: per question (answer values,
    n/a left out) and of the total score."""
    evals = [e for e in evaluations if e.form_id == form.id]
    per_q: dict[str, list[float]] = {q.id: [] for q in form.questions()}
    for e in evals:
        for a in e.answers:
            if a.value is not None and a.question_id in per_q:
                per_q[a.question_id].append(a.value)
    return Calibration(
        call_id=call_id,
        evaluators=tuple(e.evaluator for e in evals),
        total=spread([e.score for e in evals]),
        questions={qid: spread(vals) for qid, vals in per_q.items()},
    )


# -- sampling -------------------------------------------------------------------------------------------


def sample_calls(
    calls_by_agent: Mapping[str, Sequence[str]], per_agent: int, seed: int | str | None = None
) -> dict[str, list[str]]:
    """Pick ``per_agent`` call ids at random for each agent (all of them when fewer), reproducibly for
    a given ``seed``: the input is sorted first so the database's row order does not matter."""
    if per_agent < 1:
        raise ValidationError("per_agent must be >= 1")
    rng = random.Random(seed)
    out: dict[str, list[str]] = {}
    for agent in sorted(calls_by_agent):
        ids = sorted(set(calls_by_agent[agent]))
        out[agent] = sorted(rng.sample(ids, per_agent)) if len(ids) > per_agent else ids
    return out


def iso_week_bounds(week: str) -> tuple[float, float]:
    """``"2026-W47"`` → the week's [Monday 00:00 UTC, next Monday 00:00 UTC) as epoch seconds."""
    try:
        year_s, _, week_s = week.upper().partition("-W")
        start = datetime.fromisocalendar(int(year_s), int(week_s), 1).replace(tzinfo=UTC)
    except ValueError:
        raise ValidationError(f"week must look like 2026-W47, got {week!r}") from None
    return start.timestamp(), (start + timedelta(days=7)).timestamp()
