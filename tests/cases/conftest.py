"""Fixtures of the service-case suite: the store suite's databases (SQLite copy and PostgreSQL, TRUNCATEd
per test: the case tables hang off ``customers``), a case service on them with a settable clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import time

import pytest

from callcenter.domain.audit import AuditEntry
from callcenter.domain.cases import SlaPolicy
from callcenter.domain.ivr import Holiday, Schedule
from callcenter.services.cases import CaseService
from callcenter.services.crm import CrmService
from callcenter.store.cases import SqlCaseStore
from callcenter.store.crm import SqlCrmStore, create_store
from callcenter.store.crm_records import SqlCrmRecords
from tests.store.conftest import db_url, pg, sqlite_template  # noqa: F401 - fixtures

#: Monday 2026-12-07 09:00 UTC
MONDAY = 1_796_634_000.0

DAY = ((time(8, 0), time(19, 0)),)
CALENDAR = Schedule(
    "UTC", (DAY,) * 5 + (((time(9, 0), time(13, 0)),), ()), (Holiday(12, 25, None, "Christmas"),)
)


class Clock:
    def __init__(self, now: float = MONDAY) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class MemoryAudit:
    def __init__(self) -> None:
        self.entries: list[AuditEntry] = []

    async def save_audit(self, entry: AuditEntry) -> int:
        self.entries.append(entry)
        return len(self.entries)

    async def list_audit(
        self, since: float | None = None, actor: str | None = None, limit: int = 200
    ) -> list[AuditEntry]:
        return list(self.entries)


@pytest.fixture
async def sql_store(db_url: str) -> AsyncIterator[SqlCrmStore]:  # noqa: F811 - the imported fixture
    store = create_store(db_url)
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def audit() -> MemoryAudit:
    return MemoryAudit()


@pytest.fixture
def crm(sql_store: SqlCrmStore, clock: Clock) -> CrmService:
    return CrmService(SqlCrmRecords(sql_store.engine), clock=clock)


@pytest.fixture
def cases(sql_store: SqlCrmStore, crm: CrmService, clock: Clock, audit: MemoryAudit) -> CaseService:
    return CaseService(
        SqlCaseStore(sql_store.engine), crm, audit=audit, sla=SlaPolicy(schedule=CALENDAR), clock=clock
    )
