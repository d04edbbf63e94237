"""Write-behind recorder: batching, newest version wins, nothing lost when the store fails."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Callable, Sequence
from pathlib import Path

from callcenter.domain.calls import (
    MAX_NAME,
    MAX_NUMBER,
    CallOutcome,
    CallRecord,
    HangupSide,
    LegRecord,
    LegRole,
    OfferRecord,
    TransferRecord,
)
from callcenter.domain.errors import StoreUnavailable
from callcenter.services.journal import CallJournal, decode, encode
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
    recorder.notify()
    for _ in range(100):
        if recorder.failures >= 1:
            break
        await asyncio.sleep(0.01)
    assert recorder.failures >= 1 and recorder.pending == 2 and not store.rows
    queue.append(rec("a", 2))
    recorder.notify()
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


class Changes:
    """A tracker stand-in: records put in, taken once."""

    def __init__(self) -> None:
        self.queue: list[CallRecord] = []

    def __call__(self) -> list[CallRecord]:
        out, self.queue = self.queue, []
        return out


async def _until(cond: Callable[[], bool], within: float = 3.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not cond():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.005)


async def test_low_rate_changes_share_one_batch_within_the_interval() -> None:
    """Issue 14: changes that trickle in are written together once the oldest is flush_interval old
    (a fixed 0.2 s tick wrote 0.56 batches per call at 10 calls/s)."""
    store, changes = FlakyStore(), Changes()
    recorder = CallRecorder(store, changes, flush_interval=0.3, flush_size=100)  # type: ignore[arg-type]
    recorder.start()
    for i in range(10):
        changes.queue.append(rec(str(i), 1))
        recorder.notify()
        await asyncio.sleep(0.01)
    assert recorder.pending == 10 and store.batches == []
    await _until(lambda: len(store.rows) == 10)
    assert store.batches == [10]
    await recorder.close()


async def test_a_full_batch_is_written_at_once() -> None:
    store, changes = FlakyStore(), Changes()
    recorder = CallRecorder(store, changes, flush_interval=60.0, flush_size=5)  # type: ignore[arg-type]
    recorder.start()
    changes.queue += [rec(str(i), 1) for i in range(5)]
    recorder.notify()
    await _until(lambda: len(store.rows) == 5, within=2.0)
    await recorder.close()


async def test_idle_recorder_has_no_timer() -> None:
    store, changes = FlakyStore(), Changes()
    recorder = CallRecorder(store, changes, flush_interval=0.05)  # type: ignore[arg-type]
    recorder.start()
    changes.queue.append(rec("a", 1))
    recorder.notify()
    await _until(lambda: "a" in store.rows)
    assert recorder._timer is None and recorder._collect_handle is None
    await recorder.close()


async def test_journal_keeps_what_a_killed_recorder_held(tmp_path: Path) -> None:
    """The process dies with records collected but not written (no close): the next start's recover
    writes them, newest version per call, and removes the journal."""
    store, changes = FlakyStore(), Changes()
    path = tmp_path / "calls.journal"
    first = CallRecorder(store, changes, flush_interval=60.0, journal=CallJournal(path))  # type: ignore[arg-type]
    await first.recover()
    first.start()
    changes.queue += [rec("a", 1), rec("b", 1)]
    first.notify()
    await _until(lambda: first.pending == 2)
    changes.queue.append(rec("a", 3))
    first.notify()
    await _until(lambda: first.collections == 2)
    assert store.rows == {}
    # the "SIGKILL": the task and its file descriptor vanish, nothing is flushed
    assert first._task is not None
    first._task.cancel()
    first.journal.close()  # type: ignore[union-attr]
    second = CallRecorder(store, Changes(), journal=CallJournal(path))  # type: ignore[arg-type]
    assert await second.recover() == 2
    assert {k: v.version for k, v in store.rows.items()} == {"a": 3, "b": 1}
    assert [p.name for _, p in second.journal.segments()] == ["calls.journal.000003"]  # type: ignore[union-attr]
    await second.close()
    assert second.journal.segments() == []  # type: ignore[union-attr]


async def test_journal_round_trips_a_full_record(tmp_path: Path) -> None:
    record = CallRecord(
        call_id="1.1",
        started_at=1.5,
        caller_num="555",
        caller_name="Zoë",
        outcome=CallOutcome.ANSWERED,
        hangup_by=HangupSide.CALLER,
        legs=(
            LegRecord(
                uniqueid="1.1", call_id="1.1", channel="PJSIP/x", role=LegRole.CUSTOMER, started_at=1.5
            ),
        ),
        offers=(OfferRecord(agent="1001", uniqueid="1.2", rang_at=2.0, answered=True),),
        transfers=(TransferRecord(at=3.0, kind="blind", target="q@ctx"),),
        version=7,
        extra={"k": "v"},
    )
    assert decode(json.loads(json.dumps(encode(record)))) == record


async def test_store_side_guard_cuts_oversized_fields() -> None:
    store, changes = FlakyStore(), Changes()
    recorder = CallRecorder(store, changes)  # type: ignore[arg-type]
    changes.queue.append(
        dataclasses.replace(rec("big", 1), caller_name="x" * 1_000_000, caller_num="1" * 500)
    )
    await recorder.flush()
    stored = store.rows["big"]
    assert len(stored.caller_name) == MAX_NAME and len(stored.caller_num) == MAX_NUMBER
    assert recorder.truncated_fields == 2


async def test_ivr_session_records_are_bounded() -> None:
    from callcenter.domain.ivr import IvrOutcome, IvrSessionRecord
    from callcenter.services.ivr_records import IvrSessionRecorder

    class Sessions:
        def __init__(self) -> None:
            self.rows: list[IvrSessionRecord] = []

        async def save_ivr_sessions(self, batch: Sequence[IvrSessionRecord]) -> None:
            self.rows.extend(batch)

    store = Sessions()
    recorder = IvrSessionRecorder(store, flush_interval=0.01)  # type: ignore[arg-type]
    recorder.start()
    recorder(
        IvrSessionRecord(
            call_id="1.1",
            uniqueid="1.2",
            flow="main",
            started_at=0.0,
            ended_at=1.0,
            outcome=IvrOutcome.QUEUED,
            caller_num="9" * 100_000,
            path=tuple({"node": "menu", "input": "1" * 5000} for _ in range(1000)),
            variables={"name": "x" * 1_000_000},
        )
    )
    await _until(lambda: len(store.rows) == 1)
    await recorder.close()
    (row,) = store.rows
    assert len(row.caller_num) == MAX_NUMBER and len(row.path) == IvrSessionRecorder.MAX_PATH
    assert all(len(step["input"]) == 1024 for step in row.path) and len(row.variables["name"]) == 1024
    assert recorder.stats()["truncated"] == 1


async def test_journal_replay_with_the_store_down_keeps_everything(tmp_path: Path) -> None:
    path = tmp_path / "calls.journal"
    journal = CallJournal(path)
    journal.open()
    journal.append([rec("a", 1), rec("b", 2)])
    journal.close()  # a crashed process left this
    store, changes = FlakyStore(), Changes()
    store.down = True
    recorder = CallRecorder(store, changes, max_backoff=0.05, journal=CallJournal(path))  # type: ignore[arg-type]
    assert await recorder.recover() == 2
    assert recorder.pending == 2 and recorder.failures == 1
    assert len(recorder.journal.segments()) >= 2  # type: ignore[union-attr]  # nothing released
    recorder.start()
    store.down = False
    await _until(lambda: set(store.rows) == {"a", "b"})
    await recorder.close()
    assert recorder.journal.segments() == []  # type: ignore[union-attr]
