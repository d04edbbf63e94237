"""The audit log page: ``GET /audit`` (admin), the supervisor actions of ``GET /api/audit`` with filters.

Server-rendered (no script): the filters are a GET form (since, actor, limit) read by the same parser as
the API (``webapp/params.py``); a bad filter is shown in the page with the API's message, a store that
does not answer too (by the one mapping of ``webapp/errors.py``).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from callcenter.domain.errors import CallcenterError
from callcenter.domain.users import Role
from callcenter.webapp.auth import current_principal, require_role
from callcenter.webapp.errors import public_error
from callcenter.webapp.jsonenc import dumps
from callcenter.webapp.keys import TEMPLATES
from callcenter.webapp.params import QueryParams
from callcenter.webapp.serialize import iso
from callcenter.webapp.views_pages import page_context
from callcenter.webapp.views_supervisor import SUPERVISOR

FILTERS = ("since", "actor", "limit")
DEFAULT_LIMIT = 200


@require_role(Role.ADMIN)
async def audit_page(request: web.Request) -> web.StreamResponse:
    principal = current_principal(request)
    entries: list[dict[str, Any]] = []
    error = ""
    svc = request.app.get(SUPERVISOR)
    try:
        q = QueryParams(request.query, FILTERS)
        since, actor = q.time("since"), q.text("actor")
        limit = q.integer("limit", DEFAULT_LIMIT, 1, 1000)
        if svc is None:
            error = "the audit log is not available on this instance"
        else:
            entries = await svc.entries(since=since, actor=actor, limit=limit)
    except (CallcenterError, ValueError) as exc:  # shown in the form, by the one mapping
        mapped = public_error(exc)
        if mapped is None:
            raise
        error = mapped[1]
    rows = [
        {
            **entry,
            "at_iso": iso(entry["at"]),
            "detail_text": dumps(entry.get("detail") or {}),
        }
        for entry in entries
    ]
    return request.app[TEMPLATES].response(
        "audit.html",
        page_context(principal, title="Audit log", rows=rows, q=request.query, error=error),
    )


def setup(app: web.Application) -> None:
    app.router.add_get("/audit", audit_page, name="audit")
