"""The supervisor wallboard: page, websocket, and the KPI API.

=======  =========================  ===================================================================
GET      /wallboard                 the page (supervisor, admin): tiles, chart, agent grid, staffing
GET      /ws/wallboard              websocket: a ``snapshot`` on open, then ``update`` messages (at most
                                    one per publish interval, default 1 s; only what changed)
GET      /api/wallboard             the snapshot (the same numbers the page shows)
GET      /api/kpis                  live figures per scope and window (``?scope=`` repeatable)
GET      /api/kpis/report           the same figures recomputed from the store (``?at=<epoch>``)
=======  =========================  ===================================================================
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from callcenter.domain.users import Role
from callcenter.services.kpi import TOPIC, KpiService
from callcenter.webapp import openapi
from callcenter.webapp.auth import current_principal, require_role
from callcenter.webapp.errors import require_service
from callcenter.webapp.hub import HUB, Hub, WsConnection, to_roles
from callcenter.webapp.jsonenc import json_response
from callcenter.webapp.keys import TEMPLATES
from callcenter.webapp.params import QueryParams
from callcenter.webapp.views_pages import LANDING, page_context

KPI = web.AppKey[KpiService]("kpi")
SUPERVISORS = (Role.SUPERVISOR, Role.ADMIN)


class HubBroadcaster:
    """``ports.Broadcaster`` on the web hub: wallboard messages go to supervisors and admins only."""

    def __init__(self, hub: Hub) -> None:
        self._hub = hub
        self._to = to_roles(*SUPERVISORS)

    def publish(self, topic: str, message: dict[str, Any]) -> int:
        return self._hub.publish(topic, message, to=self._to)

    def subscribers(self, topic: str) -> int:
        return len(self._hub.connections(topic))


def _kpi(request: web.Request) -> KpiService | None:
    return request.app.get(KPI)


@require_role(*SUPERVISORS)
async def wallboard_page(request: web.Request) -> web.StreamResponse:
    principal = current_principal(request)
    kpi = _kpi(request)
    phone = kpi.config.phone_of(principal.user.username) if kpi is not None else None
    page = LANDING[Role.SUPERVISOR]
    return request.app[TEMPLATES].response(
        "wallboard.html",
        page_context(principal, page=page, title="Wallboard", configured_phone=phone or ""),
    )


@require_role(*SUPERVISORS)
async def wallboard_socket(request: web.Request) -> web.StreamResponse:
    kpi = require_service(_kpi(request), "the KPI service is not running")

    async def on_open(conn: WsConnection) -> None:
        await conn.send(kpi.snapshot())

    return await request.app[HUB].serve(request, [TOPIC], roles=SUPERVISORS, on_open=on_open)


@require_role(*SUPERVISORS)
async def get_wallboard(request: web.Request) -> web.StreamResponse:
    kpi = require_service(_kpi(request), "the KPI service is not running")
    return json_response(kpi.snapshot())


@require_role(*SUPERVISORS, Role.QA)
async def get_kpis(request: web.Request) -> web.StreamResponse:
    kpi = require_service(_kpi(request), "the KPI service is not running")
    scopes = QueryParams(request.query, ("scope",)).texts("scope") or None
    return json_response(kpi.live_figures(scopes=scopes))


@require_role(*SUPERVISORS, Role.QA)
async def get_kpi_report(request: web.Request) -> web.StreamResponse:
    kpi = require_service(_kpi(request), "the KPI service is not running")
    q = QueryParams(request.query, ("scope", "at"))
    at = q.time("at")
    return json_response(await kpi.report(at, scopes=q.texts("scope") or None))


def _paths() -> dict[str, Any]:
    obj = {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}}
    err = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    common = {
        "401": {"description": "not authenticated", **err},
        "403": {"description": "role not allowed", **err},
        "503": {"description": "the KPI service or the store is unavailable", **err},
    }
    scope = {
        "name": "scope",
        "in": "query",
        "required": False,
        "description": "a queue name, or * for the whole center (repeatable; default: all)",
        "schema": {"type": "string"},
    }
    tags = ["wallboard"]
    return {
        "/api/wallboard": {
            "get": {
                "summary": "The wallboard snapshot: per queue and center (*) figures for today, 60m and 15m, "
                "calls waiting, longest wait, agents by state, alerts, staffing advice (Erlang C), the "
                "15-minute chart of today and the agent grid (supervisor, admin)",
                "tags": tags,
                "responses": {"200": obj, **common},
            }
        },
        "/api/kpis": {
            "get": {
                "summary": "Live KPI figures per scope and window (formulas: domain/kpis.py)",
                "tags": tags,
                "parameters": [scope],
                "responses": {"200": obj, **common},
            }
        },
        "/api/kpis/report": {
            "get": {
                "summary": "The same KPI figures recomputed from the store (calls, agent state log)",
                "tags": tags,
                "parameters": [
                    scope,
                    {
                        "name": "at",
                        "in": "query",
                        "required": False,
                        "description": "the moment the windows end (epoch seconds or ISO 8601, "
                        "1970-3000; default now)",
                        "schema": {"type": "number"},
                    },
                ],
                "responses": {"200": obj, "400": {"description": "bad parameter", **err}, **common},
            }
        },
    }


def setup(app: web.Application) -> None:
    """Register before ``views_pages.setup`` (this ``/wallboard`` replaces the placeholder)."""
    app.router.add_get("/wallboard", wallboard_page, name="wallboard")
    app.router.add_get("/ws/wallboard", wallboard_socket, name="ws_wallboard")
    app.router.add_get("/api/wallboard", get_wallboard, name="api_wallboard")
    app.router.add_get("/api/kpis", get_kpis, name="api_kpis")
    app.router.add_get("/api/kpis/report", get_kpi_report, name="api_kpis_report")
    openapi.add_paths(app, _paths())
