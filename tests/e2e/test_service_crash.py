"""A *service* crash: ``python -m callcenter serve`` (a real subprocess) follows the simulated PBX, is
SIGKILLed mid-traffic and started again. Every call placed while it was up is stored exactly once: calls
that ended before the kill come back from the write-ahead journal, calls that ended while it was down are
closed from their journaled state, calls still up are resumed from CoreShowChannels.

The records' database write is set to wait 5 s (``CALLCENTER_STORE_FLUSH_INTERVAL``) so that the kill
lands inside a batch window for sure: without the journal every call of the first life is lost."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from callcenter.sim.config import AgentPhoneProfile, CustomerProfile, SimConfig
from callcenter.sim.pbx import CallStat
from callcenter.sim.runner import Simulator

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.faults, pytest.mark.timeout(120)]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServiceProcess:
    def __init__(self, tmp: Path, ami_port: int) -> None:
        self.http_port = _free_port()
        self.db = tmp / "calls.db"
        self.env = {
            **os.environ,
            "CALLCENTER_AMI_PORT": str(ami_port),
            "CALLCENTER_AMI_SECRET": "crash",
            "CALLCENTER_AMI_RECONNECT_MIN": "0.1",
            "CALLCENTER_AMI_RECONNECT_MAX": "0.5",
            "CALLCENTER_DATABASE_URL": f"sqlite+aiosqlite:///{self.db}",
            "CALLCENTER_HTTP_PORT": str(self.http_port),
            "CALLCENTER_AGI_PORT": str(_free_port()),
            "CALLCENTER_IVR_FLOWS_DIR": str(ROOT / "ivr_flows"),
            "CALLCENTER_ACD_CONFIG": str(tmp / "no-acd.yaml"),
            "CALLCENTER_RECORDINGS_DIR": str(tmp / "recordings"),
            "CALLCENTER_STORE_FLUSH_INTERVAL": "5",
            "CALLCENTER_LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(ROOT / "src"),
        }
        self.cwd = tmp
        self.log = tmp / "service.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "callcenter", "serve"],
                env=self.env,
                cwd=self.cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def metrics(self) -> dict[str, float]:
        """From the public ``/healthz`` (503 while degraded: the body is the same report)."""
        url = f"http://127.0.0.1:{self.http_port}/healthz"
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                body = json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            body = json.loads(exc.read())
        calls = body.get("calls", {})
        return {
            "pbx_up": 1.0 if body.get("pbx", {}).get("state") == "up" else 0.0,
            "live_calls": float(calls.get("live_calls", -1)),
            # calls this process followed (not the stored ones it closed on resume)
            "calls_finished": float(calls.get("calls_finished", 0) - calls.get("calls_closed_on_resume", 0)),
        }

    async def metric_until(self, cond: Callable[[dict[str, float]], bool], within: float = 30.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        last: object = None
        while loop.time() < deadline:
            assert self.proc is not None and self.proc.poll() is None, self.log.read_text()[-3000:]
            try:
                last = await asyncio.to_thread(self.metrics)
                if cond(last):  # type: ignore[arg-type]
                    return
            except OSError as exc:
                last = exc
            await asyncio.sleep(0.05)
        raise AssertionError(f"service metrics never matched: {last}\n{self.log.read_text()[-3000:]}")

    def kill(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)
        self.proc.wait(timeout=30)


async def _until(cond: Callable[[], bool], within: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not cond():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


def _seen(placed: int) -> Callable[[dict[str, float]], bool]:
    """The tracker has seen every call placed so far (live or finished)."""
    return lambda m: m["pbx_up"] == 1 and m["live_calls"] + m["calls_finished"] >= placed


async def test_sigkill_mid_traffic_loses_no_call_and_splits_none(tmp_path: Path) -> None:
    cfg = SimConfig(
        ami_port=0,
        ami_secret="crash",
        mode="direct",
        agents=20,
        customers=CustomerProfile(patience_min=30, patience_max=30, talk_min=0.3, talk_max=1.5),
        phones=AgentPhoneProfile(
            ring_min=0.1, ring_max=0.4, no_answer_prob=0.0, busy_prob=0.0, talk_min=0.3, talk_max=1.5
        ),
    )
    placed: dict[str, CallStat] = {}
    async with Simulator(cfg) as sim:
        service = ServiceProcess(tmp_path, sim.ami_port)

        def place(n: int) -> None:
            number = f"0655{len(placed):06d}"
            placed[number] = sim.place_call(number=number, name=f"Caller {n}")

        service.start()
        try:
            await service.metric_until(lambda m: m["pbx_up"] == 1)
            # first life: steady traffic, then a burst right before the kill
            for i in range(20):
                place(i)
                await asyncio.sleep(0.1)
            for i in range(6):
                place(100 + i)
            await service.metric_until(_seen(len(placed)))
            service.kill(signal.SIGKILL)
            first_life = len(placed)
            # down: the calls of the first life end while nobody watches
            await _until(lambda: all(s.ended for s in placed.values()))
            service.start()
            await service.metric_until(_seen(0))
            # second life
            for i in range(10):
                place(200 + i)
                await asyncio.sleep(0.1)
            await service.metric_until(_seen(len(placed) - first_life))
            await _until(lambda: all(s.ended for s in placed.values()))
            await service.metric_until(lambda m: m["live_calls"] == 0)
        finally:
            if service.proc is not None and service.proc.poll() is None:
                service.kill(signal.SIGTERM)  # a clean stop writes what is pending
    rows = sqlite3.connect(service.db).execute("SELECT caller_num, outcome FROM calls").fetchall()
    per_number = Counter(num for num, _ in rows)
    assert first_life == 26 and len(placed) == 36
    missing = sorted(set(placed) - set(per_number))
    twice = sorted(n for n, k in per_number.items() if k > 1)
    extra = sorted(n for n in per_number if n not in placed)
    assert (missing, twice, extra) == ([], [], []), service.log.read_text()[-3000:]
    assert not [r for r in rows if r[1] == "in_progress"]


async def test_pbx_kill9_and_restart_mid_traffic_one_row_per_call(tmp_path: Path) -> None:
    """The simulated PBX is kill -9ed (fact 34: EOF, no Hangup) with calls up and started again, the
    service stays up: every call is one row with its caller number; the calls the crash cut are ended by
    the PBX (``pbx_lost``): answered ones stay answered, none is an abandon."""
    from aiohttp import web

    from callcenter.app import Service
    from callcenter.config import Secret, Settings

    cfg = SimConfig(
        ami_port=0,
        ami_secret="k9",
        mode="direct",
        agents=20,
        restart_delay=0.5,
        customers=CustomerProfile(patience_min=30, patience_max=30, talk_min=2.0, talk_max=4.0),
        phones=AgentPhoneProfile(
            ring_min=0.1, ring_max=0.3, no_answer_prob=0.0, busy_prob=0.0, talk_min=2.0, talk_max=4.0
        ),
    )
    db = tmp_path / "calls.db"
    placed: dict[str, CallStat] = {}
    async with Simulator(cfg) as sim:
        settings = Settings(
            ami_port=sim.ami_port,
            ami_secret=Secret("k9"),
            database_url=f"sqlite+aiosqlite:///{db}",
            http_port=0,
            agi_port=_free_port(),
            acd_config=str(tmp_path / "no-acd.yaml"),
            ivr_flows_dir=str(ROOT / "ivr_flows"),
            ami_reconnect_min=0.1,
            ami_reconnect_max=0.3,
            store_flush_interval=0.1,
        )
        service = Service(settings)
        runner = web.AppRunner(service.web_app(), access_log=None)
        await runner.setup()
        tracker = service.tracker

        def place(i: int) -> None:
            number = f"0677{len(placed):06d}"
            placed[number] = sim.place_call(number=number, name=f"Caller {i}")

        try:
            await service.link.wait_ready(10)
            for i in range(10):
                place(i)
                await asyncio.sleep(0.1)
            await _until(lambda: tracker.live_calls == 10 and tracker.legs and len(tracker.legs) >= 15)
            cut = set(placed)
            await sim.crash_and_restart()
            await _until(lambda: tracker.live_calls == 0)  # closed by the resync after the reconnect
            for i in range(5):
                place(100 + i)
                await asyncio.sleep(0.1)
            await _until(lambda: all(s.ended for n, s in placed.items() if n not in cut))
            await _until(lambda: tracker.live_calls == 0)
        finally:
            await runner.cleanup()
    rows = sqlite3.connect(db).execute("SELECT caller_num, outcome, hangup_by, extra FROM calls").fetchall()
    assert Counter(r[0] for r in rows) == Counter(dict.fromkeys(placed, 1)), rows
    for number, outcome, hangup_by, extra in rows:
        if number in cut:
            assert json.loads(extra).get("end_cause") == "pbx_lost" and hangup_by == "system", rows
            assert outcome in ("answered", "lost"), rows
        else:
            assert "end_cause" not in json.loads(extra), rows
