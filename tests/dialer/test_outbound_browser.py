"""The ``/campaigns`` pages in Chromium: a supervisor creates a campaign, imports contacts (a bad file is
refused with its line numbers, nothing imported), starts and pauses it; caller data stays text."""

from __future__ import annotations

from typing import Any

from callcenter.domain.users import Role
from tests.browser.conftest import RunningService, browser, page, running_service, screenshot_path  # noqa: F401
from tests.browser.test_login_page import login

HOSTILE = '<img src=x onerror="window.__xss=1">'


async def test_supervisor_runs_a_campaign_from_the_page(
    page: Any,  # noqa: F811
    running_service: RunningService,  # noqa: F811
    tmp_path: Any,
) -> None:
    svc, base = running_service.service, running_service.url
    await svc.accounts.create_user("sam", "supervisor-pass-1", Role.SUPERVISOR, "Sam")
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await login(page, base, "sam", "supervisor-pass-1")
    await page.wait_for_url(f"{base}/wallboard")
    await page.click("a[href='/campaigns']")
    await page.wait_for_url(f"{base}/campaigns")
    form = page.locator("#campaign-form")
    await form.locator("input[name=name]").fill("")
    await form.locator("input[name=name]").evaluate("el => el.removeAttribute('required')")
    await form.locator("button[type=submit]").click()
    assert (await page.locator(".alert").first.inner_text()).startswith("Name: 1-64 letters")
    await form.locator("input[name=name]").fill("Complaint follow-ups")
    await form.locator("select[name=queue]").select_option(index=0)
    await form.locator("select[name=mode]").select_option("progressive")
    await form.locator("textarea[name=script]").fill(f"Ask about the repair {HOSTILE}")
    await form.locator("button[type=submit]").click()
    await page.wait_for_url(f"{base}/campaigns/*")
    assert await page.locator("#campaign-title").inner_text() == "Complaint follow-ups"
    assert HOSTILE in await page.locator(".script").inner_text()  # shown as text

    bad = tmp_path / "bad.csv"
    bad.write_text("phone,name\nnot-a-number,Ann\n2025550101,Bob\n2025550101,Bob again\n", encoding="utf-8")
    await page.locator("#import-form input[type=file]").set_input_files(str(bad))
    await page.locator("#import-form button").click()
    alerts = await page.locator(".alert").all_inner_texts()
    assert alerts == ["row 2: phone: not a phone number", "row 4: phone: number repeated, first on row: 3"]
    assert await page.locator("#contacts-table tbody tr").count() == 0

    good = tmp_path / "good.csv"
    good.write_text(
        f"phone,name,reason\n2025550101,{HOSTILE},refund\n+33145678901,Zoé,repair\n", encoding="utf-8"
    )
    await page.locator("#import-form input[type=file]").set_input_files(str(good))
    await page.locator("#import-form button").click()
    assert "2 contacts added" in await page.locator("#import-notice").inner_text()
    rows = page.locator("#contacts-table tbody tr")
    assert await rows.count() == 2
    assert HOSTILE in await rows.first.inner_text()

    await page.click("button[data-status=running]")
    await page.wait_for_selector("#campaign-status[data-label=running]")
    assert await page.locator("#campaign-status").text_content() == "Running"  # the label, not the code
    await page.screenshot(path=screenshot_path("campaign-running"), full_page=True)
    await page.click("button[data-status=paused]")
    await page.wait_for_selector("#campaign-status[data-label=paused]")
    assert await page.locator("#campaign-status").text_content() == "Paused"  # the label, not the code
    assert await page.evaluate("window.__xss") is None
    assert errors == []
    audit = [e.action for e in await svc.audit.list_audit()]
    assert {"campaign.create", "campaign.import", "campaign.running", "campaign.paused"} <= set(audit)
