"""Reports over HTTP: JSON, CSV (with formula neutralisation), the page with its SVG chart, roles."""

from __future__ import annotations

import csv
import io

from callcenter.domain.calls import CallDisposition
from callcenter.domain.reports import csv_cell, period
from tests.qa.conftest import QaEnv, qa_env  # noqa: F401 - fixture
from tests.webapp.helpers import login

DAY = "2023-11-14"  # the QA fixture's calls: only c1 (22:13:20 UTC) has a queue arrival time


async def test_queue_report_json_and_csv(qa_env: QaEnv) -> None:  # noqa: F811
    client = qa_env.client
    assert (await login(client, "sam")).status == 303
    resp = await client.get("/api/reports/queue", params={"period": "day", "date": DAY, "tz": "UTC"})
    assert resp.status == 200
    body = await resp.json()
    assert body["period"]["since"] == period("day", DAY).since
    assert body["totals"]["offered"] == 1 and body["totals"]["answered"] == 1
    assert [r["interval"] for r in body["rows"]] == ["2023-11-14 22:00"]
    resp = await client.get("/api/reports/queue.csv", params={"period": "week", "date": DAY, "tz": "UTC"})
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in resp.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(await resp.text())))
    assert rows[0][:4] == ["Interval", "Offered", "Answered", "Abandoned"]
    assert rows[-1][0] == "Total" and rows[-1][1:4] == ["1", "1", "0"]
    assert rows[1][0] == "2023-11-14"  # a week: by local day


async def test_dispositions_csv_neutralises_formulas(qa_env: QaEnv) -> None:  # noqa: F811
    await qa_env.service.dispositions.save_disposition(
        CallDisposition("c1", "1001", '=HYPERLINK("http://x")', queue="sales", at=1_700_000_100.0)
    )
    client = qa_env.client
    await login(client, "quinn")
    resp = await client.get("/api/reports/dispositions.csv", params={"date": DAY})
    assert resp.status == 200
    text = await resp.text()
    assert "'=HYPERLINK" in text
    assert list(csv.reader(io.StringIO(text)))[1][0] == '\'=HYPERLINK("http://x")'


def test_csv_cell_escapes() -> None:
    for bad in ("=1+1", "+1", "-1", "@x", "\tx", "\rx"):
        assert csv_cell(bad) == "'" + bad
    assert csv_cell("plain") == "plain"
    assert csv_cell(-3) == -3 and csv_cell(None) == "" and csv_cell(0.5) == 0.5


async def test_reports_page_roles_and_errors(qa_env: QaEnv) -> None:  # noqa: F811
    client = qa_env.client
    await login(client, "sam")
    page = await client.get("/reports", params={"report": "queue", "date": DAY, "tz": "UTC"})
    assert page.status == 200
    html = await page.text()
    assert "<svg" in html and "Download CSV" in html and "/api/reports/queue.csv?" in html
    for name in ("agents", "hourly", "abandoned", "dispositions", "qa"):
        resp = await client.get(f"/api/reports/{name}", params={"date": DAY})
        assert resp.status == 200, name
        assert (await client.get("/reports", params={"report": name, "date": DAY})).status == 200
    assert (await client.get("/api/reports/nope")).status == 404
    assert (await client.get("/api/reports/queue", params={"tz": "Mars/Olympus"})).status == 400
    assert (await client.get("/api/reports/queue", params={"period": "year"})).status == 400
    await login(client, "alice")  # an agent
    assert (await client.get("/api/reports/queue")).status == 403


async def test_openapi_documents_reports(qa_env: QaEnv) -> None:  # noqa: F811
    client = qa_env.client
    await login(client, "ada")
    resp = await client.get("/api/openapi.json")
    paths = (await resp.json())["paths"]
    assert "/api/reports" in paths and "/api/reports/{name}" in paths
