"""Operations endpoints: ``GET /healthz`` (public) and ``GET /metrics`` (supervisor/admin)."""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

from aiohttp import web

from callcenter.config import Secret, mask_url_password
from callcenter.domain.users import Role
from callcenter.webapp.auth import require_role
from callcenter.webapp.jsonenc import json_response
from callcenter.webapp.keys import HEALTH, METRICS, WEB_STATS
from callcenter.webapp.metrics import CONTENT_TYPE, render_prometheus

log = logging.getLogger(__name__)

HEALTH_TIMEOUT = 5.0
COMPONENTS = ("pbx", "database", "redis")
#: Keys never echoed by /healthz, whatever the health callable returns.
_SECRET_KEY = re.compile(r"secret|passw|token|credential|api_?key|cookie|auth", re.IGNORECASE)
_URL_WITH_PASSWORD = re.compile(r"^[a-z][a-z0-9+.-]*://[^/@\s]*:[^/@\s]*@", re.IGNORECASE)


def scrub(value: Any, depth: int = 0) -> Any:
    """A JSON-safe copy of ``value`` without secret-looking keys, ``Secret`` values or URL passwords."""
    if depth > 8:
        return "…"
    if isinstance(value, Secret):
        return "********"
    if isinstance(value, dict):
        return {str(k): scrub(v, depth + 1) for k, v in value.items() if not _SECRET_KEY.search(str(k))}
    if isinstance(value, list | tuple):
        return [scrub(v, depth + 1) for v in value]
    if isinstance(value, str):
        return mask_url_password(value) if _URL_WITH_PASSWORD.match(value) else value
    if value is None or isinstance(value, bool | int | float):
        return value
    return str(value)


async def healthz(request: web.Request) -> web.StreamResponse:
    try:
        async with asyncio.timeout(HEALTH_TIMEOUT):
            report = await request.app[HEALTH]()
    except TimeoutError:
        log.warning("health check timed out after %.1f s", HEALTH_TIMEOUT)
        report = {"status": "degraded", "error": "health check timed out"}
    except Exception:
        log.exception("health check failed")
        report = {"status": "degraded", "error": "health check failed"}
    body = scrub(report) if isinstance(report, dict) else {}
    status = "ok" if body.get("status") == "ok" else "degraded"
    body["status"] = status
    for component in COMPONENTS:
        body.setdefault(component, {})
    return json_response(body, status=200 if status == "ok" else 503)


@require_role(Role.SUPERVISOR, Role.ADMIN)
async def metrics(request: web.Request) -> web.StreamResponse:
    values: dict[str, float] = {}
    provider = request.app[METRICS]
    if provider is not None:
        values.update(provider())
    values.update(request.app[WEB_STATS].as_metrics())
    return web.Response(
        body=render_prometheus(values).encode("utf-8"), headers={"Content-Type": CONTENT_TYPE}
    )


def setup(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz, name="healthz")
    app.router.add_get("/metrics", metrics, name="metrics")
