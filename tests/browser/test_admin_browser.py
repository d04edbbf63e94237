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


async def test_admin_edits_codes_phones_and_holidays(page: Any, running_service: RunningService) -> None:
    """The three settings pages (issue 18 part 3) in Chromium: a queue's codes, a supervisor's phone with
    a bad one refused first, a holiday added then removed; each used at once and audited."""
    svc, base = running_service.service, running_service.url
    await svc.accounts.create_user("ada", "admin-pass-123", Role.ADMIN, "Ada")
    await svc.accounts.create_user("sam", "super-pass-123", Role.SUPERVISOR, "Sam")
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await login(page, base, "ada", "admin-pass-123")
    await page.wait_for_url(f"{base}/admin")

    await page.click("a[href='/admin/dispositions']")
    sales = page.locator("form[data-scope=sales]")
    await sales.locator("input[name=codes]").fill("sale, callback_booked")
    await sales.locator("button[type=submit]").click()
    await page.wait_for_selector("[data-testid=admin-notice]")
    assert svc.console.queue_rules("sales")["codes"] == ["sale", "callback_booked"]
    await page.screenshot(path=screenshot_path("admin-dispositions"), full_page=True)

    await page.click("nav.admin-nav a[href='/admin/supervisor-phones']")
    phone = page.locator("tr[data-user=sam] input")
    await phone.fill("2001")
    await page.click("[data-testid=phones-form] button[type=submit]")
    error = page.locator("[data-testid=admin-error]")
    await error.wait_for()
    assert await error.get_attribute("data-field") == "phone.sam"
    await page.locator("tr[data-user=sam] input").fill("PJSIP/2001")
    await page.click("[data-testid=phones-form] button[type=submit]")
    await page.wait_for_selector("[data-testid=admin-notice]")
    assert svc.supervisor.config.phone_of("sam") == "PJSIP/2001"

    await page.click("nav.admin-nav a[href='/admin/hours']")
    node = page.locator("section[data-node='main/opening_hours']")
    add = node.locator("[data-testid=holiday-add]")
    await add.locator("input[name=date]").fill("2027-05-03")
    await add.locator("input[name=name]").fill("Bridge day")
    await add.locator("button[type=submit]").click()
    await page.wait_for_selector("[data-testid=admin-notice]")
    row = page.locator("section[data-node='main/opening_hours'] tr[data-date='2027-05-03']")
    assert await row.count() == 1
    await page.screenshot(path=screenshot_path("admin-hours"), full_page=True)
    flows = svc.ivr_flows.current
    assert flows is not None
    hours = flows.flows["main"].nodes["opening_hours"]
    assert any(h.name == "Bridge day" for h in hours.schedule.holidays)  # type: ignore[attr-defined]
    await row.locator("button[type=submit]").click()
    await page.wait_for_selector("[data-testid=admin-notice]")
    assert await page.locator("tr[data-date='2027-05-03']").count() == 0
    actions = {e.action for e in await svc.audit.list_audit(limit=50)}
    assert {
        "admin.dispositions.save",
        "admin.supervisor_phones.save",
        "admin.holiday.add",
        "admin.holiday.remove",
    } <= actions
    assert errors == []
