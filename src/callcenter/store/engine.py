"""Async engines for SQLite (aiosqlite) and PostgreSQL (asyncpg), and the error boundary.

SQLite: every new connection gets ``journal_mode=WAL``, ``synchronous=NORMAL``, ``foreign_keys=ON``
and a ``busy_timeout`` from a ``connect`` listener; the parent directory of the database file is
created if missing. PostgreSQL: asyncpg with a small pool, ``pool_pre_ping`` and connect/command
timeouts so that a dead server fails fast with ``StoreUnavailable`` instead of hanging.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

from callcenter.config import async_database_url
from callcenter.domain.errors import DuplicateError, InvalidValue, StoreError, StoreUnavailable

log = logging.getLogger(__name__)
__all__ = ["DuplicateError", "SqlReads", "make_engine", "translate_errors", "utc"]

DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_COMMAND_TIMEOUT = 30.0
SQLITE_BUSY_TIMEOUT_MS = 5000


def make_engine(
    url: str,
    *,
    echo: bool = False,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    command_timeout: float = DEFAULT_COMMAND_TIMEOUT,
) -> AsyncEngine:
    """An ``AsyncEngine`` for a ``sqlite+aiosqlite`` or ``postgresql+asyncpg`` URL (plain
    ``sqlite://`` and ``postgresql://`` are mapped to those drivers)."""
    sa_url = make_url(async_database_url(url))
    backend = sa_url.get_backend_name()
    if backend == "sqlite":
        database = sa_url.database or ""
        memory = database in ("", ":memory:") or "mode=memory" in str(sa_url.query)
        kwargs: dict[str, Any] = {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}}
        if memory:
            kwargs["poolclass"] = StaticPool  # one shared connection, or every checkout sees a new database
        else:
            try:
                Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise StoreUnavailable(f"cannot create the directory of {database}: {error}") from error
        engine = create_async_engine(sa_url, echo=echo, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_on_connect)
        return engine
    if backend == "postgresql":
        if sa_url.get_driver_name() != "asyncpg":
            raise StoreError(f"unsupported PostgreSQL driver {sa_url.drivername!r}: use postgresql+asyncpg")
        return create_async_engine(
            sa_url,
            echo=echo,
            pool_size=5,
            max_overflow=10,
            pool_pre_ping=True,
            pool_recycle=1800,
            pool_timeout=connect_timeout,
            connect_args={
                "timeout": connect_timeout,
                "command_timeout": command_timeout,
                # JIT compiling costs 250-400 ms per report query over a month of calls (measured with
                # bench/reports.py) and saves less than that; the service's other queries are short
                "server_settings": {"application_name": "callcenter", "jit": "off"},
            },
        )
    raise StoreError(f"unsupported database URL scheme {sa_url.drivername!r}")


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    finally:
        cursor.close()


_SQLITE_SCHEMA_ERRORS = ("no such table", "no such column", "has no column", "syntax error")
#: PostgreSQL SQLSTATE classes meaning "cannot use the server right now": connection exception,
#: invalid authorization, unknown database, insufficient resources, operator intervention.
_PG_UNAVAILABLE_STATES = ("08", "28", "3D", "53", "57")


def is_unavailable(error: BaseException) -> bool:
    """True when ``error`` means the database cannot be reached (rather than a bad statement)."""
    if isinstance(error, exc.DBAPIError):
        if error.connection_invalidated:
            return True
        sqlstate = getattr(error.orig, "sqlstate", None)
        if isinstance(sqlstate, str) and sqlstate.startswith(_PG_UNAVAILABLE_STATES):
            return True
        if isinstance(error, exc.OperationalError):
            message = str(error.orig).lower()
            return not any(text in message for text in _SQLITE_SCHEMA_ERRORS)
        return isinstance(error, exc.InterfaceError)
    return isinstance(error, exc.DisconnectionError | exc.TimeoutError | OSError)


def is_invalid_value(error: BaseException) -> bool:
    """True when the database refused a value (SQLSTATE class 22, "data exception": an integer past its
    column, NUL in text): the caller's input, not an outage."""
    if isinstance(error, exc.DataError):
        return True
    sqlstate = getattr(getattr(error, "orig", None), "sqlstate", None)
    return isinstance(error, exc.DBAPIError) and isinstance(sqlstate, str) and sqlstate.startswith("22")


@contextlib.contextmanager
def translate_errors(what: str) -> Iterator[None]:
    """Convert SQLAlchemy/driver exceptions into the ``StoreError`` tree (``raise ... from``)."""
    try:
        yield
    except StoreError:
        raise
    except exc.IntegrityError as error:
        raise DuplicateError(f"{what}: {_short(error)}") from error
    except OverflowError as error:  # SQLite: an integer past 64 bits
        raise InvalidValue(f"{what}: {error}") from error
    except (exc.SQLAlchemyError, OSError) as error:
        if is_invalid_value(error):
            raise InvalidValue(f"{what}: {_short(error)}") from error
        if is_unavailable(error):
            raise StoreUnavailable(f"{what}: database unavailable: {_short(error)}") from error
        raise StoreError(f"{what}: {_short(error)}") from error


def utc(epoch: float) -> datetime:
    """An aware UTC datetime of epoch seconds (what ``UtcDateTime`` columns take)."""
    return datetime.fromtimestamp(epoch, UTC)


class SqlReads:
    """The read side shared by the report stores: one engine, a time limit on each read, driver errors
    turned into the ``StoreError`` tree."""

    def __init__(self, engine: AsyncEngine, *, timeout: float = DEFAULT_CONNECT_TIMEOUT * 20) -> None:
        self._engine = engine
        self._timeout = timeout

    async def _rows(self, what: str, stmt: Any) -> list[Any]:
        with translate_errors(what):
            async with asyncio.timeout(self._timeout), self._engine.connect() as conn:
                return list((await conn.execute(stmt)).all())


def _short(error: BaseException) -> str:
    orig = getattr(error, "orig", None)
    text = str(orig if orig is not None else error) or type(error).__name__
    return text.splitlines()[0][:300]
