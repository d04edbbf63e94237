"""The event bus on Redis pub/sub, for several service instances.

``publish`` delivers to this instance's listeners at once and sends the event to the channel
``<prefix>:events``; a reader task delivers the other instances' events (its own are recognised by the
instance id and skipped). Pub/sub is fire-and-forget: an instance that is disconnected misses events
(the wallboard and screen pop resynchronise from the status API); the reader reconnects with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from callcenter.domain.errors import StateError
from callcenter.ports import BusListener
from callcenter.state.bus import InProcessBus

log = logging.getLogger(__name__)


class RedisBus:
    def __init__(self, client: Redis, prefix: str = "callcenter:acd", *, timeout: float = 2.0) -> None:
        self._r = client
        self._channel = f"{prefix}:events"
        self._timeout = timeout
        self._local = InProcessBus()
        self.instance = uuid.uuid4().hex[:12]
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._subscribed = asyncio.Event()
        self.received = 0
        self.errors = 0

    async def publish(self, topic: str, event: Mapping[str, Any]) -> None:
        self._local.deliver(topic, event)
        payload = json.dumps({"i": self.instance, "t": topic, "e": event}, default=str)
        try:
            async with asyncio.timeout(self._timeout):
                await self._r.publish(self._channel, payload)
        except (RedisError, OSError, TimeoutError) as exc:
            self.errors += 1
            raise StateError(f"redis publish: {type(exc).__name__}: {exc}") from exc

    def subscribe(self, listener: BusListener) -> Callable[[], None]:
        return self._local.subscribe(listener)

    async def start(self) -> None:
        if self._task is None:
            self._stop.clear()
            self._task = asyncio.create_task(self._run(), name="redis-bus")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._subscribed.wait(), timeout=min(0.5, self._timeout))

    async def close(self) -> None:
        self._stop.set()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        backoff = 0.2
        while not self._stop.is_set():
            pubsub: PubSub = self._r.pubsub(ignore_subscribe_messages=True)
            try:
                async with asyncio.timeout(self._timeout):
                    await pubsub.subscribe(self._channel)
                self._subscribed.set()
                backoff = 0.2
                while not self._stop.is_set():
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5)
                    if message is not None:
                        self._handle(message.get("data"))
            except (RedisError, OSError, TimeoutError) as exc:
                self.errors += 1
                log.warning(
                    "redis bus reader failed, reconnecting", extra={"error": repr(exc), "retry_in": backoff}
                )
                await asyncio.sleep(backoff)
                backoff = min(5.0, backoff * 2)
            finally:
                with contextlib.suppress(RedisError, OSError, TimeoutError):
                    async with asyncio.timeout(self._timeout):
                        await pubsub.aclose()

    def _handle(self, data: Any) -> None:
        try:
            message = json.loads(data)
            if message.get("i") == self.instance:
                return
            topic, event = str(message["t"]), message["e"]
        except (ValueError, KeyError, TypeError):
            log.warning("malformed bus message dropped", extra={"size": len(data or b"")})
            return
        self.received += 1
        self._local.deliver(topic, event)
