"""Run the Alembic migrations from code: ``await migrate(url)``.

Where the migrations are: the repository uses a ``src`` layout installed in editable mode, so the
Alembic scripts are not inside the package but in ``<repo>/migrations`` next to ``src/``; this module
finds them as ``Path(__file__).parents[3] / "migrations"`` (``store`` → ``callcenter`` → ``src`` →
repository root). ``CALLCENTER_MIGRATIONS_DIR`` overrides it (for an installation without the
repository). The repository root ``alembic.ini`` points at the same directory for the ``alembic`` CLI.

How it runs: an async engine opens one connection and the (synchronous) Alembic command runs inside
``AsyncConnection.run_sync`` with that connection in ``config.attributes["connection"]``, so every
database round trip is awaited on the event loop's driver (aiosqlite, asyncpg) rather than blocking it.
On PostgreSQL a transaction-scoped advisory lock serialises concurrent migrators (several instances
starting at once); running it again when already at ``head`` is a no-op.
"""

from __future__ import annotations

import os
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection

from callcenter.domain.errors import StoreError
from callcenter.store.engine import make_engine, translate_errors

#: ``<repo>/migrations``: see the module docstring.
MIGRATIONS_DIR = Path(__file__).resolve().parents[3] / "migrations"
#: Key of the PostgreSQL advisory lock held while migrating ("callcntr" in ASCII).
ADVISORY_LOCK_KEY = 0x63616C6C636E7472


def migrations_dir() -> Path:
    override = os.environ.get("CALLCENTER_MIGRATIONS_DIR")
    path = Path(override) if override else MIGRATIONS_DIR
    if not (path / "env.py").is_file():
        raise StoreError(f"Alembic migrations not found in {path} (set CALLCENTER_MIGRATIONS_DIR)")
    return path


def alembic_config(url: str | None = None) -> Config:
    """An Alembic ``Config`` for our migrations (no ini file needed)."""
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.set_main_option("path_separator", "os")
    if url is not None:
        config.attributes["url"] = url
    return config


async def migrate(url: str, revision: str = "head") -> None:
    """Upgrade the database at ``url`` to ``revision`` (default ``head``). Raises ``StoreUnavailable``
    when the database cannot be reached and ``StoreError`` when a migration fails."""
    config = alembic_config(url)
    engine = make_engine(url)
    try:
        with translate_errors("migrate"):
            async with engine.begin() as conn:
                if conn.dialect.name == "postgresql":
                    await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
                await conn.run_sync(_upgrade, config, revision)
    finally:
        await engine.dispose()


def _upgrade(connection: Connection, config: Config, revision: str) -> None:
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


async def current_revision(url: str) -> str | None:
    """The revision the database is at (``None`` for an empty database)."""
    engine = make_engine(url)
    try:
        with translate_errors("current_revision"):
            async with engine.connect() as conn:
                return await conn.run_sync(
                    lambda sync: MigrationContext.configure(sync).get_current_revision()
                )
    finally:
        await engine.dispose()


def head_revision() -> str | None:
    """The newest revision in ``migrations/versions``."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()
