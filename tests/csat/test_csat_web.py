"""CSAT on the pages and the API: the QA search's survey filter (a score 9 is a 400), the call's page and
review JSON show the survey, the agent report carries the CSAT columns; in the browser (Playwright +
Debian Chromium) a QA user filters on low scores and opens the call. Screenshot:
``test-artifacts/csat-call.png``."""

from __future__ import annotations

from typing import Any

from callcenter.app import Service
from callcenter.domain.surveys import CallSurvey
from callcenter.store.surveys import SqlSurveyStore
from tests.browser.conftest import browser, page, screenshot_path  # noqa: F401 - fixtures
from tests.qa.conftest import QaEnv, qa_env  # noqa: F401 - fixture
from tests.qa.test_qa_browser import Site, qa_site  # noqa: F401 - fixture
from tests.webapp.helpers import T0, login


async def _surveys(service: Service) -> None:
    store = service.surveys.store
    assert isinstance(store, SqlSurveyStore)
    for call_id, agent, queue, score, solved in (
        ("c1", "1001", "sales", 2, False),
        ("c2", "1002", "support", 5, True),
        ("c3", "1001", "sales", None, None),
    ):
        await store.add_offer(CallSurvey(call_id, agent, queue, "survey", T0 + 300))
        if score is not None:
            await store.set_score(call_id, score, T0 + 320)
        if solved is not None:
            await store.set_solved(call_id, solved)


async def test_qa_api_filters_on_csat_and_refuses_bad_scores(qa_env: QaEnv) -> None:  # noqa: F811
    await _surveys(qa_env.service)
    client = qa_env.client
    assert (await login(client, "quinn")).status == 303
    resp = await client.get("/api/qa/calls", params={"max_csat": "2"})
    assert resp.status == 200
    body = await resp.json()
    assert [(c["call_id"], c["csat"]) for c in body["calls"]] == [("c1", 2)]
    for bad in ({"max_csat": "9"}, {"min_csat": "0"}, {"min_csat": "x"}, {"max_csat": "2.5"}):
        resp = await client.get("/api/qa/calls", params=bad)
        assert resp.status == 400, bad
        assert "csat" in (await resp.json())["error"]
    review = await (await client.get("/api/qa/calls/c1")).json()
    assert review["survey"]["score"] == 2 and review["survey"]["solved"] is False
    assert (await (await client.get("/api/qa/calls/c4")).json())["survey"] is None
    # an agent sees their own call's survey, not another's call
    await login(client, "alice")
    assert (await client.get("/qa/calls/c1")).status == 200
    assert (await client.get("/api/qa/calls/c2")).status == 403


async def test_agent_report_has_csat_columns(qa_env: QaEnv) -> None:  # noqa: F811
    await _surveys(qa_env.service)
    client = qa_env.client
    await login(client, "sam")
    day = {"period": "day", "date": "2023-11-14", "tz": "UTC"}
    resp = await client.get("/api/reports/agents", params=day)
    assert resp.status == 200
    rows = {r["agent"]: r for r in (await resp.json())["rows"]}
    assert (rows["1001"]["surveys"], rows["1001"]["csat"], rows["1001"]["csat_rate"]) == (2, 2.0, 0.5)
    assert (rows["1002"]["surveys"], rows["1002"]["csat"], rows["1002"]["csat_rate"]) == (1, 5.0, 1.0)
    csv = await (await client.get("/api/reports/agents.csv", params=day)).text()
    assert "CSAT (1-5)" in csv.splitlines()[0] and "Survey response" in csv.splitlines()[0]
    html = await client.get("/reports", params={**day, "report": "agents"})
    assert html.status == 200 and "CSAT (1-5)" in await html.text()


async def test_browser_low_scores_and_the_calls_survey(page: Any, qa_site: Site) -> None:  # noqa: F811
    await _surveys(qa_site.service)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(f"{qa_site.url}/login?next=/qa/calls")
    await page.fill("input[name=username]", "quinn")
    await page.fill("input[name=password]", "quality-pass-1")
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{qa_site.url}/qa/calls")
    await page.wait_for_selector("#qa-rows tr[data-call=c2]")
    assert await page.text_content("#qa-rows tr[data-call=c2] [data-testid=qa-csat]") == "5/5"
    assert await page.text_content("#qa-rows tr[data-call=c3] [data-testid=qa-csat]") == "—"
    await page.fill("[data-testid=qa-max-csat]", "2")
    await page.click("[data-testid=qa-search-button]")
    await page.wait_for_selector("#qa-rows tr[data-call=c2]", state="detached")
    await page.wait_for_selector("#qa-rows tr[data-call=c1]")
    assert await page.locator("#qa-rows tr").count() == 1
    await page.click("#qa-rows tr[data-call=c1] a")
    await page.wait_for_url(f"{qa_site.url}/qa/calls/c1")
    survey = page.locator("[data-testid=qa-survey]")
    assert await survey.get_attribute("data-score") == "2"
    text = " ".join((await survey.text_content() or "").split())
    assert "2/5" in text and "solved: no" in text and "agent 1001" in text
    await page.screenshot(path=str(screenshot_path("csat-call")), full_page=True)
    await page.goto(f"{qa_site.url}/qa/calls/c3")
    assert "offered, not answered" in str(await page.text_content("[data-testid=qa-survey]"))
    await page.goto(f"{qa_site.url}/qa/calls/c4")
    assert "not offered" in str(await page.text_content("[data-testid=qa-survey]"))
    assert errors == []
