"""Migrations on both backends, and the error boundary (unreachable or unmigrated databases)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from callcenter.domain.calls import CallRecord
from callcenter.domain.errors import StoreError, StoreUnavailable
from callcenter.store.crm import create_store
from callcenter.store.engine import make_engine
from callcenter.store.migrate import MIGRATIONS_DIR, alembic_config, current_revision, head_revision, migrate
from callcenter.store.models import Base


def test_migrations_dir_is_the_repository_one() -> None:
    assert Path(__file__).resolve().parents[2] / "migrations" == MIGRATIONS_DIR
    script = ScriptDirectory.from_config(alembic_config())
    assert script.get_heads() == [head_revision()]  # one linear history (0001 → 0002 → 0004 → 0003 ...)


async def _schema_diff(url: str) -> list[object]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata)
            )
    finally:
        await engine.dispose()


async def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
    finally:
        await engine.dispose()


async def test_migrate_fresh_sqlite_twice(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/new/dir/crm.db"  # parent directories are created
    assert await current_revision(url) is None
    await migrate(url)
    assert await current_revision(url) == head_revision()
    tables = await _tables(url)
    await migrate(url)  # a no-op
    assert await current_revision(url) == head_revision()
    assert await _tables(url) == tables
    assert await _schema_diff(url) == []  # the models match the migrations


async def test_plain_sqlite_url_is_mapped_to_aiosqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/plain.db"
    await migrate(url)
    assert await current_revision(url) == head_revision()


@pytest.mark.postgres
async def test_migrate_postgres_twice(pg: Any) -> None:
    url = pg.require()  # the session database was migrated by the fixture
    assert await current_revision(url) == head_revision()
    await migrate(url)
    await asyncio.gather(migrate(url), migrate(url))  # concurrent migrators serialise on the advisory lock
    assert await current_revision(url) == head_revision()
    assert await _schema_diff(url) == []


async def test_sqlite_wal_and_foreign_keys(tmp_path: Path) -> None:
    store = create_store(f"sqlite+aiosqlite:///{tmp_path}/wal.db")
    try:
        async with store.engine.connect() as conn:
            journal = (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar_one()
            fks = (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar_one()
            sync = (await conn.exec_driver_sql("PRAGMA synchronous")).scalar_one()
        assert (journal, fks, sync) == ("wal", 1, 1)
    finally:
        await store.close()


# -- error boundary ------------------------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def _silent_server() -> AsyncIterator[int]:
    """A TCP server that accepts connections and never says a word."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_closed_port_is_unavailable_promptly() -> None:
    store = create_store(f"postgresql+asyncpg://postgres@127.0.0.1:{_closed_port()}/x", connect_timeout=1.0)
    try:
        started = time.monotonic()
        with pytest.raises(StoreUnavailable):
            await store.ping()
        with pytest.raises(StoreUnavailable):
            await store.open_call_ids()
        with pytest.raises(StoreUnavailable):
            await store.save_calls([CallRecord(call_id="1.1", started_at=1.0)])
        assert time.monotonic() - started < 3
    finally:
        await store.close()


async def test_silent_server_times_out() -> None:
    async with _silent_server() as port:
        store = create_store(f"postgresql+asyncpg://postgres@127.0.0.1:{port}/x", connect_timeout=0.3)
        try:
            started = time.monotonic()
            with pytest.raises(StoreUnavailable):
                await store.ping()
            assert time.monotonic() - started < 2
        finally:
            await store.close()


async def test_migrate_unreachable_is_unavailable() -> None:
    with pytest.raises(StoreUnavailable):
        await migrate(f"postgresql+asyncpg://postgres@127.0.0.1:{_closed_port()}/x")


@pytest.mark.postgres
async def test_unknown_database_is_unavailable(pg: Any) -> None:
    pg.require()
    assert pg.server is not None
    store = create_store(f"{pg.server}/callcenter_no_such_db")
    try:
        with pytest.raises(StoreUnavailable):
            await store.ping()
    finally:
        await store.close()


async def test_unmigrated_sqlite_is_a_store_error_not_unavailable(tmp_path: Path) -> None:
    store = create_store(f"sqlite+aiosqlite:///{tmp_path}/empty.db")
    try:
        await store.ping()
        with pytest.raises(StoreError) as info:
            await store.get_call("x")
        assert not isinstance(info.value, StoreUnavailable)
        assert isinstance(info.value.__cause__, Exception)
    finally:
        await store.close()


def test_unusable_sqlite_directory_is_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StoreUnavailable):
        create_store(f"sqlite+aiosqlite:///{blocker}/sub/crm.db")


def test_unsupported_url() -> None:
    with pytest.raises(StoreError):
        create_store("mysql+aiomysql://u@h/db")
