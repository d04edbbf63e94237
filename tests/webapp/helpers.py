"""Shared test helpers for the web app tests."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from callcenter.domain.calls import CallOutcome, CallRecord, LegRecord, LegRole, OfferRecord, TransferRecord

PASSWORD = "correct-horse-battery"
SECRET = "test-session-secret-0123456789abcdef"
T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z

_CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_from(html: str) -> str:
    match = _CSRF_RE.search(html)
    assert match, "no csrf field in page"
    return match.group(1)


async def login(
    client: TestClient[Any, Any], username: str, password: str = PASSWORD, *, next_url: str | None = None
) -> ClientResponse:
    """Fresh cookie jar, GET the form, POST it; returns the POST response (redirects not followed)."""
    client.session.cookie_jar.clear()
    page = await client.get("/login")
    assert page.status == 200
    data = {"username": username, "password": password, "csrf": csrf_from(await page.text())}
    if next_url is not None:
        data["next"] = next_url
    return await client.post("/login", data=data, allow_redirects=False)


async def session_csrf(client: TestClient[Any, Any]) -> str:
    """The logged-in session's CSRF token (from /api/me)."""
    resp = await client.get("/api/me")
    assert resp.status == 200
    token: str = (await resp.json())["csrf_token"]
    return token


def make_call(call_id: str, *, agent: str | None, started_at: float = T0, **fields: Any) -> CallRecord:
    defaults: dict[str, Any] = {
        "caller_num": "+15550100",
        "caller_name": "Jane Doe",
        "queue": "sales",
        "outcome": CallOutcome.ANSWERED,
        "answered_at": started_at + 20,
        "ended_at": started_at + 200,
        "wait_seconds": 20.0,
        "talk_seconds": 180.0,
    }
    defaults.update(fields)
    return CallRecord(call_id=call_id, started_at=started_at, agent=agent, **defaults)


def detailed_call(call_id: str, agent: str) -> CallRecord:
    return make_call(
        call_id,
        agent=agent,
        legs=(
            LegRecord(
                uniqueid=call_id,
                call_id=call_id,
                channel="PJSIP/trunk-0001",
                role=LegRole.CUSTOMER,
                started_at=T0,
                answered_at=T0 + 1,
                ended_at=T0 + 200,
                hangup_cause=16,
            ),
            LegRecord(
                uniqueid=call_id + ".2",
                call_id=call_id,
                channel=f"PJSIP/{agent}-0002",
                role=LegRole.AGENT,
                started_at=T0 + 15,
                agent=agent,
                answered_at=T0 + 20,
                ended_at=T0 + 200,
                dial_status="ANSWER",
            ),
        ),
        offers=(
            OfferRecord(
                agent=agent, uniqueid=call_id + ".2", rang_at=T0 + 15, ended_at=T0 + 20, answered=True
            ),
        ),
        transfers=(TransferRecord(at=T0 + 100, kind="blind", target="2000", from_agent=agent),),
    )
