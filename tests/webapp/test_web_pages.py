"""Pages: security headers, escaping, static files, no inline script or style (CSP)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from callcenter.webapp.security import CONTENT_SECURITY_POLICY
from callcenter.webapp.templating import STATIC_DIR, TEMPLATES_DIR
from tests.webapp.fakes import FakeCrmStore
from tests.webapp.helpers import T0, csrf_from, login, make_call

Client = TestClient[Any, Any]

XSS_SCRIPT = "<script>alert(1)</script>"
XSS_ATTR = '"><img src=x onerror=alert(1)>'


def assert_security_headers(headers: Any) -> None:
    csp = headers["Content-Security-Policy"]
    assert csp == CONTENT_SECURITY_POLICY
    assert "default-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "same-origin"


@pytest.mark.parametrize(
    "path",
    ["/login", "/healthz", "/api/calls", "/static/app.css", "/static/missing.js", "/nowhere", "/agent"],
)
async def test_security_headers_everywhere(client: Client, path: str) -> None:
    resp = await client.get(path, allow_redirects=False)
    assert_security_headers(resp.headers)
    if not path.startswith("/static/"):
        assert resp.headers["Cache-Control"] == "no-store"


async def test_security_headers_on_authenticated_pages(client: Client) -> None:
    resp = await login(client, "qa")
    assert_security_headers(resp.headers)
    page = await client.get("/qa/calls")
    assert page.status == 200
    assert_security_headers(page.headers)


async def test_static_files_are_served_locally(client: Client) -> None:
    css = await client.get("/static/app.css")
    assert css.status == 200
    assert css.headers["Content-Type"].startswith("text/css")
    js = await client.get("/static/app.js")
    assert js.status == 200
    assert "javascript" in js.headers["Content-Type"]
    assert (await client.get("/static/../src/callcenter/config.py")).status in (403, 404)


def test_templates_have_no_inline_script_style_or_cdn() -> None:
    for path in [*TEMPLATES_DIR.glob("*.html"), *STATIC_DIR.glob("*")]:
        text = path.read_text()
        if path.suffix == ".svg":  # an SVG file names its namespace (an identifier, never fetched)
            text = text.replace('xmlns="http://www.w3.org/2000/svg"', "")
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), path
        assert "<style" not in text and " style=" not in text, path
        assert not re.search(r"\son[a-z]+=", text), path
        assert "http://" not in text and "https://" not in text, path


async def test_call_data_is_escaped_on_pages_and_raw_in_json(client: Client, store: FakeCrmStore) -> None:
    store.add_calls(
        make_call("x1", agent="1001", caller_name=XSS_SCRIPT, started_at=T0),
        make_call(
            "x2", agent="1001", caller_name=XSS_ATTR, caller_num=XSS_ATTR, queue=XSS_SCRIPT, started_at=T0 + 1
        ),
    )
    await login(client, "alice")
    html = await (await client.get("/agent")).text()
    assert XSS_SCRIPT not in html and XSS_ATTR not in html
    assert "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in html
    # the only <script> tags are our module
    assert re.findall(r"<script[^>]*>", html) == ['<script type="module" src="/static/app.js">']

    body = await (await client.get("/api/calls")).json()
    names = {c["call_id"]: c["caller_name"] for c in body["calls"]}
    assert names == {"x1": XSS_SCRIPT, "x2": XSS_ATTR}
    detail = await client.get("/api/calls/x2")
    assert detail.headers["Content-Type"].startswith("application/json")
    assert (await detail.json())["queue"] == XSS_SCRIPT


async def test_reflected_login_input_is_escaped(client: Client) -> None:
    page = await client.get("/login", params={"next": '/x"><script>alert(1)</script>'})
    html = await page.text()
    assert "<script>alert(1)" not in html
    resp = await client.post(
        "/login",
        data={"username": XSS_ATTR, "password": "whatever-123", "csrf": csrf_from(html)},
        allow_redirects=False,
    )
    assert resp.status == 401
    assert "<img" not in await resp.text()


async def test_home_page_lists_recent_calls_and_survives_store_trouble(
    client: Client, store: FakeCrmStore
) -> None:
    store.add_calls(make_call("r1", agent="1001", caller_num="+15551234"))
    await login(client, "admin")
    # /wallboard (issue #7) and /qa/calls (issue #8) are real pages now; /admin is still a placeholder
    html = await (await client.get("/admin")).text()
    assert "+15551234" in html
    assert "2023-11-14T22:13:20.000Z" in html
    store.calls_available = False
    resp = await client.get("/admin")
    assert resp.status == 200
    assert "Call history is unavailable" in await resp.text()


async def test_agent_without_calls_sees_empty_list(client: Client, store: FakeCrmStore) -> None:
    store.add_calls(make_call("other", agent="1002", caller_num="+15557777"))
    await login(client, "alice")
    html = await (await client.get("/agent")).text()
    assert "+15557777" not in html
    assert "No calls to show yet." in html


async def test_page_errors_are_html(client: Client) -> None:
    resp = await client.get("/nowhere")
    assert resp.status == 404
    assert resp.headers["Content-Type"].startswith("text/html")
    assert "Not Found" in await resp.text()


def test_web_dir_layout() -> None:
    assert (TEMPLATES_DIR / "base.html").is_file()
    assert Path(STATIC_DIR, "app.css").is_file()


def test_feature_pages_take_precedence_over_placeholders() -> None:
    from aiohttp import web

    from callcenter.webapp import views_pages

    async def real_agent_console(request: web.Request) -> web.Response:
        return web.Response(text="console")

    app = web.Application()
    app.router.add_get("/agent", real_agent_console)
    views_pages.setup(app)
    handlers = {
        route.resource.canonical: route.handler
        for route in app.router.routes()
        if route.method == "GET" and route.resource is not None
    }
    assert handlers["/agent"] is real_agent_console
    assert {"/", "/wallboard", "/qa/calls", "/admin"} <= set(handlers)
