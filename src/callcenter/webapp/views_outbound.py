"""Outbound campaigns (issue 17): the ``/campaigns`` pages and the JSON API.

=======  ============================================  =====================================================
GET      /campaigns                                    campaigns, their figures, the create form (sup., admin)
POST     /campaigns                                    create (form)
GET      /campaigns/{id}                               one campaign: report, contacts, attempts, import form
POST     /campaigns/{id}/status                        start / pause / stop (form ``status``)
POST     /campaigns/{id}/contacts                      import a CSV file of contacts (multipart ``file``)
GET      /api/outbound/campaigns                       campaigns (sup., admin)
POST     /api/outbound/campaigns                       create (JSON settings)
GET      /api/outbound/campaigns/{id}                  a campaign and its report
PATCH    /api/outbound/campaigns/{id}                  change settings
POST     /api/outbound/campaigns/{id}/{start|pause|stop}
POST     /api/outbound/campaigns/{id}/contacts         import contacts (``text/csv`` body, all or nothing)
GET      /api/outbound/campaigns/{id}/attempts         the stored attempts, newest first
GET      /api/outbound/dnc                             the do-not-call list (sup., admin)
POST     /api/outbound/dnc                             add a number (agents too: source ``agent``)
DELETE   /api/outbound/dnc/{number}                    take a number off (admins)
POST     /api/outbound/attempts/{id}/outcome           the agent's outcome code (their own attempts)
GET      /api/outbound/preview                         preview: the agent's next contact card (agents)
POST     /api/outbound/preview/{contact}/call          ring the agent, then the customer
POST     /api/outbound/preview/{contact}/skip          skip it (``reason`` required)
=======  ============================================  =====================================================
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any

from aiohttp import web

from callcenter.domain.customers import ValidationError
from callcenter.domain.outbound import TRANSITIONS, Attempt, Campaign, CampaignStatus, Contact
from callcenter.domain.outbound_csv import CsvError
from callcenter.domain.text import N_
from callcenter.domain.users import Role
from callcenter.services.campaigns import Actor, CampaignService
from callcenter.services.dialer_preview import PreviewDialer
from callcenter.webapp import openapi
from callcenter.webapp.auth import current_principal, require_role
from callcenter.webapp.errors import require_service
from callcenter.webapp.i18n import gettext, localize
from callcenter.webapp.jsonenc import json_response
from callcenter.webapp.keys import TEMPLATES
from callcenter.webapp.serialize import iso
from callcenter.webapp.views_crm import json_body
from callcenter.webapp.views_pages import LandingPage, page_context

CAMPAIGNS = web.AppKey[CampaignService]("campaigns")
PREVIEW = web.AppKey[PreviewDialer]("preview")
MANAGERS = (Role.SUPERVISOR, Role.ADMIN)
CAMPAIGNS_PAGE = LandingPage("/campaigns", N_("Campaigns"), frozenset(MANAGERS))
MAX_CSV = 10 * 1024 * 1024
ACTIONS = {"start": CampaignStatus.RUNNING, "pause": CampaignStatus.PAUSED, "stop": CampaignStatus.STOPPED}


def _svc(request: web.Request) -> CampaignService:
    return require_service(request.app.get(CAMPAIGNS), "outbound campaigns are not available")


def _actor(request: web.Request) -> Actor:
    user = current_principal(request).user
    return Actor(user.username, user.role, user.agent)


def _id(request: web.Request, key: str = "campaign_id") -> int:
    raw = request.match_info[key]
    if not raw.isdigit() or len(raw) > 9:
        raise web.HTTPNotFound(reason="not found")
    return int(raw)


def campaign_json(c: Campaign) -> dict[str, Any]:
    return {
        "id": c.id,
        "name": c.name,
        "queue": c.queue,
        "mode": c.mode.value,
        "kind": c.kind.value,
        "status": c.status.value,
        "script": c.script,
        "caller_id": c.caller_id,
        "max_attempts": c.max_attempts,
        "retry": {k.value: v for k, v in c.retry.items()},
        "outcomes": [asdict(o) for o in c.outcomes],
        "hours": [
            None if w is None else [w[0].isoformat("minutes"), w[1].isoformat("minutes")]
            for w in c.hours.weekly
        ],
        "default_timezone": c.default_timezone,
        "ring_timeout": c.ring_timeout,
        "abandon_cap": c.abandon_cap,
        "connect_limit": c.connect_limit,
        "max_ratio": c.max_ratio,
        "created_by": c.created_by,
        "created_at_iso": iso(c.created_at),
        "updated_at_iso": iso(c.updated_at),
    }


def attempt_json(a: Attempt) -> dict[str, Any]:
    return {
        "id": a.id,
        "contact_id": a.contact_id,
        "number": a.number,
        "result": a.result.value,
        "outcome": a.outcome,
        "agent": a.agent,
        "call_id": a.call_id,
        "reason": a.reason,
        "detail": a.detail,
        "started_at_iso": iso(a.started_at),
        "ended_at_iso": iso(a.ended_at),
    }


def contact_json(c: Contact) -> dict[str, Any]:
    return {
        "id": c.id,
        "number": c.number,
        "name": c.name,
        "status": c.status.value,
        "attempts": c.attempts,
        "due_at_iso": iso(c.due_at),
        "last_result": c.last_result,
        "outcome": c.outcome,
        "reason": c.reason,
    }


# --- API --------------------------------------------------------------------------------------------
@require_role(*MANAGERS)
async def api_list(request: web.Request) -> web.StreamResponse:
    return json_response({"campaigns": [campaign_json(c) for c in await _svc(request).list()]})


@require_role(*MANAGERS)
async def api_create(request: web.Request) -> web.StreamResponse:
    created = await _svc(request).create(await json_body(request), _actor(request))
    return json_response({"campaign": campaign_json(created)}, status=201)


@require_role(*MANAGERS)
async def api_get(request: web.Request) -> web.StreamResponse:
    svc = _svc(request)
    cid = _id(request)
    campaign = await svc.get(cid)
    return json_response({"campaign": campaign_json(campaign), "report": await svc.report(cid)})


@require_role(*MANAGERS)
async def api_update(request: web.Request) -> web.StreamResponse:
    changed = await _svc(request).update(_id(request), await json_body(request), _actor(request))
    return json_response({"campaign": campaign_json(changed)})


def _api_action(action: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """``POST /api/outbound/campaigns/{id}/<action>``: one route per action (each in the OpenAPI document)."""
    status = ACTIONS[action]

    @require_role(*MANAGERS)
    async def handler(request: web.Request) -> web.StreamResponse:
        changed = await _svc(request).set_status(_id(request), status, _actor(request))
        return json_response({"campaign": campaign_json(changed)})

    return handler


async def _read_limited(request: web.Request) -> bytes:
    if request.content_length is not None and request.content_length > MAX_CSV:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_CSV, actual_size=request.content_length)
    data = await request.content.read(MAX_CSV + 1)
    if len(data) > MAX_CSV:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_CSV, actual_size=len(data))
    return data


@require_role(*MANAGERS)
async def api_import(request: web.Request) -> web.StreamResponse:
    result = await _svc(request).import_contacts(_id(request), await _read_limited(request), _actor(request))
    body = {"rows": result.rows, "added": result.added, "errors": [str(e) for e in result.errors]}
    return json_response(body, status=400 if result.errors else 200)


@require_role(*MANAGERS)
async def api_attempts(request: web.Request) -> web.StreamResponse:
    svc = _svc(request)
    cid = _id(request)
    await svc.get(cid)
    return json_response({"attempts": [attempt_json(a) for a in await svc.store.list_attempts(cid)]})


@require_role(*MANAGERS)
async def api_dnc_list(request: web.Request) -> web.StreamResponse:
    entries = await _svc(request).store.list_dnc()
    return json_response({"numbers": [{**asdict(e), "added_at_iso": iso(e.added_at)} for e in entries]})


@require_role(Role.AGENT, *MANAGERS)
async def api_dnc_add(request: web.Request) -> web.StreamResponse:
    body = await json_body(request)
    actor = _actor(request)
    source = "agent" if actor.role is Role.AGENT else str(body.get("source") or "admin")
    number, added = await _svc(request).add_dnc(
        str(body.get("number", "")), source, actor, str(body.get("note", ""))
    )
    return json_response({"number": number, "added": added}, status=201 if added else 200)


@require_role(Role.ADMIN)
async def api_dnc_remove(request: web.Request) -> web.StreamResponse:
    removed = await _svc(request).remove_dnc(request.match_info["number"], _actor(request))
    if not removed:
        raise web.HTTPNotFound(reason="number not on the list")
    return json_response({"removed": True})


@require_role(Role.AGENT, *MANAGERS)
async def api_outcome(request: web.Request) -> web.StreamResponse:
    body = await json_body(request)
    code = body.get("code")
    if not isinstance(code, str):
        raise ValidationError({"code": "required"})
    return json_response(await _svc(request).set_outcome(_id(request, "attempt_id"), code, _actor(request)))


def _agent(request: web.Request) -> str:
    agent = current_principal(request).user.agent
    if not agent:
        raise ValidationError({"agent": "this login is not an agent"})
    return agent


@require_role(Role.AGENT)
async def api_preview(request: web.Request) -> web.StreamResponse:
    preview = require_service(request.app.get(PREVIEW), "preview dialing is not available")
    return json_response({"card": await preview.next_card(_agent(request))})


@require_role(Role.AGENT)
async def api_preview_call(request: web.Request) -> web.StreamResponse:
    preview = require_service(request.app.get(PREVIEW), "preview dialing is not available")
    return json_response(await preview.call(_agent(request), _id(request, "contact_id")))


@require_role(Role.AGENT)
async def api_preview_skip(request: web.Request) -> web.StreamResponse:
    preview = require_service(request.app.get(PREVIEW), "preview dialing is not available")
    body = await json_body(request)
    reason = body.get("reason")
    if not isinstance(reason, str):
        raise ValidationError({"reason": "required: why is this contact skipped?"})
    return json_response(await preview.skip(_agent(request), _id(request, "contact_id"), reason))


# --- pages ------------------------------------------------------------------------------------------
def csv_error_text(error: CsvError) -> str:
    """A CSV import error in the page's language: where (row or file), the column (data), the reason."""
    where = gettext("row %(n)s") % {"n": error.row} if error.row else gettext("file")
    column = f"{error.column}: " if error.column else ""
    return f"{where}: {column}{localize(error.reason)}"


