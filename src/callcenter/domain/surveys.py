"""Post-call surveys (CSAT, issue 16 part 4). Pure Python: no I/O.

A queue that offers a survey (``survey: <flow>`` in ``config/acd.yaml``) dials its agents with Dial's
``g`` option: when the *agent* hangs up, app_dial returns 0 and the caller stays in the FastAGI session,
which then runs the survey flow (``ivr_flows/survey.yaml``); when the *caller* hangs up there is nothing
to ask. A survey is stored per call (``call_surveys``, keyed by the call id = Linkedid) the moment it is
offered; the caller's 1-5 score and the optional "was your problem solved" (yes/no) are added when
given. A survey offered and never answered counts against the response rate.

A low score (``LOW_SCORES``: 1 or 2) on a *complaint* reopens the call's complaint ticket or creates a
follow-up ticket (:func:`low_score_action`). A call is a complaint when it was answered in one of the
complaint queues (``CALLCENTER_CSAT_COMPLAINT_QUEUES``, default ``complaints``) or when a ticket of
category ``complaint`` is tied to it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from callcenter.domain.customers import ValidationError
from callcenter.domain.tickets import DONE, TicketCategory, TicketStatus

SCORES = (1, 2, 3, 4, 5)
LOW_SCORES = frozenset({1, 2})
MAX_CALL_ID = 128
#: a follow-up ticket for a low score is due this long after the survey (a working day, roughly)
FOLLOW_UP_DELAY = 24 * 3600.0


def check_score(value: Any) -> int:
    """A survey score 1-5 (``ValidationError`` on anything else: 9, "3", True, 2.5)."""
    if isinstance(value, bool) or not isinstance(value, int) or value not in SCORES:
        raise ValidationError({"score": f"must be an integer 1-5, got {str(value)[:20]!r}"})
    return value


@dataclass(frozen=True, slots=True)
class CallSurvey:
    """One call's survey: offered (score None) or answered."""

    call_id: str
    agent: str | None
    queue: str | None
    flow: str
    offered_at: float
    score: int | None = None
    solved: bool | None = None
    answered_at: float | None = None
    customer_id: int | None = None  # as the IVR knew the caller (lookup) when the survey started

    @property
    def answered(self) -> bool:
        return self.score is not None

    def as_dict(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "agent": self.agent,
            "queue": self.queue,
            "flow": self.flow,
            "offered_at": self.offered_at,
            "score": self.score,
            "solved": self.solved,
            "answered_at": self.answered_at,
            "customer_id": self.customer_id,
        }


@dataclass(slots=True)
class CsatTally:
    """Surveys offered and answered, and the sum of the scores: the CSAT average and response rate."""

    offered: int = 0
    answered: int = 0
    score_sum: int = 0
    solved_yes: int = 0
    solved_answers: int = 0

    def add(self, other: CsatTally) -> None:
        self.offered += other.offered
        self.answered += other.answered
        self.score_sum += other.score_sum
        self.solved_yes += other.solved_yes
        self.solved_answers += other.solved_answers

    @property
    def average(self) -> float | None:
        return round(self.score_sum / self.answered, 2) if self.answered else None

    @property
    def response_rate(self) -> float | None:
        return round(self.answered / self.offered, 4) if self.offered else None

    @property
    def solved_rate(self) -> float | None:
        return round(self.solved_yes / self.solved_answers, 4) if self.solved_answers else None


def tally(surveys: Iterable[CallSurvey]) -> CsatTally:
    """The reference sum (the SQL in ``store/surveys.py`` is checked against it)."""
    t = CsatTally()
    for s in surveys:
        t.offered += 1
        if s.score is not None:
            t.answered += 1
            t.score_sum += s.score
        if s.solved is not None:
            t.solved_answers += 1
            t.solved_yes += 1 if s.solved else 0
    return t


# ------------------------------------------------------------------------------ low score on a complaint


class LowScoreKind(StrEnum):
    NONE = "none"  # not low, or not a complaint
    REOPEN = "reopen"  # the call's complaint ticket was resolved/closed: open it again
    ALREADY_OPEN = "already_open"  # the call's complaint ticket is still being worked on
    FOLLOW_UP = "follow_up"  # no complaint ticket to reopen: a follow-up ticket for the customer
    NO_CUSTOMER = "no_customer"  # a follow-up is needed but the call has no customer to file it for


@dataclass(frozen=True, slots=True)
class TicketBrief:
    id: int
    category: TicketCategory
    status: TicketStatus


@dataclass(frozen=True, slots=True)
class LowScoreAction:
    kind: LowScoreKind
    ticket_id: int | None = None


def is_complaint(queue: str | None, tickets: Sequence[TicketBrief], complaint_queues: Iterable[str]) -> bool:
    return (queue is not None and queue in set(complaint_queues)) or any(
        t.category is TicketCategory.COMPLAINT for t in tickets
    )


def low_score_action(
    score: int,
    queue: str | None,
    tickets: Sequence[TicketBrief],
    customer_id: int | None,
    complaint_queues: Iterable[str],
) -> LowScoreAction:
    """What a survey score means for the call's tickets: a low score on a complaint reopens the call's
    latest complaint ticket when it is done, leaves it when it is still open, and otherwise asks for a
    follow-up ticket (which needs the call's customer)."""
    if score not in LOW_SCORES or not is_complaint(queue, tickets, complaint_queues):
        return LowScoreAction(LowScoreKind.NONE)
    complaints = sorted((t for t in tickets if t.category is TicketCategory.COMPLAINT), key=lambda t: t.id)
    if complaints:
        latest = complaints[-1]
        if latest.status in DONE:
            return LowScoreAction(LowScoreKind.REOPEN, latest.id)
        return LowScoreAction(LowScoreKind.ALREADY_OPEN, latest.id)
    if customer_id is None:
        return LowScoreAction(LowScoreKind.NO_CUSTOMER)
    return LowScoreAction(LowScoreKind.FOLLOW_UP)
