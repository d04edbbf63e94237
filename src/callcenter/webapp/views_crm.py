"""CRM JSON API: customers, notes, tickets, due follow-ups (documented in ``webapp/openapi.py``).

Roles: agents, supervisors and admins read and write; QA reads only. Agents see every customer (the
screen pop may show anyone) and every ticket; their ``/api/followups/due`` list is their own (tickets
assigned to their username or agent id).

Errors (raised here, answered by the one mapping in ``webapp/errors.py``): invalid input answers 400
``{"error": "invalid input", "fields": {name: reason}}``; a status change the ticket rules refuse 409 with
the same body; an unknown id 404; a ticket changed by someone else at the same instant 409 (retry).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from callcenter.domain import bounds
from callcenter.domain.customers import Customer, CustomerNote, CustomerQuery, ValidationError, clean_segment
from callcenter.domain.tickets import (
    Ticket,
    TicketCategory,
    TicketEvent,
    TicketQuery,
    TicketStatus,
    allowed_next,
    parse_enum,
)
from callcenter.domain.users import Role
from callcenter.services.crm import CrmService, own_assignees
from callcenter.webapp.auth import current_principal, require_role
from callcenter.webapp.errors import json_error
from callcenter.webapp.jsonenc import json_response, loads
from callcenter.webapp.params import path_id
from callcenter.webapp.serialize import iso

CRM = web.AppKey[CrmService]("crm")

#: Roles that may change CRM records (QA reads only).
WRITERS: tuple[Role, ...] = (Role.AGENT, Role.SUPERVISOR, Role.ADMIN)
MAX_LIMIT = 200
DEFAULT_LIMIT = 50
MAX_OFFSET = 1_000_000
MAX_PARAM = 128
DETAIL_NOTES = 50
DETAIL_TICKETS = 20


# -- JSON shapes ------------------------------------------------------------------------------------


def customer_json(customer: Customer) -> dict[str, Any]:
    return {
        "id": customer.id,
        "name": customer.name,
        "company": customer.company,
        "email": customer.email,
        "segment": customer.segment.value,
        "vip": customer.vip,
        "value_score": customer.value_score,
        "phones": list(customer.phones),
        "tags": list(customer.tags),
        "created_at": customer.created_at,
        "created_at_iso": iso(customer.created_at),
        "updated_at": customer.updated_at,
        "updated_at_iso": iso(customer.updated_at),
    }


def note_json(note: CustomerNote) -> dict[str, Any]:
    return {
        "id": note.id,
        "customer_id": note.customer_id,
        "at": note.at,
        "at_iso": iso(note.at),
        "author": note.author,
        "text": note.text,
    }


def ticket_json(ticket: Ticket, now: float) -> dict[str, Any]:
    return {
        "id": ticket.id,
        "customer_id": ticket.customer_id,
        "call_id": ticket.call_id,
        "subject": ticket.subject,
        "description": ticket.description,
        "category": ticket.category.value,
        "priority": ticket.priority.value,
        "status": ticket.status.value,
        "next_statuses": [s.value for s in allowed_next(ticket.status)],
        "assignee": ticket.assignee,
        "due_at": ticket.due_at,
        "due_at_iso": iso(ticket.due_at),
        "overdue": ticket.is_overdue(now),
        "created_by": ticket.created_by,
        "created_at": ticket.created_at,
        "created_at_iso": iso(ticket.created_at),
        "updated_at": ticket.updated_at,
        "updated_at_iso": iso(ticket.updated_at),
        "version": ticket.version,
    }


def event_json(event: TicketEvent) -> dict[str, Any]:
    return {
        "at": event.at,
        "at_iso": iso(event.at),
        "actor": event.actor,
        "field": event.field,
        "old": event.old,
        "new": event.new,
        "comment": event.comment,
    }


# -- helpers ----------------------------------------------------------------------------------------


async def json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json(loads=loads)
    except ValueError:  # malformed, not UTF-8, or not strict (NaN, Infinity, 1e400)
        raise ValidationError({"body": "not valid JSON"}) from None
    if not isinstance(body, dict):
        raise ValidationError({"body": "must be a JSON object"})
    return body


def _int_param(params: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    raw = params.get(name, "").strip()
    if not raw:
        return default
    if len(raw) > 20:
        raise ValidationError({name: f"must be between {lo} and {hi}"})
    try:
        value = int(raw)
    except ValueError:
        raise ValidationError({name: f"expected an integer, got {raw[:20]!r}"}) from None
    if not lo <= value <= hi:
        raise ValidationError({name: f"must be between {lo} and {hi}"})
    return value


def _text_param(params: Mapping[str, str], name: str) -> str | None:
    text = params.get(name, "").strip()
    if len(text) > MAX_PARAM:
        raise ValidationError({name: f"at most {MAX_PARAM} characters"})
    try:
        bounds.check_text(text)
    except ValueError as exc:
        raise ValidationError({name: str(exc)}) from None
    return text or None


def _check_params(params: Mapping[str, str], known: frozenset[str]) -> None:
    unknown = sorted(set(params) - known)
    if unknown:
        raise ValidationError(
            {name: f"unknown parameter; known: {', '.join(sorted(known))}" for name in unknown}
        )


CUSTOMER_PARAMS = frozenset({"q", "phone", "tag", "segment", "limit", "offset"})
TICKET_PARAMS = frozenset({"status", "assignee", "customer", "overdue", "category", "limit", "offset"})


def parse_customer_query(params: Mapping[str, str]) -> CustomerQuery:
    _check_params(params, CUSTOMER_PARAMS)
    segment = None
    if raw := _text_param(params, "segment"):
        try:
            segment = clean_segment(raw)
        except ValueError as error:
            raise ValidationError({"segment": str(error)}) from None
    return CustomerQuery(
        text=_text_param(params, "q"),
        phone=_text_param(params, "phone"),
        tag=_text_param(params, "tag"),
        segment=segment,
        limit=_int_param(params, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT),
        offset=_int_param(params, "offset", 0, 0, MAX_OFFSET),
    )


def parse_ticket_query(params: Mapping[str, str], now: float) -> TicketQuery:
    _check_params(params, TICKET_PARAMS)
    statuses: list[TicketStatus] = []
    for part in (_text_param(params, "status") or "").split(","):
        if part.strip():
            try:
                statuses.append(parse_enum(TicketStatus, part, "status"))
            except ValueError as error:
                raise ValidationError({"status": str(error)}) from None
    category = None
    if raw := _text_param(params, "category"):
        try:
            category = parse_enum(TicketCategory, raw, "category")
        except ValueError as error:
            raise ValidationError({"category": str(error)}) from None
    overdue = None
    if raw := _text_param(params, "overdue"):
        if raw.lower() not in ("true", "false", "1", "0"):
            raise ValidationError({"overdue": "true or false"})
        overdue = raw.lower() in ("true", "1")
    customer = None
    if raw := _text_param(params, "customer"):
        if not (raw.isascii() and raw.isdigit() and len(raw) <= 10 and bounds.is_record_id(int(raw))):
            raise ValidationError({"customer": "a customer id"})
        customer = int(raw)
    assignee = _text_param(params, "assignee")
    return TicketQuery(
        statuses=tuple(statuses),
        assignees=(assignee,) if assignee else (),
        customer_id=customer,
        category=category,
        overdue=overdue,
        now=now,
        limit=_int_param(params, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT),
        offset=_int_param(params, "offset", 0, 0, MAX_OFFSET),
    )


async def customer_detail(crm: CrmService, customer: Customer) -> dict[str, Any]:
    """A customer with their latest notes and open tickets (what a screen pop shows)."""
    now = crm.now()
    notes = await crm.notes(customer.id, DETAIL_NOTES)
    tickets = await crm.list_tickets(
        TicketQuery(
            customer_id=customer.id,
            statuses=(TicketStatus.NEW, TicketStatus.OPEN, TicketStatus.PENDING),
            now=now,
            limit=DETAIL_TICKETS,
        )
    )
    body = customer_json(customer)
    body["notes"] = [note_json(n) for n in notes]
    body["open_tickets"] = [ticket_json(t, now) for t in tickets.tickets]
    return body


# -- customers --------------------------------------------------------------------------------------


@require_role()
async def list_customers(request: web.Request) -> web.StreamResponse:
    query = parse_customer_query(request.query)
    page = await request.app[CRM].search(query)
    return json_response(
        {
            "customers": [customer_json(c) for c in page.customers],
            "total": page.total,
            "limit": page.limit,
            "offset": page.offset,
        }
    )


@require_role(*WRITERS)
async def create_customer(request: web.Request) -> web.StreamResponse:
    actor = current_principal(request).user.username
    customer = await request.app[CRM].create_customer(await json_body(request), actor=actor)
    return json_response(
        customer_json(customer), status=201, headers={"Location": f"/api/customers/{customer.id}"}
    )


@require_role()
async def get_customer(request: web.Request) -> web.StreamResponse:
    crm = request.app[CRM]
    customer = await crm.get_customer(path_id(request, "customer_id", "customer"))
    return json_response(await customer_detail(crm, customer))


@require_role(*WRITERS)
async def patch_customer(request: web.Request) -> web.StreamResponse:
    actor = current_principal(request).user.username
    customer_id = path_id(request, "customer_id", "customer")
    customer = await request.app[CRM].update_customer(customer_id, await json_body(request), actor=actor)
    return json_response(customer_json(customer))


@require_role(*WRITERS)
async def add_note(request: web.Request) -> web.StreamResponse:
    actor = current_principal(request).user.username
    customer_id = path_id(request, "customer_id", "customer")
    body = await json_body(request)
    extra = sorted(set(body) - {"text"})
    if extra:
        raise ValidationError(dict.fromkeys(extra, "unknown field"))
    note = await request.app[CRM].add_note(customer_id, body.get("text"), actor=actor)
    return json_response(note_json(note), status=201)


@require_role()
async def customer_by_phone(request: web.Request) -> web.StreamResponse:
    crm = request.app[CRM]
    number = request.match_info["number"]
    customer = await crm.by_phone(number) if len(number) <= 64 else None
    if customer is None:
        return json_error(404, "no customer has this number")
    return json_response(await customer_detail(crm, customer))


# -- tickets ----------------------------------------------------------------------------------------


@require_role()
async def list_tickets(request: web.Request) -> web.StreamResponse:
    crm = request.app[CRM]
    now = crm.now()
    page = await crm.list_tickets(parse_ticket_query(request.query, now))
    return json_response(
        {
            "tickets": [ticket_json(t, now) for t in page.tickets],
            "total": page.total,
            "limit": page.limit,
            "offset": page.offset,
        }
    )


@require_role(*WRITERS)
async def create_ticket(request: web.Request) -> web.StreamResponse:
    crm = request.app[CRM]
    actor = current_principal(request).user.username
    ticket = await crm.create_ticket(await json_body(request), actor=actor)
    return json_response(
        ticket_json(ticket, crm.now()), status=201, headers={"Location": f"/api/tickets/{ticket.id}"}
    )


@require_role()
async def get_ticket(request: web.Request) -> web.StreamResponse:
    crm = request.app[CRM]
    ticket = await crm.get_ticket(path_id(request, "ticket_id", "ticket"))
    return json_response(ticket_json(ticket, crm.now()))


@require_role(*WRITERS)
async def patch_ticket(request: web.Request) -> web.StreamResponse:
    crm = request.app[CRM]
    actor = current_principal(request).user.username
    ticket_id = path_id(request, "ticket_id", "ticket")
    ticket = await crm.update_ticket(ticket_id, await json_body(request), actor=actor)
    return json_response(ticket_json(ticket, crm.now()))


@require_role()
async def ticket_history(request: web.Request) -> web.StreamResponse:
    crm = request.app[CRM]
    ticket_id = path_id(request, "ticket_id", "ticket")
    events = await crm.history(ticket_id)
    return json_response({"ticket_id": ticket_id, "history": [event_json(e) for e in events]})


@require_role()
async def due_followups(request: web.Request) -> web.StreamResponse:
    """Follow-up calls due now: an agent gets their own; others everybody's or ``?assignee=``'s."""
    crm = request.app[CRM]
    user = current_principal(request).user
    _check_params(request.query, frozenset({"assignee", "limit"}))
    limit = _int_param(request.query, "limit", 100, 1, MAX_LIMIT)
    if user.role is Role.AGENT:
        assignees: tuple[str, ...] = own_assignees(user)
    else:
        assignee = _text_param(request.query, "assignee")
        assignees = (assignee,) if assignee else ()
    page = await crm.due_followups(assignees, limit=limit)
    now = crm.now()
    return json_response(
        {"tickets": [ticket_json(t, now) for t in page.tickets], "total": page.total, "now_iso": iso(now)}
    )


def setup(app: web.Application, crm: CrmService) -> None:
    app[CRM] = crm
    r = app.router
    r.add_get("/api/customers", list_customers, name="api_customers")
    r.add_post("/api/customers", create_customer, name="api_customers_create")
    r.add_get("/api/customers/by-phone/{number}", customer_by_phone, name="api_customer_by_phone")
    r.add_get(r"/api/customers/{customer_id:\d+}", get_customer, name="api_customer")
    r.add_patch(r"/api/customers/{customer_id:\d+}", patch_customer, name="api_customer_patch")
    r.add_post(r"/api/customers/{customer_id:\d+}/notes", add_note, name="api_customer_notes")
    r.add_get("/api/tickets", list_tickets, name="api_tickets")
    r.add_post("/api/tickets", create_ticket, name="api_tickets_create")
    r.add_get(r"/api/tickets/{ticket_id:\d+}", get_ticket, name="api_ticket")
    r.add_patch(r"/api/tickets/{ticket_id:\d+}", patch_ticket, name="api_ticket_patch")
    r.add_get(r"/api/tickets/{ticket_id:\d+}/history", ticket_history, name="api_ticket_history")
    r.add_get("/api/followups/due", due_followups, name="api_followups_due")
