"""Signed webhooks over HTTP with aiohttp (``services.outbox.Sender`` for ``kind="webhook"``).

The body is the payload as JSON; headers: ``X-Callcenter-Event``, ``X-Callcenter-Delivery`` (the outbox
id: the same on every retry, for idempotent receivers), ``X-Callcenter-Timestamp`` and
``X-Callcenter-Signature`` (``domain.notify.sign``). A 2xx answer is delivered; anything else is retried.
"""

from __future__ import annotations

import json
import time

import aiohttp

from callcenter.domain.notify import OutboxItem, sign
from callcenter.services.outbox import DeliveryError


class WebhookSender:
    def __init__(self, secret: str, *, timeout: float = 10.0) -> None:
        self.secret = secret
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(self, item: OutboxItem) -> int | None:
        body = json.dumps(item.payload, separators=(",", ":"), sort_keys=True).encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "callcenter-webhook/1",
            "X-Callcenter-Event": item.event,
            "X-Callcenter-Delivery": str(item.id),
            "X-Callcenter-Timestamp": timestamp,
            "X-Callcenter-Signature": sign(self.secret, timestamp, body),
        }
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        try:
            async with self._session.post(
                item.target, data=body, headers=headers, allow_redirects=False
            ) as resp:
                await resp.read()
                if not 200 <= resp.status < 300:
                    raise DeliveryError(f"HTTP {resp.status}", resp.status)
                return resp.status
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise DeliveryError(f"HTTP: {type(exc).__name__}: {exc}") from exc
