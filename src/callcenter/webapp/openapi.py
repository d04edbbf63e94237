"""The OpenAPI 3.1 description of the JSON API, served at ``GET /api/openapi.json``.

Hand-written (the API is small); ``tests/crm/test_openapi.py`` checks that every registered ``/api``
route is described here. A module adding API routes adds its paths to ``PATHS`` (or calls
``add_paths`` from its ``setup``) in the same change.
"""

from __future__ import annotations

import copy
from typing import Any

from aiohttp import web

from callcenter import __version__
from callcenter.domain import bounds
from callcenter.domain.calls import CallOutcome
from callcenter.webapp.jsonenc import json_response

JsonObj = dict[str, Any]

_OPENAPI_EXTRA = web.AppKey[dict[str, JsonObj]]("openapi_extra_paths")


def _ref(name: str) -> JsonObj:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: JsonObj, description: str = "OK") -> JsonObj:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> JsonObj:
    return _json(_ref("Error"), description)


def _param(name: str, where: str, description: str, schema: JsonObj | None = None, **extra: Any) -> JsonObj:
    return {
        "name": name,
        "in": where,
        "description": description,
        "required": where == "path",
        "schema": schema or {"type": "string"},
        **extra,
    }


def _query(name: str, description: str, schema: JsonObj | None = None) -> JsonObj:
    return _param(name, "query", description, schema)


_TEXT = {"type": "string", "maxLength": 128}
_LIMIT = _query("limit", "page size (1-200, default 50)", {"type": "integer", "minimum": 1, "maximum": 200})
_OFFSET = _query(
    "offset", "rows to skip (default 0)", {"type": "integer", "minimum": 0, "maximum": 1_000_000}
)
#: a record id (``domain.bounds``): a larger one is not found, a smaller or non-numeric one too
_RECORD_ID = {"type": "integer", "minimum": 1, "maximum": bounds.MAX_RECORD_ID}
_CUSTOMER_ID = _param("customer_id", "path", "customer id", _RECORD_ID)
_TICKET_ID = _param("ticket_id", "path", "ticket id", _RECORD_ID)
#: a time parameter: ISO 8601 (no zone: UTC) or epoch seconds, 1970-01-01 to 3000-01-01 (``domain.bounds``)
_TIME_PARAM = {
    "oneOf": [
        {"type": "number", "minimum": bounds.MIN_EPOCH, "maximum": bounds.MAX_EPOCH},
        {"type": "string", "format": "date-time"},
    ]
}

_READ = {
    "401": _error("not authenticated"),
}
_WRITE = {
    "400": _json(_ref("ValidationError"), "invalid input: `fields` names each bad field"),
    "401": _error("not authenticated"),
    "403": _error("role not allowed (QA is read-only) or missing CSRF token with a session cookie"),
}
_NOT_FOUND = {"404": _error("unknown id")}


def _op(summary: str, responses: JsonObj, *, tags: list[str], **extra: Any) -> JsonObj:
    return {"summary": summary, "tags": tags, "responses": responses, **extra}


def _body(schema: JsonObj) -> JsonObj:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


_TIME = {"type": ["number", "null"], "description": "epoch seconds"}
_ISO = {"type": ["string", "null"], "format": "date-time"}

