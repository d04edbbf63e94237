"""Reports benchmark (issue #8): a year of a 200-agent center in the store, then the QA call search and the
queue and agent reports of one month, on SQLite and PostgreSQL.

Data: ``--calls`` (default 6,000,000: about 16,400 a day) spread over 2025 with a business-hours profile,
4 queues, 85 % answered / 12 % abandoned / 3 % unanswered, written day by day in time order as a center
writes them (so the tables are laid out by time, as in production); the agent state log (ringing, on call,
wrap-up, available per answered call: about 20 million rows) for the whole year (``--log-month-only`` to
limit it to the benchmarked month, June, and the day before it). Loaded with the drivers directly, after
the migrations, indexes dropped during the load and rebuilt after it: PostgreSQL by COPY into an unlogged
staging table then ``INSERT ... SELECT to_timestamp(...)``; SQLite by ``executemany`` in 200,000-row
transactions with ``synchronous=OFF`` and ``journal_mode=MEMORY`` during the load (WAL after).

Then the service's rollup of settled intervals catches up over the whole year (as on a center a year old;
its time per day is printed). Measured (wall time of the service code, the better of two runs): the call
search (``SqlQaStore.search_calls`` for the month: no filter, one queue, one agent, caller substring), the
queue report and the agent report of the month (``ReportService``; also the agent report of one queue, and
the queue report summed live with no rollup, for comparison). Targets: at most 1 s each on PostgreSQL, 3 s
on SQLite. ``--sqlite-db`` / ``--pg-db`` keep the data for later runs.

    .venv/bin/python bench/reports.py --calls 200000 --backend sqlite
    .venv/bin/python bench/reports.py                      # 6 million calls, both backends
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import asyncpg  # noqa: E402

from callcenter.domain.kpis import SlConvention  # noqa: E402
from callcenter.domain.qa_recordings import CallSearch  # noqa: E402
from callcenter.domain.reports import period  # noqa: E402
from callcenter.services.reports import SETTLE, ReportRequest, ReportService  # noqa: E402
from callcenter.store.engine import make_engine  # noqa: E402
from callcenter.store.migrate import migrate  # noqa: E402
from callcenter.store.qa import SqlQaStore  # noqa: E402
from callcenter.store.reports import SqlReportStore  # noqa: E402

YEAR_START = datetime(2025, 1, 1, tzinfo=UTC).timestamp()
MONTH = "2025-06-15"
QUEUES = ("sales", "support", "billing", "vip")
HOUR_WEIGHTS = [0, 0, 0, 0, 0, 0, 1, 3, 8, 10, 10, 9, 7, 8, 9, 9, 8, 6, 4, 2, 1, 1, 0, 0]
CHUNK = 200_000
PG_SERVER = "postgresql://postgres@127.0.0.1:5432"


def generate(
    n: int, agents: int, seed: int, log_since: float, log_until: float
) -> Iterator[tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]]:
    """Chunks of (call rows, agent log rows), day by day in time order as a center writes them (a call row
    when the call ends, a log row when the agent changes state); times as epoch seconds (whole seconds)."""
    rnd = random.Random(seed)
    hours = [h for h, w in enumerate(HOUR_WEIGHTS) for _ in range(w)]
    names = [f"{1000 + i}" for i in range(agents)]
    calls: list[tuple[Any, ...]] = []
    log: list[tuple[Any, ...]] = []
    i = 0
    for day in range(365):
        day_calls: list[tuple[Any, ...]] = []
        day_log: list[tuple[Any, ...]] = []
        count = n // 365 + (1 if day < n % 365 else 0)
        arrivals = sorted(
            YEAR_START + day * 86400 + rnd.choice(hours) * 3600 + rnd.randrange(3600) for _ in range(count)
        )
        for arrival in arrivals:
            started = arrival - rnd.randrange(5, 40)
            r = rnd.random()
            wait = min(600, int(rnd.expovariate(1 / 25)))
            queue = QUEUES[i % 4]
            caller = f"+3314{rnd.randrange(2_000_000):07d}"
            call_id = f"c{i}"
            i += 1
            if r < 0.85:
                agent = names[rnd.randrange(agents)]
                answered = arrival + wait
                talk = rnd.randrange(30, 600)
                hold = rnd.choice((0, 0, 0, rnd.randrange(5, 60)))
                ended = answered + talk + hold
                day_calls.append(
                    (call_id, started, arrival, answered - 3, answered, ended, caller, queue, agent, wait,
                     talk, hold, "answered")
                )  # fmt: skip
                if log_since <= arrival < log_until:
                    wrap = rnd.randrange(5, 60)
                    day_log += [
                        (agent, "available", "ringing", answered - 3, 30.0, call_id, queue),
                        (agent, "ringing", "on_call", answered, 3.0, call_id, queue),
                        (agent, "on_call", "wrapup", ended, float(talk + hold), call_id, queue),
                        # the ACD names the call on the row leaving wrap-up too (domain.agent_state)
                        (agent, "wrapup", "available", ended + wrap, float(wrap), call_id, queue),
                    ]
            else:
                outcome = "abandoned" if r < 0.97 else "unanswered"
                day_calls.append(
                    (call_id, started, arrival, None, None, arrival + wait, caller, queue, None, wait, 0, 0,
                     outcome)
                )  # fmt: skip
        day_calls.sort(key=lambda row: row[5])  # written when they end
        day_log.sort(key=lambda row: row[3])
        calls += day_calls
        log += day_log
        if len(calls) >= CHUNK:
            yield calls, log
            calls, log = [], []
    if calls or log:
        yield calls, log


CALL_COLS = (
    "id, started_at, queued_at, offered_at, answered_at, ended_at, caller_num, queue, agent_id, "
    "wait_seconds, talk_seconds, hold_seconds, outcome"
)


# --- SQLite ---------------------------------------------------------------------------------------------


def load_sqlite(path: Path, n: int, agents: int, seed: int, log_since: float, log_until: float) -> float:
    started = time.perf_counter()
    db = sqlite3.connect(path)
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA journal_mode=MEMORY")
    db.execute("PRAGMA cache_size=-400000")
    indexes = db.execute(
        "SELECT name, sql FROM sqlite_master WHERE type='index' AND sql IS NOT NULL "
        "AND tbl_name IN ('calls', 'agent_state_log')"
    ).fetchall()
    for name, _ in indexes:
        db.execute(f"DROP INDEX {name}")
    ts = "strftime('%Y-%m-%d %H:%M:%S', ?, 'unixepoch') || '.000000'"
    call_sql = (
        "INSERT INTO calls (id, started_at, queued_at, offered_at, answered_at, ended_at, caller_num, queue, "
        "agent_id, wait_seconds, talk_seconds, hold_seconds, outcome, direction, caller_name, dnis, version, "
        f"updated_at, extra) VALUES (?, {ts}, {ts}, {ts}, {ts}, {ts}, ?, ?, ?, ?, ?, ?, ?, "
        "'inbound', '', '', 1, "
        "strftime('%Y-%m-%d %H:%M:%S', 'now') || '.000000', '{}')"
    )
    log_sql = (
        "INSERT INTO agent_state_log (agent, from_state, to_state, at, duration, call_id, queue, reason, by) "
        f"VALUES (?, ?, ?, {ts}, ?, ?, ?, '', 'system')"
    )
    total = 0
    for calls, log in generate(n, agents, seed, log_since, log_until):
        with db:
            db.executemany(call_sql, calls)
            db.executemany(log_sql, log)
        total += len(calls)
        print(f"  sqlite: {total:,} calls loaded ({time.perf_counter() - started:.0f} s)", flush=True)
    t = time.perf_counter()
    for _, sql in indexes:
        db.execute(sql)
    db.execute("ANALYZE")
    db.commit()
    db.execute("PRAGMA journal_mode=WAL")
    db.close()
    print(f"  sqlite: indexes + ANALYZE {time.perf_counter() - t:.0f} s", flush=True)
    return time.perf_counter() - started


# --- PostgreSQL -----------------------------------------------------------------------------------------


async def load_pg(dsn: str, n: int, agents: int, seed: int, log_since: float, log_until: float) -> float:
    started = time.perf_counter()
    conn = await asyncpg.connect(dsn)
    try:
        indexes = await conn.fetch(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN ('calls', 'agent_state_log') "
            "AND indexname NOT IN (SELECT conname FROM pg_constraint)"
        )
        for row in indexes:
            await conn.execute(f'DROP INDEX "{row["indexname"]}"')
        await conn.execute(
            "CREATE UNLOGGED TABLE stage_calls (id text, s float8, q float8, o float8, a float8, e float8, "
            "caller text, queue text, agent text, wait float8, talk float8, hold float8, outcome text)"
        )
        await conn.execute(
            "CREATE UNLOGGED TABLE stage_log "
            "(agent text, f text, t text, at float8, d float8, call text, q text)"
        )
        total = 0
        for calls, log in generate(n, agents, seed, log_since, log_until):
            await conn.copy_records_to_table("stage_calls", records=calls)
            if log:
                await conn.copy_records_to_table("stage_log", records=log)
            total += len(calls)
            print(f"  postgres: {total:,} calls staged ({time.perf_counter() - started:.0f} s)", flush=True)
        await conn.execute(
            f"INSERT INTO calls ({CALL_COLS}, direction, caller_name, dnis, version, updated_at, extra) "
            "SELECT id, to_timestamp(s), to_timestamp(q), to_timestamp(o), to_timestamp(a), to_timestamp(e), "
            "caller, queue, agent, wait, talk, hold, outcome, 'inbound', '', '', 1, now(), '{}' "
            "FROM stage_calls"
        )
        await conn.execute(
            "INSERT INTO agent_state_log "
            "(agent, from_state, to_state, at, duration, call_id, queue, reason, by) "
            "SELECT agent, f, t, to_timestamp(at), d, call, q, '', 'system' FROM stage_log"
        )
        await conn.execute("DROP TABLE stage_calls")
        await conn.execute("DROP TABLE stage_log")
        t = time.perf_counter()
        await conn.execute("SET maintenance_work_mem = '512MB'")
        for row in indexes:
            await conn.execute(row["indexdef"])
        await conn.execute("VACUUM ANALYZE calls")
        await conn.execute("VACUUM ANALYZE agent_state_log")
        print(f"  postgres: insert + indexes + analyze {time.perf_counter() - t:.0f} s", flush=True)
    finally:
        await conn.close()
    return time.perf_counter() - started


# --- measurements -----------------------------------------------------------------------------------------


class _LiveOnly(SqlReportStore):
    """The same store with no settled intervals: every report summed from the calls and the log."""

    async def settled_until(self) -> float | None:
        return None


def _service(store: SqlReportStore) -> ReportService:
    return ReportService(
        store,
        threshold_of=lambda _q: 20.0,
        convention=lambda _s: SlConvention.ANSWERED,
        short_abandon=lambda: 5.0,
        queues=lambda: QUEUES,
    )


async def roll_up(url: str, label: str) -> None:
    """The service's background rollup, caught up over the whole year (as on a center a year old)."""
    engine = make_engine(url)
    try:
        reports = _service(SqlReportStore(engine))
        t = time.perf_counter()
        windows = await reports.rollup(YEAR_START + 366 * 86400 + SETTLE)
        seconds = time.perf_counter() - t
        if windows:
            print(f"  {label}: rollup of {windows} days in {seconds:.0f} s ({seconds / windows:.2f} s a day)")
    finally:
        await engine.dispose()


