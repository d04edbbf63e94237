"""CRM use cases: customers (search, update, notes) and tickets (status rules, history, follow-ups).

Input comes as plain mappings (a JSON body, or form fields, where everything is a string); the
``*_from`` functions validate it field by field and raise one ``ValidationError`` naming every bad field,
so the web layer answers 400 with field names and the pages show the same messages. Unknown fields are
errors too (a typo must not be silently ignored).

Times: epoch seconds in, ``clock()`` for "now". ``due_at`` accepts ISO 8601 (a time without a zone is
UTC) or epoch seconds; ``null``/``""`` clears it on update.

Who: ``actor`` is the username of whoever makes the change; it goes into notes and ticket history.
Assignees are usernames or agent ids (extensions); an agent's own follow-ups are those assigned to
their username or their agent id.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from callcenter.domain import bounds
from callcenter.domain.calls import CallRecord
from callcenter.domain.customers import (
    Customer,
    CustomerChanges,
    CustomerDraft,
    CustomerNote,
    CustomerPage,
    CustomerQuery,
    Fields,
    Segment,
    ValidationError,
    check,
    clean_email,
    clean_name,
    clean_note,
    clean_phones,
    clean_score,
    clean_segment,
    clean_tags,
    clean_text,
)
from callcenter.domain.errors import NotFound
from callcenter.domain.tickets import (
    DONE,
    ConcurrentUpdate,
    Ticket,
    TicketCategory,
    TicketChanges,
    TicketDraft,
    TicketEvent,
    TicketPage,
    TicketPriority,
    TicketQuery,
    TicketStatus,
    apply_changes,
    clean_assignee,
    clean_call_id,
    clean_epoch,
    clean_subject,
    parse_enum,
)
from callcenter.domain.users import User
from callcenter.ports import CrmRecords

log = logging.getLogger(__name__)

CUSTOMER_FIELDS = frozenset({"name", "company", "email", "segment", "value_score", "phones", "tags", "notes"})
CUSTOMER_UPDATE_FIELDS = CUSTOMER_FIELDS - {"notes"}
TICKET_FIELDS = frozenset(
    {"customer_id", "subject", "description", "category", "priority", "call_id", "assignee", "due_at"}
)
TICKET_UPDATE_FIELDS = frozenset(
    {"status", "priority", "category", "subject", "assignee", "due_at", "comment"}
)
#: How often ``update_ticket`` retries after losing a race with another writer.
UPDATE_ATTEMPTS = 3


# -- input parsing (pure) ---------------------------------------------------------------------------


def _unknown(fields: Fields, data: Mapping[str, Any], known: frozenset[str]) -> None:
    for name in sorted(set(data) - known):
        fields.add(name, "unknown field")


def _string(fields: Fields, data: Mapping[str, Any], name: str) -> str | None:
    """The field as a string (``None`` when absent or null); a wrong type is a field error."""
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        fields.add(name, "must be a string")
        return None
    return value


def _strings(fields: Fields, data: Mapping[str, Any], name: str) -> str | list[str] | None:
    """A list of strings, or one string with separators (forms, CSV)."""
    value = data.get(name)
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return value
    fields.add(name, "must be a list of strings")
    return None


def _number(fields: Fields, data: Mapping[str, Any], name: str) -> str | float | None:
    value = data.get(name)
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    fields.add(name, "must be a number")
    return None


def parse_time(raw: str | float) -> float:
    """Epoch seconds from ISO 8601 (no zone: UTC) or a number of epoch seconds."""
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return clean_epoch(float(raw))
    if not isinstance(raw, str):
        raise ValueError("a time: ISO 8601 (2025-05-01T08:00:00Z) or epoch seconds")
    text = raw.strip()
    try:
        return clean_epoch(float(text))
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not a time: {raw[:40]!r}; use ISO 8601 like 2025-05-01T08:00:00Z") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return clean_epoch(parsed.timestamp())


def customer_draft_from(data: Mapping[str, Any], default_country_code: str) -> CustomerDraft:
    fields = Fields()
    _unknown(fields, data, CUSTOMER_FIELDS)
    name = check(fields, "name", clean_name, _string(fields, data, "name") or "")
    company = check(fields, "company", clean_text, _string(fields, data, "company") or "")
    email = check(fields, "email", clean_email, _string(fields, data, "email") or "")
    segment_raw = _string(fields, data, "segment")
    segment = check(fields, "segment", clean_segment, segment_raw) if segment_raw else Segment.NEW
    score_raw = _number(fields, data, "value_score")
    score = check(fields, "value_score", clean_score, score_raw) if score_raw not in (None, "") else 0.0
    phones = check(
        fields, "phones", clean_phones, _strings(fields, data, "phones") or (), default_country_code
    )
    tags = check(fields, "tags", clean_tags, _strings(fields, data, "tags") or ())
    notes = _string(fields, data, "notes")
    note = check(fields, "notes", clean_text, notes or "", 5000)
    fields.raise_if_any()
    assert name is not None and segment is not None and score is not None
    return CustomerDraft(
        name=name,
        company=company or "",
        email=email or "",
        segment=segment,
        value_score=score,
        phones=phones or (),
        tags=tags or (),
        notes=note or "",
    )


def customer_changes_from(data: Mapping[str, Any], default_country_code: str) -> CustomerChanges:
    fields = Fields()
    _unknown(fields, data, CUSTOMER_UPDATE_FIELDS)
    if not data:
        fields.add("body", "nothing to change")

    def text_field(name: str, rule: Callable[[str], str]) -> str | None:
        if name not in data:
            return None
        return check(fields, name, rule, _string(fields, data, name) or "")

    name = text_field("name", clean_name)
    company = text_field("company", clean_text)
    email = text_field("email", clean_email)
    segment = None
    if "segment" in data:
        segment = check(fields, "segment", clean_segment, _string(fields, data, "segment") or "")
    score = None
    if "value_score" in data:
        raw = _number(fields, data, "value_score")
        score = check(fields, "value_score", clean_score, raw if raw is not None else "")
    phones = None
    if "phones" in data:
        phones = check(
            fields, "phones", clean_phones, _strings(fields, data, "phones") or (), default_country_code
        )
    tags = None
    if "tags" in data:
        tags = check(fields, "tags", clean_tags, _strings(fields, data, "tags") or ())
    fields.raise_if_any()
    return CustomerChanges(
        name=name, company=company, email=email, segment=segment, value_score=score, phones=phones, tags=tags
    )


def _customer_id(fields: Fields, raw: Any) -> int | None:
    if isinstance(raw, bool):
        fields.add("customer_id", "must be a customer id")
        return None
    if bounds.is_record_id(raw):
        return int(raw)
    text = raw.strip() if isinstance(raw, str) else ""
    if text.isascii() and text.isdigit() and len(text) <= 10 and bounds.is_record_id(int(text)):
        return int(text)
    fields.add("customer_id", "required: a customer id" if raw in (None, "") else "must be a customer id")
    return None


def ticket_draft_from(data: Mapping[str, Any], *, customer_id: int | None = None) -> TicketDraft:
    """A new ticket from input; ``customer_id`` (from the URL) overrides the body's."""
    fields = Fields()
    _unknown(fields, data, TICKET_FIELDS)
    cid = customer_id if customer_id is not None else _customer_id(fields, data.get("customer_id"))
    subject = check(fields, "subject", clean_subject, _string(fields, data, "subject") or "")
    description = check(fields, "description", clean_text, _string(fields, data, "description") or "", 5000)
    category = TicketCategory.INQUIRY
    if raw := _string(fields, data, "category"):
        category = check(fields, "category", parse_enum, TicketCategory, raw, "category") or category
    priority = TicketPriority.NORMAL
    if raw := _string(fields, data, "priority"):
        priority = check(fields, "priority", parse_enum, TicketPriority, raw, "priority") or priority
    call_id = check(fields, "call_id", clean_call_id, _string(fields, data, "call_id") or "")
    assignee = check(fields, "assignee", clean_assignee, _string(fields, data, "assignee") or "")
    due_at = None
    raw_due = data.get("due_at")
    if raw_due not in (None, ""):
        due_at = check(fields, "due_at", parse_time, raw_due)
    if category is TicketCategory.FOLLOW_UP and raw_due in (None, "") and "due_at" not in fields.errors:
        fields.add("due_at", "required for a follow-up call")
    fields.raise_if_any()
    assert cid is not None and subject is not None
    return TicketDraft(
        customer_id=cid,
        subject=subject,
        category=category,
        priority=priority,
        description=description or "",
        call_id=call_id,
        assignee=assignee or None,
        due_at=due_at,
    )


