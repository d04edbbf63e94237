"""``POST /language``: the pages' language of the user (stored and audited) or, before login, of this
browser (a cookie); ``GET /i18n/{lang}.json``: the scripts' strings (``webapp/i18n.py``)."""

from __future__ import annotations

import logging
import time

from aiohttp import web

from callcenter.domain.audit import AuditEntry
from callcenter.domain.users import LANGUAGES
from callcenter.webapp import i18n
from callcenter.webapp.auth import get_principal, safe_next
from callcenter.webapp.errors import error_response
from callcenter.webapp.keys import AUDIT_LOG, SETTINGS, STORE

log = logging.getLogger(__name__)

#: A year: the choice of a browser before login.
COOKIE_MAX_AGE = 365 * 86400


async def set_language(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    language = form.get("language")
    next_url = form.get("next")
    target = safe_next(next_url if isinstance(next_url, str) else None)
    if not isinstance(language, str) or (language not in LANGUAGES and language != ""):
        return error_response(
            request, 400, i18n.gettext("unknown language: choose one of %s") % ", ".join(LANGUAGES)
        )
    response = web.Response(status=303, headers={"Location": target})
    principal = await get_principal(request)
    if principal is not None:
        user = principal.user
        await request.app[STORE].set_user_language(user.id, language)
        log.info(
            "user setting changed",
            extra={"actor": user.username, "action": "user.language", "language": language},
        )
        audit = request.app.get(AUDIT_LOG)
        if audit is not None:
            entry = AuditEntry(
                at=time.time(),
                actor=user.username,
                role=user.role.value,
                action="user.language",
                target=user.username,
                detail={"from": user.language, "to": language},
            )
            await audit.save_audit(entry)
    if language:
        response.set_cookie(
            i18n.LANG_COOKIE,
            language,
            max_age=COOKIE_MAX_AGE,
            httponly=True,
            samesite="Lax",
            secure=request.app[SETTINGS].cookie_secure,
            path="/",
        )
    else:
        response.del_cookie(i18n.LANG_COOKIE, path="/")
    return response


def setup(app: web.Application) -> None:
    app.router.add_post("/language", set_language, name="language")
    app.router.add_get("/i18n/{lang}.json", i18n.catalogue, name="i18n_catalogue")
