"""The durable outbox (issue 16): e-mails and signed webhooks are rows in the ``outbox`` table first, then
one worker task delivers them, retrying with exponential backoff (``domain.notify.Backoff``).

- ``enqueue`` (async callers: a stage change, a ticket change) writes the rows and wakes the worker: the
  request never waits for an SMTP server or a webhook receiver;
- ``submit_nowait`` (sync callers: the tracker's call-ended hook) puts into a bounded in-memory queue the
  worker writes to the table first; overflow is counted and logged (``dropped``), never blocking;
- a restart loses nothing written: pending rows are due again (a claimed row's lease expires);
- every attempt is logged (``outbox_attempts``); an admin can retry a sent or failed message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from callcenter.domain.errors import CallcenterError
from callcenter.domain.notify import Attempt, Backoff, OutboxItem, OutboxStatus

log = logging.getLogger(__name__)


class DeliveryError(CallcenterError):
    """A delivery failed (``status_code``: the receiver's HTTP status, or the SMTP reply code)."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class Sender(Protocol):
    async def send(self, item: OutboxItem) -> int | None:
        """Deliver ``item``; the receiver's status code. Raises ``DeliveryError``."""
        ...


class OutboxStore(Protocol):
    async def add(self, items: Sequence[OutboxItem]) -> list[int]: ...
    async def claim_due(self, now: float, lease: float, limit: int) -> list[OutboxItem]: ...
    async def record(
        self, item_id: int, attempt: Attempt, *, status: OutboxStatus, next_at: float
    ) -> None: ...
    async def get(self, item_id: int) -> OutboxItem | None: ...
    async def retry(self, item_id: int, now: float) -> bool: ...
    async def next_due(self) -> float | None: ...


@dataclass(slots=True)
class OutboxStats:
    enqueued: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    dropped: int = 0
    store_errors: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)


class OutboxService:
    def __init__(
        self,
        store: OutboxStore,
        senders: dict[str, Sender],
        *,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.time,
        lease: float = 120.0,
        batch: int = 20,
        send_timeout: float = 30.0,
        idle_poll: float = 60.0,
        store_retry: float = 5.0,
        queue_size: int = 10_000,
    ) -> None:
        self.store = store
        self.senders = senders
        self.backoff = backoff or Backoff()
        self.clock = clock
        self.lease = lease
        self.batch = batch
        self.send_timeout = send_timeout
        # Asleep while nothing is due: new items wake the worker of the instance that wrote them; the idle
        # poll only catches items another instance wrote and could not send (it died), the store retry
        # a database that was away.
        self.idle_poll = idle_poll
        self.store_retry = store_retry
        self.stats = OutboxStats()
        self._queue: asyncio.Queue[OutboxItem] = asyncio.Queue(maxsize=queue_size)
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None

    # -- submitting --------------------------------------------------------------------------------

    async def enqueue(self, items: Sequence[OutboxItem]) -> list[int]:
        ids = await self.store.add(items)
        self.stats.enqueued += len(ids)
        self._wake.set()
        return ids

    def submit_nowait(self, item: OutboxItem) -> bool:
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            self.stats.dropped += 1
            log.error("outbox queue full: message dropped", extra={"event": item.event, "ref": item.ref})
            return False
        self._wake.set()
        return True

    async def retry(self, item_id: int) -> bool:
        ok = await self.store.retry(item_id, self.clock())
        self._wake.set()
        return ok

    # -- the worker --------------------------------------------------------------------------------

    async def start(self) -> None:
        self._stop.clear()
        self._runner = asyncio.create_task(self._run(), name="outbox")

    async def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._runner is not None:
            await asyncio.gather(self._runner, return_exceptions=True)
            self._runner = None
        await self._flush_queue()  # what the sync callers handed over is kept for the next start

    async def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                await self.run_once()
                due = await self.store.next_due()
            except CallcenterError as exc:  # the database is down: try again later
                self.stats.store_errors += 1
                log.warning("outbox: store unavailable", extra={"error": str(exc)})
                due = self.clock() + self.store_retry
            wait = self.idle_poll if due is None else max(0.0, min(self.idle_poll, due - self.clock()))
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), wait)

    async def _flush_queue(self) -> None:
        items: list[OutboxItem] = []
        while not self._queue.empty():
            items.append(self._queue.get_nowait())
        if items:
            try:
                await self.enqueue(items)
            except CallcenterError:
                for item in items:  # keep them for the next try
                    self.submit_nowait(item)
                raise

    async def run_once(self) -> int:
        """Write what was submitted, then deliver the due messages; how many were attempted."""
        await self._flush_queue()
        items = await self.store.claim_due(self.clock(), self.lease, self.batch)
        for item in items:
            await self._deliver(item)
        return len(items)

    async def _deliver(self, item: OutboxItem) -> None:
        sender = self.senders.get(item.kind)
        started = time.monotonic()
        at = self.clock()
        code: int | None = None
        error = ""
        try:
            if sender is None:
                raise DeliveryError(f"no sender for {item.kind!r} configured")
            async with asyncio.timeout(self.send_timeout):
                code = await sender.send(item)
        except DeliveryError as exc:
            error, code = str(exc) or type(exc).__name__, exc.status_code
        except TimeoutError:
            error = f"no answer in {self.send_timeout:g} s"
        seconds = time.monotonic() - started
        attempt = Attempt(at, not error, code, error, seconds)
        extra = {"outbox_id": item.id, "event": item.event, "ref": item.ref, "kind": item.kind}
        if not error:
            await self.store.record(item.id, attempt, status=OutboxStatus.SENT, next_at=at)
            self.stats.sent += 1
            self.stats.by_kind[item.kind] = self.stats.by_kind.get(item.kind, 0) + 1
            log.info("outbox delivered", extra={**extra, "status_code": code})
            return
        failures = item.attempts + 1
        if failures >= self.backoff.max_attempts:
            await self.store.record(item.id, attempt, status=OutboxStatus.FAILED, next_at=at)
            self.stats.failed += 1
            log.error("outbox gave up", extra={**extra, "error": error, "attempts": failures})
            return
        delay = self.backoff.delay(failures)
        await self.store.record(item.id, attempt, status=OutboxStatus.PENDING, next_at=at + delay)
        self.stats.retried += 1
        log.warning("outbox delivery failed, retrying", extra={**extra, "error": error, "in_seconds": delay})
