"""Write-behind of recorded IVR paths: sessions are queued (never awaited by the call) and written in
batches by one task (aiosqlite costs ~1 ms per transaction, DESIGN stack notes)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from callcenter.domain.errors import StoreError
from callcenter.domain.ivr import IvrSessionRecord
from callcenter.ports import IvrSessionStore

log = logging.getLogger(__name__)


class IvrSessionRecorder:
    def __init__(
        self,
        store: IvrSessionStore,
        *,
        batch_size: int = 200,
        flush_interval: float = 0.5,
        max_pending: int = 20_000,
        write_timeout: float = 10.0,
    ) -> None:
        self._store = store
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._max_pending = max_pending
        self._write_timeout = write_timeout
        self._pending: list[IvrSessionRecord] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.written = 0
        self.dropped = 0
        self.failures = 0

    def __call__(self, record: IvrSessionRecord) -> None:
        """Queue one finished session (called by the IVR; never blocks)."""
        if len(self._pending) >= self._max_pending:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.error(
                    "IVR session records dropped: the store is not keeping up",
                    extra={"dropped": self.dropped},
                )
            return
        self._pending.append(record)
        if len(self._pending) >= self._batch_size:
            self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._pending)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="ivr-session-recorder")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()

    async def flush(self) -> None:
        while self._pending:
            batch = self._pending[: self._batch_size]
            try:
                await asyncio.wait_for(self._store.save_ivr_sessions(batch), self._write_timeout)
            except (StoreError, TimeoutError) as exc:
                self.failures += 1
                log.warning(
                    "IVR session write failed; will retry", extra={"error": str(exc), "batch": len(batch)}
                )
                return
            del self._pending[: len(batch)]
            self.written += len(batch)

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._flush_interval)
            self._wake.clear()
            before = self.failures
            await self.flush()
            if self.failures != before:
                await asyncio.sleep(min(5.0, self._flush_interval * 4))

    def stats(self) -> dict[str, int]:
        return {
            "written": self.written,
            "pending": self.pending,
            "dropped": self.dropped,
            "failures": self.failures,
        }
