"""Reports read settled intervals from the rollup and the rest live; the figures are the same either way
(issue #8). The rollup is written a window at a time and can be rebuilt to the same rows."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest
from sqlalchemy import text

from callcenter.domain.errors import StoreUnavailable
from callcenter.domain.kpis import SlConvention
from callcenter.domain.reports import Granularity, period
from callcenter.services.reports import SETTLE, ReportRequest, ReportService
from callcenter.store.crm import SqlCrmStore
from tests.reports.seed import DAY, DAY_START, TZ, seed_day
from tests.reports.test_reports_crosscheck import _load


async def _reset_rollup(crm: SqlCrmStore) -> None:
    async with crm.engine.begin() as conn:
        for table in ("report_intervals", "report_pauses", "report_rollup_state"):
            await conn.execute(text(f"DELETE FROM {table}"))


async def _all_reports(svc: ReportService) -> dict[str, Any]:
    day = period("day", DAY, TZ)
    out: dict[str, Any] = {}
    for name, req in (
        ("queue", ReportRequest(day)),
        ("queue-sales-15m", ReportRequest(day, queue="sales", granularity=Granularity.QUARTER)),
        ("queue-agent", ReportRequest(day, agent="1002")),
        ("hourly", ReportRequest(day)),
        ("agents", ReportRequest(day)),
        ("agents-1003", ReportRequest(day, agent="1003")),
        ("agents-support", ReportRequest(day, queue="support")),
        ("month", ReportRequest(period("month", DAY, TZ))),
    ):
        kind = "hourly" if name == "hourly" else ("agents" if name.startswith("agents") else "queue")
        report = await svc.run(kind, req)
        out[name] = (report.rows, report.totals)
    return out


def _assert_same(a: Any, b: Any, where: str = "") -> None:
    if isinstance(a, dict):
        assert set(a) == set(b), where
        for k in a:
            _assert_same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert a == pytest.approx(b, abs=0.11), where  # rounded figures: one rounding step apart at most
    else:
        assert a == b, where


async def test_settled_intervals_give_the_same_reports(crm: SqlCrmStore) -> None:
    seed = seed_day()
    svc = await _load(crm, seed)
    await _reset_rollup(crm)
    live = await _all_reports(svc)
    # settled up to 14:00 local: the morning from the rollup, the afternoon live
    assert await svc.rollup(DAY_START + 14 * 3600 + SETTLE, window=5 * 3600) >= 2
    assert await svc.store.settled_until() == DAY_START + 14 * 3600
    _assert_same(await _all_reports(svc), live, "half settled")
    # settled past the whole day
    await svc.rollup(DAY_START + 3 * 86_400)
    _assert_same(await _all_reports(svc), live, "settled")
    # nothing left to do; a rebuild from scratch writes the same rows
    assert await svc.rollup(DAY_START + 3 * 86_400) == 0
    async with crm.engine.connect() as conn:
        before = (await conn.execute(text("SELECT * FROM report_intervals ORDER BY 1, 2, 3, 4"))).all()
    await _reset_rollup(crm)
    await svc.rollup(DAY_START + 3 * 86_400, window=7 * 3600)
    async with crm.engine.connect() as conn:
        after = (await conn.execute(text("SELECT * FROM report_intervals ORDER BY 1, 2, 3, 4"))).all()
    assert len(after) == len(before) > 0
    for x, y in zip(before, after, strict=True):
        assert x[:4] == y[:4]
        assert tuple(x[4:]) == pytest.approx(tuple(y[4:]), abs=1e-6)


async def test_rollup_of_an_empty_store_does_nothing(crm: SqlCrmStore) -> None:
    async with crm.engine.begin() as conn:
        await conn.execute(text("DELETE FROM calls"))
    svc = await _load(crm, seed_day().__class__())
    await _reset_rollup(crm)
    assert await svc.rollup(DAY_START) == 0
    assert await svc.store.settled_until() is None


async def test_the_background_rollup_survives_a_store_that_is_away() -> None:
    class Away:
        async def settled_until(self) -> float | None:
            raise StoreUnavailable("database unreachable")

    svc = ReportService(
        Away(),  # type: ignore[arg-type]
        threshold_of=lambda _q: 20.0,
        convention=lambda _s: SlConvention.ANSWERED,
        short_abandon=lambda: 5.0,
    )
    task = asyncio.create_task(svc.rollup_forever(every=0.01))
    await asyncio.sleep(0.1)
    assert not task.done()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert svc.stats["rollup_errors"] >= 2 and svc.stats["rollup_runs"] == 0
