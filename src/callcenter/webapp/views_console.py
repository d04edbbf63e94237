"""The agent console: ``/agent`` (page), ``/ws/agent`` (websocket) and ``/api/console/...`` (actions).

Every route acts for the signed-in agent only (their agent id comes from the session, never from the
request), so an agent sees only their own pops and calls. Pages and APIs are role-checked
(``require_role``), POSTs need the session's CSRF token (``X-CSRF-Token``; ``csrf.py``), the websocket
is authenticated by the session cookie and origin-checked by the hub.

=======  ==============================  ==================================================================
GET      /agent                          the console page (agent; an admin sees it without controls)
GET      /ws/agent                       websocket: ``hello`` (state, current pop, due follow-ups) on open,
                                         then ``pop`` and ``agent.state`` messages; ``{"type": "ping"}``
GET      /api/console/state              the same snapshot as ``hello``
POST     /api/console/login|logout       log in to the agent's queues / log out
POST     /api/console/pause              ``{"reason": "break"}``
POST     /api/console/available          log in, end a pause, or end wrap-up (disposition checked)
POST     /api/console/wrapup/end         end wrap-up (409 while a required disposition is missing)
POST     /api/console/call/hold          ``{"on": true}`` music on hold (Redirect to [cc-hold]); ``false``:
                                         resume (Bridge); 409 when there is nothing to hold/resume; 502
                                         when the PBX did not complete the hold: the message says where
                                         the call went (back with the agent, front of the queue, failsafe)
POST     /api/console/call/transfer      ``{"kind": "agent|queue|number", "target": "1002"}`` (400 for an
                                         unknown queue or while on hold; 502 "the transfer was refused
                                         (<PBX message>); the call is still yours")
POST     /api/console/call/hangup        (on hold: both sides)
POST     /api/console/dial               ``{"number": "+33...", "customer_id": 12}`` click-to-dial
POST     /api/console/disposition        ``{"call_id": ..., "code": ..., "note": ...}``
POST     /api/console/pop/refresh        reload the current pop's customer card
POST     /api/console/pop/customer       ``{"customer_id": 12}``: the caller is this (new) customer
POST     /api/console/pop/dismiss        close the current pop
GET      /api/console/followups          the agent's due follow-up calls (回访)
=======  ==============================  ==================================================================

Call controls act on the agent's half bridged to the customer (a ``Local/`` agent's ``;1``, never its
``;2``: ``domain/agent_channel``), the same channel the supervisor's monitor uses.

Customers, notes and tickets are written through the CRM API (``/api/customers``, ``/api/tickets``).
Errors propagate to ``webapp/errors.py``, which maps them for every view (one table, one JSON shape).
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from callcenter.domain.customers import ValidationError
from callcenter.domain.errors import NotFound, StateError, StoreError
from callcenter.domain.users import Role, User
from callcenter.services.console import ConsoleService
from callcenter.services.crm import CrmService, own_assignees
from callcenter.webapp import openapi
from callcenter.webapp.auth import current_principal, require_role
from callcenter.webapp.errors import json_error
from callcenter.webapp.hub import HUB, WsConnection, to_agent
from callcenter.webapp.jsonenc import json_response
from callcenter.webapp.keys import TEMPLATES
from callcenter.webapp.views_pages import LANDING, page_context

log = logging.getLogger(__name__)

CONSOLE = web.AppKey[ConsoleService]("console")
CONSOLE_CRM = web.AppKey[CrmService]("console_crm")
TOPIC = "agent"
MAX_BODY = 16 * 1024
FOLLOWUPS = 20


def _agent_of(user: User) -> str | None:
    return user.agent if user.role is Role.AGENT and user.agent else None


def _actor(user: User) -> str:
    return f"agent:{user.agent or user.username}"


async def _body(request: web.Request) -> dict[str, Any]:
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise ValidationError({"body": "too large"})
    raw = await request.read()
    if len(raw) > MAX_BODY:
        raise ValidationError({"body": "too large"})
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise ValidationError({"body": "not valid JSON"}) from None
    if not isinstance(body, dict):
        raise ValidationError({"body": "must be a JSON object"})
    return body


def _console(request: web.Request) -> ConsoleService:
    return request.app[CONSOLE]


def agent_api(
    handler: Callable[[web.Request, ConsoleService, User, str], Awaitable[Any]],
) -> Handler:
    """An ``/api/console`` handler for the signed-in agent (their own agent id only)."""

    @require_role(Role.AGENT)
    @functools.wraps(handler)
    async def wrapper(request: web.Request) -> web.StreamResponse:
        user = current_principal(request).user
        agent = _agent_of(user)
        if agent is None:
            return json_error(403, "this login is not an agent")
        result = await handler(request, _console(request), user, agent)
        if isinstance(result, web.StreamResponse):
            return result
        return json_response(result)

    return wrapper


async def snapshot(request_app: web.Application, user: User, agent: str) -> dict[str, Any]:
    """What a (re)connecting console needs: state, current pop, due follow-ups."""
    console = request_app[CONSOLE]
    state: dict[str, Any] | None
    try:
        state = await console.state(agent)
    except (NotFound, StateError) as exc:
        state = None
        log.warning("agent state unavailable", extra={"agent": agent, "error": str(exc)})
    return {
        "type": "hello",
        "agent": agent,
        "state": state,
        "pop": console.screenpop.current(agent),
        "followups": await _followups(request_app, user),
        "queues": sorted(console.acd.queues),
        "agents": sorted(a for a in console.acd.agents if a != agent),
    }


async def _followups(app: web.Application, user: User) -> list[dict[str, Any]]:
    crm = app.get(CONSOLE_CRM)
    if crm is None:
        return []
    try:
        page = await crm.due_followups(own_assignees(user), limit=FOLLOWUPS)
    except StoreError as exc:
        log.warning("follow-ups unavailable", extra={"error": str(exc)})
        return []
    return [
        {
            "id": t.id,
            "customer_id": t.customer_id,
            "subject": t.subject,
            "priority": t.priority.value,
            "status": t.status.value,
            "due_at": t.due_at,
        }
        for t in page.tickets
    ]


# --- the page and the websocket -------------------------------------------------------------------


@require_role(*LANDING[Role.AGENT].roles)
async def console_page(request: web.Request) -> web.StreamResponse:
    principal = current_principal(request)
    agent = _agent_of(principal.user)
    return request.app[TEMPLATES].response(
        "console.html",
        page_context(principal, page=LANDING[Role.AGENT], title="Agent console", agent=agent),
    )


async def agent_socket(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB]

    async def on_open(conn: WsConnection) -> None:
        agent = conn.agent
        if agent is None:
            await conn.send({"type": "error", "error": "this login is not an agent"})
            return
        await conn.send(await snapshot(request.app, conn.principal.user, agent))

    async def on_message(conn: WsConnection, data: dict[str, Any]) -> None:
        kind = data.get("type")
        if kind == "ping":
            await conn.send({"type": "pong", "t": data.get("t")})
        elif kind == "hello" and conn.agent is not None:
            await conn.send(await snapshot(request.app, conn.principal.user, conn.agent))

    return await hub.serve(request, [TOPIC], roles=[Role.AGENT], on_open=on_open, on_message=on_message)


# --- API ------------------------------------------------------------------------------------------


async def _view(console: ConsoleService, agent: str) -> dict[str, Any]:
    return await console.state(agent)


@agent_api
async def get_state(request: web.Request, console: ConsoleService, user: User, agent: str) -> Any:
    return await snapshot(request.app, user, agent)


@agent_api
async def post_login(request: web.Request, console: ConsoleService, user: User, agent: str) -> Any:
    await console.login(agent, _actor(user))
    return await _view(console, agent)


@agent_api
async def post_logout(request: web.Request, console: ConsoleService, user: User, agent: str) -> Any:
    await console.logout(agent, _actor(user))
    return await _view(console, agent)


@agent_api
async def post_pause(request: web.Request, console: ConsoleService, user: User, agent: str) -> Any:
    reason = (await _body(request)).get("reason")
    if not isinstance(reason, str) or not reason:
        raise ValidationError({"reason": "a pause needs a reason"})
    await console.pause(agent, reason, _actor(user))
    return await _view(console, agent)


@agent_api
async def post_available(request: web.Request, console: ConsoleService, user: User, agent: str) -> Any:
    await console.available(agent, _actor(user))
    return await _view(console, agent)


@agent_api
async def post_end_wrapup(request: web.Request, console: ConsoleService, user: User, agent: str) -> Any:
    await console.end_wrapup(agent, _actor(user))
    return await _view(console, agent)


@agent_api
async def post_hold(request: web.Request, console: ConsoleService, user: User, agent: str) -> Any:
    on = (await _body(request)).get("on", True)
    if not isinstance(on, bool):
        raise ValidationError({"on": "true or false"})
    return await console.hold(agent, on)


@agent_api
async def post_transfer(request: web.Request, console: ConsoleService, user: User, agent: str) -> Any:
    body = await _body(request)
    return await console.transfer(agent, body.get("kind"), body.get("target"))


@agent_api
async def post_hangup(request: web.Request, console: ConsoleService, user: User, agent: str) -> Any:
    return await console.hangup(agent)


@agent_api
async def post_dial(request: web.Request, console: ConsoleService, user: User, agent: str) -> Any:
    body = await _body(request)
    return await console.dial(agent, body.get("number"), body.get("customer_id"))


@agent_api
async def post_disposition(request: web.Request, console: ConsoleService, user: User, agent: str) -> Any:
    d = await console.set_disposition(agent, await _body(request), author=user.username)
    return {"call_id": d.call_id, "agent": d.agent, "code": d.code, "note": d.note, "at": d.at}


@agent_api
async def post_pop_refresh(request: web.Request, console: ConsoleService, user: User, agent: str) -> Any:
    pop = await console.screenpop.refresh(agent)
    return {"pop": pop}


@agent_api
async def post_pop_customer(request: web.Request, console: ConsoleService, user: User, agent: str) -> Any:
    raw = (await _body(request)).get("customer_id")
    if isinstance(raw, bool) or not isinstance(raw, int) or raw <= 0:
        raise ValidationError({"customer_id": "a customer id"})
    if console.screenpop.current(agent) is None:
        raise NotFound("no current pop")
    await console.screenpop.crm.get_customer(raw)  # 404 when unknown
    await console.screenpop.attach(agent, f"id:{raw}")
    return {"pop": console.screenpop.current(agent)}


@agent_api
async def post_pop_dismiss(request: web.Request, console: ConsoleService, user: User, agent: str) -> Any:
    console.screenpop.dismiss(agent)
    return {"pop": None}


@agent_api
async def get_followups(request: web.Request, console: ConsoleService, user: User, agent: str) -> Any:
    return {"followups": await _followups(request.app, user)}


def _paths() -> dict[str, Any]:
    obj = {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}}

    def err(text: str) -> dict[str, Any]:
        return {
            "description": text,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }

    common = {
        "401": err("not authenticated"),
        "403": err("not an agent login, or missing CSRF token with a session cookie"),
    }
    change = {
        **common,
        "400": err("invalid input (`fields` names each bad field)"),
        "404": err("unknown call / customer"),
        "409": err("refused now: no live call, wrap-up needs a disposition, the state machine refuses"),
        "502": err("the PBX refused the action or is not connected"),
        "503": err("shared state or database unavailable"),
    }
    tags = ["console"]

    def post(summary: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        op: dict[str, Any] = {"summary": summary, "tags": tags, "responses": {"200": obj, **change}}
        if body is not None:
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": {"type": "object", "properties": body}}},
            }
        return {"post": op}

    s = {"type": "string"}
    return {
        "/api/console/state": {
            "get": {
                "summary": "The signed-in agent's state, current screen pop and due follow-ups",
                "tags": tags,
                "responses": {"200": obj, **common},
            }
        },
        "/api/console/followups": {
            "get": {
                "summary": "The signed-in agent's due follow-up calls",
                "tags": tags,
                "responses": {"200": obj, **common},
            }
        },
        "/api/console/login": post("Log the signed-in agent in to their queues"),
        "/api/console/logout": post("Log the signed-in agent out"),
        "/api/console/pause": post("Pause with a reason", {"reason": s}),
        "/api/console/available": post("Become available (log in, end a pause or wrap-up)"),
        "/api/console/wrapup/end": post("End wrap-up (a required disposition must be set)"),
        "/api/console/call/hold": post("Hold / resume the current call", {"on": {"type": "boolean"}}),
        "/api/console/call/transfer": post(
            "Blind transfer of the current call",
            {"kind": {"enum": ["agent", "queue", "number"]}, "target": s},
        ),
        "/api/console/call/hangup": post("Hang up the current call"),
        "/api/console/dial": post(
            "Click-to-dial: the agent's phone rings first, then the customer",
            {"number": s, "customer_id": {"type": "integer"}},
        ),
        "/api/console/disposition": post(
            "Set the disposition code and notes of one of the agent's calls",
            {"call_id": s, "code": s, "note": s},
        ),
        "/api/console/pop/refresh": post("Reload the current pop's customer card"),
        "/api/console/pop/customer": post(
            "Attach a customer to the current pop (after the new-customer form)",
            {"customer_id": {"type": "integer"}},
        ),
        "/api/console/pop/dismiss": post("Close the current pop"),
    }


def setup(
    app: web.Application,
    console: ConsoleService,
    *,
    crm: CrmService | None = None,
) -> None:
    """Register the console (call before ``views_pages.setup`` so ``/agent`` is this page) and bind the
    screen pop's sink to the hub: one agent per message."""
    app[CONSOLE] = console
    if crm is not None:
        app[CONSOLE_CRM] = crm
    hub = app[HUB]

    def sink(agent: str, message: dict[str, Any]) -> int:
        return hub.publish(TOPIC, message, to=to_agent(agent))

    console.screenpop.sink = sink
    r = app.router
    r.add_get("/agent", console_page, name="agent_console")
    r.add_get("/ws/agent", agent_socket, name="ws_agent")
    r.add_get("/api/console/state", get_state, name="api_console_state")
    r.add_get("/api/console/followups", get_followups, name="api_console_followups")
    r.add_post("/api/console/login", post_login)
    r.add_post("/api/console/logout", post_logout)
    r.add_post("/api/console/pause", post_pause)
    r.add_post("/api/console/available", post_available)
    r.add_post("/api/console/wrapup/end", post_end_wrapup)
    r.add_post("/api/console/call/hold", post_hold)
    r.add_post("/api/console/call/transfer", post_transfer)
    r.add_post("/api/console/call/hangup", post_hangup)
    r.add_post("/api/console/dial", post_dial)
    r.add_post("/api/console/disposition", post_disposition)
    r.add_post("/api/console/pop/refresh", post_pop_refresh)
    r.add_post("/api/console/pop/customer", post_pop_customer)
    r.add_post("/api/console/pop/dismiss", post_pop_dismiss)
    openapi.add_paths(app, _paths())


__all__ = ["CONSOLE", "TOPIC", "setup"]
