"""Write-behind of call records: the tracker's changes go to the CRM store in batches.

One transaction per AMI event would be ~33x slower on SQLite (DESIGN stack notes), so the recorder
collects the tracker's changed calls every ``flush_interval`` and upserts them in batches of
``batch_size``. Records are keyed by call id and only the newest version is kept while waiting, so a
busy call costs one row write per flush. If the database fails, records stay pending (nothing is
dropped) and the write is retried with backoff; the failure is logged and counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence

from callcenter.domain.calls import CallRecord
from callcenter.domain.errors import StoreError
from callcenter.ports import CrmStore

log = logging.getLogger(__name__)


class CallRecorder:
    def __init__(
        self,
        store: CrmStore,
        source: Callable[[], Sequence[CallRecord]],
        *,
        batch_size: int = 500,
        flush_interval: float = 0.2,
        max_backoff: float = 10.0,
    ) -> None:
        self._store = store
        self._source = source
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._max_backoff = max_backoff
        self._pending: dict[str, CallRecord] = {}
        self._lock = asyncio.Lock()
        self.written = 0
        self.batches = 0
        self.failures = 0
        self.last_error: str | None = None
        self.last_write_at: float | None = None
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def pending(self) -> int:
        return len(self._pending)

    def collect(self) -> None:
        """Move the tracker's changes into the pending set (newest version per call wins)."""
        for record in self._source():
            current = self._pending.get(record.call_id)
            if current is None or record.version >= current.version:
                self._pending[record.call_id] = record

    async def flush(self) -> None:
        """Write everything pending. Raises ``StoreError`` if the store fails (pending kept)."""
        async with self._lock:
            self.collect()
            while self._pending:
                keys = list(self._pending)[: self._batch_size]
                batch = [self._pending[k] for k in keys]
                await self._store.save_calls(batch)
                for key, record in zip(keys, batch, strict=True):
                    if self._pending.get(key) is record:
                        del self._pending[key]
                self.written += len(batch)
                self.batches += 1
                self.last_write_at = time.time()

    def start(self) -> None:
        """Run the flush loop in a task owned by this recorder (stopped by ``close``)."""
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name="call-recorder")

    async def run(self) -> None:
        """Flush until ``close``; on store failure back off (capped) and keep everything pending.
        A write in progress is never cancelled (that could leave a transaction open)."""
        backoff = self._flush_interval
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=backoff)
            if self._stop.is_set():
                return
            try:
                await self.flush()
            except StoreError as exc:
                self.failures += 1
                self.last_error = str(exc)
                backoff = min(self._max_backoff, max(backoff * 2, 0.5))
                log.error(
                    "call records not written, will retry",
                    extra={"pending": len(self._pending), "retry_in": backoff, "error": str(exc)},
                )
            else:
                if backoff != self._flush_interval:
                    log.info(
                        "call records written again after store failure", extra={"written": self.written}
                    )
                backoff = self._flush_interval

    async def close(self, timeout: float = 10.0) -> None:
        """Stop the loop (letting a write in progress finish), then flush what is left; logs (never
        silently drops) what could not be written."""
        self._stop.set()
        deadline = time.monotonic() + timeout
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        while True:
            try:
                await asyncio.wait_for(self.flush(), timeout=max(0.1, deadline - time.monotonic()))
                return
            except (StoreError, TimeoutError) as exc:
                if time.monotonic() >= deadline:
                    log.critical(
                        "shutting down with call records not written",
                        extra={
                            "pending": len(self._pending),
                            "call_ids": list(self._pending)[:50],
                            "error": str(exc),
                        },
                    )
                    return
                await asyncio.sleep(0.5)

    def stats(self) -> dict[str, object]:
        return {
            "written": self.written,
            "batches": self.batches,
            "pending": len(self._pending),
            "failures": self.failures,
            "last_error": self.last_error,
        }
