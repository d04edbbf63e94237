"""Server-rendered pages: ``GET /`` sends each role to its landing page.

The landing pages (``/agent``, ``/wallboard``, ``/qa/calls``, ``/admin``) are placeholders that show
who is logged in and the most recent calls they may see. A feature module (agent console, wallboard,
QA, admin) replaces one by registering its own ``GET`` route for that path before ``setup()`` runs
(see ``create_web_app``); ``page_context`` gives its templates what ``base.html`` needs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from callcenter.domain.calls import CallQuery
from callcenter.domain.errors import StoreError
from callcenter.domain.users import Role
from callcenter.webapp.auth import Principal, current_principal, require_role
from callcenter.webapp.i18n import N_
from callcenter.webapp.keys import STORE, TEMPLATES
from callcenter.webapp.queries import restrict_to_user
from callcenter.webapp.serialize import iso

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LandingPage:
    path: str
    title: str
    roles: frozenset[Role]


#: Each role's landing page, and who may open it.
LANDING: dict[Role, LandingPage] = {
    Role.AGENT: LandingPage("/agent", N_("Agent console"), frozenset({Role.AGENT, Role.ADMIN})),
    Role.SUPERVISOR: LandingPage("/wallboard", N_("Wallboard"), frozenset({Role.SUPERVISOR, Role.ADMIN})),
    Role.QA: LandingPage(
        "/qa/calls", N_("Quality review"), frozenset({Role.QA, Role.SUPERVISOR, Role.ADMIN})
    ),
    Role.ADMIN: LandingPage("/admin", N_("Administration"), frozenset({Role.ADMIN})),
}

RECENT_CALLS = 10


def page_context(principal: Principal, **extra: Any) -> dict[str, Any]:
    """What ``base.html`` needs: the user, the CSRF token for the logout form, the navigation."""
    nav = [page for page in LANDING.values() if principal.user.role in page.roles]
    return {
        "user": principal.user,
        "csrf_token": principal.session.csrf if principal.session is not None else "",
        "nav": nav,
        **extra,
    }


@require_role()
async def index(request: web.Request) -> web.StreamResponse:
    role = current_principal(request).user.role
    return web.Response(status=303, headers={"Location": LANDING[role].path})


def _landing_handler(page: LandingPage) -> Handler:
    @require_role(*page.roles)
    async def handler(request: web.Request) -> web.StreamResponse:
        principal = current_principal(request)
        calls: list[dict[str, Any]] | None = []
        query = restrict_to_user(CallQuery(limit=RECENT_CALLS), principal.user)
        if query is not None:
            try:
                result = await request.app[STORE].list_calls(query)
            except StoreError as exc:
                log.warning("recent calls unavailable: %s", exc)
                calls = None
            else:
                calls = [{"call": call, "started_iso": iso(call.started_at)} for call in result.calls]
        return request.app[TEMPLATES].response(
            "home.html", page_context(principal, page=page, calls=calls, title=page.title)
        )

    return handler


def setup(app: web.Application) -> None:
    """Register ``/`` and a placeholder for every landing page not already routed: call it after the
    feature modules (agent console, wallboard, QA, admin) so their real pages take precedence."""
    app.router.add_get("/", index, name="index")
    routed = {route.resource.canonical for route in app.router.routes() if route.resource is not None}
    for role, page in LANDING.items():
        if page.path not in routed:
            app.router.add_get(page.path, _landing_handler(page), name=f"home_{role.value}")