def ticket_changes_from(data: Mapping[str, Any]) -> TicketChanges:
    fields = Fields()
    _unknown(fields, data, TICKET_UPDATE_FIELDS)
    if not data:
        fields.add("body", "nothing to change")
    status = priority = category = None
    if raw := _string(fields, data, "status"):
        status = check(fields, "status", parse_enum, TicketStatus, raw, "status")
    elif "status" in data:
        fields.add("status", "must not be empty")
    if raw := _string(fields, data, "priority"):
        priority = check(fields, "priority", parse_enum, TicketPriority, raw, "priority")
    if raw := _string(fields, data, "category"):
        category = check(fields, "category", parse_enum, TicketCategory, raw, "category")
    subject = None
    if "subject" in data:
        subject = check(fields, "subject", clean_subject, _string(fields, data, "subject") or "")
    assignee = None
    if "assignee" in data:
        assignee = check(fields, "assignee", clean_assignee, _string(fields, data, "assignee") or "")
    due_at, clear_due = None, False
    if "due_at" in data:
        raw_due = data["due_at"]
        if raw_due in (None, ""):
            clear_due = True
        else:
            due_at = check(fields, "due_at", parse_time, raw_due)
    comment = check(fields, "comment", clean_text, _string(fields, data, "comment") or "", 5000)
    fields.raise_if_any()
    return TicketChanges(
        status=status,
        priority=priority,
        category=category,
        subject=subject,
        assignee=assignee,
        due_at=due_at,
        clear_due=clear_due,
        comment=comment or "",
    )


