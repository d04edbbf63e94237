"""A tiny AMI client for the simulator tests (raw bytes kept for byte-exact comparisons)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable

Message = list[tuple[str, str]]


def parse(raw: bytes) -> Message:
    out: Message = []
    for line in raw.decode().split("\r\n"):
        if line:
            k, _, v = line.partition(": ")
            out.append((k, v))
    return out


def first(msg: Message, key: str, default: str | None = None) -> str | None:
    for k, v in msg:
        if k == key:
            return v
    return default


class AmiClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.banner = b""
        self.raw: list[bytes] = []  # every message as received (without the blank line)
        self.msgs: list[Message] = []
        self.closed = asyncio.Event()
        self._new = asyncio.Event()
        self._ids = itertools.count(1)
        self._task: asyncio.Task[None] | None = None

    @classmethod
    async def connect(cls, port: int, host: str = "127.0.0.1") -> AmiClient:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 5)
        c = cls(reader, writer)
        c.banner = await asyncio.wait_for(reader.readline(), 5)
        c._task = asyncio.get_running_loop().create_task(c._read())
        return c

    async def _read(self) -> None:
        buf = b""
        try:
            while True:
                data = await self.reader.read(65536)
                if not data:
                    break
                buf += data
                while b"\r\n\r\n" in buf:
                    raw, buf = buf.split(b"\r\n\r\n", 1)
                    self.raw.append(raw)
                    self.msgs.append(parse(raw))
                    self._new.set()
        except ConnectionError:
            pass
        finally:
            self.closed.set()
            self._new.set()

    def send_raw(self, data: bytes) -> None:
        self.writer.write(data)

    def send(self, action: str, *pairs: tuple[str, str], aid: str | None = "auto") -> str | None:
        if aid == "auto":
            aid = f"t-{next(self._ids)}"
        lines = [f"Action: {action}"]
        if aid is not None:
            lines.append(f"ActionID: {aid}")
        lines += [f"{k}: {v}" for k, v in pairs]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        return aid

    async def wait_for(self, pred: Callable[[Message], bool], limit: float = 10.0, start: int = 0) -> Message:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        i = start
        while True:
            while i < len(self.msgs):
                if pred(self.msgs[i]):
                    return self.msgs[i]
                i += 1
            if self.closed.is_set():
                raise EOFError("AMI connection closed")
            left = deadline - loop.time()
            if left <= 0:
                raise TimeoutError("no matching AMI message")
            self._new.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._new.wait(), left)

    async def response(self, aid: str | None, limit: float = 10.0) -> Message:
        return await self.wait_for(
            lambda m: bool(m) and m[0][0] == "Response" and first(m, "ActionID") == aid, limit
        )

    async def event(self, name: str, limit: float = 10.0, **fields: str) -> Message:
        def pred(m: Message) -> bool:
            return bool(m) and m[0] == ("Event", name) and all(first(m, k) == v for k, v in fields.items())

        return await self.wait_for(pred, limit)

    async def action(self, action: str, *pairs: tuple[str, str], limit: float = 10.0) -> Message:
        aid = self.send(action, *pairs)
        return await self.response(aid, limit)

    async def login(
        self, user: str = "callcenter", secret: str = "callcenter", events: str | None = None
    ) -> Message:
        pairs = [("Username", user), ("Secret", secret)]
        if events is not None:
            pairs.append(("Events", events))
        return await self.action("Login", *pairs)

    async def close(self) -> None:
        if not self.writer.is_closing():
            self.writer.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
