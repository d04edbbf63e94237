"""Fixtures of the CRM suite.

Store tests reuse the store suite's databases (``db_url``: a migrated SQLite copy and the PostgreSQL
test database, TRUNCATEd per test; the CRM tables hang off ``customers`` so ``TRUNCATE ... CASCADE``
empties them too). Web tests run the real web app on a real SQLite store (no fakes: the CRM queries are
what is under test). The browser test reuses the Playwright fixtures of ``tests/browser``.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from callcenter.config import Secret, Settings
from callcenter.domain.users import Role, User
from callcenter.services.accounts import Accounts
from callcenter.services.crm import CrmService
from callcenter.store.crm import SqlCrmStore, create_store
from callcenter.store.crm_records import SqlCrmRecords
from callcenter.webapp import create_web_app
from tests.browser.conftest import browser, page, running_service  # noqa: F401 - fixtures
from tests.store.conftest import db_url, pg, sqlite_template  # noqa: F401 - fixtures
from tests.webapp.conftest import FAST_ARGON2, Health
from tests.webapp.helpers import PASSWORD, SECRET


@pytest.fixture
async def sql_store(db_url: str) -> AsyncIterator[SqlCrmStore]:  # noqa: F811 - the imported fixture
    store = create_store(db_url)
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
def records(sql_store: SqlCrmStore) -> SqlCrmRecords:
    return SqlCrmRecords(sql_store.engine)


@pytest.fixture
async def web_store(tmp_path: Path, sqlite_template: Path) -> AsyncIterator[SqlCrmStore]:  # noqa: F811
    path = tmp_path / "web.db"
    shutil.copyfile(sqlite_template, path)
    store = create_store(f"sqlite+aiosqlite:///{path}")
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
def crm(web_store: SqlCrmStore) -> CrmService:
    return CrmService(SqlCrmRecords(web_store.engine))


@pytest.fixture
async def web_users(web_store: SqlCrmStore) -> dict[str, User]:
    accounts = Accounts(web_store, **FAST_ARGON2)
    return {
        "admin": await accounts.create_user("admin", PASSWORD, Role.ADMIN, "Ada Admin"),
        "sup": await accounts.create_user("sup", PASSWORD, Role.SUPERVISOR, "Sam Supervisor"),
        "qa": await accounts.create_user("qa", PASSWORD, Role.QA, "Quinn QA"),
        "alice": await accounts.create_user("alice", PASSWORD, Role.AGENT, "Alice Agent", agent="1001"),
        "bob": await accounts.create_user("bob", PASSWORD, Role.AGENT, "Bob Agent", agent="1002"),
    }


@pytest.fixture
def crm_app(web_store: SqlCrmStore, crm: CrmService) -> web.Application:
    return create_web_app(
        Settings(session_secret=Secret(SECRET)),
        store=web_store,
        accounts=Accounts(web_store, **FAST_ARGON2),
        health=Health(),
        crm=crm,
    )


@pytest.fixture
async def client(crm_app: web.Application, web_users: dict[str, User]) -> AsyncIterator[TestClient[Any, Any]]:
    async with TestClient(TestServer(crm_app)) as test_client:
        yield test_client
