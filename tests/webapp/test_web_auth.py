"""Login, logout, sessions, CSRF, throttling and redirects."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp.test_utils import TestClient, TestServer

from callcenter.config import Settings
from callcenter.domain.users import Role, User
from callcenter.webapp import create_web_app
from callcenter.webapp.auth import safe_next
from callcenter.webapp.sessions import SESSION_COOKIE, SessionCodec
from tests.webapp.conftest import Clock
from tests.webapp.fakes import FakeCrmStore
from tests.webapp.helpers import PASSWORD, SECRET, csrf_from, login, session_csrf

Client = TestClient[Any, Any]


def session_cookie(client: Client) -> str | None:
    for cookie in client.session.cookie_jar:
        if cookie.key == SESSION_COOKIE:
            return cookie.value
    return None


async def test_login_success_sets_hardened_cookie_and_lands_on_role_page(client: Client) -> None:
    resp = await login(client, "sup")
    assert resp.status == 303
    assert resp.headers["Location"] == "/"
    set_cookie = next(h for h in resp.headers.getall("Set-Cookie") if h.startswith(SESSION_COOKIE + "="))
    assert "HttpOnly" in set_cookie
    assert "SameSite=Lax" in set_cookie
    assert "Secure" not in set_cookie  # cookie_secure=False in these settings

    home = await client.get("/", allow_redirects=False)
    assert home.status == 303
    assert home.headers["Location"] == "/wallboard"
    page = await client.get("/wallboard")
    assert page.status == 200
    html = await page.text()
    assert "Sam Supervisor" in html and "supervisor" in html


@pytest.mark.parametrize(
    ("username", "landing"),
    [("alice", "/agent"), ("sup", "/wallboard"), ("qa", "/qa/calls"), ("admin", "/admin")],
)
async def test_root_redirects_each_role_to_a_real_page(client: Client, username: str, landing: str) -> None:
    await login(client, username)
    resp = await client.get("/", allow_redirects=False)
    assert resp.headers["Location"] == landing
    page = await client.get(landing)
    assert page.status == 200
    assert username in await page.text()


async def test_role_pages_refuse_other_roles(client: Client) -> None:
    await login(client, "alice")
    assert (await client.get("/wallboard")).status == 403
    assert (await client.get("/admin")).status == 403
    await login(client, "qa")
    assert (await client.get("/agent")).status == 403


async def test_login_failure_rerenders_form_with_401(client: Client) -> None:
    resp = await login(client, "sup", "wrong-password")
    assert resp.status == 401
    html = await resp.text()
    assert "Invalid username or password." in html
    assert 'value="sup"' in html
    assert session_cookie(client) is None
    resp = await login(client, "nobody", "wrong-password")
    assert resp.status == 401


async def test_login_without_csrf_is_refused(client: Client) -> None:
    await client.get("/login")
    resp = await client.post("/login", data={"username": "sup", "password": PASSWORD}, allow_redirects=False)
    assert resp.status == 403
    assert session_cookie(client) is None


async def test_login_csrf_must_match_the_browsers_nonce(client: Client) -> None:
    page = await client.get("/login")
    token = csrf_from(await page.text())
    client.session.cookie_jar.clear()  # another browser: the token does not match its (absent) nonce
    resp = await client.post(
        "/login", data={"username": "sup", "password": PASSWORD, "csrf": token}, allow_redirects=False
    )
    assert resp.status == 403
    # the refused page carries a fresh form that works
    resp = await client.post(
        "/login",
        data={"username": "sup", "password": PASSWORD, "csrf": csrf_from(await resp.text())},
        allow_redirects=False,
    )
    assert resp.status == 303


async def test_login_is_throttled_after_five_failures(client: Client, limiter_clock: Clock) -> None:
    for _ in range(5):
        assert (await login(client, "sup", "wrong-password")).status == 401
    resp = await login(client, "sup")  # even the right password is refused now
    assert resp.status == 429
    assert int(resp.headers["Retry-After"]) > 0
    assert "Too many failed attempts" in await resp.text()
    assert session_cookie(client) is None
    # another username from the same address is not affected
    assert (await login(client, "qa")).status == 303
    # the window passes
    limiter_clock.advance(301)
    assert (await login(client, "sup")).status == 303


async def test_logout_needs_csrf_and_clears_the_session(client: Client) -> None:
    await login(client, "qa")
    resp = await client.post("/logout", allow_redirects=False)
    assert resp.status == 403
    assert (await client.get("/api/me")).status == 200

    token = await session_csrf(client)
    resp = await client.post("/logout", data={"csrf": token}, allow_redirects=False)
    assert resp.status == 303
    assert resp.headers["Location"] == "/login"
    assert session_cookie(client) is None
    assert (await client.get("/api/me")).status == 401


async def test_logout_form_on_page_carries_the_token(client: Client) -> None:
    await login(client, "qa")
    html = await (await client.get("/qa/calls")).text()
    resp = await client.post("/logout", data={"csrf": csrf_from(html)}, allow_redirects=False)
    assert resp.status == 303


async def test_post_with_header_csrf_token(client: Client) -> None:
    await login(client, "qa")
    token = await session_csrf(client)
    resp = await client.post("/logout", headers={"X-CSRF-Token": token}, allow_redirects=False)
    assert resp.status == 303


async def test_tampered_session_cookie_is_rejected_and_cleared(
    client: Client, users: dict[str, User]
) -> None:
    await login(client, "alice")
    value = session_cookie(client)
    assert value is not None
    # forge a cookie claiming to be the admin, signed with a different key
    forged = SessionCodec(b"not-the-server-secret-xxxxxxxxxx").encode(
        SessionCodec(SECRET.encode()).new_session(users["admin"].id, Role.ADMIN)
    )
    # and the real cookie with one character of the payload changed
    body, sig = value.split(".")
    flipped = ("A" if body[5] != "A" else "B").join((body[:5], body[6:]))
    for bad in (forged, f"{flipped}.{sig}", value + "x", "garbage", "a.b"):
        client.session.cookie_jar.clear()
        client.session.cookie_jar.update_cookies({SESSION_COOKIE: bad})
        resp = await client.get("/api/me")
        assert resp.status == 401, bad
        assert (
            "Max-Age=0" in resp.headers.get("Set-Cookie", "")
            or "expires" in resp.headers.get("Set-Cookie", "").lower()
        )
        page = await client.get("/admin", allow_redirects=False)
        assert page.status == 303
        assert page.headers["Location"].startswith("/login?next=")


async def test_cookie_signed_with_the_server_key_is_accepted(client: Client, users: dict[str, User]) -> None:
    cookie = SessionCodec(SECRET.encode(), clock=lambda: 1_700_000_000.0).encode(
        SessionCodec(SECRET.encode(), clock=lambda: 1_700_000_000.0).new_session(users["qa"].id, Role.QA)
    )
    client.session.cookie_jar.update_cookies({SESSION_COOKIE: cookie})
    resp = await client.get("/api/me")
    assert resp.status == 200
    assert (await resp.json())["username"] == "qa"


async def test_expired_session_is_rejected(client: Client, clock: Clock) -> None:
    await login(client, "qa")
    assert (await client.get("/api/me")).status == 200
    cookie = session_cookie(client)
    clock.advance(12 * 3600 + 1)
    client.session.cookie_jar.update_cookies({SESSION_COOKIE: cookie or ""})  # the browser kept it anyway
    assert (await client.get("/api/me")).status == 401


async def test_session_is_renewed_past_half_its_life(client: Client, clock: Clock) -> None:
    await login(client, "qa")
    old = session_cookie(client)
    clock.advance(7 * 3600)
    resp = await client.get("/api/me")
    assert resp.status == 200
    new = session_cookie(client)
    assert new is not None and new != old
    clock.advance(7 * 3600)  # 14 h after login, 7 h after renewal
    assert (await client.get("/api/me")).status == 200


async def test_deactivated_user_or_changed_role_ends_the_session(
    client: Client, store: FakeCrmStore, users: dict[str, User]
) -> None:
    await login(client, "qa")
    store.set_role(users["qa"].id, Role.AGENT)
    assert (await client.get("/api/me")).status == 401
    await login(client, "sup")
    store.deactivate(users["sup"].id)
    assert (await client.get("/api/me")).status == 401


async def test_anonymous_page_redirects_to_login_with_next(client: Client) -> None:
    resp = await client.get("/qa/calls?x=1", allow_redirects=False)
    assert resp.status == 303
    assert resp.headers["Location"] == "/login?next=" + quote("/qa/calls?x=1", safe="")
    api = await client.get("/api/calls")
    assert api.status == 401
    assert await api.json() == {"error": "authentication required"}


async def test_login_follows_a_relative_next(client: Client) -> None:
    resp = await login(client, "qa", next_url="/qa/calls?page=2")
    assert resp.headers["Location"] == "/qa/calls?page=2"


@pytest.mark.parametrize(
    "evil",
    [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example/",
        "\\\\evil.example",
        "javascript:alert(1)",
        "evil.example",
        "/%0d%0aSet-Cookie:x=1",
        "/ok\r\nLocation: https://evil.example",
        "///evil.example",
    ],
)
async def test_open_redirect_is_rejected(client: Client, evil: str) -> None:
    resp = await login(client, "qa", next_url=evil)
    assert resp.status == 303
    location = resp.headers["Location"]
    assert location == "/" or (location.startswith("/") and not location.startswith("//"))
    assert "evil.example" not in location or location.startswith("/%")
    # and the form does not echo it back as a next target
    page = await client.get("/login", params={"next": evil})
    assert f'value="{evil}"' not in await page.text()


def test_safe_next_unit() -> None:
    assert safe_next("/agent") == "/agent"
    assert safe_next("/qa/calls?x=1&y=2") == "/qa/calls?x=1&y=2"
    for bad in (None, "", "http://x", "//x", "/\\x", "x", "/\tx", "///x"):
        assert safe_next(bad) == "/", bad


async def test_logged_in_user_visiting_login_is_sent_on(client: Client) -> None:
    await login(client, "qa")
    resp = await client.get("/login", params={"next": "/qa/calls"}, allow_redirects=False)
    assert resp.status == 303
    assert resp.headers["Location"] == "/qa/calls"


async def test_secure_cookie_flag_follows_settings(store: FakeCrmStore, accounts: Any, users: Any) -> None:
    from callcenter.config import Secret

    app = create_web_app(
        Settings(session_secret=Secret(SECRET), cookie_secure=True),
        store=store,
        accounts=accounts,
        health=_ok,
    )
    async with TestClient(TestServer(app)) as client:
        page = await client.get("/login")
        token = csrf_from(await page.text())
        # the nonce cookie is Secure, so the client (plain http) will not send it back: send it by hand
        nonce = next(h for h in page.headers.getall("Set-Cookie") if h.startswith("cc_login="))
        assert "Secure" in nonce
        nonce_value = nonce.split(";")[0].split("=", 1)[1]
        resp = await client.post(
            "/login",
            data={"username": "qa", "password": PASSWORD, "csrf": token},
            headers={"Cookie": f"cc_login={nonce_value}"},
            allow_redirects=False,
        )
        assert resp.status == 303
        set_cookie = next(h for h in resp.headers.getall("Set-Cookie") if h.startswith(SESSION_COOKIE + "="))
        assert "Secure" in set_cookie


async def _ok() -> dict[str, Any]:
    return {"status": "ok"}


async def test_missing_secret_warns_and_still_works(
    store: FakeCrmStore, accounts: Any, users: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="callcenter.webapp.sessions"):
        app = create_web_app(Settings(), store=store, accounts=accounts, health=_ok)
    assert any("SESSION_SECRET is not set" in r.getMessage() for r in caplog.records)
    async with TestClient(TestServer(app)) as client:
        assert (await login(client, "qa")).status == 303
        assert (await client.get("/api/me")).status == 200
