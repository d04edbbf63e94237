"""AMI message framing shared by the simulator's AMI modules: actions in, responses out."""

from __future__ import annotations

import time
from collections.abc import Coroutine
from typing import Any

Headers = list[tuple[str, str]]
Result = str | Coroutine[Any, Any, str]


def eventtv(t: float | None = None) -> str:
    t = time.time() if t is None else t
    ms = int((t % 1) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{ms:03d}+0000"


def resp(aid: str | None, status: str = "Success", message: str | None = None, extra: str = "") -> str:
    out = f"Response: {status}\r\n"
    if aid is not None:
        out += f"ActionID: {aid}\r\n"
    if message is not None:
        out += f"Message: {message}\r\n"
    return out + extra + "\r\n"


def parse_message(raw: bytes) -> Headers:
    headers: Headers = []
    for line in raw.decode("utf-8", "replace").split("\r\n"):
        if not line:
            continue
        key, sep, value = line.partition(": ")
        if not sep:
            key, sep, value = line.partition(":")
            value = value.lstrip()
        headers.append((key.strip(), value))
    return headers


class Action:
    __slots__ = ("aid", "first", "headers", "name")

    def __init__(self, headers: Headers) -> None:
        self.headers = headers
        self.first: dict[str, str] = {}
        for key, value in headers:
            self.first.setdefault(key.lower(), value)
        self.name = self.first.get("action", "")
        self.aid = self.first.get("actionid")

    def get(self, key: str, default: str = "") -> str:
        return self.first.get(key.lower(), default)

    def all(self, key: str) -> list[str]:
        k = key.lower()
        return [v for hk, v in self.headers if hk.lower() == k]
