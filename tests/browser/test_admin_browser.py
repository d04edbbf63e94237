"""Administration in Chromium: an admin creates a user, edits a queue, builds a QA form with the builder;
an agent is refused ``/admin``. Screenshots: ``test-artifacts/admin-*.png``."""

from __future__ import annotations

from typing import Any

from callcenter.domain.users import Role
from tests.browser.conftest import RunningService, screenshot_path
from tests.browser.test_login_page import login


async def test_admin_creates_user_edits_queue_builds_qa_form(
    page: Any, running_service: RunningService
) -> None:
    svc, base = running_service.service, running_service.url
    await svc.accounts.create_user("ada", "admin-pass-123", Role.ADMIN, "Ada")
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await login(page, base, "ada", "admin-pass-123")
    await page.wait_for_url(f"{base}/admin")
    await page.screenshot(path=screenshot_path("admin-overview"), full_page=True)

    # a user
    await page.click("a[href='/admin/users']")
    create = page.locator("[data-testid=user-create]")
    await create.locator("input[name=username]").fill("quinn")
    await create.locator("input[name=password]").fill("quality-pass-1")
    await create.locator("select[name=role]").select_option("qa")
    await create.locator("input[name=display_name]").fill("Quinn QA")
    await create.locator("button[type=submit]").click()
    await page.wait_for_selector("[data-testid=admin-notice]")
    assert await page.locator("tr[data-user=quinn]").count() == 1
    await page.screenshot(path=screenshot_path("admin-users"), full_page=True)

    # a queue
    await page.click("nav.admin-nav a[href='/admin/queues']")
    queue = page.locator("form[data-queue=support]")
    await queue.locator("select[name=strategy]").select_option("longest_idle")
    await queue.locator("input[name=wrapup]").fill("12")
    await queue.locator("button:text('Save')").click()
    await page.wait_for_selector("[data-testid=admin-notice]")
    assert svc.acd.queues["support"].strategy.value == "longest_idle"
    assert svc.acd.queues["support"].wrapup == 12.0

    # a QA form: two sections, a scale question and an instant-fail item
    await page.click("nav.admin-nav a[href='/admin/qa-forms']")
    await page.fill("#qa-b-name", "Sales calls")
    first = page.locator(".qa-b-section").nth(0)
    await first.locator(".qa-b-title").fill("Opening")
    q = first.locator(".qa-b-question").nth(0)
    await q.locator(".qa-b-id").fill("verify")
    await q.locator(".qa-b-text").fill("Verified the caller")
    await q.locator(".qa-b-weight").fill("2")
    await q.locator(".qa-b-fail").check()
    await page.click("#qa-b-add-section")
    second = page.locator(".qa-b-section").nth(1)
    await second.locator(".qa-b-title").fill("Resolution")
    q2 = second.locator(".qa-b-question").nth(0)
    await q2.locator(".qa-b-id").fill("solve")
    await q2.locator(".qa-b-text").fill("Solved the problem")
    await q2.locator(".qa-b-kind").select_option("scale")
    await q2.locator(".qa-b-max").fill("4")
    await page.screenshot(path=screenshot_path("admin-qa-builder"), full_page=True)
    await page.click("[data-testid=qa-b-save]")
    await page.wait_for_url(f"{base}/admin/qa-forms?done=form-saved")
    form = next(f for f in await svc.qa.forms() if f.name == "Sales calls")
    questions = {q.id: q for q in form.questions()}
    assert questions["verify"].instant_fail and questions["verify"].weight == 2.0
    assert questions["solve"].kind.value == "scale" and questions["solve"].max_points == 4
    actions = [e.action for e in await svc.audit.list_audit(limit=50)]
    assert {"admin.user.create", "admin.queue.save", "admin.qa_form.create"} <= set(actions)
    assert errors == []


async def test_agent_is_refused_admin(page: Any, running_service: RunningService) -> None:
    svc, base = running_service.service, running_service.url
    await svc.accounts.create_user("alice", "agent-pass-123", Role.AGENT, "Alice", agent="1001")
    await login(page, base, "alice", "agent-pass-123")
    await page.wait_for_url(f"{base}/agent")
    resp = await page.goto(f"{base}/admin/users")
    assert resp.status == 403
    assert await page.locator("[data-testid=users-table]").count() == 0
