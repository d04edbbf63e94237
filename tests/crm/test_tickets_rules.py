"""Ticket status rules, change history and due/overdue flags (pure), and input parsing."""

from __future__ import annotations

import itertools

import pytest

from callcenter.domain.customers import Segment, ValidationError
from callcenter.domain.tickets import (
    TRANSITIONS,
    InvalidTransition,
    Ticket,
    TicketCategory,
    TicketChanges,
    TicketPriority,
    TicketStatus,
    allowed_next,
    apply_changes,
    check_transition,
)
from callcenter.services.crm import (
    customer_changes_from,
    customer_draft_from,
    parse_time,
    ticket_changes_from,
    ticket_draft_from,
)

S = TicketStatus
ALLOWED = {
    (S.NEW, S.OPEN),
    (S.OPEN, S.PENDING),
    (S.OPEN, S.RESOLVED),
    (S.PENDING, S.OPEN),
    (S.PENDING, S.RESOLVED),
    (S.RESOLVED, S.CLOSED),
    (S.RESOLVED, S.OPEN),  # reopen
    (S.CLOSED, S.OPEN),  # reopen
}
T0 = 1_800_000_000.0


def ticket(**fields: object) -> Ticket:
    base: dict[str, object] = {"id": 7, "customer_id": 1, "subject": "Broken kettle", "created_at": T0}
    base.update(fields)
    return Ticket(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(("current", "wanted"), list(itertools.product(S, S)))
def test_every_transition_follows_the_table(current: TicketStatus, wanted: TicketStatus) -> None:
    if current is wanted or (current, wanted) in ALLOWED:
        check_transition(current, wanted)
    else:
        with pytest.raises(InvalidTransition) as info:
            check_transition(current, wanted)
        message = info.value.fields["status"]
        assert f"from {current.value} to {wanted.value}" in message
        assert "allowed: " in message
    assert {(a, b) for a, targets in TRANSITIONS.items() for b in targets} == ALLOWED


def test_invalid_transition_is_a_validation_error_naming_the_allowed_moves() -> None:
    with pytest.raises(ValidationError) as info:
        apply_changes(ticket(status=S.NEW), TicketChanges(status=S.CLOSED), "sam", T0 + 1)
    assert info.value.fields == {"status": "cannot move a ticket from new to closed; allowed: open"}
    assert allowed_next(S.RESOLVED) == (S.OPEN, S.CLOSED)


def test_changes_produce_one_history_entry_per_field_with_who_and_when() -> None:
    before = ticket(status=S.OPEN, assignee="1001", version=3)
    after, events = apply_changes(
        before,
        TicketChanges(status=S.RESOLVED, priority=TicketPriority.HIGH, assignee="", comment="fixed"),
        "sam",
        T0 + 60,
    )
    assert after.status is S.RESOLVED and after.priority is TicketPriority.HIGH and after.assignee is None
    assert after.version == 4 and after.updated_at == T0 + 60
    assert [(e.field, e.old, e.new) for e in events] == [
        ("status", "open", "resolved"),
        ("priority", "normal", "high"),
        ("assignee", "1001", None),
    ]
    assert {(e.actor, e.at, e.comment, e.ticket_id) for e in events} == {("sam", T0 + 60, "fixed", 7)}


def test_no_change_means_no_history_and_same_version() -> None:
    before = ticket(status=S.OPEN)
    after, events = apply_changes(
        before, TicketChanges(status=S.OPEN, priority=TicketPriority.NORMAL), "x", T0
    )
    assert events == [] and after == before
    after, events = apply_changes(before, TicketChanges(comment="called, no answer"), "x", T0 + 5)
    assert [(e.field, e.comment) for e in events] == [("comment", "called, no answer")]


def test_due_dates_overdue_and_due_followups() -> None:
    due = ticket(status=S.OPEN, due_at=T0 - 1)
    assert due.is_overdue(T0) and not due.is_overdue(T0 - 2)
    assert not ticket(status=S.RESOLVED, due_at=T0 - 1).is_overdue(T0)
    assert not ticket(status=S.CLOSED, due_at=T0 - 1).is_overdue(T0)
    assert not ticket(status=S.OPEN).is_overdue(T0)
    follow = ticket(category=TicketCategory.FOLLOW_UP, due_at=T0)
    assert follow.is_due(T0) and not follow.is_due(T0 - 1)
    assert not due.is_due(T0)  # not a follow-up
    after, events = apply_changes(due, TicketChanges(clear_due=True), "x", T0)
    assert after.due_at is None and events[0].field == "due_at"


def test_customer_input_reports_every_bad_field() -> None:
    with pytest.raises(ValidationError) as info:
        customer_draft_from(
            {
                "name": " ",
                "email": "not-mail",
                "segment": "gold",
                "value_score": 101,
                "phones": ["555-0100-x"],
                "tags": ["ok", "bad tag!"],
                "colour": "red",
            },
            "1",
        )
    assert set(info.value.fields) == {"name", "email", "segment", "value_score", "phones", "tags", "colour"}
    assert info.value.fields["colour"] == "unknown field"
    assert "unknown segment 'gold'" in info.value.fields["segment"]


def test_customer_input_normalises_phones_and_tags() -> None:
    draft = customer_draft_from(
        {
            "name": "  Ann   Able ",
            "phones": "+1 (555) 201-0001; 555.201.0001 | 5552010002",
            "tags": "VIP, Gold;gold",
        },
        "1",
    )
    assert draft.name == "Ann Able"
    assert draft.phones == ("+15552010001", "+15552010002")
    assert draft.tags == ("vip", "gold")
    assert draft.segment is Segment.NEW and draft.value_score == 0.0
    changes = customer_changes_from({"segment": "VIP", "phones": []}, "1")
    assert changes.segment is Segment.VIP and changes.phones == () and changes.name is None
    with pytest.raises(ValidationError) as info:
        customer_changes_from({}, "1")
    assert "body" in info.value.fields


def test_ticket_input() -> None:
    draft = ticket_draft_from(
        {"customer_id": "3", "subject": "Call back", "category": "follow_up", "due_at": "2027-01-15T10:00:00"}
    )
    assert draft.customer_id == 3 and draft.category is TicketCategory.FOLLOW_UP
    assert draft.due_at == parse_time("2027-01-15T10:00:00Z")
    with pytest.raises(ValidationError) as info:
        ticket_draft_from(
            {"subject": "", "category": "follow_up", "priority": "asap", "assignee": "two words"}
        )
    assert set(info.value.fields) == {"customer_id", "subject", "priority", "assignee", "due_at"}
    assert info.value.fields["due_at"] == "required for a follow-up call"
    changes = ticket_changes_from({"status": "Resolved", "due_at": None, "assignee": ""})
    assert changes.status is S.RESOLVED and changes.clear_due and changes.assignee == ""
    with pytest.raises(ValidationError) as info:
        ticket_changes_from({"status": "done", "due_at": "tomorrow"})
    assert set(info.value.fields) == {"status", "due_at"}
