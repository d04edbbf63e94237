"""``GET/POST /login`` and ``POST /logout``.

The login form is protected against CSRF before any session exists by a signed double-submit token:
``GET /login`` sets a random nonce in the ``cc_login`` cookie and puts ``HMAC(key, nonce)`` in the
form; ``POST /login`` requires both to match. Failed logins are throttled per username and client
address (``LoginRateLimiter``).
"""

from __future__ import annotations

import logging
import math
import secrets
from typing import Any

from aiohttp import web

from callcenter.domain.errors import AuthError
from callcenter.webapp.auth import get_principal, safe_next
from callcenter.webapp.csrf import CSRF_FIELD, csrf_exempt
from callcenter.webapp.i18n import gettext
from callcenter.webapp.keys import ACCOUNTS, LOGIN_LIMITER, SESSIONS, TEMPLATES, WEB_STATS

log = logging.getLogger(__name__)

LOGIN_COOKIE = "cc_login"
LOGIN_COOKIE_MAX_AGE = 3600


def _form_str(form: Any, name: str, limit: int = 1024) -> str:
    value = form.get(name)
    return value[:limit] if isinstance(value, str) else ""


def _login_page(
    request: web.Request,
    *,
    next_url: str,
    username: str = "",
    error: str | None = None,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> web.Response:
    codec = request.app[SESSIONS]
    nonce = request.cookies.get(LOGIN_COOKIE)
    if not nonce or len(nonce) > 128:
        nonce = secrets.token_urlsafe(24)
    response = request.app[TEMPLATES].response(
        "login.html",
        {
            "user": None,
            "csrf_token": codec.login_csrf_for(nonce),
            "csrf_field": CSRF_FIELD,
            "next_url": next_url,
            "username": username,
            "error": error,
        },
        status=status,
        headers=headers,
    )
    response.set_cookie(
        LOGIN_COOKIE,
        nonce,
        max_age=LOGIN_COOKIE_MAX_AGE,
        path="/login",
        httponly=True,
        secure=codec.secure,
        samesite="Lax",
    )
    return response


async def login_form(request: web.Request) -> web.StreamResponse:
    next_url = safe_next(request.query.get("next"))
    if await get_principal(request) is not None:
        return web.Response(status=303, headers={"Location": next_url})
    return _login_page(request, next_url=next_url)


@csrf_exempt
async def login_submit(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    username = _form_str(form, "username", 64).strip().lower()
    password = _form_str(form, "password")
    next_url = safe_next(_form_str(form, "next", 2000))
    codec = request.app[SESSIONS]
    stats = request.app[WEB_STATS]

    if not codec.check_login_csrf(request.cookies.get(LOGIN_COOKIE), _form_str(form, CSRF_FIELD, 256)):
        stats.logins["csrf_rejected"] += 1
        return _login_page(
            request,
            next_url=next_url,
            username=username,
            status=403,
            error=gettext("The login form expired. Please try again."),
        )

    limiter = request.app[LOGIN_LIMITER]
    address = request.remote or "unknown"
    wait = limiter.retry_after(username, address)
    if wait > 0:
        stats.logins["throttled"] += 1
        log.warning("login throttled: username=%r address=%s", username, address)
        return _login_page(
            request,
            next_url=next_url,
            username=username,
            status=429,
            error=gettext("Too many failed attempts. Wait a few minutes and try again."),
            headers={"Retry-After": str(math.ceil(wait))},
        )

    try:
        user = await request.app[ACCOUNTS].authenticate(username, password)
    except AuthError:
        limiter.failed(username, address)
        stats.logins["failed"] += 1
        log.info("login failed: username=%r address=%s", username, address)
        return _login_page(
            request,
            next_url=next_url,
            username=username,
            status=401,
            error=gettext("Invalid username or password."),
        )

    limiter.succeeded(username, address)
    stats.logins["ok"] += 1
    log.info("login ok: user=%s role=%s address=%s", user.username, user.role, address)
    response = web.Response(status=303, headers={"Location": next_url})
    codec.set_cookie(response, codec.new_session(user.id, user.role))
    response.del_cookie(LOGIN_COOKIE, path="/login")
    return response


async def logout(request: web.Request) -> web.StreamResponse:
    # CSRF is checked by the middleware (a cross-site page must not log people out).
    principal = await get_principal(request)
    if principal is not None:
        log.info("logout: user=%s", principal.user.username)
    response = web.Response(status=303, headers={"Location": "/login"})
    request.app[SESSIONS].clear_cookie(response)
    return response


def setup(app: web.Application) -> None:
    app.router.add_get("/login", login_form, name="login")
    app.router.add_post("/login", login_submit)
    app.router.add_post("/logout", logout, name="logout")