def _context(request: web.Request, **extra: Any) -> dict[str, Any]:
    ctx = page_context(current_principal(request), page=CAMPAIGNS_PAGE, request_path=request.path, **extra)
    if CAMPAIGNS_PAGE not in ctx["nav"]:
        ctx["nav"] = [*ctx["nav"], CAMPAIGNS_PAGE]
    return ctx


@require_role(*MANAGERS)
async def page_list(request: web.Request) -> web.StreamResponse:
    return await _render_list(request)


async def _render_list(request: web.Request, errors: dict[str, str] | None = None) -> web.StreamResponse:
    svc = _svc(request)
    campaigns = await svc.list()
    queues = svc.queue_names()
    return request.app[TEMPLATES].response(
        "campaigns.html",
        _context(request, campaigns=campaigns, queues=queues, errors=errors or {}, form=await _form(request)),
        status=400 if errors else 200,
    )


async def _form(request: web.Request) -> dict[str, str]:
    if request.method != "POST":
        return {}
    data = await request.post()
    return {k: v for k, v in data.items() if isinstance(v, str) and k != "csrf"}


@require_role(*MANAGERS)
async def page_create(request: web.Request) -> web.StreamResponse:
    form = await _form(request)
    try:
        created = await _svc(request).create(form, _actor(request))
    except ValidationError as exc:
        return await _render_list(request, exc.fields)
    raise web.HTTPSeeOther(f"/campaigns/{created.id}")


