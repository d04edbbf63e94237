"""Fixtures for the web app: a fake store, fast argon2, a controllable clock, a test client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from callcenter.config import Secret, Settings
from callcenter.domain.users import Role, User
from callcenter.services.accounts import Accounts
from callcenter.webapp import create_web_app
from callcenter.webapp.ratelimit import LoginRateLimiter
from tests.webapp.fakes import FakeCrmStore
from tests.webapp.helpers import PASSWORD, SECRET, T0
from tests.webapp.live_server import LiveService

FAST_ARGON2: dict[str, int] = {"time_cost": 1, "memory_cost": 8, "parallelism": 1}


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Health:
    def __init__(self) -> None:
        self.report: dict[str, Any] = {
            "status": "ok",
            "pbx": {"connected": True, "ping_ms": 1.2},
            "database": {"ok": True},
            "redis": {"enabled": False},
        }
        self.error: Exception | None = None
        self.delay = 0.0

    async def __call__(self) -> dict[str, Any]:
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.error is not None:
            raise self.error
        return self.report


@pytest.fixture
def store() -> FakeCrmStore:
    return FakeCrmStore()


@pytest.fixture
def accounts(store: FakeCrmStore) -> Accounts:
    return Accounts(store, **FAST_ARGON2)


@pytest.fixture
def settings() -> Settings:
    return Settings(session_secret=Secret(SECRET))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def limiter_clock() -> Clock:
    return Clock(1000.0)


@pytest.fixture
def health() -> Health:
    return Health()


@pytest.fixture
async def users(accounts: Accounts) -> dict[str, User]:
    return {
        "admin": await accounts.create_user("admin", PASSWORD, Role.ADMIN, "Ada Admin"),
        "sup": await accounts.create_user("sup", PASSWORD, Role.SUPERVISOR, "Sam Supervisor"),
        "qa": await accounts.create_user("qa", PASSWORD, Role.QA, "Quinn QA"),
        "alice": await accounts.create_user("alice", PASSWORD, Role.AGENT, "Alice Agent", agent="1001"),
        "bob": await accounts.create_user("bob", PASSWORD, Role.AGENT, "Bob Agent", agent="1002"),
    }


@pytest.fixture
def metrics_values() -> dict[str, float]:
    return {"callcenter_calls_total": 12, 'callcenter_queue_waiting{queue="sales"}': 3}


@pytest.fixture
def app(
    settings: Settings,
    store: FakeCrmStore,
    accounts: Accounts,
    health: Health,
    clock: Clock,
    limiter_clock: Clock,
    metrics_values: dict[str, float],
) -> web.Application:
    return create_web_app(
        settings,
        store=store,
        accounts=accounts,
        health=health,
        metrics=lambda: metrics_values,
        login_limiter=LoginRateLimiter(clock=limiter_clock),
        clock=clock,
    )


@pytest.fixture
async def client(app: web.Application, users: dict[str, User]) -> AsyncIterator[TestClient[Any, Any]]:
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def live_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    """The whole service (SQLite, in-process state, the fake PBX) on a loopback port, one token per role."""
    with LiveService(tmp_path_factory.mktemp("live")) as live:
        yield live
