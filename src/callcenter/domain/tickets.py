"""Tickets: work about a customer, optionally tied to a call (its Linkedid), with a status history.

Pure: no I/O. Status rules (``TRANSITIONS``)::

    new ──▶ open ──▶ pending ──▶ resolved ──▶ closed
             ▲  ◀──────┘  │          │           │
             │            └──────────┤ (open → resolved directly is allowed too)
             └──── reopen ───────────┴───────────┘

- ``new → open`` (work starts); ``open ⇄ pending`` (waiting for the customer or a third party);
- ``open → resolved``, ``pending → resolved``; ``resolved → closed``;
- reopen: ``resolved → open`` and ``closed → open``.

Anything else raises ``InvalidTransition`` naming the statuses allowed from where the ticket is.
``apply_changes`` turns a requested change into the new ticket plus one ``TicketEvent`` per changed
field (who, when, old → new): the store writes both in one transaction, guarded by ``version``.

A follow-up call (回访) is a ticket of category ``follow_up`` with a ``due_at``; it is *due* for its
assignee once ``due_at`` has passed and it is neither resolved nor closed. ``overdue`` is the same test
for any ticket with a due date.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from callcenter.domain import bounds
from callcenter.domain.customers import MAX_NOTE, ValidationError
from callcenter.domain.errors import CallcenterError

E = TypeVar("E", bound=StrEnum)

MAX_SUBJECT = 200
MAX_ASSIGNEE = 64
MAX_CALL_ID = 128


class TicketCategory(StrEnum):
    INQUIRY = "inquiry"
    COMPLAINT = "complaint"
    AFTER_SALES = "after_sales"  # after-sales service, returns (RMA)
    FOLLOW_UP = "follow_up"  # a scheduled call back to the customer (回访)


class TicketPriority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class TicketStatus(StrEnum):
    NEW = "new"
    OPEN = "open"
    PENDING = "pending"
    RESOLVED = "resolved"
    CLOSED = "closed"


#: Allowed status changes: from → the statuses it may move to.
TRANSITIONS: dict[TicketStatus, frozenset[TicketStatus]] = {
    TicketStatus.NEW: frozenset({TicketStatus.OPEN}),
    TicketStatus.OPEN: frozenset({TicketStatus.PENDING, TicketStatus.RESOLVED}),
    TicketStatus.PENDING: frozenset({TicketStatus.OPEN, TicketStatus.RESOLVED}),
    TicketStatus.RESOLVED: frozenset({TicketStatus.CLOSED, TicketStatus.OPEN}),
    TicketStatus.CLOSED: frozenset({TicketStatus.OPEN}),
}
#: Statuses in which a ticket needs no more work (never overdue, never due).
DONE: frozenset[TicketStatus] = frozenset({TicketStatus.RESOLVED, TicketStatus.CLOSED})
#: Display order of statuses.
STATUS_ORDER: tuple[TicketStatus, ...] = tuple(TicketStatus)


class InvalidTransition(ValidationError):
    """A status change the rules do not allow (a ``ValidationError`` on the field ``status``)."""

    def __init__(self, current: TicketStatus, wanted: TicketStatus) -> None:
        allowed = allowed_next(current)
        choices = ", ".join(s.value for s in allowed) or "none"
        super().__init__(
            {"status": f"cannot move a ticket from {current.value} to {wanted.value}; allowed: {choices}"}
        )
        self.current = current
        self.wanted = wanted


class ConcurrentUpdate(CallcenterError):
    """Somebody else changed the ticket between our read and our write (version moved on)."""


def allowed_next(status: TicketStatus) -> tuple[TicketStatus, ...]:
    """The statuses ``status`` may move to, in display order."""
    targets = TRANSITIONS[status]
    return tuple(s for s in STATUS_ORDER if s in targets)


def check_transition(current: TicketStatus, wanted: TicketStatus) -> None:
    """Raise ``InvalidTransition`` unless ``current → wanted`` is allowed (same status: no-op, allowed)."""
    if wanted is not current and wanted not in TRANSITIONS[current]:
        raise InvalidTransition(current, wanted)


@dataclass(frozen=True, slots=True)
class Ticket:
    id: int
    customer_id: int
    subject: str
    category: TicketCategory = TicketCategory.INQUIRY
    priority: TicketPriority = TicketPriority.NORMAL
    status: TicketStatus = TicketStatus.NEW
    description: str = ""
    call_id: str | None = None  # the call's Linkedid
    assignee: str | None = None  # a username, or an agent id (extension)
    due_at: float | None = None
    created_by: str = ""
    created_at: float = 0.0
    updated_at: float = 0.0
    version: int = 1

    def is_overdue(self, now: float) -> bool:
        return self.due_at is not None and self.due_at < now and self.status not in DONE

    def is_due(self, now: float) -> bool:
        """A follow-up whose time has come (``due_at <= now``) and that is not done."""
        return (
            self.category is TicketCategory.FOLLOW_UP
            and self.due_at is not None
            and self.due_at <= now
            and self.status not in DONE
        )


@dataclass(frozen=True, slots=True)
class TicketDraft:
    """A new ticket, validated."""

    customer_id: int
    subject: str
    category: TicketCategory = TicketCategory.INQUIRY
    priority: TicketPriority = TicketPriority.NORMAL
    description: str = ""
    call_id: str | None = None
    assignee: str | None = None
    due_at: float | None = None


#: ``TicketChanges.assignee``/``due_at`` value meaning "clear it" (``None`` means "keep").
CLEAR = ""


@dataclass(frozen=True, slots=True)
class TicketChanges:
    """A requested change. ``None`` keeps a field; ``assignee=""`` unassigns; ``clear_due`` drops the
    due date."""

    status: TicketStatus | None = None
    priority: TicketPriority | None = None
    category: TicketCategory | None = None
    subject: str | None = None
    assignee: str | None = None
    due_at: float | None = None
    clear_due: bool = False
    comment: str = ""  # stored on the history entries of this change

    def is_empty(self) -> bool:
        return (
            self.status is None
            and self.priority is None
            and self.category is None
            and self.subject is None
            and self.assignee is None
            and self.due_at is None
            and not self.clear_due
            and not self.comment
        )


@dataclass(frozen=True, slots=True)
class TicketEvent:
    """One entry of a ticket's history: ``field`` went from ``old`` to ``new`` (``created``: both the
    status)."""

    ticket_id: int
    at: float
    actor: str
    #: "created", "status", "priority", "category", "subject", "assignee", "due_at" or "comment"
    field: str
    old: str | None
    new: str | None
    comment: str = ""


@dataclass(frozen=True, slots=True)
class TicketQuery:
    statuses: tuple[TicketStatus, ...] = ()  # any of these (empty: all)
    assignees: tuple[str, ...] = ()  # any of these (empty: all)
    customer_id: int | None = None
    category: TicketCategory | None = None
    overdue: bool | None = None  # True: only overdue; False: only not overdue
    due_before: float | None = None  # due_at <= this
    now: float = 0.0  # reference time of ``overdue``
    limit: int = 50
    offset: int = 0


@dataclass(frozen=True, slots=True)
class TicketPage:
    tickets: tuple[Ticket, ...]
    total: int
    limit: int
    offset: int


def _due_text(value: float | None) -> str | None:
    return None if value is None else repr(float(value))


def apply_changes(
    ticket: Ticket, changes: TicketChanges, actor: str, now: float
) -> tuple[Ticket, list[TicketEvent]]:
    """The ticket after ``changes`` and its history entries (empty when nothing changes).
    Raises ``InvalidTransition`` for a status change the rules refuse."""
    events: list[TicketEvent] = []
    new = ticket
    comment = changes.comment.strip()[:MAX_NOTE]

    def note(field: str, old: str | None, value: str | None) -> None:
        events.append(TicketEvent(ticket.id, now, actor, field, old, value, comment))

    if changes.status is not None and changes.status is not ticket.status:
        check_transition(ticket.status, changes.status)
        note("status", ticket.status.value, changes.status.value)
        new = dataclasses.replace(new, status=changes.status)
    if changes.priority is not None and changes.priority is not ticket.priority:
        note("priority", ticket.priority.value, changes.priority.value)
        new = dataclasses.replace(new, priority=changes.priority)
    if changes.category is not None and changes.category is not ticket.category:
        note("category", ticket.category.value, changes.category.value)
        new = dataclasses.replace(new, category=changes.category)
    if changes.subject is not None and changes.subject != ticket.subject:
        note("subject", ticket.subject, changes.subject)
        new = dataclasses.replace(new, subject=changes.subject)
    if changes.assignee is not None:
        assignee = changes.assignee or None
        if assignee != ticket.assignee:
            note("assignee", ticket.assignee, assignee)
            new = dataclasses.replace(new, assignee=assignee)
    if changes.clear_due and ticket.due_at is not None:
        note("due_at", _due_text(ticket.due_at), None)
        new = dataclasses.replace(new, due_at=None)
    elif changes.due_at is not None and changes.due_at != ticket.due_at:
        note("due_at", _due_text(ticket.due_at), _due_text(changes.due_at))
        new = dataclasses.replace(new, due_at=changes.due_at)
    if comment and not events:
        note("comment", None, None)
    if events:
        new = dataclasses.replace(new, updated_at=now, version=ticket.version + 1)
    return new, events


def created_event(ticket: Ticket) -> TicketEvent:
    return TicketEvent(ticket.id, ticket.created_at, ticket.created_by, "created", None, ticket.status.value)


def clean_subject(raw: str) -> str:
    subject = " ".join(raw.split())
    if not subject:
        raise ValueError("required")
    if len(subject) > MAX_SUBJECT:
        raise ValueError(f"at most {MAX_SUBJECT} characters")
    return subject


def clean_assignee(raw: str) -> str:
    """A username or agent id; ``""`` means nobody."""
    text = raw.strip()
    if len(text) > MAX_ASSIGNEE or any(ch.isspace() or not ch.isprintable() for ch in text):
        raise ValueError(f"a username or agent id without spaces, at most {MAX_ASSIGNEE} characters")
    return text


def clean_call_id(raw: str) -> str | None:
    text = raw.strip()
    if len(text) > MAX_CALL_ID or any(ch.isspace() or not ch.isprintable() for ch in text):
        raise ValueError(f"a call id (Linkedid) without spaces, at most {MAX_CALL_ID} characters")
    return text or None


def clean_epoch(value: float) -> float:
    return bounds.check_epoch(value)


def parse_enum(kind: type[E], raw: str, what: str) -> E:
    try:
        return kind(raw.strip().lower())
    except ValueError:
        raise ValueError(f"unknown {what} {raw[:40]!r}; one of {', '.join(m.value for m in kind)}") from None