SCHEMAS: dict[str, JsonObj] = {
    "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
    "ValidationError": {
        "type": "object",
        "required": ["error", "fields"],
        "properties": {
            "error": {"type": "string", "const": "invalid input"},
            "fields": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    },
    "User": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "username": {"type": "string"},
            "role": {"enum": ["agent", "supervisor", "qa", "admin"]},
            "display_name": {"type": "string"},
            "agent": {"type": ["string", "null"]},
            "auth": {"enum": ["session", "token"]},
            "csrf_token": {"type": "string", "description": "session logins: send as X-CSRF-Token"},
            "session_expires": {"type": "number"},
        },
    },
    "Call": {
        "type": "object",
        "description": "a call (all legs sharing one Asterisk Linkedid); times in epoch seconds and *_iso",
        "properties": {
            "call_id": {"type": "string"},
            "direction": {"type": "string"},
            "caller_num": {"type": "string"},
            "caller_name": {"type": "string"},
            "dnis": {"type": "string"},
            "queue": {"type": ["string", "null"]},
            "agent": {"type": ["string", "null"]},
            "outcome": {"type": "string"},
            "wait_seconds": {"type": ["number", "null"]},
            "talk_seconds": {"type": "number"},
            "hold_seconds": {"type": "number"},
            "started_at": _TIME,
            "started_at_iso": _ISO,
            "answered_at": _TIME,
            "ended_at": _TIME,
            "has_recording": {"type": "boolean"},
            "legs": {"type": "array", "items": {"type": "object"}},
            "offers": {"type": "array", "items": {"type": "object"}},
            "transfers": {"type": "array", "items": {"type": "object"}},
        },
    },
    "CallPage": {
        "type": "object",
        "properties": {
            "calls": {"type": "array", "items": _ref("Call")},
            "total": {"type": "integer"},
            "limit": {"type": "integer"},
            "offset": {"type": "integer"},
        },
    },
    "Customer": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "name": {"type": "string"},
            "company": {"type": "string"},
            "email": {"type": "string"},
            "segment": {"enum": ["vip", "regular", "new"]},
            "vip": {"type": "boolean"},
            "value_score": {"type": "number", "minimum": 0, "maximum": 100},
            "phones": {"type": "array", "items": {"type": "string", "description": "E.164"}},
            "tags": {"type": "array", "items": {"type": "string"}},
            "created_at": _TIME,
            "created_at_iso": _ISO,
            "updated_at": _TIME,
            "updated_at_iso": _ISO,
        },
    },
    "CustomerDetail": {
        "allOf": [
            _ref("Customer"),
            {
                "type": "object",
                "properties": {
                    "notes": {"type": "array", "items": _ref("Note")},
                    "open_tickets": {"type": "array", "items": _ref("Ticket")},
                },
            },
        ]
    },
    "CustomerInput": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "name": {"type": "string", "maxLength": 200},
            "company": {"type": "string"},
            "email": {"type": "string"},
            "segment": {"enum": ["vip", "regular", "new"]},
            "value_score": {"type": "number", "minimum": 0, "maximum": 100},
            "phones": {
                "description": "numbers in any format (stored in E.164): a list, or a string split on ; or |",
                "oneOf": [{"type": "array", "items": {"type": "string"}}, {"type": "string"}],
            },
            "tags": {"oneOf": [{"type": "array", "items": {"type": "string"}}, {"type": "string"}]},
            "notes": {"type": "string", "description": "a first note (create only)"},
        },
    },
    "CustomerPage": {
        "type": "object",
        "properties": {
            "customers": {"type": "array", "items": _ref("Customer")},
            "total": {"type": "integer"},
            "limit": {"type": "integer"},
            "offset": {"type": "integer"},
        },
    },
    "Note": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "customer_id": {"type": "integer"},
            "at": _TIME,
            "at_iso": _ISO,
            "author": {"type": "string"},
            "text": {"type": "string"},
        },
    },
    "Ticket": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "customer_id": {"type": "integer"},
            "call_id": {"type": ["string", "null"], "description": "the call's Linkedid"},
            "subject": {"type": "string"},
            "description": {"type": "string"},
            "category": {"enum": ["inquiry", "complaint", "after_sales", "follow_up"]},
            "priority": {"enum": ["low", "normal", "high", "urgent"]},
            "status": {"enum": ["new", "open", "pending", "resolved", "closed"]},
            "next_statuses": {"type": "array", "items": {"type": "string"}},
            "assignee": {"type": ["string", "null"], "description": "username or agent id"},
            "due_at": _TIME,
            "due_at_iso": _ISO,
            "overdue": {"type": "boolean", "description": "due in the past and not resolved/closed"},
            "created_by": {"type": "string"},
            "created_at": _TIME,
            "updated_at": _TIME,
            "version": {"type": "integer"},
        },
    },
    "TicketInput": {
        "type": "object",
        "additionalProperties": False,
        "required": ["customer_id", "subject"],
        "properties": {
            "customer_id": {"type": "integer"},
            "subject": {"type": "string", "maxLength": 200},
            "description": {"type": "string"},
            "category": {"enum": ["inquiry", "complaint", "after_sales", "follow_up"]},
            "priority": {"enum": ["low", "normal", "high", "urgent"]},
            "call_id": {"type": "string"},
            "assignee": {"type": "string"},
            "due_at": {
                "description": "ISO 8601 (no zone: UTC) or epoch seconds; required for follow_up",
                "oneOf": [{"type": "string"}, {"type": "number"}],
            },
        },
    },
    "TicketChange": {
        "type": "object",
        "additionalProperties": False,
        "description": "status moves: new→open, open→pending|resolved, pending→open|resolved, "
        "resolved→closed|open, closed→open; anything else is a 400 on `status`",
        "properties": {
            "status": {"enum": ["new", "open", "pending", "resolved", "closed"]},
            "priority": {"enum": ["low", "normal", "high", "urgent"]},
            "category": {"enum": ["inquiry", "complaint", "after_sales", "follow_up"]},
            "subject": {"type": "string"},
            "assignee": {"type": "string", "description": "empty: unassign"},
            "due_at": {"oneOf": [{"type": "string"}, {"type": "number"}, {"type": "null"}]},
            "comment": {"type": "string", "description": "kept on the history entries"},
        },
    },
    "TicketPage": {
        "type": "object",
        "properties": {
            "tickets": {"type": "array", "items": _ref("Ticket")},
            "total": {"type": "integer"},
            "limit": {"type": "integer"},
            "offset": {"type": "integer"},
        },
    },
    "TicketEvent": {
        "type": "object",
        "properties": {
            "at": _TIME,
            "at_iso": _ISO,
            "actor": {"type": "string"},
            "field": {"type": "string"},
            "old": {"type": ["string", "null"]},
            "new": {"type": ["string", "null"]},
            "comment": {"type": "string"},
        },
    },
}

