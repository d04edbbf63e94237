"""Browser tests: Playwright driving Debian's Chromium (``/usr/bin/chromium``) against the real service.

No browser is downloaded: Playwright's Python package brings its driver, and the browser is the
system's Chromium (``apt-get install chromium``; ``.ci/run`` installs it). Where it is missing the
tests skip with the reason, unless ``CALLCENTER_REQUIRE_SERVICES=1`` (CI), where they fail.
Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from callcenter.app import Service
from callcenter.config import Secret
from tests.support.ami_server import FakeAmiServer

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str | None:
    for candidate in (os.environ.get("CALLCENTER_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and os.path.exists(candidate):
            return candidate
    return None


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    path = chromium_path()
    reason = "Debian's chromium is not installed (apt-get install chromium)"
    try:
        from playwright.async_api import async_playwright
    except ImportError:  # pragma: no cover - dev extra not installed
        path, reason = None, "playwright is not installed (pip install -e '.[dev]')"
    if path is None:
        if os.environ.get("CALLCENTER_REQUIRE_SERVICES") == "1":
            pytest.fail(f"browser tests are required here: {reason}")
        pytest.skip(reason)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=path, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture
async def page(browser: Any) -> AsyncIterator[Any]:
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    page = await context.new_page()
    page.set_default_timeout(10_000)
    try:
        yield page
    finally:
        await context.close()


@dataclasses.dataclass
class RunningService:
    service: Service
    url: str
    pbx: FakeAmiServer


@pytest.fixture
async def running_service(tmp_path: Path) -> AsyncIterator[RunningService]:
    """The whole service on a free port, its AMI link on a fake PBX, a fresh SQLite file."""
    async with FakeAmiServer() as pbx:
        settings = dataclasses.replace(
            pbx.settings(),
            database_url=f"sqlite+aiosqlite:///{tmp_path / 'web.db'}",
            session_secret=Secret("browser-test-secret"),
            http_port=0,
            agi_port=0,
        )
        service = Service(settings)
        runner = web.AppRunner(service.web_app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        try:
            yield RunningService(service, f"http://127.0.0.1:{port}", pbx)
        finally:
            await runner.cleanup()


def screenshot_path(name: str) -> str:
    ARTIFACTS.mkdir(exist_ok=True)
    return str(ARTIFACTS / f"{name}.png")
