"""Wallboard fixtures: an ACD on the in-memory state and bus, a migrated SQLite store, a KPI service."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from callcenter.domain.acd import AcdConfig, AgentConfig, Membership, QueueConfig
from callcenter.services.acd import AcdService
from callcenter.services.kpi import KpiService
from callcenter.services.kpi_config import KpiConfig
from callcenter.state.bus import InProcessBus
from callcenter.state.memory import MemoryAcdState
from callcenter.store.agent_log import SqlAgentStateLog
from callcenter.store.crm import SqlCrmStore, create_store
from callcenter.store.migrate import migrate

#: local noon of a fixed day: every window of the scenarios lies inside "today"
NOON = time.mktime((2026, 11, 24, 12, 0, 0, 0, 0, -1))

QUEUES = (
    QueueConfig(name="support", sl_threshold=20, sl_target=0.8, wrapup=10),
    QueueConfig(name="sales", sl_threshold=30, sl_target=0.8, wrapup=5),
)
AGENTS = tuple(
    AgentConfig(
        id=str(1001 + i),
        name=f"Agent {1001 + i}",
        endpoint=f"PJSIP/{1001 + i}",
        queues=(Membership("support"),) if i < 4 else (Membership("support"), Membership("sales")),
        order=i + 1,
    )
    for i in range(6)
)


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class KpiRig:
    kpi: KpiService
    acd: AcdService
    store: SqlCrmStore
    log: SqlAgentStateLog
    clock: Clock


@pytest.fixture
async def kpi_rig(tmp_path: Path) -> AsyncIterator[KpiRig]:
    url = f"sqlite+aiosqlite:///{tmp_path}/kpi.db"
    await migrate(url)
    store = create_store(url)
    log = SqlAgentStateLog(store.engine)
    clock = Clock(NOON - 7200)
    acd = AcdService(MemoryAcdState(), InProcessBus(), transitions=log, clock=clock)
    await acd.apply_config(AcdConfig(queues=QUEUES, agents=AGENTS))
    kpi = KpiService(
        acd,
        config=KpiConfig(conventions={"sales": KpiConfig().default_convention.__class__("asterisk_sl2")}),
        store=store,
        transitions=log,
        clock=clock,
    )
    unsubscribe = acd.bus.subscribe(kpi.on_bus)
    try:
        yield KpiRig(kpi, acd, store, log, clock)
    finally:
        unsubscribe()
        await store.close()