async def measure(url: str, label: str) -> dict[str, float]:
    engine = make_engine(url)
    qa = SqlQaStore(engine)
    reports = _service(SqlReportStore(engine))
    live = _service(_LiveOnly(engine))
    p = period("month", MONTH, "UTC")
    cases: dict[str, Any] = {
        "search month": lambda: qa.search_calls(CallSearch(since=p.since, until=p.until)),
        "search month+queue": lambda: qa.search_calls(
            CallSearch(since=p.since, until=p.until, queue="sales")
        ),
        "search month+agent": lambda: qa.search_calls(CallSearch(since=p.since, until=p.until, agent="1042")),
        "search caller substring": lambda: qa.search_calls(
            CallSearch(since=p.since, until=p.until, caller="0012345")
        ),
        "queue report month": lambda: reports.queue_report(ReportRequest(p)),
        "queue report month (1 queue)": lambda: reports.queue_report(ReportRequest(p, queue="sales")),
        "agent report month": lambda: reports.agent_report(ReportRequest(p)),
        "agent report month+queue": lambda: reports.agent_report(ReportRequest(p, queue="sales")),
        "(live) queue report month": lambda: live.queue_report(ReportRequest(p)),
    }
    out: dict[str, float] = {}
    try:
        for name, run in cases.items():
            times = []
            for _ in range(2):
                t = time.perf_counter()
                await run()
                times.append(time.perf_counter() - t)
            out[name] = min(times)
            print(f"  {label:8} {name:30} {out[name]:7.3f} s", flush=True)
    finally:
        await engine.dispose()
    return out