_CALLS = ["calls"]
_CUSTOMERS = ["customers"]
_TICKETS = ["tickets"]

PATHS: dict[str, JsonObj] = {
    "/api/openapi.json": {
        "get": _op("This document", {"200": _json({"type": "object"})}, tags=["meta"], security=[])
    },
    "/api/me": {
        "get": _op(
            "Who is logged in (and the session's CSRF token)",
            {"200": _json(_ref("User")), **_READ},
            tags=["meta"],
        )
    },
    "/api/calls": {
        "get": _op(
            "Calls, newest first (an agent sees only their own)",
            {"200": _json(_ref("CallPage")), "400": _error("bad parameter"), **_READ},
            tags=_CALLS,
            parameters=[
                _query("since", "ISO 8601 or epoch seconds (1970-3000)", _TIME_PARAM),
                _query("until", "ISO 8601 or epoch seconds (1970-3000), later than since", _TIME_PARAM),
                _query("caller", "substring of the caller number", _TEXT),
                _query("agent", "agent id", _TEXT),
                _query("queue", "queue name", _TEXT),
                _query("outcome", "call outcome", {"enum": [o.value for o in CallOutcome]}),
                _LIMIT,
                _OFFSET,
            ],
        )
    },
    "/api/calls/{call_id}": {
        "get": _op(
            "One call with legs, offers and transfers",
            {"200": _json(_ref("Call")), **_READ, **_NOT_FOUND},
            tags=_CALLS,
            parameters=[_param("call_id", "path", "the call's Linkedid")],
        )
    },
    "/api/customers": {
        "get": _op(
            "Search customers (every given criterion must match), by name",
            {
                "200": _json(_ref("CustomerPage")),
                "400": _json(_ref("ValidationError"), "bad parameter"),
                **_READ,
            },
            tags=_CUSTOMERS,
            parameters=[
                _query("q", "case-insensitive substring of name, company or email"),
                _query("phone", "a phone number in any format"),
                _query("tag", "a tag"),
                _query("segment", "vip, regular or new", {"enum": ["vip", "regular", "new"]}),
                _LIMIT,
                _OFFSET,
            ],
        ),
        "post": _op(
            "Create a customer",
            {"201": _json(_ref("Customer"), "created"), **_WRITE},
            tags=_CUSTOMERS,
            requestBody=_body(_ref("CustomerInput")),
        ),
    },
    "/api/customers/{customer_id}": {
        "get": _op(
            "A customer with notes and open tickets",
            {"200": _json(_ref("CustomerDetail")), **_READ, **_NOT_FOUND},
            tags=_CUSTOMERS,
            parameters=[_CUSTOMER_ID],
        ),
        "patch": _op(
            "Update a customer (phones and tags replace the stored sets)",
            {"200": _json(_ref("Customer")), **_WRITE, **_NOT_FOUND},
            tags=_CUSTOMERS,
            parameters=[_CUSTOMER_ID],
            requestBody=_body(_ref("CustomerInput")),
        ),
    },
    "/api/customers/{customer_id}/notes": {
        "post": _op(
            "Add a timestamped note (author: the caller of the API)",
            {"201": _json(_ref("Note"), "created"), **_WRITE, **_NOT_FOUND},
            tags=_CUSTOMERS,
            parameters=[_CUSTOMER_ID],
            requestBody=_body(
                {
                    "type": "object",
                    "required": ["text"],
                    "additionalProperties": False,
                    "properties": {"text": {"type": "string", "maxLength": 5000}},
                }
            ),
        )
    },
    "/api/customers/by-phone/{number}": {
        "get": _op(
            "The customer owning a phone number (any format); what a screen pop reads",
            {"200": _json(_ref("CustomerDetail")), **_READ, "404": _error("no customer has this number")},
            tags=_CUSTOMERS,
            parameters=[_param("number", "path", "phone number, e.g. +15551234567 or (555) 123-4567")],
        )
    },
    "/api/tickets": {
        "get": _op(
            "Tickets, newest first",
            {
                "200": _json(_ref("TicketPage")),
                "400": _json(_ref("ValidationError"), "bad parameter"),
                **_READ,
            },
            tags=_TICKETS,
            parameters=[
                _query("status", "one status or several separated by commas"),
                _query("assignee", "username or agent id"),
                _query("customer", "customer id", _RECORD_ID),
                _query("overdue", "true: only overdue; false: only not overdue", {"type": "boolean"}),
                _query("category", "inquiry, complaint, after_sales or follow_up"),
                _LIMIT,
                _OFFSET,
            ],
        ),
        "post": _op(
            "Open a ticket (status new)",
            {"201": _json(_ref("Ticket"), "created"), **_WRITE},
            tags=_TICKETS,
            requestBody=_body(_ref("TicketInput")),
        ),
    },
    "/api/tickets/{ticket_id}": {
        "get": _op(
            "One ticket",
            {"200": _json(_ref("Ticket")), **_READ, **_NOT_FOUND},
            tags=_TICKETS,
            parameters=[_TICKET_ID],
        ),
        "patch": _op(
            "Change a ticket: status (checked against the rules), priority, assignee, due date",
            {
                "200": _json(_ref("Ticket")),
                **_WRITE,
                **_NOT_FOUND,
                "409": _error(
                    "a status change the rules refuse, or changed by someone else at the same time"
                ),
            },
            tags=_TICKETS,
            parameters=[_TICKET_ID],
            requestBody=_body(_ref("TicketChange")),
        ),
    },
    "/api/tickets/{ticket_id}/history": {
        "get": _op(
            "Every change of a ticket, oldest first (who, when, old → new)",
            {
                "200": _json(
                    {
                        "type": "object",
                        "properties": {
                            "ticket_id": {"type": "integer"},
                            "history": {"type": "array", "items": _ref("TicketEvent")},
                        },
                    }
                ),
                **_READ,
                **_NOT_FOUND,
            },
            tags=_TICKETS,
            parameters=[_TICKET_ID],
        )
    },
    "/api/followups/due": {
        "get": _op(
            "Follow-up calls due now and not done, earliest first (an agent: their own)",
            {
                "200": _json(
                    {
                        "type": "object",
                        "properties": {
                            "tickets": {"type": "array", "items": _ref("Ticket")},
                            "total": {"type": "integer"},
                            "now_iso": _ISO,
                        },
                    }
                ),
                "400": _json(_ref("ValidationError"), "bad parameter"),
                **_READ,
            },
            tags=_TICKETS,
            parameters=[
                _query("assignee", "supervisors: whose follow-ups (default: all)"),
                _query("limit", "1-200 (default 100)", {"type": "integer", "minimum": 1, "maximum": 200}),
            ],
        )
    },
    "/api/admin/ivr": {
        "get": _op(
            "IVR flows in use, last reload, FastAGI figures (admin)",
            {"200": _json({"type": "object"}), **_READ, "403": _error("admin only")},
            tags=["admin"],
        )
    },
    "/api/admin/ivr/reload": {
        "post": _op(
            "Reload the IVR flows (admin); a rejected version keeps the running flows",
            {
                "200": _json({"type": "object"}),
                "422": _json({"type": "object"}, "the new flows were rejected; `problems` lists why"),
                **_READ,
                "403": _error("admin only"),
            },
            tags=["admin"],
        )
    },
}


