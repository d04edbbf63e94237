"""Browser (Playwright + Debian Chromium): the demo's recordings can be heard. The simulator's MixMonitor
writes a real WAV for each answered call into the service's recordings directory; the service fills in
size, duration and checksum in the background; a QA user plays and seeks it on the QA call page (HTTP 206
with Range) which shows the file name, not the server's path; the agent who took the call plays it too.
The demo runs at 10x simulated speed (see tests/demo/test_demo_center.py for what that scales)."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from callcenter.demo_center import DemoCenter
from tests.browser.conftest import browser, page  # noqa: F401 - fixtures
from tests.demo.test_demo_center import _running, _settings


def _finished_recording(db: Path) -> tuple[int, str, float, str] | None:
    """(recording id, call id, duration, agent) of a recording with its metadata filled, if any."""
    with sqlite3.connect(db) as conn:
        row = conn.execute(
            "SELECT r.id, r.call_id, r.duration_seconds, c.agent_id FROM recordings r "
            "JOIN calls c ON c.id = r.call_id WHERE r.sha256 IS NOT NULL AND r.duration_seconds > 3 "
            "AND c.agent_id IS NOT NULL ORDER BY r.id LIMIT 1"
        ).fetchone()
    return None if row is None else (int(row[0]), str(row[1]), float(row[2]), str(row[3]))


async def _login(page: Any, base: str, user: str, password: str, next_url: str) -> None:  # noqa: F811
    await page.context.clear_cookies()
    await page.goto(f"{base}/login?next={next_url}")
    await page.fill("input[name=username]", user)
    await page.fill("input[name=password]", password)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{base}{next_url}")


@pytest.mark.timeout(180)
async def test_demo_recordings_play_and_seek(page: Any, tmp_path: Path) -> None:  # noqa: F811
    settings = _settings(tmp_path)
    db = tmp_path / "demo.db"
    statuses: list[tuple[int, str | None]] = []

    def on_response(r: Any) -> None:
        if "/audio" in r.url:
            statuses.append((r.status, r.headers.get("content-range")))

    page.on("response", on_response)
    async with DemoCenter(settings, speed=10.0, seed=3) as center, _running(center) as base:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 120.0
        found = None
        while found is None and loop.time() < deadline:
            found = await asyncio.to_thread(_finished_recording, db)
            if found is None:
                await asyncio.sleep(0.5)
        assert found is not None, center.sim.report().format()
        rid, call_id, duration, agent = found
        await _login(page, base, "qa", "qa-demo-pw", f"/qa/calls/{call_id}")
        caption = await page.locator("figure.qa-recording figcaption").first.text_content()
        assert (
            caption is not None
            and settings.recordings_dir not in caption
            and "/" not in caption.split("·")[0]
        )
        assert (await page.locator("[data-testid=qa-recording-name]").first.text_content() or "").endswith(
            ".wav"
        )
        await page.wait_for_function(
            "(d) => { const a = document.querySelector('[data-testid=qa-audio]'); "
            "return a && a.readyState >= 1 && Math.abs(a.duration - d) < 0.1; }",
            arg=duration,
            timeout=15_000,
        )
        await page.evaluate(
            "async (d) => { const a = document.querySelector('[data-testid=qa-audio]'); a.muted = true; "
            "try { await a.play(); } catch (e) {} a.currentTime = d / 2; }",
            duration,
        )
        await page.wait_for_function(
            "(d) => document.querySelector('[data-testid=qa-audio]').currentTime >= d / 2",
            arg=duration,
            timeout=10_000,
        )
        assert any(s == 206 and r and r.startswith("bytes ") for s, r in statuses), statuses

        # the compressed copy (MP3, transcoded by LAME on first request) plays and seeks too
        mp3 = await page.locator("[data-testid=qa-mp3]").first.get_attribute("href")
        assert mp3 == f"/api/recordings/{rid}/audio?format=mp3"
        statuses.clear()
        heard = await page.evaluate(
            "(u) => new Promise((ok, fail) => { const a = new Audio(u); a.muted = true; "
            "a.onerror = () => fail('mp3 error ' + (a.error && a.error.code)); "
            "a.onloadedmetadata = () => { const d = a.duration; a.currentTime = d / 2; "
            "a.onseeked = () => ok([d, a.currentTime]); }; })",
            mp3,
        )
        assert abs(heard[0] - duration) < 0.5 and heard[1] >= duration / 2 - 0.5, (heard, duration)
        assert any(s in (200, 206) for s, _ in statuses), statuses

        # the agent who took the call hears it too (a Range request from the agent's session)
        await _login(page, base, f"agent{agent}", f"agent{agent}-demo-pw", "/agent")
        status, length, riff = await page.evaluate(
            "async (u) => { const r = await fetch(u, {headers: {Range: 'bytes=0-99'}}); "
            "const b = new Uint8Array(await r.arrayBuffer()); "
            "return [r.status, b.length, String.fromCharCode(...b.slice(0, 4))]; }",
            f"/api/recordings/{rid}/audio",
        )
        assert (status, length, riff) == (206, 100, "RIFF")
