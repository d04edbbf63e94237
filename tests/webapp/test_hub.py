"""The websocket hub: login and origin checks, per-recipient delivery, slow clients cut off alone."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from callcenter.webapp.hub import HUB, Hub, to_agent
from tests.webapp.helpers import login


@pytest.fixture
def app(app: web.Application) -> web.Application:
    hub = app[HUB]

    async def ws_handler(request: web.Request) -> web.StreamResponse:
        async def hello(conn: Any) -> None:
            await conn.send({"type": "hello", "user": conn.principal.user.username})

        return await hub.serve(request, ["pops"], on_open=hello)

    app.router.add_get("/ws/test", ws_handler)
    return app


async def connect(client: TestClient[Any, Any], user: str, **kw: Any) -> aiohttp.ClientWebSocketResponse:
    await login(client, user)
    ws = await client.ws_connect("/ws/test", **kw)
    hello = await ws.receive_json(timeout=2)
    assert hello == {"type": "hello", "user": user}
    return ws


async def test_login_required(client: TestClient[Any, Any]) -> None:
    client.session.cookie_jar.clear()
    with pytest.raises(aiohttp.WSServerHandshakeError) as err:
        await client.ws_connect("/ws/test")
    assert err.value.status == 401


async def test_cross_origin_refused(client: TestClient[Any, Any]) -> None:
    await login(client, "alice")
    with pytest.raises(aiohttp.WSServerHandshakeError) as err:
        await client.ws_connect("/ws/test", origin="http://evil.example")
    assert err.value.status == 403
    ok = await client.ws_connect("/ws/test", origin=f"http://{client.host}:{client.port}")
    assert (await ok.receive_json(timeout=2))["type"] == "hello"
    await ok.close()


async def test_an_agent_gets_only_their_own_messages(
    app: web.Application, client: TestClient[Any, Any]
) -> None:
    hub = app[HUB]
    alice = await connect(client, "alice")
    async with TestClient(TestServer(app)) as other:  # a second browser with its own cookies
        bob = await connect(other, "bob")
        assert hub.publish("pops", {"type": "pop", "n": 1}, to=to_agent("1001")) == 1
        assert hub.publish("pops", {"type": "pop", "n": 2}, to=to_agent("1002")) == 1
        assert (await alice.receive_json(timeout=2))["n"] == 1
        assert (await bob.receive_json(timeout=2))["n"] == 2
        with pytest.raises(asyncio.TimeoutError):
            await alice.receive_json(timeout=0.2)
        await bob.close()
    await alice.close()


async def test_a_slow_client_is_closed_without_delaying_the_others(
    app: web.Application, client: TestClient[Any, Any]
) -> None:
    hub: Hub = app[HUB]
    slow = await connect(client, "alice")
    async with TestClient(TestServer(app)) as other:
        fast = await connect(other, "bob")
        slow_conn = next(c for c in hub.connections("pops") if c.agent == "1001")
        slow_conn.queue = asyncio.Queue(maxsize=3)  # a tiny queue stands for a stalled browser
        for n in range(10):  # published without yielding: the slow queue overflows at once
            hub.publish("pops", {"n": n})
        assert slow_conn.dropped
        got = [(await fast.receive_json(timeout=2))["n"] for _ in range(10)]
        assert got == list(range(10))
        msg = await slow.receive(timeout=2)
        while msg.type is aiohttp.WSMsgType.TEXT:
            msg = await slow.receive(timeout=2)
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        assert hub.stats()["slow_closed"] + int(slow_conn.dropped) >= 1
        await fast.close()


async def test_shutdown_closes_with_going_away(app: web.Application, client: TestClient[Any, Any]) -> None:
    ws = await connect(client, "alice")
    await app[HUB].close_all()
    msg = await ws.receive(timeout=2)
    assert msg.type is aiohttp.WSMsgType.CLOSE
    assert msg.data == aiohttp.WSCloseCode.GOING_AWAY
