"""The in-process event bus (``ports.Publisher``): listeners are called on the event loop, in order.

A listener must not block: it puts the event into its own bounded queue (a websocket's send queue, a
wallboard aggregator). A failing listener is logged and never stops the others.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from callcenter.ports import BusListener

log = logging.getLogger(__name__)


class InProcessBus:
    def __init__(self) -> None:
        self._listeners: list[BusListener] = []
        self.published = 0

    async def publish(self, topic: str, event: Mapping[str, Any]) -> None:
        self.published += 1
        self.deliver(topic, event)

    def deliver(self, topic: str, event: Mapping[str, Any]) -> None:
        for listener in list(self._listeners):
            try:
                listener(topic, event)
            except Exception:
                log.exception("bus listener failed", extra={"topic": topic})

    def subscribe(self, listener: BusListener) -> Callable[[], None]:
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        self._listeners.clear()
