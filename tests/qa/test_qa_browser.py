"""Browser (Playwright + Debian Chromium): a QA user searches calls, opens one, plays its recording (a real
WAV under a temp recordings_dir, served with HTTP Range), seeks, and scores it with a form.
Screenshots: ``test-artifacts/qa-search.png``, ``qa-call.png``, ``qa-calibration.png``."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from callcenter.app import Service
from callcenter.config import Secret
from callcenter.domain.users import Role
from tests.browser.conftest import browser, page, screenshot_path  # noqa: F401 - fixtures
from tests.qa.conftest import FORM, sample_calls, write_wav
from tests.support.ami_server import FakeAmiServer


@dataclasses.dataclass
class Site:
    service: Service
    url: str
    form_id: int = 0


@pytest.fixture
async def qa_site(tmp_path: Path) -> AsyncIterator[Site]:
    recordings = tmp_path / "recordings"
    write_wav(recordings / "2023" / "c1.wav", seconds=3.0)
    async with FakeAmiServer() as pbx:
        settings = dataclasses.replace(
            pbx.settings(),
            database_url=f"sqlite+aiosqlite:///{tmp_path / 'qa-web.db'}",
            session_secret=Secret("qa-browser-secret-0123456789"),
            http_port=0,
            agi_port=0,
            recordings_dir=str(recordings),
        )
        service = Service(settings)
        runner = web.AppRunner(service.web_app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        try:
            await service.link.wait_ready(5)
            await service.accounts.create_user("quinn", "quality-pass-1", Role.QA, "Quinn QA")
            admin = await service.accounts.create_user("ada", "admin-pass-123", Role.ADMIN, "Ada")
            await service.store.save_calls(sample_calls())
            form = await service.qa.create_form(admin, str(FORM["name"]), FORM["sections"])
            yield Site(service, f"http://127.0.0.1:{runner.addresses[0][1]}", form.id)
        finally:
            await runner.cleanup()


async def test_qa_search_play_and_score(page: Any, qa_site: Site) -> None:  # noqa: F811
    audio_statuses: list[tuple[int, str | None]] = []
    page.on(
        "response",
        lambda r: (
            audio_statuses.append((r.status, r.headers.get("content-range"))) if "/audio" in r.url else None
        ),
    )
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    await page.goto(f"{qa_site.url}/login?next=/qa/calls")
    await page.fill("input[name=username]", "quinn")
    await page.fill("input[name=password]", "quality-pass-1")
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{qa_site.url}/qa/calls")
    await page.wait_for_selector("#qa-rows tr[data-call=c4]")
    assert "Abandoned in IVR" in str(await page.text_content("#qa-rows tr[data-call=c4]"))
    assert "abandoned_in_ivr" not in str(await page.text_content("#qa-rows"))

    await page.fill("input[name=queue]", "sales")
    await page.select_option("select[name=has_recording]", "true")
    await page.click("[data-testid=qa-search-button]")
    await page.wait_for_function("() => document.querySelectorAll('#qa-rows tr').length === 1")
    assert await page.locator("#qa-rows tr").get_attribute("data-call") == "c1"
    await page.screenshot(path=screenshot_path("qa-search"), full_page=True)

    await page.click("#qa-rows tr[data-call=c1] a")
    await page.wait_for_url(f"{qa_site.url}/qa/calls/c1")
    assert await page.locator("[data-testid=qa-timeline] li.tl-transfer").count() == 1
    # human labels and browser-local times (format.js), never raw enum values or UTC ISO strings
    assert await page.text_content("[data-testid=qa-outcome]") == "Answered"
    first_time = str(await page.text_content("[data-testid=qa-timeline] li time"))
    assert "T" not in first_time and not first_time.endswith("Z"), first_time

    # the <audio> element loads the real WAV (metadata: 3 s), then plays and seeks
    await page.wait_for_function(
        "() => { const a = document.querySelector('[data-testid=qa-audio]'); "
        "return a && a.readyState >= 1 && Math.abs(a.duration - 3) < 0.05; }",
        timeout=15_000,
    )
    await page.evaluate(
        "async () => { const a = document.querySelector('[data-testid=qa-audio]'); a.muted = true; "
        "try { await a.play(); } catch (e) {} a.currentTime = 2.0; }"
    )
    await page.wait_for_function(
        "() => document.querySelector('[data-testid=qa-audio]').currentTime >= 2.0", timeout=10_000
    )
    assert any(status == 206 and rng and rng.startswith("bytes ") for status, rng in audio_statuses), (
        audio_statuses
    )

    form = page.locator(f"[data-testid=qa-form-{qa_site.form_id}]")  # beside the shipped default form
    await form.locator("input[name$='-greet'][value='1']").check()
    await form.locator("input[name$='-verify'][value='1']").check()
    await form.locator("select[name$='-solve']").select_option("4")
    await form.locator("input[name$='-upsell'][value='na']").check()
    await form.locator("input[name$='-greet-comment']").fill("friendly greeting")
    await form.locator("[data-testid=qa-submit]").click()
    result = form.locator("[data-testid=qa-result]")
    await page.wait_for_function(
        "id => document.querySelector(`[data-testid=qa-form-${id}] [data-testid=qa-result]`)"
        ".textContent.startsWith('Saved')",
        arg=qa_site.form_id,
    )
    expected = round(100 * (1 + 2 + 3 * 0.8) / 6, 2)
    assert f"{expected:.2f}" in (await result.text_content())
    await page.screenshot(path=screenshot_path("qa-call"), full_page=True)

    [ev] = await qa_site.service.qa.store.evaluations_for_call("c1")
    assert ev.evaluator == "quinn" and ev.score == expected and ev.answers[0].comment == "friendly greeting"
    plays = await qa_site.service.recordings.store.playbacks()
    assert plays and plays[0].actor == "quinn"

    await page.goto(f"{qa_site.url}/qa/calls/c1/calibration")
    await page.wait_for_selector("#qa-cal-rows tr.qa-total")
    await page.screenshot(path=screenshot_path("qa-calibration"), full_page=True)
    assert errors == []