async def _pg_admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_SERVER + "/postgres", timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _pg_exists(name: str) -> bool:
    conn = await asyncpg.connect(PG_SERVER + "/postgres", timeout=5)
    try:
        return bool(await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name))
    finally:
        await conn.close()


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=6_000_000)
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument("--keep", action="store_true", help="keep the databases (printed)")
    parser.add_argument("--sqlite-db", type=Path, help="SQLite file to load (kept) or, if it exists, reuse")
    parser.add_argument("--pg-db", help="PostgreSQL database to load (kept) or, if it exists, reuse")
    parser.add_argument("--load-only", action="store_true", help="load the data, measure nothing")
    parser.add_argument(
        "--log-month-only", action="store_true", help="agent log for the measured month only (faster load)"
    )
    args = parser.parse_args()
    p = period("month", MONTH, "UTC")
    log_since, log_until = (p.since - 86400, p.until) if args.log_month_only else (YEAR_START, float("inf"))
    results: dict[str, dict[str, float]] = {}
    print(f"reports benchmark: {args.calls:,} calls over 2025, {args.agents} agents; month {p.label()}")
    if args.backend in ("sqlite", "both"):
        path = args.sqlite_db or Path(tempfile.mkdtemp(prefix="bench-reports-")) / "reports.db"
        url = f"sqlite+aiosqlite:///{path}"
        reuse = path.exists()
        await migrate(url)
        if reuse:
            print(f"  sqlite: reusing {path}")
        else:
            load = await asyncio.to_thread(
                load_sqlite, path, args.calls, args.agents, args.seed, log_since, log_until
            )
            print(f"  sqlite: loaded in {load:.0f} s ({path.stat().st_size / 1e9:.2f} GB)")
        await roll_up(url, "sqlite")
        if not args.load_only:
            results["sqlite"] = await measure(url, "sqlite")
        if not (args.keep or args.sqlite_db):
            path.unlink()
    if args.backend in ("postgres", "both"):
        name = args.pg_db or f"bench_reports_{int(time.time())}"
        reuse = await _pg_exists(name)
        if not reuse:
            await _pg_admin(f'CREATE DATABASE "{name}"')
        try:
            url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
            await migrate(url)
            if reuse:
                print(f"  postgres: reusing database {name}")
            else:
                load = await load_pg(
                    f"{PG_SERVER}/{name}", args.calls, args.agents, args.seed, log_since, log_until
                )
                print(f"  postgres: loaded in {load:.0f} s")
            await roll_up(url, "postgres")
            if not args.load_only:
                results["postgres"] = await measure(url, "postgres")
        finally:
            if not (args.keep or args.pg_db):
                await _pg_admin(f'DROP DATABASE "{name}"')
    print("\nresults (s; target: postgres ≤ 1, sqlite ≤ 3)")
    for backend, figures in results.items():
        target = 1.0 if backend == "postgres" else 3.0
        for case, seconds in figures.items():
            verdict = "(not a target)" if case.startswith("(") else ("ok" if seconds <= target else "OVER")
            print(f"  {backend:8} {case:30} {seconds:7.3f}  {verdict}")


if __name__ == "__main__":
    asyncio.run(main())
