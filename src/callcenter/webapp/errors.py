"""The one mapping from exceptions to HTTP error responses.

``error_middleware`` is the per-request boundary (installed in ``app.py``). Views do not catch domain
exceptions to turn them into responses: they let them propagate and this module answers. One middleware
covers both kinds of route, so there is no per-view helper: requests under ``/api/`` (and ``/metrics``,
``/healthz``) get JSON, everything else the ``error.html`` page with the same status and message.

JSON error body, the only shape the API uses::

    {"error": "<message for people>"}                                   every error
    {"error": "invalid input", "fields": {"<field>": "<what is wrong>"}}  errors that name fields

``error`` is stable (English, what clients compare); when the request's language is not English
(``webapp/i18n.py``) the body adds ``message``, the same text in that language, and ``fields`` say
what is wrong in that language. HTML error pages show the translated text.

Mapping (first matching row wins; a subclass not listed takes its nearest listed base):

=====================================================  ======  ===================================
exception                                              status  body ``error``
=====================================================  ======  ===================================
domain.tickets.InvalidTransition (customers.Validat…)  409     "invalid input" + ``fields``
domain.customers.ValidationError                       400     "invalid input" + ``fields``
domain.reports.ValidationError                         400     the message
domain.qa.ValidationError                              400     the message
webapp.params.BadQuery                                 400     the message
services.recordings.RecordingAccessDenied              404     "recording not found" (hides paths)
PermissionDenied                                       403     the message
AuthError                                              401     the message (+ WWW-Authenticate)
NotFound (acd.UnknownQueue, acd.UnknownAgent)          404     the message
domain.acd.InvalidTransition (outbound.CampaignTrans…)  409     the message
services.supervisor.SupervisorError                    409     the message
services.console.DispositionRequired                   409     the message
services.console.NoCall                                409     the message
domain.tickets.ConcurrentUpdate                        409     the message + "; reload and try again"
DuplicateError (a unique key is taken)                 409     fixed text (the store's may quote SQL)
InvalidValue (the database refused a value)            400     fixed text (the store's may quote SQL)
AcdError                                               400     the message
ConfigError (a submitted configuration is invalid)     400     the message
AmiActionError (the PBX answered ``Response: Error``)  502     "the PBX refused the action: …"
PbxError (PbxUnavailable, AmiActionTimeout, …)         503     fixed text, ``Retry-After``
StoreError (StoreUnavailable)                          503     fixed text, ``Retry-After``
StateError                                             503     fixed text, ``Retry-After``
anything else (AgiError, IvrFlowError, ImportRejected, 500     "internal server error"
other CallcenterError, ValueError, bugs)                       (traceback logged once)
=====================================================  ======  ===================================

aiohttp ``HTTPException``\\ s (raised by views for protocol-level answers such as a missing service,
413 or 405) keep their status and reason, and their ``Allow``/``Retry-After``/``WWW-Authenticate``.

Logging: 4xx are not logged (the client's mistake); 502/503 are logged as a warning with the request
line and the exception's class and message; anything unmapped is logged once with its traceback. The
query string is never logged, and ``scheme://user:password@`` credentials are masked in what is
logged. 5xx bodies never carry exception text.

Not covered here on purpose (documented where they are): form pages that re-render themselves with
field errors (``views_crm_pages``), pages that degrade instead of failing (landing pages, console
follow-ups), the 416 of a byte range (needs the file size), and websocket connection boundaries.
"""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from aiohttp import web
from aiohttp.typedefs import Handler

from callcenter.domain import customers, qa, reports, tickets
from callcenter.domain.acd import AcdError
from callcenter.domain.acd import InvalidTransition as AgentTransitionRefused
from callcenter.domain.errors import (
    AmiActionError,
    AuthError,
    ConfigError,
    DuplicateError,
    InvalidValue,
    NotFound,
    PbxError,
    PermissionDenied,
    StateError,
    StoreError,
)
from callcenter.services.console import DispositionRequired, NoCall
from callcenter.services.recordings import RecordingAccessDenied
from callcenter.services.supervisor import SupervisorError
from callcenter.webapp.i18n import N_, current_language, gettext, localize
from callcenter.webapp.jsonenc import json_response
from callcenter.webapp.keys import TEMPLATES
from callcenter.webapp.params import BadQuery

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Headers of an ``HTTPException`` worth keeping when it is turned into our own error response.
_KEPT_HEADERS = ("Allow", "Retry-After", "WWW-Authenticate")
#: Seconds a client should wait before retrying a 503.
RETRY_AFTER = "5"
_CREDENTIALS = re.compile(r"(\w[\w+.-]*://[^/\s:@]*):[^@\s/]*@")


def is_api_request(request: web.BaseRequest) -> bool:
    """Requests answered in JSON (machines) rather than HTML pages (people)."""
    return request.path.startswith("/api/") or request.path in ("/api", "/metrics", "/healthz")


def json_error(
    status: int,
    message: str,
    *,
    headers: Mapping[str, str] | None = None,
    fields: Mapping[str, str] | None = None,
) -> web.Response:
    body: dict[str, object] = {"error": message}
    translate = current_language() != "en"
    if translate:
        body["message"] = localize(message)
    if fields is not None:
        body["fields"] = {k: localize(v) for k, v in fields.items()} if translate else dict(fields)
    return json_response(body, status=status, headers=headers)