@require_role(*MANAGERS)
async def page_detail(request: web.Request) -> web.StreamResponse:
    return await _render_detail(request)


async def _render_detail(
    request: web.Request, notice: str = "", import_errors: list[str] | None = None
) -> web.StreamResponse:
    svc = _svc(request)
    cid = _id(request)
    campaign = await svc.get(cid)
    return request.app[TEMPLATES].response(
        "campaign.html",
        _context(
            request,
            campaign=campaign,
            report=await svc.report(cid),
            contacts=await svc.store.list_contacts(cid),
            attempts=await svc.store.list_attempts(cid, limit=100),
            allowed=[s.value for s in CampaignStatus if s in TRANSITIONS[campaign.status]],
            notice=notice,
            import_errors=import_errors or [],
            iso=iso,
        ),
        status=400 if import_errors else 200,
    )


@require_role(*MANAGERS)
async def page_status(request: web.Request) -> web.StreamResponse:
    form = await _form(request)
    try:
        status = CampaignStatus(form.get("status", ""))
    except ValueError:
        raise ValidationError({"status": "running, paused or stopped"}) from None
    await _svc(request).set_status(_id(request), status, _actor(request))
    raise web.HTTPSeeOther(f"/campaigns/{_id(request)}")


@require_role(*MANAGERS)
async def page_import(request: web.Request) -> web.StreamResponse:
    data = await request.post()
    upload = data.get("file")
    if not isinstance(upload, web.FileField):
        return await _render_detail(request, import_errors=[gettext("choose a CSV file")])
    raw = await asyncio.to_thread(upload.file.read, MAX_CSV + 1)
    if len(raw) > MAX_CSV:
        return await _render_detail(request, import_errors=[gettext("file too large (10 MB at most)")])
    result = await _svc(request).import_contacts(_id(request), raw, _actor(request))
    if result.errors:
        return await _render_detail(request, import_errors=[csv_error_text(e) for e in result.errors[:50]])
    return await _render_detail(
        request,
        notice=gettext("%(added)s contacts added (%(rows)s rows)")
        % {"added": result.added, "rows": result.rows},
    )


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/campaigns", page_list, name="campaigns")
    r.add_post("/campaigns", page_create, name="campaign_create")
    r.add_get(r"/campaigns/{campaign_id:\d+}", page_detail, name="campaign")
    r.add_post(r"/campaigns/{campaign_id:\d+}/status", page_status, name="campaign_status")
    r.add_post(r"/campaigns/{campaign_id:\d+}/contacts", page_import, name="campaign_import")
    r.add_get("/api/outbound/campaigns", api_list, name="api_campaigns")
    r.add_post("/api/outbound/campaigns", api_create, name="api_campaign_create")
    r.add_get(r"/api/outbound/campaigns/{campaign_id:\d+}", api_get, name="api_campaign")
    r.add_patch(r"/api/outbound/campaigns/{campaign_id:\d+}", api_update, name="api_campaign_update")
    for action in ("start", "pause", "stop"):
        r.add_post(rf"/api/outbound/campaigns/{{campaign_id:\d+}}/{action}", _api_action(action))
    r.add_post(r"/api/outbound/campaigns/{campaign_id:\d+}/contacts", api_import, name="api_campaign_import")
    r.add_get(
        r"/api/outbound/campaigns/{campaign_id:\d+}/attempts", api_attempts, name="api_campaign_attempts"
    )
    r.add_get("/api/outbound/dnc", api_dnc_list, name="api_dnc")
    r.add_post("/api/outbound/dnc", api_dnc_add, name="api_dnc_add")
    r.add_delete("/api/outbound/dnc/{number}", api_dnc_remove, name="api_dnc_remove")
    r.add_post(r"/api/outbound/attempts/{attempt_id:\d+}/outcome", api_outcome, name="api_attempt_outcome")
    r.add_get("/api/outbound/preview", api_preview, name="api_preview")
    r.add_post(r"/api/outbound/preview/{contact_id:\d+}/call", api_preview_call, name="api_preview_call")
    r.add_post(r"/api/outbound/preview/{contact_id:\d+}/skip", api_preview_skip, name="api_preview_skip")
    openapi.add_paths(app, _paths())


