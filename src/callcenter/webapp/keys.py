"""Typed keys for what the web app keeps on the ``Application``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from callcenter.config import Settings
from callcenter.ports import AuditLog, CrmStore
from callcenter.services.accounts import Accounts
from callcenter.webapp.metrics import WebStats
from callcenter.webapp.ratelimit import LoginRateLimiter
from callcenter.webapp.sessions import SessionCodec
from callcenter.webapp.templating import Templates

#: Returns ``{"status": "ok"|"degraded", "pbx": {...}, "database": {...}, "redis": {...}}``.
HealthCheck = Callable[[], Awaitable[dict[str, Any]]]
#: Returns current metric values by Prometheus name (``{"callcenter_calls_total": 12.0}``).
MetricsProvider = Callable[[], dict[str, float]]

SETTINGS = web.AppKey[Settings]("settings")
STORE = web.AppKey[CrmStore]("store")
ACCOUNTS = web.AppKey[Accounts]("accounts")
HEALTH = web.AppKey[HealthCheck]("health")
METRICS = web.AppKey[MetricsProvider | None]("metrics")
SESSIONS = web.AppKey[SessionCodec]("sessions")
TEMPLATES = web.AppKey[Templates]("templates")
LOGIN_LIMITER = web.AppKey[LoginRateLimiter]("login_limiter")
WEB_STATS = web.AppKey[WebStats]("web_stats")
AUDIT_LOG = web.AppKey[AuditLog | None]("audit_log")  # user settings changes (language); None: logged only
