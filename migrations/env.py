"""Alembic environment on an async engine (aiosqlite or asyncpg).

Two ways in:

- ``callcenter.store.migrate.migrate(url)`` (the service and ``callcenter migrate``) opens the async
  connection itself and passes its sync facade in ``config.attributes["connection"]`` through
  ``AsyncConnection.run_sync``: the event loop is never blocked on database I/O;
- the ``alembic`` command line (``alembic upgrade head`` from the repository root) has no connection:
  this module builds an async engine from ``CALLCENTER_DATABASE_URL`` (else ``sqlalchemy.url``) and
  runs the same migrations under ``asyncio.run``.
"""

from __future__ import annotations

import asyncio
import os
from logging.config import fileConfig

from alembic import context
from sqlalchemy.engine import Connection

from callcenter.config import async_database_url
from callcenter.store.engine import make_engine
from callcenter.store.models import Base

config = context.config
if config.config_file_name is not None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata


def _url() -> str:
    url = (
        config.attributes.get("url")
        or os.environ.get("CALLCENTER_DATABASE_URL")
        or config.get_main_option("sqlalchemy.url")
    )
    if not url:
        raise RuntimeError("no database URL: set CALLCENTER_DATABASE_URL or sqlalchemy.url")
    return async_database_url(url)


def _configure(**kwargs: object) -> None:
    context.configure(target_metadata=target_metadata, compare_type=True, **kwargs)  # type: ignore[arg-type]


def run_migrations_offline() -> None:
    """Emit SQL to stdout (``alembic upgrade head --sql``)."""
    url = _url()
    _configure(url=url, literal_binds=True, render_as_batch=url.startswith("sqlite"))
    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection: Connection) -> None:
    _configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations() -> None:
    engine = make_engine(_url())
    try:
        async with engine.begin() as connection:
            await connection.run_sync(do_run_migrations)
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        asyncio.run(run_async_migrations())
    else:
        do_run_migrations(connection)


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
