"""A small fake Asterisk manager (AMI) server on real loopback TCP, for tests.

Wire format follows the traces (banner without blank line, ``\\r\\n`` lines, messages ended by
an empty line, ActionID echoed, list actions framed with ``EventList: start`` … ``EventList: Complete``).

Usage::

    async with FakeAmiServer(channels=[core_show_channel("1795439025.0", "Local/idle@x-00000000;1")]) as srv:
        link = AmiLink(srv.settings(ami_ping_interval=0.2), handler)
        await link.start(); await link.wait_ready(5)
        conn = srv.current                       # the latest FakeAmiConnection
        await conn.send_raw(b"Event: Foo\\r\\nName: Jos\\xc3")   # arbitrary bytes, any split
        await conn.send_raw(b"\\xa9\\r\\n\\r\\n")
        conn.go_silent()                         # stop answering (socket stays open)
        await conn.shutdown_event()              # Event: Shutdown then close
        conn.reset()                             # TCP RST

Server-wide knobs (for the *next* connections): ``reset_before_banner`` (how many connections to reset
right after accept, fact 29), ``no_banner`` (accept and stay mute), ``secret`` (a wrong one from the client
→ ~``auth_fail_delay`` s, ``Response: Error`` / ``Message: Authentication failed``, close, fact 12),
``channels`` (CoreShowChannel items), ``queue_status`` (QueueStatus items), ``answer_pings``.

Built-in actions: Login, Logoff (``Goodbye`` then close), Ping, CoreShowChannels, QueueStatus, Events;
an action before Login → ``Permission denied``; anything else → ``Invalid/unknown command: X``
unless a handler was registered with :meth:`FakeAmiServer.on_action`. Every received action is recorded
(``server.actions`` and ``conn.actions``, parsed ``AmiMessage``s; ``conn.raw_actions`` keeps the bytes).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from callcenter.config import Secret, Settings
from callcenter.pbx.message import AmiMessage, parse_frame

BANNER = b"Asterisk Call Manager/11.0.0\r\n"
CHANNELS_FOLLOW = "Channels will follow"
QUEUE_FOLLOWS = "Queue status will follow"

Fields = Sequence[tuple[str, str]] | Mapping[str, str]
ActionHandler = Callable[["FakeAmiConnection", AmiMessage], Awaitable[bytes | None] | bytes | None]


def frame(*pairs: tuple[str, str], **fields: str) -> bytes:
    """One AMI message: ``frame(("Event", "Foo"), ("ChanVariable", "A=1"), Uniqueid="1.2")``."""
    lines = [f"{k}: {v}" for k, v in pairs]
    lines.extend(f"{k}: {v}" for k, v in fields.items())
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _pairs(fields: Fields) -> list[tuple[str, str]]:
    return list(fields.items()) if isinstance(fields, Mapping) else list(fields)


def core_show_channel(
    uniqueid: str,
    channel: str,
    *,
    linkedid: str | None = None,
    state: str = "6",
    caller: str = "5551234",
    context: str = "incoming",
    exten: str = "8002",
    application: str = "AGI",
    duration: str = "00:00:07",
    bridge_id: str = "",
) -> list[tuple[str, str]]:
    """The fields of one ``CoreShowChannel`` item as Asterisk 22 sends them (without Event/ActionID)."""
    return [
        ("Channel", channel),
        ("ChannelState", state),
        ("ChannelStateDesc", "Up" if state == "6" else "Ring"),
        ("CallerIDNum", caller),
        ("CallerIDName", "Customer"),
        ("ConnectedLineNum", "<unknown>"),
        ("ConnectedLineName", "<unknown>"),
        ("Language", "en"),
        ("AccountCode", ""),
        ("Context", context),
        ("Exten", exten),
        ("Priority", "4"),
        ("Uniqueid", uniqueid),
        ("Linkedid", linkedid or uniqueid),
        ("ChanVariable", f"CC_CALLID={linkedid or uniqueid}"),
        ("ChanVariable", "IVR_CHOICE="),
        ("Application", application),
        ("ApplicationData", ""),
        ("Duration", duration),
        ("BridgeId", bridge_id),
    ]


class FakeAmiConnection:
    """One accepted client connection."""

    def __init__(
        self, server: FakeAmiServer, index: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ):
        self.server = server
        self.index = index  # 1-based, in accept order
        self.reader = reader
        self.writer = writer
        self.logged_in = False
        self.silent = False
        self.actions: list[AmiMessage] = []
        self.raw_actions: list[bytes] = []
        self.closed = asyncio.Event()
        self.write_lock = asyncio.Lock()
        self.banner = server.banner
        self.send_fully_booted = True
        self.part: Any = None  # used by the trace replay server
        self.replaying = False

    # --- what tests call ------------------------------------------------------------------
    async def send_raw(self, data: bytes) -> None:
        """Write bytes as they are (use two calls to split a frame, even inside a UTF-8 character)."""
        async with self.write_lock:
            await self._write(data)

    async def send_event(self, event: str, *pairs: tuple[str, str], **fields: str) -> None:
        await self.send_raw(frame(("Event", event), *pairs, **fields))

    def go_silent(self) -> None:
        """Stop answering anything (the socket stays open): a deadlocked Asterisk."""
        self.silent = True

    async def shutdown_event(self, restart: bool = True, close: bool = True) -> None:
        """``Event: Shutdown`` as other sessions see it on ``core restart`` (fact 28), then EOF."""
        await self.send_event(
            "Shutdown", ("Privilege", "system,all"), ("Shutdown", "Cleanly"), ("Restart", str(restart))
        )
        if close:
            await self.close()

    async def close(self) -> None:
        """Graceful close (FIN)."""
        if not self.writer.is_closing():
            self.writer.close()
        with contextlib.suppress(OSError, ConnectionError):
            await asyncio.wait_for(self.writer.wait_closed(), 2.0)

    def reset(self) -> None:
        """Abortive close (RST)."""
        reset_writer(self.writer)

    # --- internals ----------------------------------------------------------------------------
    async def _write(self, data: bytes) -> None:
        if self.writer.is_closing():
            return
        self.writer.write(data)
        with contextlib.suppress(ConnectionError):
            await asyncio.wait_for(self.writer.drain(), 5.0)

    async def reply(self, data: bytes) -> None:
        async with self.write_lock:
            await self._write(data)

    async def serve(self) -> None:
        srv = self.server
        try:
            await self.reply(self.banner)
            buf = b""
            while True:
                chunk = await self.reader.read(65536)
                if not chunk:
                    return
                buf += chunk
                while (pos := buf.find(b"\r\n\r\n")) >= 0:
                    raw, buf = buf[:pos], buf[pos + 4 :]
                    if not raw.strip():
                        continue
                    msg = parse_frame(raw)
                    self.actions.append(msg)
                    self.raw_actions.append(raw + b"\r\n\r\n")
                    srv.actions.append(msg)
                    srv._action_seen.set()
                    if self.silent:
                        continue
                    if not await self._dispatch(msg):
                        return
                    await srv.after_action(self, msg)
        except (ConnectionError, OSError):
            return
        finally:
            self.closed.set()
            if not self.writer.is_closing():
                self.writer.close()

    async def _dispatch(self, msg: AmiMessage) -> bool:
        """Answer one action; False ends the session."""
        srv = self.server
        action = (msg.get("Action") or "").strip()
        key = action.lower()
        aid = [("ActionID", msg["ActionID"])] if "ActionID" in msg else []
        if key == "login":
            if msg.get("Username") == srv.username and msg.get("Secret") == srv.secret:
                self.logged_in = True
                srv.logins += 1
                booted = frame(
                    ("Event", "FullyBooted"),
                    ("Privilege", "system,all"),
                    ("Uptime", "3"),
                    ("LastReload", "3"),
                    ("Status", "Fully Booted"),
                )
                await self.reply(
                    frame(("Response", "Success"), *aid, ("Message", "Authentication accepted"))
                    + (booted if self.send_fully_booted else b"")
                )
                srv._login_seen.set()
                await srv.after_login(self)
                return True
            srv.failed_logins += 1
            await asyncio.sleep(srv.auth_fail_delay)
            await self.reply(frame(("Response", "Error"), *aid, ("Message", "Authentication failed")))
            await self.close()
            return False
        if key == "logoff":
            await self.reply(frame(("Response", "Goodbye"), *aid, ("Message", "Thanks for all the fish.")))
            await self.close()
            return False
        if not self.logged_in:
            await self.reply(frame(("Response", "Error"), *aid, ("Message", "Permission denied")))
            return True
        handler = srv.handlers.get(key)
        if handler is not None:
            result = handler(self, msg)
            if isinstance(result, Awaitable):
                result = await result
            if result:
                await self.reply(result)
            return True
        if key == "ping":
            if srv.answer_pings:
                await self.reply(
                    frame(
                        ("Response", "Success"), *aid, ("Ping", "Pong"), ("Timestamp", f"{time.time():.6f}")
                    )
                )
            return True
        if key == "coreshowchannels":
            items = [frame(("Event", "CoreShowChannel"), *aid, *_pairs(ch)) for ch in srv.channels]
            await self.reply(
                frame(
                    ("Response", "Success"), *aid, ("EventList", "start"), ("Message", "Channels will follow")
                )
                + b"".join(items)
                + frame(
                    ("Event", "CoreShowChannelsComplete"),
                    *aid,
                    ("EventList", "Complete"),
                    ("ListItems", str(len(items))),
                )
            )
            return True
        if key == "queuestatus":
            items = [frame(*_pairs(item), *aid) for item in srv.queue_status]
            await self.reply(
                frame(
                    ("Response", "Success"),
                    *aid,
                    ("EventList", "start"),
                    ("Message", "Queue status will follow"),
                )
                + b"".join(items)
                + frame(
                    ("Event", "QueueStatusComplete"),
                    *aid,
                    ("EventList", "Complete"),
                    ("ListItems", str(len(items))),
                )
            )
            return True
        if key == "events":
            await self.reply(frame(("Response", "Success"), *aid, ("Events", "On")))
            return True
        await self.reply(
            frame(("Response", "Error"), *aid, ("Message", f"Invalid/unknown command: {action}"))
        )
        return True


def reset_writer(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class FakeAmiServer:
    """See the module docstring. ``await start()`` (or ``async with``) binds 127.0.0.1 on a free port."""

    def __init__(
        self,
        *,
        username: str = "callcenter",
        secret: str = "callcenter",
        channels: Sequence[Fields] = (),
        queue_status: Sequence[Fields] = (),
        banner: bytes = BANNER,
        auth_fail_delay: float = 0.05,
        reset_before_banner: int = 0,
        no_banner: bool = False,
        port: int = 0,
    ) -> None:
        self.host = "127.0.0.1"
        self.port = port
        self.username = username
        self.secret = secret
        self.channels: list[Fields] = list(channels)
        self.queue_status: list[Fields] = list(queue_status)
        self.banner = banner
        self.auth_fail_delay = auth_fail_delay
        self.reset_before_banner = reset_before_banner
        self.no_banner = no_banner
        self.answer_pings = True
        self.handlers: dict[str, ActionHandler] = {}
        self.connections: list[FakeAmiConnection] = []
        self.accepted = 0
        self.resets = 0
        self.logins = 0
        self.failed_logins = 0
        self.actions: list[AmiMessage] = []
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: list[asyncio.StreamWriter] = []
        self._login_seen = asyncio.Event()
        self._action_seen = asyncio.Event()
        self._accept_seen = asyncio.Event()

    # --- lifecycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in self._writers:
            if not writer.is_closing():
                writer.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
            self._server = None

    async def __aenter__(self) -> FakeAmiServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def settings(self, **overrides: Any) -> Settings:
        """Settings pointing at this server, with test-sized timers (override any field)."""
        values: dict[str, Any] = {
            "ami_host": self.host,
            "ami_port": self.port,
            "ami_user": self.username,
            "ami_secret": Secret(self.secret),
            "ami_action_timeout": 2.0,
            "ami_ping_interval": 5.0,
            "ami_ping_timeout": 1.0,
            "ami_connect_timeout": 1.0,
            "ami_reconnect_min": 0.02,
            "ami_reconnect_max": 0.2,
            # tests never take the service's fixed ports (several runs may share a machine)
            "agi_port": 0,
            "http_port": 0,
        }
        values.update(overrides)
        if isinstance(values["ami_secret"], str):
            values["ami_secret"] = Secret(values["ami_secret"])
        return Settings(**values)

    # --- test helpers ---------------------------------------------------------------------------
    def on_action(self, name: str, handler: ActionHandler) -> None:
        """Answer action ``name`` (case-insensitive) with ``handler(conn, msg)`` → bytes to send, or None."""
        self.handlers[name.lower()] = handler

    @property
    def current(self) -> FakeAmiConnection:
        if not self.connections:
            raise AssertionError("no connection accepted yet")
        return self.connections[-1]

    def actions_named(self, name: str) -> list[AmiMessage]:
        return [m for m in self.actions if (m.get("Action") or "").lower() == name.lower()]

    async def wait_for(self, predicate: Callable[[], bool], within: float = 5.0) -> None:
        """Poll ``predicate`` (every 5 ms) until true; AssertionError after ``within`` seconds."""
        deadline = asyncio.get_running_loop().time() + within
        while not predicate():
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"condition not met within {within}s")
            await asyncio.sleep(0.005)

    async def wait_logins(self, n: int, within: float = 5.0) -> None:
        await self.wait_for(lambda: self.logins >= n, within)

    async def wait_accepted(self, n: int, within: float = 5.0) -> None:
        await self.wait_for(lambda: self.accepted >= n, within)

    async def after_login(self, conn: FakeAmiConnection) -> None:
        """Hook for subclasses, called once the login reply was written."""

    async def after_action(self, conn: FakeAmiConnection, msg: AmiMessage) -> None:
        """Hook for subclasses, called after every action was answered (the trace replay starts here)."""

    # --- internals ----------------------------------------------------------------------------
    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self._writers.append(writer)
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._handle(reader, writer)
        except asyncio.CancelledError:
            pass
        finally:
            self._tasks.discard(task)
            if not writer.is_closing():
                writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.reset_before_banner > 0:
            self.reset_before_banner -= 1
            self.resets += 1
            reset_writer(writer)
            return
        if self.no_banner:
            with contextlib.suppress(ConnectionError, OSError):
                await reader.read()  # mute until the client gives up
            return
        conn = FakeAmiConnection(self, self.accepted, reader, writer)
        self.connections.append(conn)
        await conn.serve()
