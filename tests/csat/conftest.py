"""Fixtures of the CSAT suite: migrated databases on both backends (the QA suite's, plus call_surveys)."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import asyncpg
import pytest

from tests.qa.conftest import QA_TABLES
from tests.store.conftest import PgServer, _dsn, pg, sqlite_template  # noqa: F401 - fixtures

CSAT_TABLES = (*QA_TABLES, "call_surveys", "supervisor_audit", "ticket_events", "outbox")


async def _truncate(url: str) -> None:
    conn = await asyncpg.connect(_dsn(*url.rsplit("/", 1)), timeout=3)
    try:
        await conn.execute(f"TRUNCATE {', '.join(CSAT_TABLES)} RESTART IDENTITY CASCADE")
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def csat_db_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:  # noqa: F811
    if request.param == "sqlite":
        path = tmp_path / "csat.db"
        shutil.copyfile(sqlite_template, path)
        return f"sqlite+aiosqlite:///{path}"
    server: PgServer = request.getfixturevalue("pg")
    url = server.require()
    asyncio.run(_truncate(url))
    return url
