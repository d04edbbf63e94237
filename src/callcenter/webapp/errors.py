"""Error responses: JSON ``{"error": "..."}`` for the API, a small HTML page for browsers.

``error_middleware`` is the per-request boundary: it maps the domain exception tree and aiohttp's
HTTP exceptions to responses and logs anything unexpected once, with the request line.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from aiohttp import web
from aiohttp.typedefs import Handler

from callcenter.domain.errors import AuthError, NotFound, PermissionDenied, StoreError
from callcenter.webapp.keys import TEMPLATES

log = logging.getLogger(__name__)

#: Headers of an ``HTTPException`` worth keeping when it is turned into our own error response.
_KEPT_HEADERS = ("Allow", "Retry-After", "WWW-Authenticate")


def is_api_request(request: web.BaseRequest) -> bool:
    """Requests answered in JSON (machines) rather than HTML pages (people)."""
    return request.path.startswith("/api/") or request.path in ("/api", "/metrics", "/healthz")


def json_error(status: int, message: str, *, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers)


def error_response(
    request: web.Request, status: int, message: str, *, headers: Mapping[str, str] | None = None
) -> web.Response:
    if is_api_request(request):
        return json_error(status, message, headers=headers)
    return request.app[TEMPLATES].response(
        "error.html", {"status": status, "message": message, "user": None}, status=status, headers=headers
    )


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {name: exc.headers[name] for name in _KEPT_HEADERS if name in exc.headers}
        return error_response(request, exc.status, exc.reason, headers=headers)
    except PermissionDenied as exc:
        return error_response(request, 403, str(exc) or "forbidden")
    except AuthError as exc:
        return error_response(request, 401, str(exc) or "authentication required")
    except NotFound as exc:
        return error_response(request, 404, str(exc) or "not found")
    except StoreError as exc:
        log.warning("store error on %s %s: %s", request.method, request.path, exc)
        return error_response(request, 503, "the database is unavailable, try again shortly")
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(request, 500, "internal server error")
