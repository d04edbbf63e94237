"""JSON API: bearer tokens, /api/me, /api/calls filters and visibility."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from callcenter.domain.calls import CallOutcome
from callcenter.domain.users import User
from callcenter.services.accounts import Accounts
from tests.webapp.fakes import FakeCrmStore
from tests.webapp.helpers import T0, detailed_call, login, make_call

Client = TestClient[Any, Any]


@pytest.fixture
def calls(store: FakeCrmStore) -> None:
    store.add_calls(
        make_call("c1", agent="1001", started_at=T0, caller_num="+15550001", queue="sales"),
        make_call("c2", agent="1002", started_at=T0 + 60, caller_num="+15550002", queue="support"),
        make_call(
            "c3",
            agent=None,
            started_at=T0 + 120,
            caller_num="+15550003",
            outcome=CallOutcome.ABANDONED,
            answered_at=None,
            talk_seconds=0.0,
        ),
        make_call("c4", agent="1001", started_at=T0 + 180, caller_num="+15559999", queue="support"),
        detailed_call("c5", agent="1002"),
    )


async def bearer(accounts: Accounts, user: User) -> dict[str, str]:
    return {"Authorization": f"Bearer {await accounts.issue_api_token(user.id, 'test')}"}


async def test_bearer_token_authenticates(client: Client, accounts: Accounts, users: dict[str, User]) -> None:
    resp = await client.get("/api/me", headers=await bearer(accounts, users["sup"]))
    assert resp.status == 200
    body = await resp.json()
    assert body == {
        "id": users["sup"].id,
        "username": "sup",
        "role": "supervisor",
        "display_name": "Sam Supervisor",
        "agent": None,
        "auth": "token",
    }


@pytest.mark.parametrize(
    "header", ["Bearer nope", "Bearer ", "Basic c3VwOnB3", "bearer", "Token abc", "Bearer " + "x" * 5000]
)
async def test_bad_authorization_is_401_json(client: Client, header: str) -> None:
    resp = await client.get("/api/calls", headers={"Authorization": header})
    assert resp.status == 401
    assert resp.headers["Content-Type"].startswith("application/json")
    assert await resp.json() == {"error": "authentication required"}
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")


async def test_bad_bearer_does_not_fall_back_to_the_session(client: Client) -> None:
    await login(client, "sup")
    resp = await client.get("/api/me", headers={"Authorization": "Bearer wrong"})
    assert resp.status == 401


async def test_token_of_deactivated_user_is_refused(
    client: Client, accounts: Accounts, users: dict[str, User], store: FakeCrmStore
) -> None:
    headers = await bearer(accounts, users["qa"])
    store.deactivate(users["qa"].id)
    assert (await client.get("/api/me", headers=headers)).status == 401


async def test_bearer_requests_need_no_csrf(
    client: Client, accounts: Accounts, users: dict[str, User]
) -> None:
    resp = await client.post("/logout", headers=await bearer(accounts, users["qa"]), allow_redirects=False)
    assert resp.status == 303


async def test_session_me_exposes_csrf(client: Client) -> None:
    await login(client, "alice")
    body = await (await client.get("/api/me")).json()
    assert body["auth"] == "session"
    assert body["agent"] == "1001"
    assert body["csrf_token"]


@pytest.mark.usefixtures("calls")
@pytest.mark.parametrize("username", ["sup", "qa", "admin"])
async def test_supervisor_qa_admin_see_all_calls(client: Client, username: str) -> None:
    await login(client, username)
    body = await (await client.get("/api/calls")).json()
    assert body["total"] == 5
    assert sorted(c["call_id"] for c in body["calls"]) == ["c1", "c2", "c3", "c4", "c5"]
    assert (await client.get("/api/calls/c1")).status == 200
    assert (await client.get("/api/calls/c2")).status == 200


@pytest.mark.usefixtures("calls")
async def test_agent_sees_only_own_calls(client: Client, store: FakeCrmStore) -> None:
    await login(client, "alice")
    body = await (await client.get("/api/calls")).json()
    assert sorted(c["call_id"] for c in body["calls"]) == ["c1", "c4"]
    assert store.queries[-1].agent == "1001"  # enforced in the query, not after the fact
    # asking for another agent's calls yields nothing
    body = await (await client.get("/api/calls", params={"agent": "1002"})).json()
    assert body == {"calls": [], "total": 0, "limit": 50, "offset": 0}
    body = await (await client.get("/api/calls", params={"agent": "1001"})).json()
    assert body["total"] == 2


@pytest.mark.usefixtures("calls")
async def test_agent_gets_404_for_another_agents_call(client: Client) -> None:
    await login(client, "alice")
    assert (await client.get("/api/calls/c1")).status == 200
    other = await client.get("/api/calls/c2")
    missing = await client.get("/api/calls/nope")
    assert other.status == missing.status == 404
    assert await other.json() == await missing.json() == {"error": "call not found"}
    assert (await client.get("/api/calls/c3")).status == 404  # nobody's call


@pytest.mark.usefixtures("calls")
async def test_call_detail_shape(client: Client) -> None:
    await login(client, "qa")
    body = await (await client.get("/api/calls/c5")).json()
    assert body["call_id"] == "c5"
    assert body["started_at"] == T0
    assert body["started_at_iso"] == "2023-11-14T22:13:20.000Z"
    assert body["answered_at_iso"] == "2023-11-14T22:13:40.000Z"
    assert body["outcome"] == "answered"
    assert [leg["role"] for leg in body["legs"]] == ["customer", "agent"]
    assert body["legs"][1]["answered_at"] == T0 + 20
    assert body["legs"][1]["answered_at_iso"].endswith("Z")
    assert body["offers"] == [
        {
            "agent": "1002",
            "uniqueid": "c5.2",
            "answered": True,
            "dial_status": None,
            "rang_at": T0 + 15,
            "rang_at_iso": "2023-11-14T22:13:35.000Z",
            "ended_at": T0 + 20,
            "ended_at_iso": "2023-11-14T22:13:40.000Z",
        }
    ]
    assert body["transfers"][0]["kind"] == "blind"
    assert body["transfers"][0]["at_iso"] == "2023-11-14T22:15:00.000Z"
    assert "recording_file" not in body  # server paths stay private
    listed = await (await client.get("/api/calls", params={"limit": "1"})).json()
    assert "legs" not in listed["calls"][0]


@pytest.mark.usefixtures("calls")
@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"caller": "9999"}, ["c4"]),
        ({"queue": "support"}, ["c4", "c2"]),
        ({"outcome": "abandoned"}, ["c3"]),
        ({"agent": "1001"}, ["c4", "c1"]),
        ({"since": str(T0 + 60), "until": str(T0 + 180)}, ["c3", "c2"]),
        ({"since": "2023-11-14T22:14:20Z", "until": "2023-11-14T22:16:20+00:00"}, ["c3", "c2"]),
        ({"since": "2023-11-14T22:14:20"}, ["c4", "c3", "c2"]),  # naive ISO = UTC
        ({"limit": "2"}, ["c4", "c3"]),
        ({"limit": "2", "offset": "2"}, ["c2", "c1"]),
    ],
)
async def test_call_filters(client: Client, params: dict[str, str], expected: list[str]) -> None:
    await login(client, "sup")
    resp = await client.get("/api/calls", params=params)
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert [c["call_id"] for c in body["calls"] if c["call_id"] != "c5"] == expected


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"limit": "0"}, "limit: must be between 1 and 200"),
        ({"limit": "201"}, "limit: must be between 1 and 200"),
        ({"limit": "ten"}, "limit: expected an integer"),
        ({"offset": "-1"}, "offset: must be between"),
        ({"since": "yesterday"}, "since: expected ISO 8601"),
        ({"until": "nan"}, "until: must be a time between 1970-01-01"),
        ({"since": "-3.6e16"}, "since: must be a time between 1970-01-01"),
        ({"until": "9999-12-31T23:59:59"}, "until: must be a time between"),
        ({"since": "2024-01-02", "until": "2024-01-01"}, "until must be later than since"),
        ({"outcome": "won"}, "outcome: one of in_progress, answered"),
        ({"sort": "x"}, "unknown parameter(s): sort"),
        ({"caller": "9" * 200}, "caller: at most 128 characters"),
    ],
)
async def test_bad_params_are_400_with_a_clear_message(
    client: Client, params: dict[str, str], message: str
) -> None:
    await login(client, "sup")
    resp = await client.get("/api/calls", params=params)
    assert resp.status == 400
    error = (await resp.json())["error"]
    assert message in error


async def test_store_down_is_503_json(client: Client, store: FakeCrmStore) -> None:
    await login(client, "sup")
    store.calls_available = False
    resp = await client.get("/api/calls")
    assert resp.status == 503
    assert (await resp.json())["error"].startswith("the database is unavailable")
    store.available = False
    resp = await client.get("/api/me")
    assert resp.status == 503


async def test_unknown_api_path_is_json_404(client: Client) -> None:
    resp = await client.get("/api/nothing")
    assert resp.status == 404
    assert await resp.json() == {"error": "Not Found"}
    resp = await client.post("/api/calls")
    assert resp.status == 405
    assert "error" in await resp.json()
