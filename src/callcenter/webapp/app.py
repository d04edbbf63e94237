"""The web application factory. The composition root (``callcenter.app``) adds lifecycle contexts
(database, AMI, FastAGI, background tasks) to the returned application and runs it."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from callcenter.config import Settings
from callcenter.ports import CrmStore
from callcenter.services.accounts import Accounts
from callcenter.services.crm import CrmService
from callcenter.webapp import (
    openapi,
    views_acd,
    views_admin,
    views_admin_qa,
    views_api,
    views_audit,
    views_auth,
    views_crm,
    views_crm_pages,
    views_language,
    views_ops,
    views_pages,
    views_qa,
    views_reports,
    views_supervisor,
    views_wallboard,
)
from callcenter.webapp.auth import session_middleware
from callcenter.webapp.csrf import csrf_middleware
from callcenter.webapp.errors import error_middleware
from callcenter.webapp.hub import HUB, Hub
from callcenter.webapp.i18n import locale_middleware
from callcenter.webapp.keys import (
    ACCOUNTS,
    AUDIT_LOG,
    HEALTH,
    LOGIN_LIMITER,
    METRICS,
    SESSIONS,
    SETTINGS,
    STORE,
    TEMPLATES,
    WEB_STATS,
    HealthCheck,
    MetricsProvider,
)
from callcenter.webapp.metrics import WebStats
from callcenter.webapp.params import input_middleware
from callcenter.webapp.ratelimit import LoginRateLimiter
from callcenter.webapp.security import add_security_headers
from callcenter.webapp.sessions import DEFAULT_MAX_AGE, SessionCodec, session_key_from_settings
from callcenter.webapp.templating import WEB_DIR, Templates


def create_web_app(
    settings: Settings,
    *,
    store: CrmStore,
    accounts: Accounts,
    health: HealthCheck,
    metrics: MetricsProvider | None = None,
    login_limiter: LoginRateLimiter | None = None,
    session_max_age: int = DEFAULT_MAX_AGE,
    clock: Callable[[], float] = time.time,
    web_dir: Path = WEB_DIR,
    crm: CrmService | None = None,
    console_setup: Callable[[web.Application], None] | None = None,
) -> web.Application:
    """Build the aiohttp application: pages, JSON API, ``/healthz``, ``/metrics`` and static files.

    ``health`` returns ``{"status": "ok"|"degraded", "pbx": {...}, "database": {...}, "redis": {...}}``;
    ``metrics`` (optional) returns Prometheus series by name. ``clock`` (epoch seconds) drives session
    expiry; ``web_dir`` holds ``templates/`` and ``static/``; ``crm`` (optional) adds the CRM API and pages;
    ``console_setup`` (optional) registers the agent console.
    """
    # Middlewares run outermost first: cookie bookkeeping sees every response, the request's language
    # is decided (webapp/i18n.py; the error answers speak it too), errors become JSON/HTML answers,
    # NUL characters in the URL are refused (webapp/params.py), CSRF is checked right before the handler.
    app = web.Application(
        middlewares=[
            session_middleware,
            locale_middleware,
            error_middleware,
            input_middleware,
            csrf_middleware,
        ]
    )
    app[SETTINGS] = settings
    app[STORE] = store
    app[ACCOUNTS] = accounts
    app[HEALTH] = health
    app[METRICS] = metrics
    app[SESSIONS] = SessionCodec(
        session_key_from_settings(settings),
        max_age=session_max_age,
        secure=settings.cookie_secure,
        clock=clock,
    )
    app[TEMPLATES] = Templates(web_dir / "templates")
    app[LOGIN_LIMITER] = login_limiter if login_limiter is not None else LoginRateLimiter()
    app[WEB_STATS] = WebStats()
    app[AUDIT_LOG] = None  # the service sets its audit log
    hub = Hub()
    app[HUB] = hub

    async def close_websockets(_app: web.Application) -> None:
        await hub.close_all()

    app.on_shutdown.append(close_websockets)
    app.on_response_prepare.append(add_security_headers)

    views_auth.setup(app)
    views_language.setup(app)  # POST /language, GET /i18n/{lang}.json
    views_api.setup(app)
    views_ops.setup(app)
    openapi.setup(app)  # GET /api/openapi.json
    if crm is not None:  # customers, tickets: JSON API and pages
        views_crm.setup(app, crm)
        views_crm_pages.setup(app)
    views_acd.setup(app)  # /api/acd/... (the service sets app[views_acd.ACD])
    # Feature pages (agent console, wallboard, QA, admin) register here, before the placeholders.
    views_wallboard.setup(
        app
    )  # /wallboard, /ws/wallboard, /api/wallboard, /api/kpis (app[KPI] set by the service)
    views_supervisor.setup(app)  # /api/supervisor/..., /api/audit (app[SUPERVISOR] set by the service)
    views_audit.setup(app)  # /audit: the audit log page (admin)
    views_admin.setup(app)  # /admin/...: users, queues, agents (app[views_admin.ADMIN] set by the service)
    views_admin_qa.setup(app)  # /admin/qa-forms, /admin/ivr
    if console_setup is not None:  # the agent console: /agent, /ws/agent, /api/console/...
        console_setup(app)
    views_qa.setup(app)  # /qa/calls, /api/qa/..., /api/recordings/... (app[views_qa.QA] set by the service)
    views_reports.setup(
        app
    )  # /reports, /api/reports/... (app[views_reports.REPORT_SERVICE] set by the service)
    views_pages.setup(app)  # "/" and placeholder landing pages for paths still free
    app.router.add_static("/static/", web_dir / "static", name="static")
    favicon = web_dir / "static" / "favicon.svg"

    async def favicon_ico(_request: web.Request) -> web.StreamResponse:
        """Browsers ask for /favicon.ico whatever the page links: the same icon, never a 404."""
        return web.FileResponse(favicon, headers={"Content-Type": "image/svg+xml"})

    app.router.add_get("/favicon.ico", favicon_ico, name="favicon")
    return app