def _paths() -> dict[str, Any]:
    obj = {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}}
    err = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    common = {
        "401": {"description": "not authenticated", **err},
        "403": {"description": "role not allowed or missing CSRF token", **err},
    }
    tags = ["outbound"]
    cid = {"name": "campaign_id", "in": "path", "required": True, "schema": {"type": "integer"}}

    def op(summary: str, params: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        return {
            "summary": summary,
            "tags": tags,
            "parameters": params or [],
            "responses": {"200": obj, **common},
        }

    return {
        "/api/outbound/campaigns": {"get": op("Campaigns"), "post": op("Create a campaign")},
        "/api/outbound/campaigns/{campaign_id}": {
            "get": op("A campaign and its report", [cid]),
            "patch": op("Change a campaign's settings", [cid]),
        },
        "/api/outbound/campaigns/{campaign_id}/start": {"post": op("Start (or resume) a campaign", [cid])},
        "/api/outbound/campaigns/{campaign_id}/pause": {"post": op("Pause a campaign", [cid])},
        "/api/outbound/campaigns/{campaign_id}/stop": {"post": op("Stop a campaign (final)", [cid])},
        "/api/outbound/campaigns/{campaign_id}/contacts": {"post": op("Import contacts (text/csv)", [cid])},
        "/api/outbound/campaigns/{campaign_id}/attempts": {"get": op("Stored attempts", [cid])},
        "/api/outbound/dnc": {"get": op("The do-not-call list"), "post": op("Add a number to the list")},
        "/api/outbound/dnc/{number}": {
            "delete": op(
                "Take a number off (admins)",
                [{"name": "number", "in": "path", "required": True, "schema": {"type": "string"}}],
            )
        },
        "/api/outbound/preview": {"get": op("Preview: the agent's next contact card")},
        "/api/outbound/preview/{contact_id}/call": {"post": op("Preview: ring the agent, then the customer")},
        "/api/outbound/preview/{contact_id}/skip": {"post": op("Preview: skip the contact (reason)")},
        "/api/outbound/attempts/{attempt_id}/outcome": {
            "post": op(
                "The agent's outcome code",
                [{"name": "attempt_id", "in": "path", "required": True, "schema": {"type": "integer"}}],
            )
        },
    }
