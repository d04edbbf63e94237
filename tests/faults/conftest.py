"""Fault tests: each starts its own servers on free ports so it can kill them (``servers.py``) and runs
the service as a real process (``rig.py``). Marked ``faults``; ``.ci/run`` runs them with the rest."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.servers import PostgresProcess, RedisProcess, pg_bin_dir, redis_binary

#: the outage of the "down 30 s" faults (seconds); CALLCENTER_FAULT_OUTAGE shortens or lengthens it
OUTAGE = float(os.environ.get("CALLCENTER_FAULT_OUTAGE", "30"))
#: calls per second placed during every fault test (the issue asks for at least 10)
RATE = float(os.environ.get("CALLCENTER_FAULT_RATE", "10"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.faults)
            item.add_marker(pytest.mark.timeout(300))


def _missing(what: str) -> None:
    if os.environ.get("CALLCENTER_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{what} is required for the fault tests (CALLCENTER_REQUIRE_SERVICES=1)")
    pytest.skip(f"{what} is not installed")


@pytest.fixture
def redis_proc(tmp_path: Path) -> Iterator[RedisProcess]:
    if redis_binary() is None:
        _missing("redis-server")
    server = RedisProcess(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def pg_proc() -> Iterator[PostgresProcess]:
    if pg_bin_dir() is None:
        _missing("PostgreSQL's server binaries (initdb, pg_ctl)")
    server = PostgresProcess()
    server.init()
    server.start()
    try:
        yield server
    finally:
        server.remove()
