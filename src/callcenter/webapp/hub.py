"""Websocket fan-out for the agent console and the wallboard.

One ``WsConnection`` per browser tab: authenticated by the session cookie (or a bearer token), its
``Origin`` checked against the host it connected to, a heartbeat, and **one bounded send queue** drained
by its own writer task. ``Hub.publish`` encodes a message once and puts the same text into every
matching queue without awaiting, so a slow browser never delays the others: when its queue is full the
connection is closed with 1013 ("try again later") and counted; the page reconnects and asks for the
current state again (``on_open`` of the view sends it). Compression is off (fan-out CPU, DESIGN stack
notes). On shutdown every socket is closed with 1001 GOING_AWAY.

Who receives what is decided by the publisher: ``publish(topic, message, to=predicate)`` where the
predicate sees the connection's principal (an agent only gets their own pops: ``to_agent("1001")``).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from aiohttp import WSCloseCode, WSMsgType, web

from callcenter.domain.users import Role
from callcenter.webapp.auth import Principal, get_principal
from callcenter.webapp.errors import json_error
from callcenter.webapp.jsonenc import dumps

log = logging.getLogger(__name__)

Recipient = Callable[["WsConnection"], bool]
OnOpen = Callable[["WsConnection"], Awaitable[None]]
OnMessage = Callable[["WsConnection", dict[str, Any]], Awaitable[None]]


@dataclass(eq=False)
class WsConnection:
    id: int
    principal: Principal
    topics: frozenset[str]
    ws: web.WebSocketResponse
    queue: asyncio.Queue[str]
    dropped: bool = False
    sent: int = 0
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def agent(self) -> str | None:
        return self.principal.user.agent

    @property
    def role(self) -> Role:
        return self.principal.user.role

    def offer(self, text: str) -> bool:
        """Queue one message without waiting; False (and the connection is doomed) when it is full."""
        if self.dropped:
            return False
        try:
            self.queue.put_nowait(text)
        except asyncio.QueueFull:
            self.dropped = True
            return False
        return True

    async def send(self, message: dict[str, Any]) -> None:
        """Queue a message for this connection only (the state sent on open, replies)."""
        self.offer(encode(message))


def encode(message: dict[str, Any]) -> str:
    return dumps(message, compact=True, default=str)


def to_agent(agent: str) -> Recipient:
    return lambda conn: conn.agent == agent


def to_roles(*roles: Role) -> Recipient:
    allowed = frozenset(roles)
    return lambda conn: conn.role in allowed


class Hub:
    def __init__(self, *, queue_size: int = 256, heartbeat: float = 20.0, send_timeout: float = 10.0) -> None:
        self._queue_size = queue_size
        self._heartbeat = heartbeat
        self._send_timeout = send_timeout
        self._ids = itertools.count(1)
        self._by_topic: dict[str, set[WsConnection]] = {}
        self._all: set[WsConnection] = set()
        self.published = 0
        self.delivered = 0
        self.slow_closed = 0
        self.rejected_origin = 0
        self._closing = False

    # --- serving ----------------------------------------------------------------------------
    async def serve(
        self,
        request: web.Request,
        topics: Iterable[str],
        *,
        roles: Iterable[Role] | None = None,
        on_open: OnOpen | None = None,
        on_message: OnMessage | None = None,
    ) -> web.StreamResponse:
        """Upgrade ``request`` to a websocket subscribed to ``topics`` and run it until it closes."""
        principal = await get_principal(request)
        if principal is None:
            return json_error(401, "login required")
        if roles is not None and principal.user.role not in set(roles):
            return json_error(403, "not allowed for your role")
        if not same_origin(request):
            self.rejected_origin += 1
            return json_error(403, "cross-origin websocket refused")
        if self._closing:
            return json_error(503, "shutting down")
        ws = web.WebSocketResponse(heartbeat=self._heartbeat, compress=False, max_msg_size=64 * 1024)
        await ws.prepare(request)
        conn = WsConnection(
            id=next(self._ids),
            principal=principal,
            topics=frozenset(topics),
            ws=ws,
            queue=asyncio.Queue(maxsize=self._queue_size),
        )
        self._add(conn)
        writer = asyncio.create_task(self._write(conn), name=f"ws-writer-{conn.id}")
        try:
            if on_open is not None:
                await on_open(conn)
            async for msg in ws:
                if msg.type is WSMsgType.TEXT and on_message is not None:
                    try:
                        data = json.loads(msg.data)
                    except ValueError:
                        await conn.send({"type": "error", "error": "messages are JSON objects"})
                        continue
                    if isinstance(data, dict):
                        await on_message(conn, data)
                if conn.dropped:
                    break
        finally:
            self._remove(conn)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
            if not ws.closed:
                code = WSCloseCode.TRY_AGAIN_LATER if conn.dropped else WSCloseCode.OK
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await ws.close(code=code)
        return ws

    async def _write(self, conn: WsConnection) -> None:
        """Drain this connection's queue in order. Cancelled by ``serve`` when the socket ends (a plain
        ``queue.get()``: 3.11's ``wait_for`` can swallow that cancellation)."""
        ws = conn.ws
        while not conn.dropped and not ws.closed:
            text = await conn.queue.get()
            try:
                await asyncio.wait_for(ws.send_str(text), timeout=self._send_timeout)
            except (ConnectionError, RuntimeError, TimeoutError):
                conn.dropped = True
                break
            conn.sent += 1
        if conn.dropped and not ws.closed:
            self.slow_closed += 1
            log.warning(
                "websocket too slow, closed", extra={"conn": conn.id, "user": conn.principal.user.username}
            )
            with contextlib.suppress(ConnectionError, RuntimeError):
                await ws.close(code=WSCloseCode.TRY_AGAIN_LATER, message=b"too slow")

    def _add(self, conn: WsConnection) -> None:
        self._all.add(conn)
        for topic in conn.topics:
            self._by_topic.setdefault(topic, set()).add(conn)

    def _remove(self, conn: WsConnection) -> None:
        self._all.discard(conn)
        for topic in conn.topics:
            subscribers = self._by_topic.get(topic)
            if subscribers is not None:
                subscribers.discard(conn)

    # --- publishing -------------------------------------------------------------------------
    def publish(self, topic: str, message: dict[str, Any], *, to: Recipient | None = None) -> int:
        """Queue ``message`` for every connection on ``topic`` that ``to`` accepts; returns how many."""
        subscribers = self._by_topic.get(topic)
        self.published += 1
        if not subscribers:
            return 0
        text = encode(message)
        count = 0
        for conn in tuple(subscribers):
            if to is not None and not to(conn):
                continue
            if conn.offer(text):
                count += 1
            else:
                # wake the reader so the connection ends promptly
                with contextlib.suppress(Exception):
                    asyncio.get_running_loop().create_task(conn.ws.close(code=WSCloseCode.TRY_AGAIN_LATER))
        self.delivered += count
        return count

    def connections(self, topic: str | None = None) -> list[WsConnection]:
        return list(self._all if topic is None else self._by_topic.get(topic, ()))

    async def close_all(self) -> None:
        """Shutdown: refuse new sockets and close every open one with GOING_AWAY."""
        self._closing = True
        closing = [
            conn.ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")
            for conn in tuple(self._all)
            if not conn.ws.closed
        ]
        if closing:
            await asyncio.wait_for(asyncio.gather(*closing, return_exceptions=True), timeout=5.0)

    def stats(self) -> dict[str, int]:
        return {
            "connections": len(self._all),
            "published": self.published,
            "delivered": self.delivered,
            "slow_closed": self.slow_closed,
            "rejected_origin": self.rejected_origin,
        }


def same_origin(request: web.Request) -> bool:
    """Browsers always send ``Origin`` on websocket upgrades; it must name the host they connected to.
    A request without ``Origin`` (a script with a bearer token) is allowed."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    parts = urlsplit(origin)
    return bool(parts.netloc) and parts.netloc == request.host


#: The application's hub (``request.app[HUB]``).
HUB = web.AppKey[Hub]("hub")