def _acd_paths() -> dict[str, JsonObj]:
    """The ACD control API (``webapp/views_acd.py``; see its module docstring for the rules)."""
    obj = _json({"type": "object"})
    agent = _param("agent", "path", "agent id (extension)")
    queue = _param("name", "path", "queue name")
    common = {
        **_READ,
        "403": _error("role not allowed"),
        "404": _error("unknown agent or queue"),
        "503": _error("shared state unavailable"),
    }
    change = {**common, "400": _error("invalid input"), "409": _error("the state machine refuses this")}
    tags = ["acd"]
    paths: dict[str, JsonObj] = {
        "/api/acd/queues": {"get": _op("Every queue's live status", {"200": obj, **common}, tags=tags)},
        "/api/acd/queues/{name}": {
            "get": _op(
                "One queue: counts, waiting callers, service level, EWT",
                {"200": obj, **common},
                tags=tags,
                parameters=[queue],
            ),
            "put": _op(
                "Create or replace a queue (admin)",
                {"200": obj, **change},
                tags=tags,
                parameters=[queue],
                requestBody=_body({"type": "object"}),
            ),
            "delete": _op(
                "Delete a queue (admin)",
                {"200": obj, "204": {"description": "deleted"}, **common},
                tags=tags,
                parameters=[queue],
            ),
        },
        "/api/acd/me": {"get": _op("The signed-in agent's own state", {"200": obj, **common}, tags=tags)},
        "/api/acd/agents": {
            "get": _op("Every agent's state (supervisor, QA, admin)", {"200": obj, **common}, tags=tags)
        },
        "/api/acd/agents/{agent}": {
            "get": _op("One agent's state", {"200": obj, **common}, tags=tags, parameters=[agent]),
            "put": _op(
                "Create or replace an agent (admin)",
                {"200": obj, **change},
                tags=tags,
                parameters=[agent],
                requestBody=_body({"type": "object"}),
            ),
            "delete": _op(
                "Delete an agent (admin)",
                {"200": obj, "204": {"description": "deleted"}, **common},
                tags=tags,
                parameters=[agent],
            ),
        },
        "/api/acd/agents/{agent}/transitions": {
            "get": _op(
                "Stored state changes of an agent",
                {"200": obj, **common},
                tags=tags,
                parameters=[
                    agent,
                    _query("since", "ISO 8601 or epoch seconds (1970-3000)", _TIME_PARAM),
                    _query(
                        "limit",
                        "rows (1-10000, default 1000)",
                        {"type": "integer", "minimum": 1, "maximum": 10_000},
                    ),
                ],
            )
        },
    }
    for action, summary in (
        ("login", "Log the agent in"),
        ("logout", "Log the agent out"),
        ("pause", 'Pause the agent (body {"reason": "break"})'),
        ("unpause", "End the agent's pause"),
        ("wrapup/end", "End the agent's wrap-up"),
    ):
        paths[f"/api/acd/agents/{{agent}}/{action}"] = {
            "post": _op(
                summary + " (the agent themself, or a supervisor/admin)",
                {"200": obj, **change},
                tags=tags,
                parameters=[agent],
            )
        }
    return paths


