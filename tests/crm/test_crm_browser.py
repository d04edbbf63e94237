"""In Chromium: a supervisor finds a customer, adds a note, opens a ticket and moves it to resolved."""

from __future__ import annotations

from typing import Any

from callcenter.domain.users import Role
from tests.browser.conftest import RunningService, screenshot_path


async def test_supervisor_note_ticket_resolved(page: Any, running_service: RunningService) -> None:
    svc = running_service.service
    base = running_service.url
    await svc.accounts.create_user("sam", "supervisor-pass-1", Role.SUPERVISOR, display_name="Sam Super")
    customer = await svc.crm.create_customer(
        {
            "name": "Ann Able",
            "company": "Acme Logistics",
            "email": "ann@acme.example",
            "segment": "vip",
            "value_score": 92,
            "phones": ["+1 555 201 0001", "+44 20 7946 0958"],
            "tags": ["gold", "key-account"],
        },
        actor="import",
    )
    failed: list[str] = []  # resources that did not load (the browser's own favicon probe aside)
    page.on(
        "response",
        lambda r: failed.append(r.url) if r.status >= 400 and not r.url.endswith("/favicon.ico") else None,
    )

    await page.goto(f"{base}/login?next=/customers")
    await page.fill("input[name=username]", "sam")
    await page.fill("input[name=password]", "supervisor-pass-1")
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{base}/customers")
    await page.fill("input[name=phone]", "(555) 201-0001")
    await page.click("form.crm-search button[type=submit]")
    await page.click("text=Ann Able")
    await page.wait_for_url(f"{base}/customers/{customer.id}")
    assert await page.locator(".vip-badge").first.is_visible()

    await page.fill("#note-text", "Asked for a refund of the last invoice")
    await page.click("text=Add note")
    await page.wait_for_selector("li.note >> text=Asked for a refund of the last invoice")
    assert "sam" in await page.inner_text("li.note")

    await page.click("summary:has-text('New ticket')")
    await page.fill("input[name=subject]", "Refund the last invoice")
    await page.select_option("select[name=category]", "complaint")
    await page.select_option("form.form-grid select[name=priority]", "high")
    await page.fill("input[name=assignee]", "sam")
    await page.screenshot(path=screenshot_path("crm-customer"), full_page=True)
    await page.click("text=Create ticket")
    await page.wait_for_url(f"{base}/tickets/*")
    assert await page.text_content("#ticket-status") == "New"  # the status's label (format.js)
    assert await page.get_attribute("#ticket-status", "data-label") == "new"

    for status in ("open", "resolved"):
        await page.select_option("select#status", status)
        await page.fill("#comment", f"moved to {status}")
        await page.click("form.ticket-form button[type=submit]")
        await page.wait_for_selector(f"#ticket-status.status-{status}")
    history = await page.inner_text("table.history")
    assert "moved to resolved" in history and "created" in history
    await page.screenshot(path=screenshot_path("crm-ticket-resolved"), full_page=True)

    tickets = await svc.crm.customer_tickets(customer.id)
    assert [t.status.value for t in tickets.tickets] == ["resolved"]
    assert [n.text for n in await svc.crm.notes(customer.id)] == ["Asked for a refund of the last invoice"]
    assert failed == []
