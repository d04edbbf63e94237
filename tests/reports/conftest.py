"""Fixtures of the reports suite: the QA suite's migrated databases (SQLite, PostgreSQL) and a seeded day."""

from __future__ import annotations

from tests.qa.conftest import crm, qa_db_url  # noqa: F401 - fixtures
from tests.store.conftest import pg, sqlite_template  # noqa: F401 - fixtures