PATHS.update(_acd_paths())


def add_paths(app: web.Application, paths: dict[str, JsonObj]) -> None:
    """Document more paths on this application (for modules registered by the composition root)."""
    extra = app.get(_OPENAPI_EXTRA)
    if extra is None:
        extra = {}
        app[_OPENAPI_EXTRA] = extra
    extra.update(paths)


def document(app: web.Application | None = None) -> JsonObj:
    """The OpenAPI document (a fresh copy)."""
    paths = copy.deepcopy(PATHS)
    if app is not None:
        extra = app.get(_OPENAPI_EXTRA)
        if extra:
            paths.update(copy.deepcopy(extra))
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "callcenter API",
            "version": __version__,
            "description": "JSON API of the call-center service. Authenticate with the session cookie "
            "(then send the session's CSRF token as X-CSRF-Token on POST/PATCH) or with "
            "`Authorization: Bearer <token>` (`callcenter token add`).",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}, {"session": []}],
        "paths": paths,
        "components": {
            "schemas": copy.deepcopy(SCHEMAS),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": "cc_session"},
            },
        },
    }


async def openapi_json(request: web.Request) -> web.StreamResponse:
    return json_response(document(request.app))


def setup(app: web.Application) -> None:
    app.router.add_get("/api/openapi.json", openapi_json, name="api_openapi")
