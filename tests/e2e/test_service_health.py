"""``/healthz`` of the composed service: PBX link, database and Redis states, on the real servers."""

from __future__ import annotations

import dataclasses
import os
import socket
import time
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from callcenter.app import Service
from tests.support.ami_server import FakeAmiServer

REDIS_URL = os.environ.get("CALLCENTER_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _redis_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def redis_url() -> str:
    if not _redis_reachable():
        if os.environ.get("CALLCENTER_REQUIRE_SERVICES") == "1":
            pytest.fail("Redis is required here (CALLCENTER_REQUIRE_SERVICES=1) but 127.0.0.1:6379 is closed")
        pytest.skip("Redis is not reachable on 127.0.0.1:6379")
    return REDIS_URL


async def health_of(service: Service) -> tuple[int, dict[str, object]]:
    async with TestClient(TestServer(service.web_app())) as client:
        await service.link.wait_ready(5)
        resp = await client.get("/healthz")
        return resp.status, await resp.json()


@pytest.mark.redis
async def test_all_up(tmp_path: Path, redis_url: str) -> None:
    async with FakeAmiServer(secret="s3cr3t-ami-xyz") as pbx:
        settings = dataclasses.replace(
            pbx.settings(),
            database_url=f"sqlite+aiosqlite:///{tmp_path / 'h.db'}",
            redis_url=redis_url,
            agi_port=0,
        )
        status, body = await health_of(Service(settings))
    assert status == 200, body
    assert body["status"] == "ok"
    assert body["pbx"]["state"] == "up"  # type: ignore[index]
    assert body["database"]["state"] == "up"  # type: ignore[index]
    assert body["redis"]["state"] == "up"  # type: ignore[index]
    assert "s3cr3t-ami-xyz" not in str(body)


@pytest.mark.redis
async def test_redis_down_is_reported_quickly_and_degrades(tmp_path: Path) -> None:
    async with FakeAmiServer() as pbx:
        settings = dataclasses.replace(
            pbx.settings(),
            database_url=f"sqlite+aiosqlite:///{tmp_path / 'h.db'}",
            redis_url=f"redis://:hunter2-secret@127.0.0.1:{_closed_port()}/0",
            agi_port=0,
        )
        started = time.monotonic()
        status, body = await health_of(Service(settings))
    assert time.monotonic() - started < 5
    assert status == 503
    assert body["redis"]["state"] == "down"  # type: ignore[index]
    assert "hunter2" not in str(body)  # the password in the URL is masked


async def test_pbx_unreachable_is_degraded_not_fatal(tmp_path: Path) -> None:
    from callcenter.config import Settings

    settings = Settings(
        ami_port=_closed_port(),
        ami_reconnect_min=0.05,
        ami_reconnect_max=0.1,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'h.db'}",
        agi_port=0,
    )
    service = Service(settings)
    async with TestClient(TestServer(service.web_app())) as client:
        resp = await client.get("/healthz")
        body = await resp.json()
    assert resp.status == 503
    assert body["pbx"]["state"] in ("connecting", "down")
    assert body["database"]["state"] == "up"
