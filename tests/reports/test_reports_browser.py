"""Browser (Playwright + Debian Chromium): a supervisor opens the queue report of a seeded day, sees the
SVG chart and the table, and downloads the CSV (its content is checked). Screenshots:
``test-artifacts/reports-queue.png``, ``reports-agents.png``."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from callcenter.domain.users import Role
from callcenter.store.agent_log import SqlAgentStateLog
from tests.browser.conftest import (  # noqa: F401 - fixtures
    RunningService,
    browser,
    page,
    running_service,
    screenshot_path,
)
from tests.reports.seed import DAY, DAY_END, DAY_START, TZ, seed_day


async def test_supervisor_queue_report_and_csv(
    page: Any,  # noqa: F811
    running_service: RunningService,  # noqa: F811
    tmp_path: Path,
) -> None:
    svc = running_service.service
    seed = seed_day()
    await svc.store.save_calls(seed.calls)
    await SqlAgentStateLog(svc.store.engine).save_transitions(seed.transitions)
    await svc.accounts.create_user("sam", "supervisor-pass-1", Role.SUPERVISOR, "Sam")
    offered = sum(1 for c in seed.calls if c.queued_at is not None and DAY_START <= c.queued_at < DAY_END)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    url = running_service.url

    await page.goto(f"{url}/login?next=/reports")
    await page.fill("input[name=username]", "sam")
    await page.fill("input[name=password]", "supervisor-pass-1")
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{url}/reports")
    await page.select_option("select[name=report]", "queue")
    await page.select_option("select[name=period]", "day")
    await page.fill("input[name=date]", DAY)
    await page.fill("input[name=tz]", TZ)
    await page.click("[data-testid=report-filters] button[type=submit]")
    await page.wait_for_selector("[data-testid=report-chart] rect")
    assert "Queue report" in await page.locator("[data-testid=report-title]").inner_text()
    footer = await page.locator("[data-testid=report-table] tfoot td").all_inner_texts()
    assert footer[0] == "Total" and footer[1] == str(offered)
    await page.screenshot(path=screenshot_path("reports-queue"), full_page=True)

    async with page.expect_download() as info:
        await page.click("[data-testid=report-csv]")
    download = await info.value
    assert download.suggested_filename == f"queue-day-{DAY}.csv"
    target = tmp_path / "queue.csv"
    await download.save_as(str(target))
    rows = list(csv.reader(io.StringIO(target.read_text(encoding="utf-8"))))
    assert rows[0][:3] == ["Interval", "Offered", "Answered"]
    assert rows[-1][0] == "Total" and int(rows[-1][1]) == offered
    assert sum(int(r[1]) for r in rows[1:-1]) == offered
    assert all(r[0].startswith(DAY) for r in rows[1:-1])

    await page.select_option("select[name=report]", "agents")
    await page.click("[data-testid=report-filters] button[type=submit]")
    await page.wait_for_selector("[data-testid=report-table] tbody tr")
    assert await page.locator("[data-testid=report-table] tbody tr").count() == 4
    await page.screenshot(path=screenshot_path("reports-agents"), full_page=True)
    assert errors == []
