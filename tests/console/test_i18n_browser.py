"""The agent console and the wallboard in zh-CN, in Chromium on the real call path (simulator → FastAGI
IVR → ACD → screen pop): the users' stored language wins over the browser's English, no English UI text
is left on screen (only data: names, numbers, queue and agent codes), and both pages fit a 390 px phone
and a 1366 px laptop without horizontal scrolling (screenshots in test-artifacts/)."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from typing import Any

import pytest

from callcenter.app import Service
from callcenter.domain.calls import CallQuery
from callcenter.domain.outbound import Attempt, AttemptResult
from callcenter.domain.surveys import CallSurvey
from callcenter.domain.users import Role
from callcenter.services.campaigns import Actor
from tests.browser.conftest import screenshot_path
from tests.console.conftest import SimEnv
from tests.support.sim_agents import AgentTech
from tests.webapp.helpers import PASSWORD

CUSTOMER = "张伟"
NUMBER = "+8613800138000"

#: Every visible text of the page (text nodes of rendered elements, the shown option of each select,
#: placeholders, button values, the title), one string per item.
VISIBLE_TEXTS = """() => {
  const out = [document.title];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    if (!parent || ["SCRIPT", "STYLE", "OPTION", "NOSCRIPT", "TEMPLATE"].includes(parent.tagName)) continue;
    if (!parent.checkVisibility({ checkOpacity: true, checkVisibilityCSS: true })) continue;
    const text = node.textContent.trim();
    if (text) out.push(text);
  }
  for (const el of document.querySelectorAll("select, input[placeholder], textarea[placeholder]")) {
    if (!el.checkVisibility()) continue;
    if (el.tagName !== "SELECT") out.push(el.placeholder);
    else if (el.selectedOptions[0]) out.push(el.selectedOptions[0].textContent.trim());
  }
  return out.filter(Boolean);
}"""

#: Data and codes, not UI text: the brand, people's and agents' names, queue names, the IVR's variable
#: names, the CRM's demo company, the example endpoint, units that are names (Ping, AMI, Erlang C).
DATA = [
    "callcenter",
    "Alice Agent",
    "ZHANG WEI",  # the caller-ID name the PBX sent
    "Sam Supervisor",
    "support",
    "sales",
    "customer number",
    "Acme Logistics",
    "PJSIP/2001",
    "AMI Ping",
    "Ping",
    "Erlang C",
]
LATIN = re.compile(r"[A-Za-z]{2,}")


#: The agents' names in config/acd.yaml of the test (the wallboard's grid shows them).
AGENT_NAMES = ["Agent 1001", "Agent 1002"]


def english_left(texts: list[str], data: list[str], codes: re.Pattern[str] | None = None) -> list[str]:
    """The texts with Latin words left once the data (longest first) and the codes are taken out."""
    left = []
    for text in texts:
        rest = text
        for word in sorted(data, key=len, reverse=True):
            rest = rest.replace(word, " ")
        if codes is not None:
            rest = codes.sub(" ", rest)
        if LATIN.search(rest):
            left.append(text)
    return left


@pytest.fixture
def agent_tech() -> AgentTech:
    return "PJSIP"  # the endpoint kind is covered by the console suite; here the language is the subject


async def set_language(service: Service, username: str, language: str) -> None:
    creds = await service.store.get_credentials(username)
    assert creds is not None
    await service.store.set_user_language(creds.user.id, language)


async def login(page: Any, base: str, username: str, landing: str) -> None:
    await page.goto(f"{base}/login")
    await page.fill("input[name=username]", username)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("form[action='/login'] button[type=submit]")
    await page.wait_for_url(f"{base}{landing}")


#: The elements that stick out to the right of the viewport (for the failure message).
WIDER = """() => {
  const out = [];
  for (const el of document.querySelectorAll("body *")) {
    const r = el.getBoundingClientRect();
    if (r.right > innerWidth + 0.5 && el.checkVisibility())
      out.push(`${el.tagName}#${el.id}.${el.className} ${Math.round(r.right)}`);
  }
  return out.slice(0, 10);
}"""


async def fits(page: Any) -> tuple[int, int]:
    width: list[int] = await page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    return width[0], width[1]


async def check_page(page: Any, name: str, data: list[str] = DATA) -> None:
    left = english_left(await page.evaluate(VISIBLE_TEXTS), data)
    assert left == [], f"English left on the {name} in zh-CN: {left}"


async def test_console_and_wallboard_in_chinese_on_a_phone_and_a_laptop(
    browser: Any, sim_console: SimEnv
) -> None:
    env = sim_console
    await env.service.crm.create_customer(
        {"name": CUSTOMER, "company": "上海贸易有限公司", "phones": [NUMBER], "segment": "vip"}, actor="seed"
    )
    for user in ("alice", "sam"):
        await set_language(env.service, user, "zh-CN")
    pages = {}
    for width, height in ((1366, 900), (390, 844)):
        context = await browser.new_context(viewport={"width": width, "height": height}, locale="en-US")
        page = await context.new_page()
        page.set_default_timeout(10_000)
        pages[width] = page

    # the agent console: logged in, available, then a call from a Chinese customer pops
    desk, phone = pages[1366], pages[390]
    await login(desk, env.url, "alice", "/agent")
    assert await desk.get_attribute("html", "lang") == "zh-CN"  # the stored setting, not the browser's en-US
    await desk.wait_for_selector("#link.link-up")
    assert await desk.inner_text("#link") == "实时"
    await check_page(desk, "console (idle)")
    await desk.click("#btn-login")
    await desk.wait_for_selector("#state.state-available")
    assert await desk.inner_text("#state") == "空闲"
    env.sim.place_call(number=NUMBER, name="ZHANG WEI", script="2;4711#", patience=600.0, talk=120.0)
    await desk.wait_for_selector(f"#pop-caller:has-text('{CUSTOMER}')", timeout=15_000)
    await desk.wait_for_selector("#state.state-on_call", timeout=10_000)
    assert await desk.inner_text("#state") == "通话中"
    assert await desk.inner_text("#cust-segment") == "贵宾"
    await check_page(desk, "console (screen pop)")
    await desk.screenshot(path=screenshot_path("i18n-console-zh-1366"), full_page=True)
    scroll, inner = await fits(desk)
    assert scroll <= inner

    # the same console on a phone: the live pop (the hello message replays it), nothing wider than 390 px
    await login(phone, env.url, "alice", "/agent")
    await phone.wait_for_selector(f"#pop-caller:has-text('{CUSTOMER}')", timeout=10_000)
    await check_page(phone, "console on a phone")
    await phone.screenshot(path=screenshot_path("i18n-console-zh-390"), full_page=True)
    scroll, inner = await fits(phone)
    assert scroll <= inner, (
        f"the console scrolls sideways at 390 px: {scroll} > {inner}: {await phone.evaluate(WIDER)}"
    )
    for selector in ("#btn-hangup", "#btn-hold", "#note-text", "#disp-code"):  # usable, not clipped away
        box = await phone.locator(selector).bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= inner, selector

    # the wallboard, for the supervisor, on both screens
    for width, page in pages.items():
        await page.context.clear_cookies()
        await login(page, env.url, "sam", "/wallboard")
        await page.wait_for_selector("[data-testid=status].live", timeout=10_000)
        await page.wait_for_selector("#wb-agents tr[data-agent='1001']", timeout=10_000)
        await page.wait_for_selector(".wb-scope[data-scope='*'] [data-kpi=offered]")
        assert "整个中心" in await page.inner_text(".wb-scope[data-scope='*']")
        await check_page(page, f"wallboard at {width} px", [*AGENT_NAMES, *DATA])
        await page.screenshot(path=screenshot_path(f"i18n-wallboard-zh-{width}"), full_page=True)
        scroll, inner = await fits(page)
        assert scroll <= inner, (
            f"the wallboard scrolls sideways at {width} px: {scroll} > {inner}: {await page.evaluate(WIDER)}"
        )
    for page in pages.values():
        await page.context.close()


#: The pages an administrator opens, beyond the console and the wallboard ({customer}, {ticket},
#: {case}, {call} and {campaign} are filled in).
PAGES = [
    "/customers",
    "/customers?text=zw",
    "/customers/{customer}",
    "/tickets/{ticket}",
    "/cases",
    "/cases/{case}",
    "/qa/calls",
    "/qa/calls/{call}",
    "/qa/calls/{call}/calibration",
    "/reports?report=queue&period=day",
    "/reports?report=agents&period=week",
    "/audit",
    "/admin",
    "/admin/users",
    "/admin/queues",
    "/admin/agents",
    "/admin/qa-forms",
    "/admin/ivr",
    "/admin/dispositions",
    "/admin/supervisor-phones",
    "/admin/hours",
    "/campaigns",
    "/campaigns/{campaign}",
    "/nowhere",
]
#: Data on those pages: usernames, the test's product and serial, the flows' and forms' own texts
#: (shown as they are written), audit action codes.
PAGE_DATA = [
    *AGENT_NAMES,
    *DATA,
    "admin",
    "alice",
    "bob",
    "sam",
    "quinn",
    "Quinn QA",
    "Bob Agent",
    "SN0001",
    "lin",
    "PJSIP/1001",
    "PJSIP/1002",
    "UTC",
    "CSV",
    "JSON",
    "Test Caller",
    "seed",
    "system",  # who created the default QA form
    "english:2",  # example skills (codes) in the admin forms' placeholders
    "billing",
    "main.yaml",
    "README",
    "sounds.txt",
    # the holidays' names in ivr_flows/main.yaml (the file's own texts)
    "New Year",
    "Labour Day",
    "Bastille Day",
    "Christmas Eve (closed this year)",
    "Christmas",
]
#: Identifiers of the flows (flow, node and node-type names: what the IVR file calls them) in the QA
#: timeline, the audit log's action codes and targets, and the default QA form's own texts (content an
#: administrator replaces, not UI).
CODES = re.compile(
    r"\b(main|identify|main_menu|bye|sales|support|lookup|menu|queue|hangup)\b"
    r"|\b[a-z]+\.[a-z_.]+\b|\b[a-z]+:\d+\b|\{.*\}"
)
#: Not translated yet (said in the report): the service-level convention of the reports' note.
KNOWN_LEFT = ["≤T / answered"]
QA_FORM = [
    "Standard call review",
    "Opening",
    "Greeted the caller and gave their name",
    "Verified the caller's identity before discussing the account",
    "Handling",
    "Listened and understood the need",
    "Resolved the issue or set a clear next step",
    "Asked before placing on hold",
    "Closing",
    "Summarised what was agreed",
    "Courteous and professional throughout",
]


async def test_every_page_in_chinese(browser: Any, sim_console: SimEnv) -> None:
    env = sim_console
    svc = env.service
    admin = await svc.accounts.create_user("admin", PASSWORD, Role.ADMIN, "管理员")
    await svc.store.set_user_language(admin.id, "zh-CN")
    customer = await svc.crm.create_customer(
        {"name": CUSTOMER, "company": "上海贸易有限公司", "phones": [NUMBER], "segment": "vip"}, actor="seed"
    )
    await svc.crm.add_note(customer.id, "客户希望上午联系", actor="seed")
    ticket = await svc.crm.create_ticket(
        {"subject": "发票有误", "category": "complaint", "priority": "high"},
        actor="seed",
        customer_id=customer.id,
    )
    case = await svc.cases.create(
        admin,
        {
            "customer_id": customer.id,
            "product": "路由器",
            "serial": "SN0001",
            "fault": "无法开机",
            "purchase_date": "2026-06-01",
            "technician": "lin",
            "repair_mode": "in_house",
        },
    )
    record = await wait_for_call(env)
    # the call's post-call survey, answered: the call page's survey block, the QA list's and the
    # reports' CSAT columns have figures to show
    now = time.time()
    await svc.surveys.store.add_offer(CallSurvey(record, "1001", "support", "survey", now - 30))
    await svc.surveys.store.set_answer(record, 2, False, now - 10)
    # an outbound campaign with a contact and a finished attempt: the campaigns list, the campaign's
    # report, contacts and attempts tables
    campaign = await svc.campaigns.create(
        {"name": "回访活动", "queue": "support", "mode": "progressive", "script": "您好，这里是售后回访。"},
        Actor("seed", Role.ADMIN),
    )
    csv = f"phone,name,reason\n{NUMBER},{CUSTOMER},维修回访\n".encode()
    assert not (await svc.campaigns.import_contacts(campaign.id, csv, Actor("seed", Role.ADMIN))).errors
    (contact,) = await svc.outbound_store.list_contacts(campaign.id)
    await svc.outbound_store.add_attempt(
        Attempt(
            0,
            campaign.id,
            contact.id,
            contact.number,
            now - 60,
            AttemptResult.ABANDONED,
            "1001",
            ended_at=now - 50,
            answered_at=now - 55,
            detail="no agent free",
        )
    )
    flows_dir = absolute(svc.settings.ivr_flows_dir)
    context = await browser.new_context(viewport={"width": 1366, "height": 900}, locale="en-US")
    page = await context.new_page()
    page.set_default_timeout(10_000)
    await login(page, env.url, "admin", "/admin")
    left: dict[str, list[str]] = {}
    for path in PAGES:
        url = path.format(
            customer=customer.id, ticket=ticket.id, case=case.id, call=record, campaign=campaign.id
        )
        await page.goto(f"{env.url}{url}")
        await page.wait_for_load_state("networkidle")
        assert await page.get_attribute("html", "lang") == "zh-CN", url
        texts = await page.evaluate(VISIBLE_TEXTS_NO_CODE)
        found = english_left(texts, [flows_dir, *QA_FORM, *KNOWN_LEFT, *PAGE_DATA], CODES)
        if found:
            left[url] = found
        if path == "/qa/calls/{call}":
            survey = " ".join((await page.text_content("[data-testid=qa-survey]") or "").split())
            assert "2/5" in survey and "问题已解决：否" in survey and "坐席 1001，队列 support" in survey
        elif path.startswith("/reports?report=agents"):
            assert "满意度（1-5）" in texts and "调查回复率" in texts
    assert left == {}, "English left in zh-CN:\n" + "\n".join(
        f"{url}: {texts}" for url, texts in left.items()
    )
    await context.close()


#: As VISIBLE_TEXTS, without <pre>/<code> blocks (file contents, code names).
VISIBLE_TEXTS_NO_CODE = VISIBLE_TEXTS.replace(
    '"NOSCRIPT", "TEMPLATE"', '"NOSCRIPT", "TEMPLATE", "PRE", "CODE"'
)


def absolute(path: str) -> str:
    return str(Path(path).resolve())


async def wait_for_call(env: SimEnv) -> str:
    """One stored call (nobody logged in: the caller hears the no-agents branch and leaves)."""
    env.sim.place_call(number="2025550199", name="Test Caller", script="1", patience=5.0, talk=5.0)
    for _ in range(200):
        page = await env.service.store.list_calls(CallQuery(limit=5))
        done = [c for c in page.calls if c.outcome.value != "in_progress"]
        if done:
            return done[0].call_id
        await asyncio.sleep(0.1)
    raise AssertionError("no call was stored")
