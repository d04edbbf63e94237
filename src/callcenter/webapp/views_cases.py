"""Service cases (RMA, issue 16): JSON API and pages.

=======  ==============================  ==================================================================
GET      /cases                          case list with filters (stage, customer, technician, overdue)
GET      /cases/{id}                     the case page: details, stage history, links, stage-change form
POST     /cases/{id}/stage               the page's stage change with a note (form; 303 back, 400/409 shown)
GET      /api/cases                      list (stage, customer_id, technician, open, overdue)
POST     /api/cases                      open a case (agents, supervisors, admins)
GET      /api/cases/report               open and overdue cases per stage, the overdue list (sup., admin)
GET      /api/cases/overdue              ``{"open": n, "overdue": n}``: the wallboard's count card (any role)
GET      /api/cases/{id}                 a case, its history and links
PATCH    /api/cases/{id}                 edit: technician, repair mode, carrier, tracking, quote, fault
POST     /api/cases/{id}/stage           ``{"stage": ..., "note": "", "quote": ""}`` (stage rules: 409)
POST     /api/cases/{id}/links           ``{"kind": "call"|"ticket", "ref": ...}``
=======  ==============================  ==================================================================

Writers are agents, supervisors and admins; QA reads (the pages without the forms). Every write is
audited by ``services/cases.py``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from callcenter.domain.cases import (
    STAGE_ORDER,
    CaseQuery,
    CaseStage,
    InvalidStage,
    RmaCase,
    allowed_next,
    parse_stage,
)
from callcenter.domain.customers import ValidationError
from callcenter.domain.errors import NotFound, StoreError
from callcenter.domain.users import Role
from callcenter.services.cases import CaseDetail, CaseService
from callcenter.webapp import openapi
from callcenter.webapp.auth import current_principal, require_role
from callcenter.webapp.errors import require_service
from callcenter.webapp.i18n import N_
from callcenter.webapp.jsonenc import json_response
from callcenter.webapp.keys import TEMPLATES
from callcenter.webapp.serialize import iso
from callcenter.webapp.views_pages import LandingPage, page_context

CASES = web.AppKey[CaseService]("cases")
WRITERS = (Role.AGENT, Role.SUPERVISOR, Role.ADMIN)
READERS = (*WRITERS, Role.QA)
SUPERVISORS = (Role.SUPERVISOR, Role.ADMIN)
MAX_BODY = 64 * 1024
PAGE_SIZE = 50
CASES_PAGE = LandingPage("/cases", N_("Cases"), frozenset(READERS))


def _svc(request: web.Request) -> CaseService:
    return require_service(request.app.get(CASES), "cases are not available")


def case_json(case: RmaCase, now: float) -> dict[str, Any]:
    return {
        "id": case.id,
        "number": case.number,
        "customer_id": case.customer_id,
        "product": case.product,
        "serial": case.serial,
        "purchase_date": None if case.purchase_date is None else case.purchase_date.isoformat(),
        "warranty_until": None if case.warranty_until is None else case.warranty_until.isoformat(),
        "in_warranty": case.in_warranty,
        "fault": case.fault,
        "stage": case.stage.value,
        "stage_since": case.stage_since,
        "stage_since_iso": iso(case.stage_since),
        "stage_due": case.stage_due,
        "stage_due_iso": iso(case.stage_due),
        "overdue": case.is_overdue(now),
        "next_stages": [s.value for s in allowed_next(case.stage)],
        "technician": case.technician,
        "repair_mode": case.repair_mode.value,
        "carrier": case.carrier,
        "tracking": case.tracking,
        "quote": case.quote,
        "language": case.language,
        "created_by": case.created_by,
        "created_at": case.created_at,
        "updated_at": case.updated_at,
        "version": case.version,
    }


def detail_json(detail: CaseDetail, now: float) -> dict[str, Any]:
    return {
        "case": case_json(detail.case, now),
        "history": [
            {
                "at": e.at,
                "at_iso": iso(e.at),
                "actor": e.actor,
                "field": e.field,
                "old": e.old,
                "new": e.new,
                "note": e.note,
            }
            for e in detail.history
        ],
        "links": [{"kind": link.kind, "ref": link.ref, "at": link.at} for link in detail.links],
    }


async def _body(request: web.Request) -> dict[str, Any]:
    raw = await request.content.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY, actual_size=len(raw))
    try:
        body = json.loads(raw) if raw else {}
    except ValueError:
        raise ValidationError({"body": "must be JSON"}) from None
    if not isinstance(body, dict):
        raise ValidationError({"body": "must be a JSON object"})
    return body


def _case_id(request: web.Request) -> int:
    raw = request.match_info["case_id"]
    if len(raw) > 9 or not raw.isdigit():  # beyond a 32-bit id: no such case (never a database error)
        raise web.HTTPNotFound(reason="case not found")
    return int(raw)


def parse_query(query: Any, now: float) -> CaseQuery:
    """A ``CaseQuery`` from query parameters (``ValidationError`` naming the bad one)."""
    errors: dict[str, str] = {}
    stages: list[CaseStage] = []
    for raw in query.getall("stage", []):
        for part in str(raw).split(","):
            if part.strip():
                try:
                    stages.append(parse_stage(part))
                except ValidationError as exc:
                    errors.update(exc.fields)
    customer_id = None
    if query.get("customer_id"):
        text = str(query["customer_id"])
        if text.isdigit() and len(text) <= 9:
            customer_id = int(text)
        else:
            errors["customer_id"] = "a customer id"
    overdue: bool | None = None
    if query.get("overdue"):
        overdue = str(query["overdue"]).lower() in ("1", "true", "yes")
    limit, offset = PAGE_SIZE, 0
    try:
        limit = max(1, min(200, int(query.get("limit") or PAGE_SIZE)))
        offset = max(0, int(query.get("offset") or 0))
    except ValueError:
        errors["limit"] = "limit and offset are integers"
    if errors:
        raise ValidationError(errors)
    return CaseQuery(
        stages=tuple(stages),
        customer_id=customer_id,
        technician=(query.get("technician") or "").strip() or None,
        open_only=str(query.get("open") or "").lower() in ("1", "true", "yes"),
        overdue=overdue,
        now=now,
        limit=limit,
        offset=offset,
    )


# -- API -------------------------------------------------------------------------------------------------


@require_role(*READERS)
async def api_list(request: web.Request) -> web.StreamResponse:
    svc = _svc(request)
    now = svc.clock()
    page = await svc.search(parse_query(request.query, now))
    return json_response(
        {
            "cases": [case_json(c, now) for c in page.cases],
            "total": page.total,
            "limit": page.limit,
            "offset": page.offset,
        }
    )


@require_role(*WRITERS)
async def api_create(request: web.Request) -> web.StreamResponse:
    svc = _svc(request)
    body = await _body(request)
    case = await svc.create(current_principal(request).user, body)
    return json_response({"case": case_json(case, svc.clock())}, status=201)


@require_role(*READERS)
async def api_get(request: web.Request) -> web.StreamResponse:
    svc = _svc(request)
    detail = await svc.detail(_case_id(request))
    return json_response(detail_json(detail, svc.clock()))


@require_role(*WRITERS)
async def api_patch(request: web.Request) -> web.StreamResponse:
    svc = _svc(request)
    case_id = _case_id(request)
    body = await _body(request)
    case = await svc.update(current_principal(request).user, case_id, body)
    return json_response({"case": case_json(case, svc.clock())})


@require_role(*WRITERS)
async def api_stage(request: web.Request) -> web.StreamResponse:
    svc = _svc(request)
    case_id = _case_id(request)
    body = await _body(request)
    case = await svc.move(
        current_principal(request).user,
        case_id,
        body.get("stage"),
        body.get("note", ""),
        body.get("quote", ""),
    )
    return json_response({"case": case_json(case, svc.clock())})


@require_role(*WRITERS)
async def api_link(request: web.Request) -> web.StreamResponse:
    svc = _svc(request)
    case_id = _case_id(request)
    body = await _body(request)
    link = await svc.link(current_principal(request).user, case_id, body.get("kind"), body.get("ref"))
    return json_response({"link": {"kind": link.kind, "ref": link.ref, "at": link.at}})


@require_role(*SUPERVISORS)
async def api_report(request: web.Request) -> web.StreamResponse:
    svc = _svc(request)
    report = await svc.report()
    return json_response(
        {
            "at": report.at,
            "at_iso": iso(report.at),
            "open": report.open,
            "overdue": report.overdue,
            "stages": [{"stage": s.stage.value, "open": s.open, "overdue": s.overdue} for s in report.stages],
            "overdue_cases": [case_json(c, report.at) for c in report.overdue_cases],
        }
    )


@require_role()
async def api_overdue(request: web.Request) -> web.StreamResponse:
    report = await _svc(request).report()
    return json_response({"open": report.open, "overdue": report.overdue})


# -- pages -----------------------------------------------------------------------------------------------


def _context(request: web.Request, **extra: Any) -> dict[str, Any]:
    principal = current_principal(request)
    ctx = page_context(principal, page=CASES_PAGE, iso=iso, **extra)
    if CASES_PAGE not in ctx["nav"]:
        ctx["nav"] = [*ctx["nav"], CASES_PAGE]
    ctx["can_write"] = principal.user.role in WRITERS
    return ctx


def _day(ts: float | None) -> str:
    return "" if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M")


@require_role(*READERS)
async def page_list(request: web.Request) -> web.StreamResponse:
    svc = _svc(request)
    now = svc.clock()
    params = {
        k: v
        for k, v in request.query.items()
        if k in ("stage", "customer_id", "technician", "overdue", "open")
    }
    errors: dict[str, str] = {}
    page = None
    try:
        query = parse_query(request.query, now)
    except ValidationError as exc:
        errors = exc.fields
    else:
        page = await svc.search(query)
    links: dict[str, str] = {}
    if page is not None:
        base = {k: v for k, v in params.items() if v}
        if page.offset > 0:
            links["prev"] = "?" + urlencode({**base, "offset": max(0, page.offset - page.limit)})
        if page.offset + page.limit < page.total:
            links["next"] = "?" + urlencode({**base, "offset": page.offset + page.limit})
    return request.app[TEMPLATES].response(
        "cases.html",
        _context(
            request,
            title="Cases",
            params=params,
            errors=errors,
            result=page,
            stages=[s.value for s in STAGE_ORDER],
            links=links,
            now=now,
            day=_day,
        ),
        status=400 if errors else 200,
    )


async def _render_case(
    request: web.Request, case_id: int, *, errors: dict[str, str] | None = None, status: int = 200
) -> web.Response:
    svc = _svc(request)
    detail = await svc.detail(case_id)
    customer = None
    try:
        customer = await svc.crm.get_customer(detail.case.customer_id)
    except (NotFound, StoreError):  # the page still shows the case
        customer = None
    return request.app[TEMPLATES].response(
        "case.html",
        _context(
            request,
            title=f"Case {detail.case.number}",
            detail=detail,
            case=detail.case,
            customer=customer,
            next_stages=[s.value for s in allowed_next(detail.case.stage)],
            errors=errors or {},
            now=svc.clock(),
            day=_day,
        ),
        status=status,
    )


@require_role(*READERS)
async def page_case(request: web.Request) -> web.StreamResponse:
    return await _render_case(request, _case_id(request))


@require_role(*WRITERS)
async def page_stage(request: web.Request) -> web.StreamResponse:
    svc = _svc(request)
    case_id = _case_id(request)
    form = await request.post()
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    try:
        await svc.move(
            current_principal(request).user,
            case_id,
            values.get("stage", ""),
            values.get("note", ""),
            values.get("quote", ""),
        )
    except ValidationError as exc:
        return await _render_case(
            request, case_id, errors=exc.fields, status=409 if isinstance(exc, InvalidStage) else 400
        )
    raise web.HTTPSeeOther(f"/cases/{case_id}")


# -- OpenAPI ---------------------------------------------------------------------------------------------


def _paths() -> dict[str, Any]:
    obj = {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}}
    err = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}

    def e(text: str) -> dict[str, Any]:
        return {"description": text, **err}

    common = {"401": e("not authenticated"), "403": e("role not allowed or missing CSRF token")}
    tags = ["cases"]
    case_id = {"name": "case_id", "in": "path", "required": True, "schema": {"type": "integer"}}
    stage_enum = {"enum": [s.value for s in CaseStage]}

    def q(name: str, desc: str, schema: dict[str, Any]) -> dict[str, Any]:
        return {"name": name, "in": "query", "required": False, "description": desc, "schema": schema}

    def body(props: dict[str, Any], required: list[str]) -> dict[str, Any]:
        schema = {"type": "object", "properties": props, "required": required}
        return {"required": True, "content": {"application/json": {"schema": schema}}}

    text = {"type": "string"}
    details = {
        "technician": text,
        "repair_mode": {"enum": ["in_house", "outsourced"]},
        "carrier": text,
        "tracking": text,
        "quote": text,
        "fault": text,
    }
    return {
        "/api/cases": {
            "get": {
                "summary": "RMA cases (agents, supervisors, admins, QA)",
                "tags": tags,
                "parameters": [
                    q("stage", "stage(s), comma separated", text),
                    q("customer_id", "customer id", {"type": "integer"}),
                    q("technician", "assigned technician", text),
                    q("open", "1: only cases not closed", {"type": "boolean"}),
                    q("overdue", "1: only cases past their stage's SLA; 0: only not", {"type": "boolean"}),
                    q("limit", "page size (1-200, default 50)", {"type": "integer"}),
                    q("offset", "rows to skip", {"type": "integer"}),
                ],
                "responses": {"200": obj, **common, "400": e("bad parameter")},
            },
            "post": {
                "summary": "Open an RMA case (agents, supervisors, admins); warranty computed from the "
                "purchase date and the product's warranty months",
                "tags": tags,
                "requestBody": body(
                    {
                        "customer_id": {"type": "integer"},
                        "product": text,
                        "serial": text,
                        "fault": text,
                        "purchase_date": {"type": "string", "format": "date"},
                        "technician": text,
                        "repair_mode": {"enum": ["in_house", "outsourced"]},
                        "language": {"enum": ["en", "zh-CN"]},
                        "call_id": text,
                    },
                    ["customer_id", "product", "serial", "fault"],
                ),
                "responses": {"201": obj, **common, "400": e("invalid input"), "404": e("unknown customer")},
            },
        },
        "/api/cases/report": {
            "get": {
                "summary": "Open and overdue (past the stage SLA, in working days) cases per stage, and the "
                "overdue cases (supervisors, admins)",
                "tags": tags,
                "responses": {"200": obj, **common},
            }
        },
        "/api/cases/overdue": {
            "get": {
                "summary": "Counts for the wallboard card: open and overdue cases",
                "tags": tags,
                "responses": {"200": obj, **common},
            }
        },
        "/api/cases/{case_id}": {
            "get": {
                "summary": "A case with its stage history and its linked calls and tickets",
                "tags": tags,
                "parameters": [case_id],
                "responses": {"200": obj, **common, "404": e("unknown case")},
            },
            "patch": {
                "summary": "Edit a case's details (not its stage)",
                "tags": tags,
                "parameters": [case_id],
                "requestBody": body(details, []),
                "responses": {
                    "200": obj,
                    **common,
                    "400": e("invalid input"),
                    "404": e("unknown case"),
                    "409": e("changed meanwhile"),
                },
            },
        },
        "/api/cases/{case_id}/stage": {
            "post": {
                "summary": "Move a case to its next stage with a note (no skipping; closed → received "
                "reopens; rejected needs a quote)",
                "tags": tags,
                "parameters": [case_id],
                "requestBody": body({"stage": stage_enum, "note": text, "quote": text}, ["stage"]),
                "responses": {
                    "200": obj,
                    **common,
                    "400": e("invalid input"),
                    "404": e("unknown case"),
                    "409": e("the stage rules refuse this change"),
                },
            }
        },
        "/api/cases/{case_id}/links": {
            "post": {
                "summary": "Link a call (Linkedid) or a ticket of the same customer to the case",
                "tags": tags,
                "parameters": [case_id],
                "requestBody": body({"kind": {"enum": ["call", "ticket"]}, "ref": text}, ["kind", "ref"]),
                "responses": {
                    "200": obj,
                    **common,
                    "400": e("invalid input"),
                    "404": e("unknown case or ticket"),
                },
            }
        },
    }


def setup(app: web.Application) -> None:
    """Register the case pages and API (``app[CASES]`` is set by the composition root; 503 until then)."""
    r = app.router
    r.add_get("/cases", page_list, name="cases")
    r.add_get(r"/cases/{case_id:\d+}", page_case, name="case")
    r.add_post(r"/cases/{case_id:\d+}/stage", page_stage, name="case_stage")
    r.add_get("/api/cases", api_list, name="api_cases")
    r.add_post("/api/cases", api_create, name="api_cases_create")
    r.add_get("/api/cases/report", api_report, name="api_cases_report")
    r.add_get("/api/cases/overdue", api_overdue, name="api_cases_overdue")
    r.add_get(r"/api/cases/{case_id:\d+}", api_get, name="api_case")
    r.add_patch(r"/api/cases/{case_id:\d+}", api_patch, name="api_case_patch")
    r.add_post(r"/api/cases/{case_id:\d+}/stage", api_stage, name="api_case_stage")
    r.add_post(r"/api/cases/{case_id:\d+}/links", api_link, name="api_case_links")
    openapi.add_paths(app, _paths())
