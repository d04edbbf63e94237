"""CSRF protection for cookie sessions.

Every state-changing request (POST, PUT, PATCH, DELETE) made with a session cookie must carry the
session's CSRF token, in the form field ``csrf`` or the ``X-CSRF-Token`` header (for ``fetch``).
Requests authenticated with a bearer token carry no ambient credentials and are not checked.
The login form has no session yet: it uses a signed double-submit token (see ``views_auth``) and is
marked with ``csrf_exempt``.
"""

from __future__ import annotations

import hmac

from aiohttp import web
from aiohttp.typedefs import Handler

from callcenter.webapp.auth import get_principal
from callcenter.webapp.errors import error_response

CSRF_FIELD = "csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})

_exempt: set[Handler] = set()


def csrf_exempt(handler: Handler) -> Handler:
    """Mark a handler that checks CSRF itself (register the returned handler, outermost)."""
    _exempt.add(handler)
    return handler


async def _submitted_token(request: web.Request) -> str:
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        value = (await request.post()).get(CSRF_FIELD)
        if isinstance(value, str):
            return value
    return ""


@web.middleware
async def csrf_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.method in SAFE_METHODS or request.match_info.handler in _exempt:
        return await handler(request)
    principal = await get_principal(request)
    if principal is not None and principal.session is not None:
        token = await _submitted_token(request)
        if not token or not hmac.compare_digest(token.encode(), principal.session.csrf.encode()):
            return error_response(
                request, 403, "missing or invalid CSRF token; reload the page and try again"
            )
    return await handler(request)