def error_response(
    request: web.Request,
    status: int,
    message: str,
    *,
    headers: Mapping[str, str] | None = None,
    fields: Mapping[str, str] | None = None,
) -> web.Response:
    if is_api_request(request):
        return json_error(status, message, headers=headers, fields=fields)
    message = localize(message)
    if fields:
        message = "; ".join(f"{gettext(name)}: {localize(reason)}" for name, reason in fields.items())
    return request.app[TEMPLATES].response(
        "error.html", {"status": status, "message": message, "user": None}, status=status, headers=headers
    )


def require_service(service: T | None, message: str) -> T:
    """``service``, or a 503 (with ``Retry-After``) when this instance runs without it."""
    if service is None:
        raise web.HTTPServiceUnavailable(reason=message, headers={"Retry-After": RETRY_AFTER})
    return service


def redact(text: str) -> str:
    """``text`` with the password of any ``scheme://user:password@host`` replaced by ``***``."""
    return _CREDENTIALS.sub(r"\1:***@", text)


@dataclass(frozen=True, slots=True)
class ErrorRule:
    """How one exception class is answered."""

    exc: type[BaseException]
    status: int
    #: Fixed public message; None means the exception's own text (domain messages are written for people).
    message: str | Callable[[BaseException], str] | None = None
    retry_after: bool = False

    def matches(self, exc: BaseException) -> bool:
        return isinstance(exc, self.exc)


PBX_REFUSED = N_("the PBX refused the action")
RELOAD_AND_RETRY = N_("reload and try again")


def _pbx_refused(exc: BaseException) -> str:
    return f"{PBX_REFUSED}: {exc.message}" if isinstance(exc, AmiActionError) else str(exc)


#: The mapping table, most specific first (see the module docstring).
RULES: tuple[ErrorRule, ...] = (
    ErrorRule(tickets.InvalidTransition, 409, N_("invalid input")),
    ErrorRule(customers.ValidationError, 400, N_("invalid input")),
    ErrorRule(reports.ValidationError, 400),
    ErrorRule(qa.ValidationError, 400),
    ErrorRule(BadQuery, 400),
    ErrorRule(RecordingAccessDenied, 404, N_("recording not found")),
    ErrorRule(PermissionDenied, 403),
    ErrorRule(AuthError, 401),
    ErrorRule(NotFound, 404),
    ErrorRule(AgentTransitionRefused, 409),
    ErrorRule(SupervisorError, 409),
    ErrorRule(DispositionRequired, 409),
    ErrorRule(NoCall, 409),
    ErrorRule(tickets.ConcurrentUpdate, 409, lambda exc: f"{exc}; {RELOAD_AND_RETRY}"),
    ErrorRule(DuplicateError, 409, N_("already exists: a unique key (name, number, token) is taken")),
    ErrorRule(
        InvalidValue, 400, N_("a value is out of range or cannot be stored (too large, NUL character)")
    ),
    ErrorRule(AcdError, 400),
    ErrorRule(ConfigError, 400),
    ErrorRule(AmiActionError, 502, _pbx_refused),
    ErrorRule(PbxError, 503, N_("the PBX is unavailable, try again shortly"), retry_after=True),
    ErrorRule(StoreError, 503, N_("the database is unavailable, try again shortly"), retry_after=True),
    ErrorRule(StateError, 503, N_("the live state is unavailable, try again shortly"), retry_after=True),
)

#: aiohttp's reasons of the HTTP errors people meet, for the catalogue (error pages translate them).
HTTP_REASONS = (N_("Not Found"), N_("Method Not Allowed"), N_("Forbidden"), N_("Request Entity Too Large"))

_DEFAULT_MESSAGES = {
    400: N_("bad request"),
    401: N_("authentication required"),
    403: N_("forbidden"),
    404: N_("not found"),
}


def rule_for(exc: BaseException) -> ErrorRule | None:
    """The first rule of ``RULES`` that ``exc`` matches (None: an unexpected error, a 500)."""
    return next((rule for rule in RULES if rule.matches(exc)), None)


def public_error(exc: BaseException) -> tuple[int, str] | None:
    """Status and public message of ``exc`` by the same table, for a page that shows an error inside
    itself (the reports form); None for an unexpected error (let it propagate: a logged 500)."""
    if isinstance(exc, web.HTTPException):
        return exc.status, exc.reason
    rule = rule_for(exc)
    return None if rule is None else (rule.status, _message(rule, exc))


def _message(rule: ErrorRule, exc: BaseException) -> str:
    if callable(rule.message):
        return rule.message(exc)
    return rule.message or str(exc) or _DEFAULT_MESSAGES.get(rule.status, "error")


def exception_response(request: web.Request, exc: Exception) -> web.Response:
    """The response for ``exc`` according to ``RULES``; unmatched exceptions are logged and become 500."""
    rule = rule_for(exc)
    if rule is None:
        trace = "".join(traceback.format_exception(exc))
        log.error("unhandled error on %s %s\n%s", request.method, request.path, redact(trace))
        return error_response(request, 500, N_("internal server error"))
    message = _message(rule, exc)
    headers: dict[str, str] = {}
    if rule.retry_after:
        headers["Retry-After"] = RETRY_AFTER
    if rule.status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="callcenter"'
    if rule.status >= 500:
        log.warning(
            "%s on %s %s: %s",
            type(exc).__name__,
            request.method,
            request.path,
            redact(str(exc)),
        )
    fields = exc.fields if isinstance(exc, customers.ValidationError) else None
    return error_response(request, rule.status, message, headers=headers or None, fields=fields)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {name: exc.headers[name] for name in _KEPT_HEADERS if name in exc.headers}
        return error_response(request, exc.status, exc.reason, headers=headers)
    except Exception as exc:
        return exception_response(request, exc)
