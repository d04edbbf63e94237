"""The outbox's API (issue 16) and the customers' case status page.

=======  ==================================  ===============================================================
GET      /api/admin/outbox                   messages (kind, status): e-mails and webhooks (sup., admin)
GET      /api/admin/outbox/{id}              a message and its delivery log (supervisors, admins)
POST     /api/admin/outbox/{id}/retry        deliver again now (admins)
POST     /api/cases/{id}/status-link         a fresh status-page link for the customer (agents, sup., admins)
GET      /status/{token}                     the case status page: no login, only that case, until it expires
=======  ==================================  ===============================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from aiohttp import web

from callcenter.domain.cases import STAGE_ORDER, CaseStage
from callcenter.domain.notify import STAGE_LABELS, Attempt, OutboxItem, language_of
from callcenter.domain.users import Role
from callcenter.services.cases import CaseService
from callcenter.services.notify import Notifier
from callcenter.webapp import openapi
from callcenter.webapp.auth import require_role
from callcenter.webapp.errors import json_error, require_service
from callcenter.webapp.jsonenc import json_response
from callcenter.webapp.keys import TEMPLATES
from callcenter.webapp.serialize import iso
from callcenter.webapp.views_cases import CASES, WRITERS


class OutboxReader(Protocol):
    async def items(
        self, *, kind: str | None = None, status: str | None = None, limit: int = 100
    ) -> list[OutboxItem]: ...
    async def get(self, item_id: int) -> OutboxItem | None: ...
    async def attempts(self, item_id: int) -> list[Attempt]: ...


@dataclass(frozen=True, slots=True)
class OutboxViews:
    store: OutboxReader
    notifier: Notifier


OUTBOX = web.AppKey[OutboxViews]("outbox")
READERS = (Role.SUPERVISOR, Role.ADMIN)


def _views(request: web.Request) -> OutboxViews:
    return require_service(request.app.get(OUTBOX), "notifications are not available")


def item_json(item: OutboxItem) -> dict[str, Any]:
    return {
        "id": item.id,
        "kind": item.kind,
        "event": item.event,
        "target": item.target,
        "ref": item.ref,
        "status": item.status.value,
        "attempts": item.attempts,
        "next_at_iso": iso(item.next_at),
        "last_error": item.last_error,
        "created_at_iso": iso(item.created_at),
        "sent_at_iso": iso(item.sent_at),
        "payload": item.payload,
    }


def _item_id(request: web.Request) -> int:
    raw = request.match_info["item_id"]
    if not raw.isdigit() or len(raw) > 9:
        raise web.HTTPNotFound(reason="message not found")
    return int(raw)


@require_role(*READERS)
async def api_list(request: web.Request) -> web.StreamResponse:
    views = _views(request)
    try:
        limit = int(request.query.get("limit") or 100)
    except ValueError:
        return json_error(400, "limit must be an integer")
    items = await views.store.items(
        kind=request.query.get("kind") or None, status=request.query.get("status") or None, limit=limit
    )
    return json_response({"messages": [item_json(i) for i in items]})


@require_role(*READERS)
async def api_get(request: web.Request) -> web.StreamResponse:
    views = _views(request)
    item_id = _item_id(request)
    item = await views.store.get(item_id)
    if item is None:
        return json_error(404, "message not found")
    attempts = await views.store.attempts(item_id)
    return json_response(
        {
            "message": item_json(item),
            "attempts": [
                {
                    "at_iso": iso(a.at),
                    "ok": a.ok,
                    "status_code": a.status_code,
                    "error": a.error,
                    "seconds": a.seconds,
                }
                for a in attempts
            ],
        }
    )


@require_role(Role.ADMIN)
async def api_retry(request: web.Request) -> web.StreamResponse:
    views = _views(request)
    item_id = _item_id(request)
    if not await views.notifier.outbox.retry(item_id):
        return json_error(404, "message not found")
    item = await views.store.get(item_id)
    assert item is not None
    return json_response({"message": item_json(item)})


@require_role(*WRITERS)
async def api_status_link(request: web.Request) -> web.StreamResponse:
    views = _views(request)
    cases: CaseService = require_service(request.app.get(CASES), "cases are not available")
    raw = request.match_info["case_id"]
    if len(raw) > 9:
        raise web.HTTPNotFound(reason="case not found")
    case = await cases.get(int(raw))
    return json_response({"url": await views.notifier.status_link(case.id)})


async def status_page(request: web.Request) -> web.StreamResponse:
    """Public: the token is the only key. Unknown or expired: 404 (the same answer for both)."""
    views = _views(request)
    cases: CaseService = require_service(request.app.get(CASES), "cases are not available")
    case_id = await views.notifier.case_for_token(request.match_info["token"])
    if case_id is None:
        raise web.HTTPNotFound(reason="this link is unknown or has expired")
    detail = await cases.detail(case_id)
    lang = language_of(detail.case.language)
    labels = STAGE_LABELS[lang]
    stages = [
        {"label": labels[e.new or ""], "at": datetime.fromtimestamp(e.at, UTC).strftime("%Y-%m-%d")}
        for e in detail.history
        if e.field in ("stage", "created") and e.new in labels
    ]
    case = detail.case
    response = request.app[TEMPLATES].response(
        "case_status.html",
        {
            "case": case,
            "stage_label": labels[case.stage.value],
            "due": None
            if case.stage_due is None
            else datetime.fromtimestamp(case.stage_due, UTC).strftime("%Y-%m-%d"),
            "stages": stages,
            "lang": lang,
            "order": [s.value for s in STAGE_ORDER if s is not CaseStage.REJECTED],
        },
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _paths() -> dict[str, Any]:
    obj = {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}}
    err = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}

    def e(text: str) -> dict[str, Any]:
        return {"description": text, **err}

    common = {"401": e("not authenticated"), "403": e("role not allowed or missing CSRF token")}
    tags = ["notifications"]
    item_id = {"name": "item_id", "in": "path", "required": True, "schema": {"type": "integer"}}
    case_id = {"name": "case_id", "in": "path", "required": True, "schema": {"type": "integer"}}
    return {
        "/api/admin/outbox": {
            "get": {
                "summary": "Outbox messages: customer e-mails and signed webhooks (supervisors, admins)",
                "tags": tags,
                "parameters": [
                    {"name": "kind", "in": "query", "schema": {"enum": ["email", "webhook"]}},
                    {"name": "status", "in": "query", "schema": {"enum": ["pending", "sent", "failed"]}},
                    {"name": "limit", "in": "query", "schema": {"type": "integer"}},
                ],
                "responses": {"200": obj, **common},
            }
        },
        "/api/admin/outbox/{item_id}": {
            "get": {
                "summary": "A message with its delivery log (every attempt: time, status code, error)",
                "tags": tags,
                "parameters": [item_id],
                "responses": {"200": obj, **common, "404": e("unknown message")},
            }
        },
        "/api/admin/outbox/{item_id}/retry": {
            "post": {
                "summary": "Deliver a message again now (admins)",
                "tags": tags,
                "parameters": [item_id],
                "responses": {"200": obj, **common, "404": e("unknown message")},
            }
        },
        "/api/cases/{case_id}/status-link": {
            "post": {
                "summary": "A fresh link to the case's public status page (expires; only its hash is stored)",
                "tags": tags,
                "parameters": [case_id],
                "responses": {"200": obj, **common, "404": e("unknown case")},
            }
        },
    }


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/admin/outbox", api_list, name="api_outbox")
    r.add_get(r"/api/admin/outbox/{item_id:\d+}", api_get, name="api_outbox_item")
    r.add_post(r"/api/admin/outbox/{item_id:\d+}/retry", api_retry, name="api_outbox_retry")
    r.add_post(r"/api/cases/{case_id:\d+}/status-link", api_status_link, name="api_case_status_link")
    r.add_get("/status/{token}", status_page, name="case_status_page")
    openapi.add_paths(app, _paths())
