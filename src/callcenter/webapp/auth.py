"""Who is asking: the session cookie or an ``Authorization: Bearer`` API token, and what they may do.

The principal is resolved lazily (``get_principal``) and cached on the request, so public routes
(``/healthz``, static files) never touch the store. ``session_middleware`` renews a session past half
its lifetime and clears a cookie that turned out invalid.

Handlers declare access with ``@require_role(...)``; inside, ``current_principal(request)`` returns the
principal. Without a principal, API routes answer 401 JSON and pages redirect to
``/login?next=<this page>``; with the wrong role, 403.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlencode, urlsplit

from aiohttp import web
from aiohttp.typedefs import Handler

from callcenter.domain.users import Role, User
from callcenter.webapp.errors import error_response, is_api_request, json_error
from callcenter.webapp.keys import ACCOUNTS, SESSIONS, STORE
from callcenter.webapp.sessions import SESSION_COOKIE, SessionData


@dataclass(frozen=True, slots=True)
class Principal:
    user: User
    via: Literal["session", "token"]
    session: SessionData | None = None  # set when via == "session"


@dataclass(frozen=True, slots=True)
class _Resolved:
    principal: Principal | None
    cookie: Literal["keep", "clear", "renew"] = "keep"
    renewed: SessionData | None = None


_RESOLVED = web.RequestKey[_Resolved]("resolved_principal")


async def get_principal(request: web.Request) -> Principal | None:
    """The authenticated principal of this request, or None (resolved once, then cached)."""
    resolved: _Resolved | None = request.get(_RESOLVED)
    if resolved is None:
        resolved = await _resolve(request)
        request[_RESOLVED] = resolved
    return resolved.principal


def current_principal(request: web.Request) -> Principal:
    """The principal inside a handler decorated with ``require_role``."""
    resolved: _Resolved | None = request.get(_RESOLVED)
    if resolved is None or resolved.principal is None:
        raise RuntimeError("current_principal() used outside @require_role")
    return resolved.principal


async def _resolve(request: web.Request) -> _Resolved:
    authorization = request.headers.get("Authorization")
    if authorization is not None:
        # An explicit Authorization header is used alone: a bad token never falls back to the cookie.
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return _Resolved(None)
        user = await request.app[ACCOUNTS].user_for_token(token)
        return _Resolved(Principal(user, "token") if user is not None else None)

    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return _Resolved(None)
    codec = request.app[SESSIONS]
    session = codec.decode(cookie)
    if session is None:
        return _Resolved(None, "clear")
    user = await request.app[STORE].get_user(session.user_id)
    if user is None or not user.active or user.role != session.role:
        return _Resolved(None, "clear")
    principal = Principal(user, "session", session)
    if codec.needs_renewal(session):
        return _Resolved(principal, "renew", codec.renewed(session))
    return _Resolved(principal)


@web.middleware
async def session_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    resolved: _Resolved | None = request.get(_RESOLVED)
    if resolved is None or resolved.cookie == "keep" or SESSION_COOKIE in response.cookies:
        return response  # nothing to do, or the handler (login/logout) set the cookie itself
    if response.prepared:
        return response  # websocket / streamed: headers are gone
    codec = request.app[SESSIONS]
    if resolved.cookie == "clear":
        codec.clear_cookie(response)
    elif resolved.renewed is not None:
        codec.set_cookie(response, resolved.renewed)
    return response


# -- access control ------------------------------------------------------------------------------------

_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f\\]")


def safe_next(value: str | None, default: str = "/") -> str:
    """``value`` if it is a same-site relative path (``/x?y``), else ``default``: no open redirect."""
    if not value or len(value) > 2000 or _CONTROL_CHARS.search(value):
        return default
    if not value.startswith("/") or value.startswith("//"):
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return default
    return value


def login_redirect(request: web.Request) -> web.Response:
    target = "/login"
    if request.method == "GET":
        target += "?" + urlencode({"next": request.path_qs})
    return web.Response(status=303, headers={"Location": target})


def require_role(*roles: Role) -> Callable[[Handler], Handler]:
    """Allow authenticated users with one of ``roles`` (any role when none are given)."""
    allowed = frozenset(roles)

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def wrapper(request: web.Request) -> web.StreamResponse:
            principal = await get_principal(request)
            if principal is None:
                if is_api_request(request):
                    return json_error(
                        401,
                        "authentication required",
                        headers={"WWW-Authenticate": 'Bearer realm="callcenter"'},
                    )
                return login_redirect(request)
            if allowed and principal.user.role not in allowed:
                return error_response(request, 403, "your role does not allow this")
            return await handler(request)

        return wrapper

    return decorate
