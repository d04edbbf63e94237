"""ACD control API under ``/api/acd/``: queue status, agent states, agent and queue administration.

=======  ======================================  ===========================================================
GET      /api/acd/queues                         every queue's live status (any signed-in user)
GET      /api/acd/queues/{name}                  one queue: counts, callers waiting, service level, EWT
PUT      /api/acd/queues/{name}                  create/replace a queue (admin; body: the config file's keys)
DELETE   /api/acd/queues/{name}                  (admin)
GET      /api/acd/agents                         every agent's state (supervisor, QA, admin)
GET      /api/acd/agents/{id}                    one agent (the agent themself, or supervisor/QA/admin)
PUT      /api/acd/agents/{id}                    create/replace an agent (admin)
DELETE   /api/acd/agents/{id}                    (admin)
POST     /api/acd/agents/{id}/login              the agent themself, or a supervisor/admin
POST     /api/acd/agents/{id}/logout             〃
POST     /api/acd/agents/{id}/pause              〃 body ``{"reason": "break"}``
POST     /api/acd/agents/{id}/unpause            〃
POST     /api/acd/agents/{id}/wrapup/end         〃
GET      /api/acd/agents/{id}/transitions        stored state changes (``?since=<epoch>&limit=``)
GET      /api/acd/me                             the signed-in agent's own state
=======  ======================================  ===========================================================

Session POSTs need the CSRF token (``X-CSRF-Token``); bearer-token requests are exempt (``csrf.py``).
Errors (mapped once for every view by ``webapp/errors.py``): unknown agent/queue 404, a change the
state machine refuses 409, invalid config 400, shared state or store unavailable 503 with Retry-After.
Every change is published on the bus by the service (screen pop, wallboard).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from callcenter.domain.acd import agent_to_mapping, queue_to_mapping
from callcenter.domain.users import Role, User
from callcenter.ports import AgentStateLog
from callcenter.services.acd import AcdService
from callcenter.webapp.auth import current_principal, require_role
from callcenter.webapp.errors import json_error, require_service
from callcenter.webapp.jsonenc import json_response, loads
from callcenter.webapp.params import QueryParams

ACD = web.AppKey[AcdService]("acd")
ACD_LOG = web.AppKey[AgentStateLog]("acd_transitions")

SUPERVISORS = (Role.SUPERVISOR, Role.ADMIN)
VIEWERS = (Role.SUPERVISOR, Role.QA, Role.ADMIN)
MAX_BODY = 64 * 1024


def _acd(request: web.Request) -> AcdService:
    return require_service(request.app.get(ACD), "the ACD is not running")


def _actor(user: User) -> str:
    if user.role is Role.AGENT:
        return f"agent:{user.agent or user.username}"
    return f"{user.role.value}:{user.username}"


def _may_control(user: User, agent: str) -> bool:
    return user.role in SUPERVISORS or (user.role is Role.AGENT and user.agent == agent)


def _may_view(user: User, agent: str) -> bool:
    return user.role in VIEWERS or (user.role is Role.AGENT and user.agent == agent)


async def _json_body(request: web.Request) -> dict[str, Any] | web.Response:
    if request.content_length is not None and request.content_length > MAX_BODY:
        return json_error(413, "request body too large")
    raw = await request.read()
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


# --- queues -------------------------------------------------------------------------------------------


@require_role()
async def list_queues(request: web.Request) -> web.StreamResponse:
    acd = _acd(request)

    async def go() -> Any:
        return {"queues": [await acd.queue_view(name) for name in sorted(acd.queues)]}

    return json_response(await go())


@require_role()
async def get_queue(request: web.Request) -> web.StreamResponse:
    acd = _acd(request)
    return json_response(await acd.queue_view(request.match_info["name"]))


@require_role(Role.ADMIN)
async def put_queue(request: web.Request) -> web.StreamResponse:
    acd = _acd(request)
    body = await _json_body(request)
    if isinstance(body, web.Response):
        return body
    name = request.match_info["name"]
    by = _actor(current_principal(request).user)

    async def go() -> Any:
        q = await acd.put_queue(name, body, by=by)
        return {"name": q.name, "config": queue_to_mapping(q)}

    return json_response(await go())


@require_role(Role.ADMIN)
async def delete_queue(request: web.Request) -> web.StreamResponse:
    acd = _acd(request)
    name = request.match_info["name"]
    by = _actor(current_principal(request).user)

    async def go() -> Any:
        await acd.delete_queue(name, by=by)
        return {"deleted": name}

    return json_response(await go())


# --- agents -------------------------------------------------------------------------------------------


@require_role(*VIEWERS)
async def list_agents(request: web.Request) -> web.StreamResponse:
    acd = _acd(request)

    async def go() -> Any:
        return {"agents": await acd.agents_view()}

    return json_response(await go())


@require_role()
async def get_agent(request: web.Request) -> web.StreamResponse:
    acd = _acd(request)
    agent = request.match_info["agent"]
    if not _may_view(current_principal(request).user, agent):
        return json_error(404, f"no agent {agent!r}")
    return json_response(await acd.agent_view(agent))


@require_role()
async def me(request: web.Request) -> web.StreamResponse:
    acd = _acd(request)
    user = current_principal(request).user
    if not user.agent:
        return json_error(404, "this login is not an agent")
    agent = user.agent
    return json_response(await acd.agent_view(agent))


@require_role(Role.ADMIN)
async def put_agent(request: web.Request) -> web.StreamResponse:
    acd = _acd(request)
    body = await _json_body(request)
    if isinstance(body, web.Response):
        return body
    agent = request.match_info["agent"]
    by = _actor(current_principal(request).user)

    async def go() -> Any:
        cfg = await acd.put_agent({**body, "id": agent}, by=by)
        return agent_to_mapping(cfg)

    return json_response(await go())


@require_role(Role.ADMIN)
async def delete_agent(request: web.Request) -> web.StreamResponse:
    acd = _acd(request)
    agent = request.match_info["agent"]
    by = _actor(current_principal(request).user)

    async def go() -> Any:
        await acd.delete_agent(agent, by=by)
        return {"deleted": agent}

    return json_response(await go())


def _control(action: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    @require_role()
    async def handler(request: web.Request) -> web.StreamResponse:
        acd = _acd(request)
        user = current_principal(request).user
        agent = request.match_info["agent"]
        if not _may_control(user, agent):
            if _may_view(user, agent):
                return json_error(403, "your role does not allow this")
            return json_error(404, f"no agent {agent!r}")
        by = _actor(user)
        reason = ""
        if action == "pause":
            body = await _json_body(request)
            if isinstance(body, web.Response):
                return body
            reason = str(body.get("reason") or "")
            if not reason:
                return json_error(400, "a pause needs a reason")

        async def go() -> Any:
            if action == "login":
                await acd.login(agent, by=by)
            elif action == "logout":
                await acd.logout(agent, by=by)
            elif action == "pause":
                await acd.pause(agent, reason, by=by)
            elif action == "unpause":
                await acd.unpause(agent, by=by)
            else:
                await acd.end_wrapup(agent, by=by)
            return await acd.agent_view(agent)

        return json_response(await go())

    handler.__name__ = f"agent_{action}"
    return handler


@require_role()
async def transitions(request: web.Request) -> web.StreamResponse:
    agent = request.match_info["agent"]
    if not _may_view(current_principal(request).user, agent):
        return json_error(404, f"no agent {agent!r}")
    store = require_service(request.app.get(ACD_LOG), "the ACD is not running")
    q = QueryParams(request.query, ("since", "limit"))
    since = q.time("since")
    limit = q.integer("limit", 1000, 1, 10_000)

    async def go() -> Any:
        rows = await store.list_transitions(agent, since=since, limit=limit)
        return {
            "agent": agent,
            "transitions": [
                {
                    "from": t.from_state.value,
                    "to": t.to_state.value,
                    "at": t.at,
                    "duration": round(t.duration, 3),
                    "reason": t.reason,
                    "call_id": t.call_id or None,
                    "queue": t.queue or None,
                    "by": t.by,
                }
                for t in rows
            ],
        }

    return json_response(await go())


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/acd/queues", list_queues, name="api_acd_queues")
    r.add_get("/api/acd/queues/{name}", get_queue, name="api_acd_queue")
    r.add_put("/api/acd/queues/{name}", put_queue)
    r.add_delete("/api/acd/queues/{name}", delete_queue)
    r.add_get("/api/acd/me", me, name="api_acd_me")
    r.add_get("/api/acd/agents", list_agents, name="api_acd_agents")
    r.add_get("/api/acd/agents/{agent}", get_agent, name="api_acd_agent")
    r.add_put("/api/acd/agents/{agent}", put_agent)
    r.add_delete("/api/acd/agents/{agent}", delete_agent)
    for action in ("login", "logout", "pause", "unpause"):
        r.add_post(f"/api/acd/agents/{{agent}}/{action}", _control(action))
    r.add_post("/api/acd/agents/{agent}/wrapup/end", _control("wrapup"))
    r.add_get("/api/acd/agents/{agent}/transitions", transitions)
