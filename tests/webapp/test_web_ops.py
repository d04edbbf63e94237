"""/healthz and /metrics."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from callcenter.config import Secret
from callcenter.domain.users import User
from callcenter.services.accounts import Accounts
from callcenter.webapp import views_ops
from tests.webapp.conftest import Health
from tests.webapp.helpers import SECRET, login

Client = TestClient[Any, Any]


async def test_healthz_ok(client: Client) -> None:
    resp = await client.get("/healthz")
    assert resp.status == 200
    assert await resp.json() == {
        "status": "ok",
        "pbx": {"connected": True, "ping_ms": 1.2},
        "database": {"ok": True},
        "redis": {"enabled": False},
    }


async def test_healthz_degraded_is_503(client: Client, health: Health) -> None:
    health.report = {"status": "degraded", "pbx": {"connected": False, "error": "AMI login failed"}}
    resp = await client.get("/healthz")
    assert resp.status == 503
    body = await resp.json()
    assert body["status"] == "degraded"
    assert body["pbx"] == {"connected": False, "error": "AMI login failed"}
    assert body["database"] == {} and body["redis"] == {}


async def test_healthz_never_shows_secrets(client: Client, health: Health) -> None:
    health.report = {
        "status": "ok",
        "pbx": {"host": "10.0.0.5", "ami_secret": "s3cr3t-ami", "user": "callcenter", "auth": "x"},
        "database": {"url": "postgresql+asyncpg://cc:dbpa55word@db/cc", "password": "dbpa55word"},
        "redis": {"url": "redis://:r3dispass@cache:6379/0", "secret": Secret("hidden-value")},
        "settings": {"session_secret": SECRET, "token": "cc_abc", "nested": [{"api_key": "k3y"}]},
        "obj": Secret("another-hidden-value"),
    }
    resp = await client.get("/healthz")
    assert resp.status == 200
    text = await resp.text()
    for leaked in ("s3cr3t-ami", "dbpa55word", "r3dispass", "hidden-value", SECRET, "cc_abc", "k3y"):
        assert leaked not in text
    body = await resp.json()
    assert body["database"]["url"] == "postgresql+asyncpg://cc:********@db/cc"
    assert body["pbx"] == {"host": "10.0.0.5", "user": "callcenter"}


async def test_healthz_failure_and_timeout_are_degraded(
    client: Client, health: Health, monkeypatch: pytest.MonkeyPatch
) -> None:
    health.error = RuntimeError("password=hunter2 in a message")
    resp = await client.get("/healthz")
    assert resp.status == 503
    body = await resp.json()
    assert body["status"] == "degraded" and "hunter2" not in await resp.text()

    health.error = None
    health.delay = 10.0
    monkeypatch.setattr(views_ops, "HEALTH_TIMEOUT", 0.05)
    resp = await client.get("/healthz")
    assert resp.status == 503
    assert (await resp.json())["error"] == "health check timed out"


async def test_healthz_unexpected_status_is_degraded(client: Client, health: Health) -> None:
    health.report = {"status": "fine"}
    resp = await client.get("/healthz")
    assert resp.status == 503


async def test_metrics_needs_supervisor_or_admin(
    client: Client, accounts: Accounts, users: dict[str, User]
) -> None:
    assert (await client.get("/metrics")).status == 401
    await login(client, "alice")
    assert (await client.get("/metrics")).status == 403
    await login(client, "sup")
    assert (await client.get("/metrics")).status == 200
    client.session.cookie_jar.clear()
    token = await accounts.issue_api_token(users["admin"].id, "prometheus")
    resp = await client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = await resp.text()
    assert "# TYPE callcenter_calls_total counter\ncallcenter_calls_total 12\n" in text
    assert 'callcenter_queue_waiting{queue="sales"} 3\n' in text
    assert 'callcenter_web_logins_total{result="ok"} 2\n' in text


def test_render_prometheus_skips_bad_names() -> None:
    from callcenter.webapp.metrics import render_prometheus

    text = render_prometheus({"ok_gauge": 1.5, "bad name": 1, "9bad": 2, "inf_total": float("inf")})
    assert text == "# TYPE inf_total counter\ninf_total +Inf\n# TYPE ok_gauge gauge\nok_gauge 1.5\n"
