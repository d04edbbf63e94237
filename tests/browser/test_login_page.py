"""A person logs in through the real login page in Chromium, and hostile caller names stay text."""

from __future__ import annotations

from typing import Any

from callcenter.domain.calls import CallOutcome, CallRecord
from callcenter.domain.users import Role
from tests.browser.conftest import RunningService, screenshot_path

HOSTILE = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>']


async def login(page: Any, base: str, username: str, password: str) -> None:
    await page.goto(f"{base}/login")
    await page.fill("input[name=username]", username)
    await page.fill("input[name=password]", password)
    await page.click("button[type=submit]")


async def test_wrong_password_then_login_lands_on_the_role_page(
    page: Any, running_service: RunningService
) -> None:
    svc = running_service.service
    await svc.accounts.create_user("sam", "supervisor-pass-1", Role.SUPERVISOR, display_name="Sam Super")
    await login(page, running_service.url, "sam", "wrong-password")
    assert "/login" in page.url
    await page.wait_for_selector("text=invalid username or password")
    await page.screenshot(path=screenshot_path("login-failed"))
    await login(page, running_service.url, "sam", "supervisor-pass-1")
    await page.wait_for_url(f"{running_service.url}/wallboard")
    assert "Sam Super" in await page.content()
    await page.screenshot(path=screenshot_path("home-supervisor"))


async def test_unauthenticated_pages_redirect_to_login(page: Any, running_service: RunningService) -> None:
    await page.goto(f"{running_service.url}/qa/calls")
    assert page.url.startswith(f"{running_service.url}/login")


async def test_hostile_caller_names_render_as_text(page: Any, running_service: RunningService) -> None:
    svc = running_service.service
    await svc.accounts.create_user("quinn", "qa-password-1", Role.QA)
    await svc.store.save_calls(
        [
            CallRecord(
                call_id=f"1800000000.{i}",
                started_at=1_800_000_000.0 + i,
                caller_num="5550100",
                caller_name=name,
                outcome=CallOutcome.ANSWERED,
                ended_at=1_800_000_060.0,
                version=1,
            )
            for i, name in enumerate(HOSTILE)
        ]
    )
    dialogs: list[str] = []
    page.on("dialog", lambda d: dialogs.append(d.message))
    await login(page, running_service.url, "quinn", "qa-password-1")
    await page.wait_for_url(f"{running_service.url}/qa/calls")
    text = await page.inner_text("body")
    for name in HOSTILE:
        assert name in text  # shown literally
    assert await page.locator("img[src=x]").count() == 0
    assert dialogs == []
    await page.screenshot(path=screenshot_path("hostile-caller-names"))
