"""The wallboard in Chromium shows the PBX Ping figure, raises "PBX slow" and clears it (issue 13.8), with
no error in the browser console (a favicon is served: no 404) and no ∞ shown to people (issue 18).

The whole service runs against the fake PBX whose Ping replies can be delayed; the page gets every
change over its websocket. A screenshot of the alert goes to ``test-artifacts/wallboard-pbx-slow.png``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from callcenter.app import Service
from callcenter.config import Secret
from callcenter.domain.users import Role
from tests.browser.conftest import screenshot_path
from tests.support.ami_server import FakeAmiServer
from tests.wallboard.test_pbx_health import SlowPings


@dataclasses.dataclass
class Board:
    service: Service
    url: str
    pings: SlowPings


@pytest.fixture
async def board(tmp_path: Path) -> AsyncIterator[Board]:
    pings = SlowPings()
    async with FakeAmiServer() as pbx:
        pbx.on_action("Ping", pings)
        settings = dataclasses.replace(
            pbx.settings(ami_ping_interval=0.1, ami_ping_timeout=3.0),
            database_url=f"sqlite+aiosqlite:///{tmp_path / 'board.db'}",
            session_secret=Secret("browser-test-secret"),
            pbx_slow_ping_ms=100.0,
            pbx_slow_for=0.5,
        )
        service = Service(settings)
        runner = web.AppRunner(service.web_app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        try:
            yield Board(service, f"http://127.0.0.1:{runner.addresses[0][1]}", pings)
        finally:
            await runner.cleanup()


async def test_wallboard_shows_the_pbx_ping_and_its_alert(page: Any, board: Board) -> None:
    console: list[str] = []
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}") if m.type == "error" else None)
    failed: list[str] = []
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    await board.service.accounts.create_user("sam", "supervisor-pass-1", Role.SUPERVISOR)
    await page.goto(f"{board.url}/login?next=/wallboard")
    await page.fill("input[name=username]", "sam")
    await page.fill("input[name=password]", "supervisor-pass-1")
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{board.url}/wallboard")
    ping = page.get_by_test_id("pbx-ping")
    await ping.wait_for(state="visible")
    await page.wait_for_function(
        "() => /^[0-9.]+ ms$/.test(document.querySelector('[data-testid=pbx-ping]').textContent)"
    )
    assert re.fullmatch(r"[0-9.]+ ms", await ping.text_content() or "")
    assert await page.locator("[data-testid=pbx-chart] polyline").count() == 1
    alert = page.get_by_test_id("pbx-alert")
    assert (await alert.text_content() or "") == ""

    board.pings.delay = 0.2  # 200 ms, threshold 100 ms for 0.5 s
    await page.wait_for_function(
        "() => document.querySelector('[data-testid=pbx-alert]').textContent.startsWith('PBX slow')"
    )
    assert await page.locator("#wb-pbx.alert").count() == 1
    assert await page.locator('.wb-scope.center.alert[data-scope="*"]').count() == 1
    await page.screenshot(path=screenshot_path("wallboard-pbx-slow"), full_page=True)

    board.pings.delay = 0.0
    await page.wait_for_function("() => document.querySelector('[data-testid=pbx-alert]').textContent === ''")
    assert await page.locator("#wb-pbx.alert").count() == 0

    assert "∞" not in await page.locator("#wallboard").inner_text()
    assert console == [], console
    assert failed == [], failed
