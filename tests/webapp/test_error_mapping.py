"""The one exception → response mapping (``webapp/errors.py``), one request per exception class through
a tiny route, as JSON under ``/api/`` and as the HTML error page elsewhere."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from callcenter.domain import customers, qa, reports, tickets
from callcenter.domain.acd import AcdError, InvalidTransition, UnknownAgent, UnknownQueue
from callcenter.domain.errors import (
    AgiError,
    AgiHangup,
    AmiActionError,
    AmiActionTimeout,
    AmiLoginFailed,
    AmiProtocolError,
    AuthError,
    CallcenterError,
    ConfigError,
    InvalidValue,
    NotFound,
    PbxError,
    PbxUnavailable,
    PermissionDenied,
    StateError,
    StoreError,
    StoreUnavailable,
)
from callcenter.domain.outbound import CampaignTransitionRefused
from callcenter.services.console import DispositionRequired, HoldFailed, NoCall, TransferFailed
from callcenter.services.crm_import import ImportRejected
from callcenter.services.ivr import IvrFlowError
from callcenter.services.outbox import DeliveryError
from callcenter.services.recordings import RecordingAccessDenied
from callcenter.services.supervisor import SupervisorError
from callcenter.store.engine import DuplicateError
from callcenter.webapp.errors import RETRY_AFTER, error_middleware, require_service
from callcenter.webapp.keys import TEMPLATES
from callcenter.webapp.queries import BadQuery
from callcenter.webapp.templating import Templates

SECRET_URL = "postgresql://cc:hunter2-secret@db.internal/cc"
FIELDS = {"phone": "not a phone number"}

#: name → (exception factory, status, expected JSON body or None to check only ``error`` is a string)
CASES: dict[str, tuple[Callable[[], BaseException], int, dict[str, object] | None]] = {
    "ticket-transition": (
        lambda: tickets.InvalidTransition(tickets.TicketStatus.NEW, tickets.TicketStatus.CLOSED),
        409,
        {
            "error": "invalid input",
            "fields": {"status": "cannot move a ticket from new to closed; allowed: open"},
        },
    ),
    "customers-validation": (
        lambda: customers.ValidationError(FIELDS),
        400,
        {"error": "invalid input", "fields": FIELDS},
    ),
    "reports-validation": (lambda: reports.ValidationError("bad tz"), 400, {"error": "bad tz"}),
    "qa-validation": (lambda: qa.ValidationError("bad form"), 400, {"error": "bad form"}),
    "bad-query": (lambda: BadQuery("limit: not a number"), 400, {"error": "limit: not a number"}),
    "recording-access": (
        lambda: RecordingAccessDenied("recording path escapes /var/spool/asterisk"),
        404,
        {"error": "recording not found"},
    ),
    "permission": (lambda: PermissionDenied("not your call"), 403, {"error": "not your call"}),
    "auth": (lambda: AuthError("token expired"), 401, {"error": "token expired"}),
    "not-found": (lambda: NotFound("no customer 7"), 404, {"error": "no customer 7"}),
    "unknown-queue": (lambda: UnknownQueue("no queue 'x'"), 404, {"error": "no queue 'x'"}),
    "unknown-agent": (lambda: UnknownAgent("no agent '9'"), 404, {"error": "no agent '9'"}),
    "agent-transition": (lambda: InvalidTransition("on a call"), 409, {"error": "on a call"}),
    "campaign-transition": (
        lambda: CampaignTransitionRefused("stopped → running"),
        409,
        {"error": "stopped → running"},
    ),
    "supervisor": (lambda: SupervisorError("no phone"), 409, {"error": "no phone"}),
    "disposition": (lambda: DispositionRequired("disposition needed"), 409, {"error": "disposition needed"}),
    "no-call": (lambda: NoCall("no live call"), 409, {"error": "no live call"}),
    "concurrent": (
        lambda: tickets.ConcurrentUpdate("ticket 3 changed"),
        409,
        {"error": "ticket 3 changed; reload and try again"},
    ),
    "duplicate": (
        lambda: DuplicateError("users: UNIQUE constraint failed: users.username"),
        409,
        {"error": "already exists: a unique key (name, number, token) is taken"},
    ),
    "invalid_value": (  # the database refused a value: bad input, never an outage; SQL not shown
        lambda: InvalidValue('get_customer: invalid byte sequence for encoding "UTF8": 0x00'),
        400,
        {"error": "a value is out of range or cannot be stored (too large, NUL character)"},
    ),
    "acd": (lambda: AcdError("unknown strategy"), 400, {"error": "unknown strategy"}),
    "config": (lambda: ConfigError("queue.timeout must be > 0"), 400, {"error": "queue.timeout must be > 0"}),
    "ami-action": (
        lambda: AmiActionError("Redirect", "Channel not found"),
        502,
        {"error": "the PBX refused the action: Channel not found"},
    ),
    "transfer-failed": (
        lambda: TransferFailed("Transfer invalid"),
        502,
        {
            "error": "the PBX refused the action: the transfer was refused (Transfer invalid); "
            "the call is still yours"
        },
    ),
    "hold-failed": (
        lambda: HoldFailed("bridged_back", "Secondary redirect failed"),
        502,
        {"error": "the PBX refused the action: the hold did not work; your call is back with you"},
    ),
    "pbx-unavailable": (lambda: PbxUnavailable("down"), 503, None),
    "ami-timeout": (lambda: AmiActionTimeout("Ping"), 503, None),
    "ami-login": (lambda: AmiLoginFailed("secret refused"), 503, None),
    "ami-protocol": (lambda: AmiProtocolError("bad frame"), 503, None),
    "pbx": (lambda: PbxError("link"), 503, None),
    "store-unavailable": (lambda: StoreUnavailable(f"cannot reach {SECRET_URL}"), 503, None),
    "store": (lambda: StoreError("disk I/O error"), 503, None),
    "state": (lambda: StateError("redis gone"), 503, None),
    "agi": (lambda: AgiError("bad reply"), 500, {"error": "internal server error"}),
    "agi-hangup": (lambda: AgiHangup("gone"), 500, {"error": "internal server error"}),
    "ivr-flow": (lambda: IvrFlowError("no flows"), 500, {"error": "internal server error"}),
    # the outbox catches its delivery failures (retried, logged): one reaching a handler is a bug
    "delivery": (lambda: DeliveryError("SMTP 451", 451), 500, {"error": "internal server error"}),
    "import-rejected": (lambda: ImportRejected("2 errors"), 500, {"error": "internal server error"}),
    "callcenter": (lambda: CallcenterError("odd"), 500, {"error": "internal server error"}),
    "runtime": (lambda: RuntimeError(f"boom {SECRET_URL}"), 500, {"error": "internal server error"}),
    "value": (lambda: ValueError("plain"), 500, {"error": "internal server error"}),
}
RETRY = {
    "pbx-unavailable",
    "ami-timeout",
    "ami-login",
    "ami-protocol",
    "pbx",
    "store-unavailable",
    "store",
    "state",
}


async def _raise(request: web.Request) -> web.StreamResponse:
    raise CASES[request.match_info["name"]][0]()


async def _missing_service(request: web.Request) -> web.StreamResponse:
    require_service(None, "the ACD is not running")
    return web.Response()


@pytest.fixture
async def client() -> AsyncIterator[TestClient[web.Request, web.Application]]:
    app = web.Application(middlewares=[error_middleware])
    app[TEMPLATES] = Templates()
    app.router.add_get("/api/raise/{name}", _raise)
    app.router.add_get("/page/raise/{name}", _raise)
    app.router.add_get("/api/missing", _missing_service)
    app.router.add_get("/page/missing", _missing_service)
    async with TestClient(TestServer(app)) as c:
        yield c


def test_every_error_class_of_the_project_is_in_the_table() -> None:
    tested = {type(factory()) for factory, _, _ in CASES.values()}
    for cls in (CallcenterError, *_subclasses(CallcenterError)):
        assert cls in tested, f"{cls.__module__}.{cls.__qualname__} has no mapping test"


def _subclasses(cls: type) -> set[type]:
    found: set[type] = set()
    subs: list[type] = cls.__subclasses__()
    for sub in subs:
        if sub.__module__.startswith("callcenter."):
            found |= {sub, *_subclasses(sub)}
    return found


@pytest.mark.parametrize("name", sorted(CASES))
async def test_api_json(client: TestClient[web.Request, web.Application], name: str) -> None:
    _, status, body = CASES[name]
    resp = await client.get(f"/api/raise/{name}")
    assert resp.status == status
    assert resp.content_type == "application/json"
    got = await resp.json()
    if body is None:
        assert set(got) == {"error"} and got["error"].endswith("try again shortly")
    else:
        assert got == body
    assert "hunter2" not in str(got)
    assert (resp.headers.get("Retry-After") == RETRY_AFTER) is (name in RETRY)


@pytest.mark.parametrize("name", sorted(CASES))
async def test_page_html(client: TestClient[web.Request, web.Application], name: str) -> None:
    status = CASES[name][1]
    resp = await client.get(f"/page/raise/{name}")
    assert resp.status == status
    assert resp.content_type == "text/html"
    html = await resp.text()
    assert f"<h1>{status}</h1>" in html
    assert "hunter2" not in html
    if name == "customers-validation":
        assert "phone: not a phone number" in html


async def test_missing_service_is_503_with_retry_after(
    client: TestClient[web.Request, web.Application],
) -> None:
    resp = await client.get("/api/missing")
    assert (resp.status, await resp.json()) == (503, {"error": "the ACD is not running"})
    assert resp.headers["Retry-After"] == RETRY_AFTER
    page = await client.get("/page/missing")
    assert page.status == 503 and "the ACD is not running" in await page.text()


async def test_unexpected_error_logs_a_traceback_without_secrets(
    client: TestClient[web.Request, web.Application], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="callcenter.webapp.errors"):
        resp = await client.get("/api/raise/runtime?token=abc123")
    assert resp.status == 500
    text = caplog.text
    assert "Traceback" in text and "RuntimeError" in text and "/api/raise/runtime" in text
    assert "hunter2" not in text and "abc123" not in text
    assert "postgresql://cc:***@db.internal/cc" in text


async def test_unavailable_store_is_logged_without_secrets(
    client: TestClient[web.Request, web.Application], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="callcenter.webapp.errors"):
        resp = await client.get("/api/raise/store-unavailable")
    assert resp.status == 503
    assert "StoreUnavailable" in caplog.text and "hunter2" not in caplog.text
