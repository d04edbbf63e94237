"""Cost of the call records' write-ahead journal, and write batching at low rates.

    .venv/bin/python bench/journal.py [--calls 2000] [--rate 10 --seconds 5]

1. CPU per call: the real ``eventfilter-shipped.ami`` call (ami1: the shipped manager.conf filter, 63
   events) replayed ``--calls`` times with fresh ids, through ``Translator`` → ``CallTracker`` →
   ``CallRecorder.collect`` once per recorded ``recv()`` chunk (what the recorder's next-loop-turn
   collection does), with the journal on (a temporary file) and off. The store is not involved (its
   cost is ``bench/store_write.py``). Prints µs per call for each, the journal's share, and its
   records and bytes per call.
2. Batches per call at ``--rate`` calls/s for ``--seconds`` (wall time, the real recorder loop and
   timers, a store that only counts): the adaptive flush (``flush_interval`` 1 s / ``flush_size`` 200)
   against the old fixed 0.2 s tick (issue 14: 0.56 batches per call at 10 calls/s).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from tests.support.traces import rx_chunks, split_frames, trace_path  # noqa: E402

from callcenter.domain.calls import CallRecord  # noqa: E402
from callcenter.domain.events import PbxEvent  # noqa: E402
from callcenter.pbx.message import parse_frame  # noqa: E402
from callcenter.pbx.translate import Translator  # noqa: E402
from callcenter.services.journal import CallJournal  # noqa: E402
from callcenter.services.records import CallRecorder  # noqa: E402
from callcenter.services.tracker import CallTracker  # noqa: E402

TRACE = "eventfilter-shipped.ami"
IDS = b"1796315062."


class CountingStore:
    def __init__(self) -> None:
        self.batches = 0
        self.rows = 0

    async def save_calls(self, calls: Sequence[CallRecord]) -> None:
        self.batches += 1
        self.rows += len(calls)


def bursts_for(n: int) -> list[list[list[PbxEvent]]]:
    """Per call, per recorded recv() chunk, the translated events (ids made unique per call)."""
    chunks = rx_chunks(trace_path(TRACE), "ami1")
    translator = Translator()
    calls = []
    for i in range(n):
        prefix = f"{1800000000 + i}.".encode()
        per_call = []
        for chunk in chunks:
            events = []
            for raw in split_frames(chunk.replace(IDS, prefix)):
                if not raw.startswith(b"Event: "):
                    continue
                event = translator(parse_frame(raw), at=time.time())
                if event is not None:
                    events.append(event)
            if events:
                per_call.append(events)
        calls.append(per_call)
    return calls


def run_cpu(calls: list[list[list[PbxEvent]]], journal: CallJournal | None) -> tuple[float, int]:
    tracker = CallTracker()
    recorder = CallRecorder(CountingStore(), tracker.take_changes, journal=journal)  # type: ignore[arg-type]
    recorder._arm = lambda: None  # type: ignore[method-assign]  # no loop here: collection only
    if journal is not None:
        journal.open()
    started = time.process_time()
    for per_call in calls:
        for burst in per_call:
            for event in burst:
                tracker.handle(event)
            recorder.collect()
    cpu = time.process_time() - started
    if journal is not None:
        journal.close()
    return cpu, recorder.collections


async def run_rate(rate: float, seconds: float, **recorder_options: float) -> tuple[int, int]:
    calls = bursts_for(int(rate * seconds))
    tracker = CallTracker()
    store = CountingStore()
    recorder = CallRecorder(store, tracker.take_changes, **recorder_options)  # type: ignore[arg-type]
    tracker.on_change(recorder.notify)
    recorder.start()
    for per_call in calls:
        for burst in per_call:
            for event in burst:
                tracker.handle(event)
            await asyncio.sleep(0)  # the next read from the PBX is another loop turn
        await asyncio.sleep(1 / rate)
    await recorder.close()
    return store.batches, len(calls)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    calls = bursts_for(args.calls)
    events = sum(len(b) for c in calls[:1] for b in c)
    off, collections = run_cpu(calls, None)
    with tempfile.TemporaryDirectory() as tmp:
        journal = CallJournal(Path(tmp) / "calls.journal")
        on, _ = run_cpu(bursts_for(args.calls), journal)
        stats = journal.stats()
    per = 1e6 / args.calls
    print(f"{args.calls} calls of {TRACE} (ami1, {events} translated events, {len(calls[0])} reads per call)")
    print(f"  tracker + collection, journal off: {off * per:7.1f} µs per call")
    print(f"  tracker + collection, journal on:  {on * per:7.1f} µs per call")
    print(
        f"  journal: {(on - off) * per:.1f} µs per call (budget: 7000 µs per call for the whole service);"
        f" {stats['appended'] / args.calls:.1f} records,"
        f" {stats['bytes'] / args.calls / 1024:.1f} KiB per call;"
        f" {collections / args.calls:.1f} collections per call"
    )
    for label, options in (
        ("adaptive (1 s / 200)                 ", {"flush_interval": 1.0, "flush_size": 200}),
        ("0.2 s max delay (≈ the old fixed tick)", {"flush_interval": 0.2, "flush_size": 1_000_000}),
    ):
        batches, n = asyncio.run(run_rate(args.rate, args.seconds, **options))
        print(
            f"  {args.rate:g} calls/s for {args.seconds:g} s, {label}:"
            f" {batches} batches = {batches / n:.2f} per call"
        )


if __name__ == "__main__":
    main()
