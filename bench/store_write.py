"""Write throughput of ``SqlCrmStore.save_calls`` (the records hot path).

    .venv/bin/python bench/store_write.py [--calls 20000] [--batch 500] [--pg URL | --no-pg]

Each call record has 3 legs (customer, Local;2, agent), 1 offer and, every tenth call, a transfer and
a recording. Prints call records/s and table rows/s for SQLite (a temporary file, WAL) and PostgreSQL
(a temporary database created on the server given by ``--pg``, dropped afterwards), for a first insert
and for a replay of the same records with a higher version (the update path).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid

from callcenter.domain.calls import (
    CallOutcome,
    CallRecord,
    HangupSide,
    LegRecord,
    LegRole,
    OfferRecord,
    TransferRecord,
)
from callcenter.store.crm import create_store
from callcenter.store.migrate import migrate


def make_calls(n: int, version: int, t0: float = 1_700_000_000.0) -> list[CallRecord]:
    calls = []
    for i in range(n):
        cid = f"{t0 + i:.0f}.{i}"
        start = t0 + i * 0.37
        agent = f"{1001 + i % 50}"
        legs = (
            LegRecord(
                f"{cid}",
                cid,
                f"PJSIP/trunk-{i:08x}",
                LegRole.CUSTOMER,
                start,
                None,
                start + 1,
                start + 90,
                16,
            ),
            LegRecord(
                f"{cid}.1",
                cid,
                f"Local/s@ivr-{i:08x};2",
                LegRole.INBOUND,
                start + 0.1,
                None,
                start + 1,
                start + 90,
                16,
            ),
            LegRecord(
                f"{cid}.2",
                cid,
                f"PJSIP/{agent}-{i:08x}",
                LegRole.AGENT,
                start + 20,
                agent,
                start + 25,
                start + 90,
                16,
                "ANSWER",
            ),
        )
        offers = (OfferRecord(agent, f"{cid}.2", start + 20, start + 25, True, "ANSWER"),)
        transfers = (TransferRecord(start + 60, "blind", "2001", agent),) if i % 10 == 0 else ()
        calls.append(
            CallRecord(
                call_id=cid,
                started_at=start,
                caller_num=f"+1555{i % 10_000_000:07d}",
                caller_name="Bench Caller",
                dnis="8005550100",
                queue=("sales", "support", "billing")[i % 3],
                agent=agent,
                ivr_at=start + 1,
                queued_at=start + 10,
                offered_at=start + 20,
                answered_at=start + 25,
                ended_at=start + 90,
                wait_seconds=15.0,
                talk_seconds=65.0,
                outcome=CallOutcome.ANSWERED,
                hangup_cause=16,
                hangup_by=HangupSide.CALLER,
                recording_file=f"rec/{cid}.wav" if i % 10 == 0 else None,
                legs=legs,
                offers=offers,
                transfers=transfers,
                version=version,
                extra={"lang": "en"},
            )
        )
    return calls


def rows_of(calls: list[CallRecord]) -> int:
    return sum(
        1 + len(c.legs) + len(c.offers) + len(c.transfers) + (1 if c.recording_file else 0) for c in calls
    )


async def run(label: str, url: str, n: int, batch: int) -> None:
    await migrate(url)
    store = create_store(url)
    try:
        for phase, version in (("insert", 1), ("update", 2)):
            calls = make_calls(n, version)
            rows = rows_of(calls)
            started = time.perf_counter()
            for i in range(0, n, batch):
                await store.save_calls(calls[i : i + batch])
            elapsed = time.perf_counter() - started
            print(
                f"{label:10s} {phase:6s} {n} calls in {elapsed:6.2f} s: {n / elapsed:8.0f} calls/s,"
                f" {rows / elapsed:8.0f} rows/s (batch {batch})"
            )
    finally:
        await store.close()


async def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument(
        "--pg", default=os.environ.get("CALLCENTER_BENCH_PG", "postgresql+asyncpg://postgres@127.0.0.1:5432")
    )
    parser.add_argument("--no-pg", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        await run("sqlite", f"sqlite+aiosqlite:///{tmp}/bench.db", args.calls, args.batch)

    if not args.no_pg:
        import asyncpg  # the bench creates and drops its own database

        server = args.pg.rstrip("/").replace("postgresql+asyncpg://", "postgresql://")
        name = f"callcenter_bench_{uuid.uuid4().hex[:8]}"
        try:
            admin = await asyncpg.connect(server + "/postgres", timeout=5)
        except (OSError, asyncpg.PostgresError) as exc:
            print(f"postgresql skipped: {exc}", file=sys.stderr)
            return 0
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
            try:
                await run("postgresql", args.pg.rstrip("/") + "/" + name, args.calls, args.batch)
            finally:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
