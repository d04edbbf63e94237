"""JSON API: ``GET /api/me``, ``GET /api/calls``, ``GET /api/calls/{id}``.

Visibility: supervisors, QA and admins see every call; an agent sees only calls whose ``agent`` is
their own (the list query is forced to their agent id; another agent's call answers 404, like a
missing one, so ids cannot be probed).
"""

from __future__ import annotations

from aiohttp import web

from callcenter.domain.calls import CallPage
from callcenter.webapp.auth import current_principal, require_role
from callcenter.webapp.errors import json_error
from callcenter.webapp.jsonenc import json_response
from callcenter.webapp.keys import STORE
from callcenter.webapp.queries import may_see_call, parse_call_query, restrict_to_user
from callcenter.webapp.serialize import call_json, page_json, user_json
from callcenter.webapp.views_ivr import ivr_sessions_json

MAX_CALL_ID = 128


@require_role()
async def me(request: web.Request) -> web.StreamResponse:
    principal = current_principal(request)
    body = user_json(principal.user)
    body["auth"] = principal.via
    if principal.session is not None:
        body["csrf_token"] = principal.session.csrf  # for fetch() POSTs (X-CSRF-Token)
        body["session_expires"] = principal.session.expires
    return json_response(body)


@require_role()
async def list_calls(request: web.Request) -> web.StreamResponse:
    user = current_principal(request).user
    query = parse_call_query(request.query)  # a BadQuery propagates: 400 (webapp/errors.py)
    restricted = restrict_to_user(query, user)
    if restricted is None:
        page = CallPage(calls=(), total=0, limit=query.limit, offset=query.offset)
    else:
        page = await request.app[STORE].list_calls(restricted)
    return json_response(page_json(page))


@require_role()
async def get_call(request: web.Request) -> web.StreamResponse:
    user = current_principal(request).user
    call_id = request.match_info["call_id"]
    call = await request.app[STORE].get_call(call_id) if len(call_id) <= MAX_CALL_ID else None
    if call is None or not may_see_call(user, call):
        return json_error(404, "call not found")
    body = call_json(call, detail=True)
    ivr = await ivr_sessions_json(request.app, call.call_id)
    if ivr is not None:
        body["ivr"] = ivr  # the recorded IVR path(s) of the call
    return json_response(body)


def setup(app: web.Application) -> None:
    app.router.add_get("/api/me", me, name="api_me")
    app.router.add_get("/api/calls", list_calls, name="api_calls")
    app.router.add_get("/api/calls/{call_id}", get_call, name="api_call")