def own_assignees(user: User) -> tuple[str, ...]:
    """The assignee values that mean "this user": their username and, for agents, their agent id."""
    names = [user.username]
    if user.agent and user.agent != user.username:
        names.append(user.agent)
    return tuple(names)


# -- the use cases ----------------------------------------------------------------------------------


class CrmService:
    """Customers and tickets over the ``CrmRecords`` port."""

    def __init__(
        self,
        records: CrmRecords,
        *,
        default_country_code: str = "1",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.records = records
        self.cc = default_country_code
        self.clock = clock
        #: told about every ticket change (notifications and webhooks, issue 16); failures are logged
        self.ticket_listeners: list[Callable[[Ticket, list[TicketEvent]], Awaitable[None]]] = []

    def now(self) -> float:
        return self.clock()

    # customers

    async def create_customer(self, data: Mapping[str, Any], *, actor: str) -> Customer:
        draft = customer_draft_from(data, self.cc)
        customer = await self.records.create_customer(draft, author=actor, now=self.clock())
        log.info("customer created", extra={"customer_id": customer.id, "actor": actor})
        return customer

    async def get_customer(self, customer_id: int) -> Customer:
        customer = await self.records.get_customer(customer_id)
        if customer is None:
            raise NotFound(f"customer {customer_id} not found")
        return customer

    async def update_customer(self, customer_id: int, data: Mapping[str, Any], *, actor: str) -> Customer:
        changes = customer_changes_from(data, self.cc)
        customer = await self.records.update_customer(customer_id, changes, now=self.clock())
        log.info("customer updated", extra={"customer_id": customer_id, "actor": actor})
        return customer

    async def search(self, query: CustomerQuery) -> CustomerPage:
        return await self.records.search_customers(query)

    async def by_phone(self, number: str) -> Customer | None:
        return await self.records.customer_by_phone(number)

    async def add_note(self, customer_id: int, text: Any, *, actor: str) -> CustomerNote:
        if not isinstance(text, str):
            raise ValidationError(
                {"text": "required: the note's text" if text is None else "must be a string"}
            )
        try:
            clean = clean_note(text)
        except ValueError as error:
            raise ValidationError({"text": str(error)}) from None
        return await self.records.add_note(customer_id, author=actor, text=clean, now=self.clock())

    async def notes(self, customer_id: int, limit: int = 100) -> list[CustomerNote]:
        return await self.records.list_notes(customer_id, limit=limit)

    async def recent_calls(
        self, customer_id: int, *, limit: int = 20, agent: str | None = None
    ) -> list[CallRecord]:
        return await self.records.customer_calls(customer_id, limit=limit, agent=agent)

    # tickets

    async def create_ticket(
        self, data: Mapping[str, Any], *, actor: str, customer_id: int | None = None
    ) -> Ticket:
        draft = ticket_draft_from(data, customer_id=customer_id)
        try:
            ticket = await self.records.create_ticket(draft, actor=actor, now=self.clock())
        except NotFound:
            if customer_id is not None:
                raise
            raise ValidationError({"customer_id": f"no customer with id {draft.customer_id}"}) from None
        log.info("ticket created", extra={"ticket_id": ticket.id, "actor": actor, "call_id": ticket.call_id})
        return ticket

    async def get_ticket(self, ticket_id: int) -> Ticket:
        ticket = await self.records.get_ticket(ticket_id)
        if ticket is None:
            raise NotFound(f"ticket {ticket_id} not found")
        return ticket

    async def update_ticket(self, ticket_id: int, data: Mapping[str, Any], *, actor: str) -> Ticket:
        """Apply a change (status transitions checked); retried when another writer got there first,
        so the rules are always checked against the latest status."""
        changes = ticket_changes_from(data)
        for attempt in range(UPDATE_ATTEMPTS):
            ticket = await self.get_ticket(ticket_id)
            new, events = apply_changes(ticket, changes, actor, self.clock())
            if not events:
                return ticket
            try:
                await self.records.save_ticket_update(new, expected_version=ticket.version, events=events)
            except ConcurrentUpdate:
                if attempt + 1 == UPDATE_ATTEMPTS:
                    raise
                continue
            log.info(
                "ticket updated",
                extra={"ticket_id": ticket_id, "actor": actor, "changes": [e.field for e in events]},
            )
            for listener in self.ticket_listeners:
                try:
                    await listener(new, events)
                except Exception:  # a notification problem never fails the ticket change
                    log.exception("ticket listener failed", extra={"ticket_id": ticket_id})
            return new
        raise AssertionError("unreachable")  # pragma: no cover

    async def list_tickets(self, query: TicketQuery) -> TicketPage:
        return await self.records.list_tickets(query)

    async def history(self, ticket_id: int) -> list[TicketEvent]:
        await self.get_ticket(ticket_id)
        return await self.records.ticket_history(ticket_id)

    async def customer_tickets(self, customer_id: int, limit: int = 50) -> TicketPage:
        return await self.records.list_tickets(
            TicketQuery(customer_id=customer_id, limit=limit, now=self.clock())
        )

    async def due_followups(self, assignees: Sequence[str] = (), *, limit: int = 100) -> TicketPage:
        """Follow-up calls whose time has come and that are not done, earliest first; ``assignees``
        limits them to those people (empty: everybody's)."""
        now = self.clock()
        query = TicketQuery(
            statuses=tuple(s for s in TicketStatus if s not in DONE),
            assignees=tuple(assignees),
            category=TicketCategory.FOLLOW_UP,
            due_before=now,
            now=now,
            limit=limit,
        )
        return await self.records.list_tickets(query)
