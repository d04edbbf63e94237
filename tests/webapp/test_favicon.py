"""A favicon is served locally (no 404 in the browser console on any page)."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient


async def test_favicon_is_served_and_linked(client: TestClient[Any, Any]) -> None:
    for path in ("/favicon.ico", "/static/favicon.svg"):
        resp = await client.get(path)
        assert resp.status == 200, path
        assert resp.headers["Content-Type"].startswith("image/svg+xml")
        assert (await resp.read()).startswith(b"<svg")
    login = await client.get("/login")
    assert '<link rel="icon" href="/static/favicon.svg"' in await login.text()
