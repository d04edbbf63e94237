"""IVR administration: ``GET /api/admin/ivr`` (flows in use, last reload, FastAGI figures) and
``POST /api/admin/ivr/reload`` (admin role; a rejected version leaves the running flows in place and the
answer lists its problems as ``file:line: message``). ``GET /api/calls/{id}`` adds the call's recorded IVR
path (``ivr``) through :func:`ivr_sessions_json`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from callcenter.domain.errors import StoreError
from callcenter.domain.users import Role
from callcenter.ports import IvrSessionStore
from callcenter.webapp.auth import require_role
from callcenter.webapp.jsonenc import json_response


@dataclass(frozen=True, slots=True)
class IvrAdmin:
    """What the composition root hands to the web app."""

    reload: Callable[[], Awaitable[dict[str, Any]]]  # {"ok": bool, "problems": [...], "flows": [...]}
    status: Callable[[], dict[str, Any]]
    sessions: IvrSessionStore | None = None


IVR_ADMIN = web.AppKey[IvrAdmin]("ivr_admin")


@require_role(Role.ADMIN)
async def ivr_status(request: web.Request) -> web.StreamResponse:
    return json_response(request.app[IVR_ADMIN].status())


@require_role(Role.ADMIN)
async def ivr_reload(request: web.Request) -> web.StreamResponse:
    report = await request.app[IVR_ADMIN].reload()
    return json_response(report, status=200 if report.get("ok") else 422)


async def ivr_sessions_json(app: web.Application, call_id: str) -> list[dict[str, Any]] | None:
    """The call's IVR sessions for the call detail, or None when the IVR is not wired / the store fails."""
    admin = app.get(IVR_ADMIN)
    if admin is None or admin.sessions is None:
        return None
    try:
        sessions = await admin.sessions.get_ivr_sessions(call_id)
    except StoreError:
        return None
    return [s.as_dict() for s in sessions]


def setup(app: web.Application, admin: IvrAdmin) -> None:
    app[IVR_ADMIN] = admin
    app.router.add_get("/api/admin/ivr", ivr_status, name="api_ivr_status")
    app.router.add_post("/api/admin/ivr/reload", ivr_reload, name="api_ivr_reload")
