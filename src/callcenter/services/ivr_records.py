"""Write-behind of recorded IVR paths: sessions are queued (never awaited by the call) and written in
batches by one task (aiosqlite costs ~1 ms per transaction, DESIGN stack notes). Idle, the task waits on
an event (no polling); the first queued session starts a ``flush_interval`` batching window.

Caller-controlled text (the caller number from the AGI environment, digits and values in the path and
the variables) is bounded before it is queued (``domain.calls`` limits), counted in ``truncated``."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from typing import Any

from callcenter.domain.calls import MAX_NUMBER, MAX_TEXT, cut
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
        self.truncated = 0

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
        record = self._bounded(record)
        self._pending.append(record)
        if len(self._pending) == 1 or len(self._pending) >= self._batch_size:
            self._wake.set()

    #: at most this many steps of one session's path are kept (a caller looping in a menu)
    MAX_PATH = 200

    def _bounded(self, record: IvrSessionRecord) -> IvrSessionRecord:
        changes: dict[str, Any] = {}
        if len(record.caller_num) > MAX_NUMBER:
            changes["caller_num"] = record.caller_num[:MAX_NUMBER]
        if record.error is not None and len(record.error) > MAX_TEXT:
            changes["error"] = record.error[:MAX_TEXT]
        if any(len(k) > MAX_NUMBER or len(str(v)) > MAX_TEXT for k, v in record.variables.items()):
            changes["variables"] = {
                cut(k, MAX_NUMBER): cut(str(v), MAX_TEXT) for k, v in record.variables.items()
            }
        path = record.path
        if len(path) > self.MAX_PATH or any(
            isinstance(v, str) and len(v) > MAX_TEXT for step in path for v in step.values()
        ):
            changes["path"] = tuple(
                {k: cut(v, MAX_TEXT) if isinstance(v, str) else v for k, v in step.items()}
                for step in path[: self.MAX_PATH]
            )
        if not changes:
            return record
        self.truncated += 1
        log.warning(
            "IVR session record over its size limits cut",
            extra={"linkedid": record.call_id[:MAX_NUMBER], "fields": sorted(changes)},
        )
        return dataclasses.replace(record, **changes)

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
            await self._wake.wait()  # the first pending session (or a full batch)
            if len(self._pending) < self._batch_size:
                await asyncio.sleep(self._flush_interval)  # the batching window
            self._wake.clear()
            before = self.failures
            await self.flush()
            if self.failures != before:
                await asyncio.sleep(min(5.0, self._flush_interval * 4))
            if self._pending:
                self._wake.set()  # what failed, or arrived during the write

    def stats(self) -> dict[str, int]:
        return {
            "written": self.written,
            "pending": self.pending,
            "dropped": self.dropped,
            "failures": self.failures,
            "truncated": self.truncated,
        }
