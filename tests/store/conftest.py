"""Fixtures of the store suite: a migrated SQLite file and a migrated PostgreSQL database.

PostgreSQL: the server on loopback (``CALLCENTER_TEST_PG_URL``, default
``postgresql+asyncpg://postgres@127.0.0.1:5432``, then user ``root``) gets a fresh database
``callcenter_test_<hex>`` for the session, migrated once and dropped at the end; each test starts
from empty tables (TRUNCATE). Unreachable server → the postgres tests skip with the reason.
SQLite: one migrated template file per session, copied for each test.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from callcenter.store.crm import SqlCrmStore, create_store
from callcenter.store.migrate import migrate

TABLES = (
    "customers",
    "customer_phones",
    "agents",
    "calls",
    "call_legs",
    "call_offers",
    "call_transfers",
    "recordings",
    "users",
    "api_tokens",
)


def _candidate_servers() -> list[str]:
    explicit = os.environ.get("CALLCENTER_TEST_PG_URL")
    if explicit:
        return [explicit.rstrip("/")]
    return ["postgresql+asyncpg://postgres@127.0.0.1:5432", "postgresql+asyncpg://root@127.0.0.1:5432"]


def _dsn(server: str, database: str) -> str:
    return server.replace("postgresql+asyncpg://", "postgresql://", 1) + "/" + database


async def _admin(sql: str, server: str) -> None:
    conn = await asyncpg.connect(_dsn(server, "postgres"), timeout=3)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


class PgServer:
    def __init__(self, server: str | None, url: str | None, reason: str) -> None:
        self.server = server
        self.url = url
        self.reason = reason

    def require(self) -> str:
        if self.url is None:
            if os.environ.get("CALLCENTER_REQUIRE_SERVICES") == "1":
                pytest.fail(f"PostgreSQL is required here (CALLCENTER_REQUIRE_SERVICES=1): {self.reason}")
            pytest.skip(f"PostgreSQL unavailable: {self.reason}")
        return self.url


@pytest.fixture(scope="session")
def pg() -> Iterator[PgServer]:
    errors: list[str] = []
    for server in _candidate_servers():
        name = f"callcenter_test_{uuid.uuid4().hex[:12]}"
        try:
            asyncio.run(_admin(f'CREATE DATABASE "{name}"', server))
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            errors.append(f"{server}: {exc}")
            continue
        url = f"{server}/{name}"
        try:
            asyncio.run(migrate(url))
            yield PgServer(server, url, "")
        finally:
            asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', server))
        return
    reason = "; ".join(errors)
    print(f"\nPostgreSQL tests skipped: {reason}")
    yield PgServer(None, None, reason)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    asyncio.run(migrate(f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    """The URL of an empty, migrated database on each backend."""
    if request.param == "sqlite":
        path = tmp_path / "crm.db"
        shutil.copyfile(sqlite_template, path)
        return f"sqlite+aiosqlite:///{path}"
    pg: PgServer = request.getfixturevalue("pg")
    url = pg.require()
    asyncio.run(_truncate(url))
    return url


async def _truncate(url: str) -> None:
    conn = await asyncpg.connect(_dsn(*url.rsplit("/", 1)), timeout=3)
    try:
        await conn.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")
    finally:
        await conn.close()


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[SqlCrmStore]:
    crm = create_store(db_url)
    try:
        yield crm
    finally:
        await crm.close()
