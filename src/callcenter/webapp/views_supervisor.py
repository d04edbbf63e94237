"""Supervisor actions (audited) and the audit log.

=======  ======================================  ==========================================================
POST     /api/supervisor/agents/{agent}/monitor  ``{"mode": "listen"|"whisper"|"barge", "phone": "..."}``:
                                                 ChanSpy to the supervisor's phone (supervisor, admin)
POST     /api/supervisor/agents/{agent}/state    ``{"action": "pause"|"unpause"|"login"|"logout",
                                                 "reason": "break"}`` (supervisor, admin)
GET      /api/audit                              the audit log, newest first (``?since=&actor=&limit=``;
                                                 supervisor, admin)
=======  ======================================  ==========================================================

Session POSTs need the CSRF token (``X-CSRF-Token``). Errors: unknown agent 404, not possible now (no phone,
agent not on a call, state machine refuses) 409, bad input 400, PBX or state unavailable 503 (one mapping
for every view, in ``webapp/errors.py``).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from callcenter.domain.users import Role
from callcenter.services.supervisor import AgentAction, MonitorMode, SupervisorService
from callcenter.webapp import openapi
from callcenter.webapp.auth import current_principal, require_role
from callcenter.webapp.errors import json_error, require_service
from callcenter.webapp.jsonenc import json_response, loads
from callcenter.webapp.params import QueryParams

SUPERVISOR = web.AppKey[SupervisorService]("supervisor")
SUPERVISORS = (Role.SUPERVISOR, Role.ADMIN)
MAX_BODY = 16 * 1024


def _service(request: web.Request, what: str = "supervisor actions are not available") -> SupervisorService:
    return require_service(request.app.get(SUPERVISOR), what)


async def _body(request: web.Request) -> dict[str, Any] | web.Response:
    raw = await request.content.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        return json_error(413, "request body too large")
    if not raw:
        return {}
    try:
        body = loads(raw)
    except ValueError:
        return json_error(400, "body must be JSON")
    if not isinstance(body, dict):
        return json_error(400, "body must be a JSON object")
    return body


@require_role(*SUPERVISORS)
async def post_monitor(request: web.Request) -> web.StreamResponse:
    svc = _service(request)
    body = await _body(request)
    if isinstance(body, web.Response):
        return body
    try:
        mode = MonitorMode(str(body.get("mode", "listen")))
    except ValueError:
        return json_error(400, "mode must be listen, whisper or barge")
    phone = body.get("phone")
    user = current_principal(request).user
    agent = request.match_info["agent"]
    return json_response(await svc.monitor(user, agent, mode, str(phone) if phone else None))


@require_role(*SUPERVISORS)
async def post_state(request: web.Request) -> web.StreamResponse:
    svc = _service(request)
    body = await _body(request)
    if isinstance(body, web.Response):
        return body
    try:
        action = AgentAction(str(body.get("action", "")))
    except ValueError:
        return json_error(400, "action must be pause, unpause, login or logout")
    reason = str(body.get("reason") or "")
    user = current_principal(request).user
    agent = request.match_info["agent"]
    return json_response(await svc.set_agent_state(user, agent, action, reason))


@require_role(*SUPERVISORS)
async def get_audit(request: web.Request) -> web.StreamResponse:
    svc = _service(request, "the audit log is not available")
    q = QueryParams(request.query, ("since", "actor", "limit"))
    since = q.time("since")
    limit = q.integer("limit", 200, 1, 1000)
    actor = q.text("actor")

    async def go() -> dict[str, Any]:
        return {"entries": await svc.entries(since=since, actor=actor, limit=limit)}

    return json_response(await go())


def _paths() -> dict[str, Any]:
    obj = {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}}
    err = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}

    def e(text: str) -> dict[str, Any]:
        return {"description": text, **err}

    common = {"401": e("not authenticated"), "403": e("role not allowed or missing CSRF token")}
    change = {
        **common,
        "400": e("invalid input"),
        "404": e("unknown agent"),
        "409": e("not possible now (no phone, agent not on a call, state machine refuses)"),
        "503": e("PBX or shared state unavailable"),
    }
    agent = {
        "name": "agent",
        "in": "path",
        "required": True,
        "description": "agent id",
        "schema": {"type": "string"},
    }
    tags = ["supervisor"]

    def body(props: dict[str, Any], required: list[str]) -> dict[str, Any]:
        schema = {"type": "object", "properties": props, "required": required}
        return {"required": True, "content": {"application/json": {"schema": schema}}}

    return {
        "/api/supervisor/agents/{agent}/monitor": {
            "post": {
                "summary": "Listen, whisper or barge on the agent's call "
                "(ChanSpy to the supervisor's phone; audited)",
                "tags": tags,
                "parameters": [agent],
                "requestBody": body(
                    {"mode": {"enum": ["listen", "whisper", "barge"]}, "phone": {"type": "string"}}, ["mode"]
                ),
                "responses": {"200": obj, **change},
            }
        },
        "/api/supervisor/agents/{agent}/state": {
            "post": {
                "summary": "Pause, make available, log in or log out an agent (audited)",
                "tags": tags,
                "parameters": [agent],
                "requestBody": body(
                    {
                        "action": {"enum": ["pause", "unpause", "login", "logout"]},
                        "reason": {"type": "string"},
                    },
                    ["action"],
                ),
                "responses": {"200": obj, **change},
            }
        },
        "/api/audit": {
            "get": {
                "summary": "The supervisor audit log, newest first (supervisor, admin)",
                "tags": tags,
                "parameters": [
                    {"name": n, "in": "query", "required": False, "description": d, "schema": s}
                    for n, d, s in (
                        ("since", "epoch seconds or ISO 8601 (1970-3000)", {"type": "number"}),
                        ("actor", "username", {"type": "string"}),
                        (
                            "limit",
                            "rows (1-1000, default 200)",
                            {"type": "integer", "minimum": 1, "maximum": 1000},
                        ),
                    )
                ],
                "responses": {"200": obj, **common, "400": e("bad parameter"), "503": e("store unavailable")},
            }
        },
    }


def setup(app: web.Application) -> None:
    app.router.add_post("/api/supervisor/agents/{agent}/monitor", post_monitor, name="api_supervisor_monitor")
    app.router.add_post("/api/supervisor/agents/{agent}/state", post_state, name="api_supervisor_state")
    app.router.add_get("/api/audit", get_audit, name="api_audit")
    openapi.add_paths(app, _paths())
