"""Post-call surveys (CSAT, issue 16): the IVR survey node's sink, the call page's read, the reports'
sums, and what a complete survey triggers.

``offered`` then (when the caller gave a score) ``answered`` arrive from the caller's FastAGI session
(``services/ivr_survey.py``): one write each. ``answered``, after its write:

1. tells the listeners (the ``survey.answered`` webhook through the outbox, ``services/notify.py``);
2. applies the low-score rule (``domain.surveys.low_score_action``): a score of 1-2 on a complaint
   reopens the call's complaint ticket (resolved/closed → open, priority high) or, without one, creates
   a follow-up ticket for the call's customer, due in a day. What was done (or why nothing could be) is
   logged and written to the audit log (action ``csat.low_score``, actor ``csat``).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from typing import Literal, Protocol

from callcenter.domain.audit import AuditEntry
from callcenter.domain.customers import ValidationError
from callcenter.domain.errors import CallcenterError
from callcenter.domain.surveys import (
    FOLLOW_UP_DELAY,
    LOW_SCORES,
    MAX_CALL_ID,
    CallSurvey,
    CsatTally,
    LowScoreAction,
    LowScoreKind,
    TicketBrief,
    check_score,
    low_score_action,
)
from callcenter.domain.tickets import Ticket, TicketEvent
from callcenter.ports import AuditLog

log = logging.getLogger(__name__)

ACTOR = "csat"
MAX_RUNNING = 10_000


class SurveyStore(Protocol):
    async def add_offer(self, survey: CallSurvey) -> bool: ...

    async def set_answer(self, call_id: str, score: int, solved: bool | None, at: float) -> bool: ...

    async def get_survey(self, call_id: str) -> CallSurvey | None: ...

    async def call_context(self, call_id: str) -> tuple[int | None, list[TicketBrief]]: ...

    async def csat_tallies(
        self,
        since: float,
        until: float,
        group: Literal["agent", "queue", "interval"],
        *,
        queue: str | None = None,
        agent: str | None = None,
    ) -> dict[str | int, CsatTally]: ...


class Tickets(Protocol):
    """The part of ``CrmService`` the low-score rule uses."""

    async def create_ticket(
        self, data: dict[str, object], *, actor: str, customer_id: int | None = None
    ) -> Ticket: ...

    async def update_ticket(self, ticket_id: int, data: dict[str, object], *, actor: str) -> Ticket: ...


SurveyListener = Callable[[CallSurvey], Awaitable[None]]
TicketListener = Callable[[Ticket, list[TicketEvent]], Awaitable[None]]


class SurveyService:
    def __init__(
        self,
        store: SurveyStore,
        *,
        tickets: Tickets | None = None,
        audit: AuditLog | None = None,
        complaint_queues: Iterable[str] = ("complaints",),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.tickets = tickets
        self.audit = audit
        self.complaint_queues = tuple(complaint_queues)
        self.clock = clock
        #: told about every answered survey (the webhook); a failing listener is logged
        self.listeners: list[SurveyListener] = []
        #: the surveys running in this instance, as written: ``finished`` needs no read back
        self._running: OrderedDict[str, CallSurvey] = OrderedDict()
        self.stats = {"offered": 0, "answered": 0, "low_score_tickets": 0}

    # -- the IVR's sink (services/ivr_survey.SurveySink) ---------------------------------------------------

    async def offered(
        self, call_id: str, agent: str | None, queue: str | None, flow: str, customer_id: int | None = None
    ) -> None:
        if not call_id or len(call_id) > MAX_CALL_ID:
            raise CallcenterError(f"survey: bad call id {call_id[:40]!r}")
        survey = CallSurvey(call_id, agent, queue, flow, self.clock(), customer_id=customer_id)
        if await self.store.add_offer(survey):
            self.stats["offered"] += 1
            self._remember(survey)

    def _remember(self, survey: CallSurvey) -> None:
        self._running[survey.call_id] = survey
        self._running.move_to_end(survey.call_id)
        while len(self._running) > MAX_RUNNING:  # sessions that never finished (a crash of the PBX)
            self._running.popitem(last=False)

    async def answered(self, call_id: str, score: int, solved: bool | None) -> None:
        """The caller's answers (one write), then the listeners and the low-score rule."""
        check_score(score)
        if solved is not None and not isinstance(solved, bool):
            raise ValidationError({"solved": "must be true, false or null"})
        now = self.clock()
        if not await self.store.set_answer(call_id, score, solved, now):
            log.warning("survey answered but never offered", extra={"linkedid": call_id})
            return
        self.stats["answered"] += 1
        offered = self._running.pop(call_id, None) or await self.store.get_survey(call_id)
        if offered is None:
            return
        survey = dataclasses.replace(offered, score=score, solved=solved, answered_at=now)
        extra = {"linkedid": call_id, "agent": survey.agent, "queue": survey.queue, "score": score}
        log.info("survey complete", extra={**extra, "solved": solved})
        for listener in self.listeners:
            try:
                await listener(survey)
            except Exception:  # a webhook problem never loses the survey
                log.exception("survey listener failed", extra=extra)
        await self.apply_low_score(survey)

    # -- reads ---------------------------------------------------------------------------------------------

    async def for_call(self, call_id: str) -> CallSurvey | None:
        if not call_id or len(call_id) > MAX_CALL_ID:
            return None
        return await self.store.get_survey(call_id)

    # -- the low-score rule --------------------------------------------------------------------------------

    async def apply_low_score(self, survey: CallSurvey) -> LowScoreAction:
        assert survey.score is not None
        if survey.score not in LOW_SCORES:
            return LowScoreAction(LowScoreKind.NONE)  # no read of the call's tickets
        known, tickets = await self.store.call_context(survey.call_id)
        customer_id = survey.customer_id if survey.customer_id is not None else known
        action = low_score_action(survey.score, survey.queue, tickets, customer_id, self.complaint_queues)
        if action.kind is LowScoreKind.NONE:
            return action
        extra = {"linkedid": survey.call_id, "agent": survey.agent, "action": action.kind.value}
        detail: dict[str, object] = {
            "call_id": survey.call_id,
            "score": survey.score,
            "queue": survey.queue,
            "agent": survey.agent,
            "result": action.kind.value,
        }
        ok = True
        try:
            if action.kind is LowScoreKind.REOPEN and self.tickets is not None:
                assert action.ticket_id is not None
                await self.tickets.update_ticket(
                    action.ticket_id, {"status": "open", "priority": "high"}, actor=ACTOR
                )
                detail["ticket_id"] = action.ticket_id
                self.stats["low_score_tickets"] += 1
            elif action.kind is LowScoreKind.FOLLOW_UP and self.tickets is not None:
                ticket = await self.tickets.create_ticket(
                    {
                        "customer_id": customer_id,
                        "subject": f"Low survey score ({survey.score}/5) after a complaint call",
                        "category": "follow_up",
                        "priority": "high",
                        "call_id": survey.call_id,
                        "due_at": self.clock() + FOLLOW_UP_DELAY,
                        "description": (
                            f"Post-call survey: score {survey.score}/5, solved: "
                            f"{'unknown' if survey.solved is None else 'yes' if survey.solved else 'no'}; "
                            f"queue {survey.queue or '-'}, agent {survey.agent or '-'}."
                        ),
                    },
                    actor=ACTOR,
                )
                detail["ticket_id"] = ticket.id
                self.stats["low_score_tickets"] += 1
            elif action.ticket_id is not None:
                detail["ticket_id"] = action.ticket_id
        except CallcenterError as exc:
            ok = False
            detail["error"] = str(exc)[:300]
            log.warning("low survey score: ticket change failed", extra={**extra, "error": str(exc)})
        log.info("low survey score on a complaint", extra={**extra, "ticket_id": detail.get("ticket_id")})
        if self.audit is not None:
            entry = AuditEntry(
                self.clock(), ACTOR, "system", "csat.low_score", survey.agent or "", ok, detail
            )
            try:
                await self.audit.save_audit(entry)
            except CallcenterError as exc:
                log.warning("audit of a low survey score failed", extra={**extra, "error": str(exc)})
        return action
