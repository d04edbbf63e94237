"""What is sent when (issue 16): a case's stage change and a ticket's status change e-mail the customer
(template in the case's language, en or zh-CN) and call the webhooks; an ended call calls the webhooks.

Everything goes through the durable outbox (``services/outbox.py``): the request that changed the case
only writes rows. The e-mail about a case carries a link to its status page: a fresh token
(``secrets.token_urlsafe``) of which only the SHA-256 is stored, valid ``link_days``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from callcenter.domain.calls import CallRecord
from callcenter.domain.notify import EMAIL, WEBHOOK, OutboxItem, hash_token, new_token, render_email
from callcenter.domain.surveys import CallSurvey
from callcenter.domain.tickets import Ticket, TicketEvent
from callcenter.services.cases import CaseChanged
from callcenter.services.crm import CrmService
from callcenter.services.outbox import OutboxService

log = logging.getLogger(__name__)


class TokenStore(Protocol):
    async def add_token(self, token_hash: str, case_id: int, now: float, expires_at: float) -> None: ...
    async def case_for_token(self, token_hash: str, now: float) -> int | None: ...


@dataclass(frozen=True, slots=True)
class NotifyOptions:
    email: bool = False  # an SMTP server is configured
    webhook_urls: tuple[str, ...] = ()
    public_url: str = "http://localhost:8080"
    link_days: int = 30


def parse_urls(raw: str) -> tuple[str, ...]:
    return tuple(u.strip() for u in raw.split(",") if u.strip())


def _day(ts: float | None) -> str:
    return "" if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")


class Notifier:
    def __init__(
        self,
        outbox: OutboxService,
        crm: CrmService,
        tokens: TokenStore,
        options: NotifyOptions,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.outbox = outbox
        self.crm = crm
        self.tokens = tokens
        self.options = options
        self.clock = clock

    def _webhooks(self, event: str, payload: dict[str, Any], ref: str, now: float) -> list[OutboxItem]:
        body = {"event": event, "at": now, "data": payload}
        return [
            OutboxItem(0, WEBHOOK, event, url, body, ref=ref, next_at=now, created_at=now)
            for url in self.options.webhook_urls
        ]

    async def status_link(self, case_id: int) -> str:
        now = self.clock()
        token, digest = new_token()
        await self.tokens.add_token(digest, case_id, now, now + self.options.link_days * 86400)
        return f"{self.options.public_url.rstrip('/')}/status/{token}"

    async def case_for_token(self, token: str) -> int | None:
        if not token or len(token) > 200:
            return None
        return await self.tokens.case_for_token(hash_token(token), self.clock())

    async def on_case_changed(self, change: CaseChanged) -> None:
        """``CaseService`` listener: e-mail the customer and call the webhooks."""
        case, event = change.case, change.event
        now = self.clock()
        ref = f"case:{case.id}"
        items: list[OutboxItem] = []
        data = {
            "case_id": case.id,
            "number": case.number,
            "customer_id": case.customer_id,
            "stage": case.stage.value,
            "previous_stage": event.old,
            "stage_due": case.stage_due,
            "note": event.note,
            "actor": event.actor,
        }
        if self.options.email:
            customer = await self.crm.get_customer(case.customer_id)
            if customer.email:
                values = {
                    "name": customer.name,
                    "number": case.number,
                    "product": case.product,
                    "serial": case.serial,
                    "stage": case.stage.value,
                    "date": _day(case.stage_due),
                    "carrier": case.carrier,
                    "tracking_no": case.tracking,
                    "link": await self.status_link(case.id),
                }
                subject, body = render_email("case.changed", case.language, values)
                payload = {"subject": subject, "body": body, "language": case.language}
                items.append(
                    OutboxItem(
                        0, EMAIL, "case.changed", customer.email, payload, ref, next_at=now, created_at=now
                    )
                )
        items += self._webhooks("case.changed", data, ref, now)
        if items:
            await self.outbox.enqueue(items)

    async def on_ticket_changed(self, ticket: Ticket, events: Sequence[TicketEvent]) -> None:
        """``CrmService`` listener: a status change e-mails the customer; any change calls the webhooks."""
        now = self.clock()
        ref = f"ticket:{ticket.id}"
        status = next((e for e in events if e.field == "status"), None)
        items: list[OutboxItem] = []
        if status is not None and self.options.email:
            customer = await self.crm.get_customer(ticket.customer_id)
            if customer.email:
                values = {
                    "name": customer.name,
                    "number": str(ticket.id),
                    "subject": ticket.subject,
                    "stage": ticket.status.value,
                }
                subject, body = render_email("ticket.changed", "en", values)
                items.append(
                    OutboxItem(
                        0,
                        EMAIL,
                        "ticket.changed",
                        customer.email,
                        {"subject": subject, "body": body},
                        ref,
                        next_at=now,
                        created_at=now,
                    )
                )
        data = {
            "ticket_id": ticket.id,
            "customer_id": ticket.customer_id,
            "status": ticket.status.value,
            "changes": [{"field": e.field, "old": e.old, "new": e.new} for e in events],
        }
        items += self._webhooks("ticket.changed", data, ref, now)
        if items:
            await self.outbox.enqueue(items)

    async def on_survey_answered(self, survey: CallSurvey) -> None:
        """``SurveyService`` listener: the ``survey.answered`` webhook (signed like the others)."""
        items = self._webhooks("survey.answered", survey.as_dict(), f"survey:{survey.call_id}", self.clock())
        if items:
            await self.outbox.enqueue(items)

    def on_call_finished(self, record: CallRecord) -> None:
        """Tracker listener (sync, in the event path): hand the webhooks to the outbox's queue."""
        if not self.options.webhook_urls:
            return
        data = {
            "call_id": record.call_id,
            "direction": record.direction,
            "caller_num": record.caller_num,
            "queue": record.queue,
            "agent": record.agent,
            "outcome": record.outcome.value,
            "started_at": record.started_at,
            "ended_at": record.ended_at,
            "wait_seconds": record.wait_seconds,
            "talk_seconds": record.talk_seconds,
        }
        for item in self._webhooks("call.ended", data, f"call:{record.call_id}", self.clock()):
            self.outbox.submit_nowait(item)
