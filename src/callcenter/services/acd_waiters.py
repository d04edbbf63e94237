"""The waiting callers of this instance, woken by events instead of a once-a-second loop.

A caller waiting in a queue sits with music on hold and no AGI command outstanding
(``ports.IdleAgiChannel.wait_idle``: Asterisk's asynchronous ``HANGUP`` line still says when the caller
leaves, fact 24). It runs ``claim`` on the shared state only when something may have changed for it:

* an agent of its queue became available (an ``agent.state`` event on the bus, from this instance or
  another): the local head of that queue wakes; a head that got an agent while more are free wakes the
  next local caller, and so on (a chain, so a burst of free agents is shared out at once);
* an agent of its queue logged out (the queue may have nobody left: ``NO_AGENTS``);
* its announcement or its max wait is due, or ``idle_claim`` seconds passed (a safety net for a bus
  event that was lost: Redis pub/sub is fire-and-forget).

Where local callers carry skills, a head that could not be served while agents are free wakes the next
caller too (skills may let a later caller take an agent the head cannot).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from callcenter.ports import IdleAgiChannel


@dataclass(slots=True)
class Waiter:
    entry_id: str
    key: tuple[int, int]  # (-priority, seq): the queue's serving order
    skilled: bool
    event: asyncio.Event = field(default_factory=asyncio.Event)
    offering: bool = False  # ringing an agent: not a candidate for wake-ups


class WaiterBoard:
    """Per queue, the callers waiting in this instance's FastAGI sessions."""

    def __init__(self) -> None:
        self._queues: dict[str, dict[str, Waiter]] = {}
        self.wakeups = 0

    def add(self, queue: str, entry_id: str, priority: int, seq: int, skilled: bool) -> Waiter:
        waiter = Waiter(entry_id, (-priority, seq), skilled)
        self._queues.setdefault(queue, {})[entry_id] = waiter
        return waiter

    def remove(self, queue: str, entry_id: str) -> None:
        waiters = self._queues.get(queue)
        if waiters is not None:
            waiters.pop(entry_id, None)
            if not waiters:
                del self._queues[queue]

    def count(self, queue: str) -> int:
        return len(self._queues.get(queue, ()))

    def _candidates(self, queue: str) -> list[Waiter]:
        return sorted(
            (w for w in self._queues.get(queue, {}).values() if not w.offering), key=lambda w: w.key
        )

    def wake_head(self, queue: str) -> None:
        """An agent of ``queue`` became available: the first local caller claims."""
        candidates = self._candidates(queue)
        if candidates:
            self._wake(candidates[0])

    def wake_all(self, queue: str) -> None:
        for waiter in self._queues.get(queue, {}).values():
            self._wake(waiter)

    def wake_next(self, queue: str, after: Waiter, *, served: bool) -> None:
        """``after`` just claimed: wake the next local caller when an agent may be left for it."""
        candidates = self._candidates(queue)
        if not served and not any(w.skilled for w in candidates):
            return  # same requirements, further back: the next caller cannot be served either
        for waiter in candidates:
            if waiter.key > after.key:
                self._wake(waiter)
                return

    def _wake(self, waiter: Waiter) -> None:
        if not waiter.event.is_set():
            self.wakeups += 1
            waiter.event.set()


async def idle(channel: IdleAgiChannel, wake: asyncio.Event, timeout: float) -> bool:
    """Music plays, no AGI command is outstanding: until ``wake``, the caller leaving, or ``timeout``.
    Returns True when the caller is gone."""
    if wake.is_set() or timeout <= 0:
        return channel.hung_up
    watch = asyncio.ensure_future(channel.wait_idle(timeout))
    woken = asyncio.ensure_future(wake.wait())
    try:
        await asyncio.wait({watch, woken}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (watch, woken):
            if not task.done():
                task.cancel()
        await asyncio.gather(watch, woken, return_exceptions=True)
    if watch.done() and not watch.cancelled():
        return bool(watch.result()) or channel.hung_up  # an AgiError (stream out of step) propagates
    return channel.hung_up
