"""Bad input is a 4xx, never a 5xx or a false outage (issue 13.6).

Out-of-range times, ids past the integer columns (2**31 on PostgreSQL ``integer``, 2**63 on SQLite) and
NUL characters (PostgreSQL refuses them in text) are answered 400 or 404 by the one parsing layer
(``webapp/params.py``, ``domain/bounds.py``); what still reaches the database is refused there as
``InvalidValue`` (a 400), never ``503 the database is unavailable``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import requests
from aiohttp.test_utils import TestClient, TestServer

from callcenter.config import Secret, Settings
from callcenter.domain.customers import CustomerQuery
from callcenter.domain.errors import InvalidValue
from callcenter.domain.users import Role
from callcenter.services.accounts import Accounts
from callcenter.services.crm import CrmService
from callcenter.store.crm import SqlCrmStore, create_store
from callcenter.store.crm_records import SqlCrmRecords
from callcenter.webapp import create_web_app
from tests.store.conftest import db_url, pg, sqlite_template  # noqa: F401 - fixtures
from tests.webapp.conftest import FAST_ARGON2, Health
from tests.webapp.helpers import PASSWORD, SECRET
from tests.webapp.live_server import LiveService

BIG = (2**31, 2**63, 2**64, 10**30)


def _get(live: LiveService, role: str, path: str, **params: Any) -> requests.Response:
    return requests.get(live.url + path, params=params, headers=live.auth(role), timeout=10)


# --- the whole service (SQLite) --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/kpis/report", {"at": "-9.1e51"}),
        ("/api/audit", {"since": "-3.6e16"}),
        ("/api/qa/calls", {"since": "-4e87"}),
        ("/api/qa/calls", {"until": "1e300"}),
        ("/api/calls", {"since": "99999999999999"}),
        ("/api/acd/agents/1001/transitions", {"since": "-1"}),
    ],
)
def test_out_of_range_times_are_400_with_the_range(
    live_service: LiveService, path: str, params: dict[str, str]
) -> None:
    resp = _get(live_service, "admin", path, **params)
    assert resp.status_code == 400, resp.text
    error = resp.json()["error"]
    name = next(iter(params))
    assert error.startswith(f"{name}: must be a time between 1970-01-01T00:00:00Z and 3000-01-01"), error


@pytest.mark.parametrize("big", BIG)
def test_ids_too_large_for_the_column_are_not_found(live_service: LiveService, big: int) -> None:
    for path in (
        f"/api/customers/{big}",
        f"/api/tickets/{big}",
        f"/api/tickets/{big}/history",
        f"/api/recordings/{big}/playbacks",
        f"/api/recordings/{big}/audio",
    ):
        resp = _get(live_service, "admin", path)
        assert resp.status_code == 404, (path, resp.text)
    resp = requests.post(
        f"{live_service.url}/api/qa/evaluations/{big}/acknowledge",
        headers=live_service.auth("agent"),
        timeout=10,
    )
    assert resp.status_code == 404, resp.text


@pytest.mark.parametrize("big", BIG)
def test_id_filters_too_large_are_400(live_service: LiveService, big: int) -> None:
    assert _get(live_service, "admin", "/api/tickets", customer=str(big)).status_code == 400
    assert _get(live_service, "admin", "/api/qa/calls", customer_id=str(big)).status_code == 400
    assert _get(live_service, "admin", "/api/qa/calls/x/calibration", form_id=str(big)).status_code == 400
    resp = requests.post(
        f"{live_service.url}/api/tickets",
        json={"customer_id": big, "subject": "too big"},
        headers=live_service.auth("admin"),
        timeout=10,
    )
    assert resp.status_code == 400 and "customer_id" in resp.json()["fields"], resp.text


def test_a_ticket_due_past_year_3000_is_400(live_service: LiveService) -> None:
    """Found by schemathesis: ``due_at`` 6.96e16 was a 500 (year out of range)."""
    resp = requests.post(
        f"{live_service.url}/api/tickets",
        json={"customer_id": 1, "subject": "later", "due_at": 6.964097924419249e16},
        headers=live_service.auth("admin"),
        timeout=10,
    )
    assert resp.status_code == 400, resp.text
    assert "due_at" in resp.json()["fields"]


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/calls", {"caller": "55\x00"}),
        ("/api/customers", {"q": "a\x00b"}),
        ("/api/tickets", {"assignee": "\x00"}),
        ("/api/audit", {"actor": "sam\x00"}),
        ("/api/qa/calls", {"agent": "1001\x00"}),
        ("/api/kpis", {"scope": "\x00"}),
        ("/api/calls/1700000000.1\x00", {}),
        ("/api/customers/by-phone/555\x00", {}),
        ("/api/acd/agents/10\x0001", {}),
    ],
)
def test_nul_characters_are_400(live_service: LiveService, path: str, params: dict[str, str]) -> None:
    resp = _get(live_service, "admin", path, **params)
    assert resp.status_code == 400, resp.text
    assert "NUL" in resp.json()["error"]


def test_bad_numbers_name_the_parameter(live_service: LiveService) -> None:
    cases = {
        ("/api/audit", "limit", "0"): "limit: must be between 1 and 1000",
        ("/api/audit", "limit", "9" * 40): "limit: must be an integer between 1 and 1000",
        ("/api/qa/calls", "min_score", "nan"): "min_score: must be a finite number",
        ("/api/qa/calls", "limit", "10147743"): "limit: must be between 1 and 500",
        ("/api/qa/calls", "offset", "-427823"): "offset: must be between 0 and 1000000",
        ("/api/qa/calls", "has_recording", "maybe"): "has_recording: true or false",
        ("/api/qa/calls", "sort", "x"): "sort: one of started_at",
        ("/api/qa/calls", "nope", "1"): "unknown parameter(s): nope",
    }
    for (path, name, value), message in cases.items():
        resp = _get(live_service, "admin", path, **{name: value})
        assert resp.status_code == 400, (path, name, resp.text)
        assert message in resp.json()["error"], (path, name, resp.json())


# --- on both databases: what reaches the store ----------------------------------------------------


@pytest.fixture
async def sql_store(db_url: str) -> AsyncIterator[SqlCrmStore]:  # noqa: F811 - the imported fixture
    store = create_store(db_url)
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
async def sql_client(sql_store: SqlCrmStore) -> AsyncIterator[TestClient[Any, Any]]:
    accounts = Accounts(sql_store, **FAST_ARGON2)
    await accounts.create_user("ada", PASSWORD, Role.ADMIN, "Ada")
    user = await accounts.authenticate("ada", PASSWORD)
    token = await accounts.issue_api_token(user.id, "test")
    app = create_web_app(
        Settings(session_secret=Secret(SECRET)),
        store=sql_store,
        accounts=accounts,
        health=Health(),
        crm=CrmService(SqlCrmRecords(sql_store.engine)),
    )
    async with TestClient(TestServer(app), headers={"Authorization": f"Bearer {token}"}) as client:
        yield client


@pytest.mark.parametrize("big", BIG)
async def test_big_ids_on_each_database_are_404(sql_client: TestClient[Any, Any], big: int) -> None:
    for path in (f"/api/customers/{big}", f"/api/tickets/{big}", f"/api/customers/{big}/notes"):
        method = sql_client.post if path.endswith("/notes") else sql_client.get
        resp = await method(path, json={"text": "x"}) if path.endswith("/notes") else await method(path)
        assert resp.status == 404, (path, await resp.text())


async def test_nul_in_filters_and_bodies_on_each_database_is_400(sql_client: TestClient[Any, Any]) -> None:
    for path in ("/api/customers?q=a%00b", "/api/calls?caller=%00", "/api/calls/a%00b"):
        resp = await sql_client.get(path)
        assert resp.status == 400, (path, await resp.text())
    # a JSON body with NUL reaches the store: PostgreSQL refuses it, which is bad input, not an outage
    resp = await sql_client.post("/api/customers", json={"name": "Jane\x00Doe", "phones": ["+15550100"]})
    assert resp.status == 400, await resp.text()
    assert "unavailable" not in (await resp.text())


async def test_the_store_reports_a_refused_value_as_invalid_not_unavailable(
    sql_store: SqlCrmStore,
    db_url: str,  # noqa: F811
) -> None:
    records = SqlCrmRecords(sql_store.engine)
    with pytest.raises(InvalidValue):
        await records.get_customer(2**63)
    if db_url.startswith("postgresql"):
        with pytest.raises(InvalidValue):
            await records.get_customer(2**31)  # an ``integer`` column
        with pytest.raises(InvalidValue):
            await records.search_customers(CustomerQuery(text="a\x00b"))
        with pytest.raises(InvalidValue):
            await sql_store.get_call("a\x00")


@pytest.mark.parametrize(
    "params",
    [
        {"date": "9999-12-31"},
        {"date": "9999-12-31", "period": "month"},
        {"date": "9999-12-28", "period": "week"},
        {"date": "0001-01-01"},
        {"date": "0001-01-01", "tz": "America/New_York"},
    ],
)
def test_report_dates_datetime_cannot_hold_are_400(live_service: LiveService, params: dict[str, str]) -> None:
    """Found by hand after schemathesis missed it (``date`` had no ``format``): a 500 (date overflow)."""
    for name in ("queue", "agents", "hourly", "abandoned", "dispositions", "qa"):
        resp = _get(live_service, "supervisor", f"/api/reports/{name}", **params)
        assert resp.status_code == 400, (name, resp.text)
        assert resp.json()["error"] == "date must be between 1970-01-01 and 2999-12-31"
    page = _get(live_service, "supervisor", "/reports", report="agents", **params)
    assert page.status_code == 200 and "date must be between 1970-01-01 and 2999-12-31" in page.text
