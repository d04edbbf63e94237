"""Write-behind recorder: batching, newest version wins, nothing lost when the store fails."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from callcenter.domain.calls import CallRecord
from callcenter.domain.errors import StoreUnavailable
from callcenter.services.records import CallRecorder


class FlakyStore:
    """Only what the recorder uses: save_calls. Fails while ``down`` is set."""

    def __init__(self) -> None:
        self.rows: dict[str, CallRecord] = {}
        self.batches: list[int] = []
        self.down = False

    async def save_calls(self, calls: Sequence[CallRecord]) -> None:
        if self.down:
            raise StoreUnavailable("database is down")
        self.batches.append(len(calls))
        for c in calls:
            if c.call_id not in self.rows or self.rows[c.call_id].version < c.version:
                self.rows[c.call_id] = c


def rec(call_id: str, version: int) -> CallRecord:
    return CallRecord(call_id=call_id, started_at=0.0, version=version)


async def test_batches_and_keeps_newest_version() -> None:
    store = FlakyStore()
    changes: list[CallRecord] = [rec(str(i), 1) for i in range(25)] + [rec("3", 5), rec("3", 2)]
    recorder = CallRecorder(store, lambda: changes.copy(), batch_size=10)  # type: ignore[arg-type]
    await recorder.flush()
    assert store.batches == [10, 10, 5]
    assert store.rows["3"].version == 5
    assert recorder.written == 25


async def test_store_outage_loses_nothing_and_retries() -> None:
    store = FlakyStore()
    store.down = True
    queue: list[CallRecord] = [rec("a", 1), rec("b", 1)]

    def source() -> list[CallRecord]:
        out = queue.copy()
        queue.clear()
        return out

    recorder = CallRecorder(store, source, flush_interval=0.01, max_backoff=0.05)  # type: ignore[arg-type]
    recorder.start()
    await asyncio.sleep(0.15)
    assert recorder.failures >= 1 and recorder.pending == 2 and not store.rows
    queue.append(rec("a", 2))
    store.down = False
    for _ in range(100):
        if len(store.rows) == 2:
            break
        await asyncio.sleep(0.02)
    await recorder.close()
    assert store.rows["a"].version == 2 and "b" in store.rows
    assert recorder.pending == 0


async def test_close_flushes_what_is_left() -> None:
    store = FlakyStore()
    recorder = CallRecorder(store, lambda: [rec("z", 1)])  # type: ignore[arg-type]
    await recorder.close()
    assert "z" in store.rows
