"""CRM pages (server-rendered, autoescaped, no inline script): customer search, the customer card
(phones, tags, notes, recent calls, tickets) and the ticket page (details, history, change form).

Forms post back with the session's CSRF token and redirect (303) on success; invalid input re-renders
the page with the field errors (400). QA sees the pages without the forms.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from callcenter.domain.customers import Customer, Segment, ValidationError
from callcenter.domain.errors import StoreError
from callcenter.domain.tickets import (
    STATUS_ORDER,
    Ticket,
    TicketCategory,
    TicketPriority,
    allowed_next,
)
from callcenter.domain.users import Role, User
from callcenter.services.crm import CrmService, own_assignees
from callcenter.webapp.auth import Principal, current_principal, require_role
from callcenter.webapp.i18n import N_
from callcenter.webapp.keys import TEMPLATES
from callcenter.webapp.params import path_id
from callcenter.webapp.serialize import iso
from callcenter.webapp.views_crm import CRM, WRITERS, parse_customer_query
from callcenter.webapp.views_pages import LandingPage, page_context

PAGE_SIZE = 25
RECENT_CALLS = 10
CUSTOMERS_PAGE = LandingPage("/customers", N_("Customers"), frozenset(Role))

CATEGORY_LABELS = {
    TicketCategory.INQUIRY: N_("Inquiry"),
    TicketCategory.COMPLAINT: N_("Complaint"),
    TicketCategory.AFTER_SALES: N_("After-sales / RMA"),
    TicketCategory.FOLLOW_UP: N_("Follow-up call"),
}


def _context(principal: Principal, **extra: Any) -> dict[str, Any]:
    ctx = page_context(principal, **extra)
    ctx["nav"] = [*ctx["nav"], CUSTOMERS_PAGE]
    ctx["page"] = CUSTOMERS_PAGE
    ctx["can_write"] = principal.user.role in WRITERS
    ctx["iso"] = iso
    ctx["category_labels"] = {c.value: label for c, label in CATEGORY_LABELS.items()}
    return ctx


def _local_input(ts: float | None) -> str:
    """A ``datetime-local`` value (UTC) for an epoch time."""
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S")


async def _form(request: web.Request) -> dict[str, str]:
    data = await request.post()
    return {k: v for k, v in data.items() if isinstance(v, str) and k != "csrf"}


# -- search -----------------------------------------------------------------------------------------


@require_role()
async def customers_page(request: web.Request) -> web.StreamResponse:
    principal = current_principal(request)
    params = {k: v for k, v in request.query.items() if k in ("q", "phone", "tag", "segment", "offset")}
    errors: dict[str, str] = {}
    page = None
    searched = any(params.get(k, "").strip() for k in ("q", "phone", "tag", "segment"))
    try:
        query = parse_customer_query({**params, "limit": str(PAGE_SIZE)})
    except ValidationError as error:
        errors = error.fields
    else:
        page = await request.app[CRM].search(query)
    links: dict[str, str] = {}
    if page is not None:
        base = {k: v for k, v in params.items() if k != "offset" and v}
        if page.offset > 0:
            links["prev"] = "?" + urlencode({**base, "offset": max(0, page.offset - PAGE_SIZE)})
        if page.offset + PAGE_SIZE < page.total:
            links["next"] = "?" + urlencode({**base, "offset": page.offset + PAGE_SIZE})
    crm: CrmService = request.app[CRM]
    due = await crm.due_followups(own_assignees(principal.user), limit=20)
    return request.app[TEMPLATES].response(
        "crm_customers.html",
        _context(
            principal,
            title="Customers",
            params=params,
            segments=[s.value for s in Segment],
            errors=errors,
            result=page,
            searched=searched,
            links=links,
            due=due.tickets,
            now=crm.now(),
        ),
        status=400 if errors else 200,
    )


# -- customer card ----------------------------------------------------------------------------------


async def _render_customer(
    request: web.Request,
    customer: Customer,
    *,
    note_errors: dict[str, str] | None = None,
    ticket_errors: dict[str, str] | None = None,
    ticket_form: dict[str, str] | None = None,
    note_text: str = "",
    status: int = 200,
) -> web.Response:
    principal = current_principal(request)
    crm: CrmService = request.app[CRM]
    notes = await crm.notes(customer.id, 100)
    tickets = await crm.customer_tickets(customer.id)
    calls: list[Any] | None
    try:
        calls = await _visible_calls(crm, customer.id, principal.user)
    except StoreError:
        calls = None
    return request.app[TEMPLATES].response(
        "crm_customer.html",
        _context(
            principal,
            title=customer.name,
            customer=customer,
            notes=notes,
            tickets=tickets.tickets,
            tickets_total=tickets.total,
            calls=calls,
            now=crm.now(),
            note_errors=note_errors or {},
            note_text=note_text,
            ticket_errors=ticket_errors or {},
            ticket_form=ticket_form or {},
            categories=[c.value for c in TicketCategory],
            priorities=[p.value for p in TicketPriority],
        ),
        status=status,
    )


async def _visible_calls(crm: CrmService, customer_id: int, user: User) -> list[Any]:
    if user.role is Role.AGENT:
        if not user.agent:
            return []
        return await crm.recent_calls(customer_id, limit=RECENT_CALLS, agent=user.agent)
    return await crm.recent_calls(customer_id, limit=RECENT_CALLS)


@require_role()
async def customer_page(request: web.Request) -> web.StreamResponse:
    customer = await request.app[CRM].get_customer(path_id(request, "customer_id", "customer"))
    return await _render_customer(request, customer)


@require_role(*WRITERS)
async def customer_note_post(request: web.Request) -> web.StreamResponse:
    crm = request.app[CRM]
    actor = current_principal(request).user.username
    customer = await crm.get_customer(path_id(request, "customer_id", "customer"))
    form = await _form(request)
    try:
        await crm.add_note(customer.id, form.get("text", ""), actor=actor)
    except ValidationError as error:
        return await _render_customer(
            request, customer, note_errors=error.fields, note_text=form.get("text", ""), status=400
        )
    raise web.HTTPSeeOther(f"/customers/{customer.id}#notes")


@require_role(*WRITERS)
async def customer_ticket_post(request: web.Request) -> web.StreamResponse:
    crm = request.app[CRM]
    actor = current_principal(request).user.username
    customer = await crm.get_customer(path_id(request, "customer_id", "customer"))
    form = await _form(request)
    data = {k: v for k, v in form.items() if v.strip() or k == "subject"}
    try:
        ticket = await crm.create_ticket(data, actor=actor, customer_id=customer.id)
    except ValidationError as error:
        return await _render_customer(
            request, customer, ticket_errors=error.fields, ticket_form=form, status=400
        )
    raise web.HTTPSeeOther(f"/tickets/{ticket.id}")


# -- ticket page ------------------------------------------------------------------------------------


async def _render_ticket(
    request: web.Request,
    ticket: Ticket,
    *,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> web.Response:
    principal = current_principal(request)
    crm: CrmService = request.app[CRM]
    customer = await crm.records.get_customer(ticket.customer_id)
    history = await crm.history(ticket.id)
    choices = [ticket.status, *allowed_next(ticket.status)]
    return request.app[TEMPLATES].response(
        "crm_ticket.html",
        _context(
            principal,
            title=f"Ticket #{ticket.id}",
            ticket=ticket,
            customer=customer,
            history=history,
            now=crm.now(),
            errors=errors or {},
            status_choices=[s.value for s in STATUS_ORDER if s in choices],
            priorities=[p.value for p in TicketPriority],
            due_input=_local_input(ticket.due_at),
        ),
        status=status,
    )


@require_role()
async def ticket_page(request: web.Request) -> web.StreamResponse:
    ticket = await request.app[CRM].get_ticket(path_id(request, "ticket_id", "ticket"))
    return await _render_ticket(request, ticket)


@require_role(*WRITERS)
async def ticket_post(request: web.Request) -> web.StreamResponse:
    crm = request.app[CRM]
    actor = current_principal(request).user.username
    ticket = await crm.get_ticket(path_id(request, "ticket_id", "ticket"))
    form = await _form(request)
    data: dict[str, Any] = {
        k: v for k, v in form.items() if k in ("status", "priority", "assignee", "comment")
    }
    if "due_at" in form and form["due_at"] != _local_input(ticket.due_at):
        data["due_at"] = form["due_at"] or None
    if data.get("status") == ticket.status.value:
        del data["status"]
    try:
        await crm.update_ticket(ticket.id, data, actor=actor)
    except ValidationError as error:
        return await _render_ticket(request, ticket, errors=error.fields, status=400)
    raise web.HTTPSeeOther(f"/tickets/{ticket.id}")


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/customers", customers_page, name="crm_customers")
    r.add_get(r"/customers/{customer_id:\d+}", customer_page, name="crm_customer")
    r.add_post(r"/customers/{customer_id:\d+}/notes", customer_note_post, name="crm_customer_note")
    r.add_post(r"/customers/{customer_id:\d+}/tickets", customer_ticket_post, name="crm_customer_ticket")
    r.add_get(r"/tickets/{ticket_id:\d+}", ticket_page, name="crm_ticket")
    r.add_post(r"/tickets/{ticket_id:\d+}", ticket_post, name="crm_ticket_post")
