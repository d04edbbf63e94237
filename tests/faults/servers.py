"""Throwaway Redis and PostgreSQL servers on free loopback ports, which a fault test may kill and start
again. Each one is its own process (not the machine's shared servers), so killing it harms nobody else.

* ``RedisProcess``: ``redis-server`` with no persistence, so a restart comes back **empty**, as a Redis
  without RDB/AOF does after a crash.
* ``PostgresProcess``: a fresh cluster made with ``initdb`` (run as the ``postgres`` user when the tests
  run as root, since PostgreSQL refuses root); ``stop()`` is an immediate shutdown (like a crash, no
  checkpoint), ``start()`` brings the same data directory back.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

PG_BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def wait_port(port: int, up: bool, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(port) == up:
            return
        time.sleep(0.05)
    raise TimeoutError(f"{what} on port {port} still {'closed' if up else 'open'} after {timeout} s")


def redis_binary() -> str | None:
    return shutil.which("redis-server")


def pg_bin_dir() -> Path | None:
    for candidate in PG_BIN_DIRS:
        if (candidate / "initdb").exists() and (candidate / "pg_ctl").exists():
            return candidate
    return None


class RedisProcess:
    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = redis_binary()
        assert binary is not None
        log = open(self.workdir / f"redis-{self.port}.log", "ab")  # noqa: SIM115 - owned by the process
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            cwd=self.workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        wait_port(self.port, True, 10, "redis")

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None
        wait_port(self.port, False, 5, "redis")


class PostgresProcess:
    def __init__(self) -> None:
        self.port = free_port()
        self.bin = pg_bin_dir()
        assert self.bin is not None
        # not under pytest's tmp_path: that is private to root and the server runs as ``postgres``
        self.root = Path(tempfile.mkdtemp(prefix="callcenter-faults-pg-"))
        self.data = self.root / "data"
        self.as_postgres = os.geteuid() == 0
        if self.as_postgres:
            shutil.chown(self.root, user="postgres")

    def _run(self, *args: str) -> None:
        cmd = [str(a) for a in args]
        if self.as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def init(self) -> None:
        assert self.bin is not None
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
                  "--no-sync", "-E", "UTF8")  # fmt: skip

    def start(self) -> None:
        assert self.bin is not None
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options, "-w", "-t", "30",
                  "-l", str(self.root / "server.log"), "start")  # fmt: skip
        wait_port(self.port, True, 10, "postgresql")

    def kill(self) -> None:
        """An immediate shutdown: every connection is cut, nothing is checkpointed."""
        assert self.bin is not None
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        wait_port(self.port, False, 10, "postgresql")

    def remove(self) -> None:
        self.kill()
        shutil.rmtree(self.root, ignore_errors=True)
