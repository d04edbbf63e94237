"""The fault rig: the service as a real process (so it can be SIGKILLed), the simulated PBX in the test's
own loop (so it can be crashed and restarted), traffic with one unique caller number per call (so every
placed call can be found in the store, exactly once), and the checks the faults share.

    center = Center.write(tmp_path, agents=40)
    async with Simulator(center.sim_config(agi_ports=[...])) as sim:
        service = ServiceProcess(center, sim.ami_port, database_url=..., redis_url=...)
        await service.start(); await service.login_agents()
        traffic = Traffic(sim, rate=10); traffic.start()
        ...fault...
        await traffic.stop(); await drain(sim)
        ledger = await Ledger.read(database_url, traffic.numbers)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from callcenter.sim.config import AgentPhoneProfile, CustomerProfile, SimConfig
from callcenter.sim.pbx import CallStat
from callcenter.sim.runner import Simulator
from tests.faults.servers import free_port
from tests.support.sim_agents import AgentTech, agent_endpoint

ROOT = Path(__file__).resolve().parents[2]
FIRST_AGENT = 1001


@dataclass(frozen=True)
class Center:
    """An ACD configuration (one round-robin queue, ``agents`` agents with ``tech`` endpoints: PJSIP-like
    single channels or Local pairs) and a one-node IVR flow."""

    root: Path
    agents: int
    tech: AgentTech = "PJSIP"

    @classmethod
    def write(cls, root: Path, agents: int, tech: AgentTech = "PJSIP") -> Center:
        lines = [
            "defaults: {ring_timeout: 8, wrapup: 0, announce: {interval: 0}}",
            "queues:",
            "  support: {strategy: rrmemory, max_wait: 600, fallback: voicemail, overflow: voicemail,"
            " missed_call: {pause: false}}",
            "agents:",
        ]
        lines += [
            f'  - {{id: "{a}", name: Agent {a}, endpoint: "{agent_endpoint(tech, a)}", queues: [support]}}'
            for a in cls.agent_ids_of(agents)
        ]
        (root / "acd.yaml").write_text("\n".join(lines) + "\n")
        flows = root / "flows"
        flows.mkdir(exist_ok=True)
        (flows / "main.yaml").write_text(
            "flow: main\nstart: route\nlanguage: en\nlanguages: [en]\nnodes:\n"
            "  route: {type: queue, queue: support, on_no_agents: bye}\n"
            "  bye: {type: hangup}\n"
        )
        (flows / "sounds.txt").write_text((ROOT / "ivr_flows" / "sounds.txt").read_text())
        (flows / "queues.yaml").write_text("queues: [support]\n")
        return cls(root, agents, tech)

    @staticmethod
    def agent_ids_of(count: int) -> list[str]:
        return [str(FIRST_AGENT + i) for i in range(count)]

    @property
    def agent_ids(self) -> list[str]:
        return self.agent_ids_of(self.agents)

    def sim_config(self, agi_port: int) -> SimConfig:
        return SimConfig(
            ami_port=0,
            ami_secret="faults",
            mode="agi",
            agi_port=agi_port,
            agents=self.agents,
            first_agent=FIRST_AGENT,
            agent_tech=self.tech,
            seed=7,
            customers=CustomerProfile(
                dtmf_choices=("",),
                patience_min=300,
                patience_max=300,
                talk_min=1.5,
                talk_max=3.0,
                hostile_name_prob=0.0,
                known_prob=0.0,
            ),
            phones=AgentPhoneProfile(
                ring_min=0.2,
                ring_max=0.5,
                no_answer_prob=0.0,
                busy_prob=0.0,
                talk_min=1.5,
                talk_max=3.0,
                agent_hangs_up_prob=0.5,
                wrapup=0.0,
            ),
        )


@dataclass
class ServiceProcess:
    """``python -m callcenter serve`` in its own process, against the simulator's AMI port."""

    center: Center
    ami_port: int
    database_url: str
    redis_url: str | None = None
    name: str = "svc"
    agi_port: int = field(default_factory=free_port)
    http_port: int = field(default_factory=free_port)
    extra_env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    token: str = ""

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CALLCENTER_")}
        env.update(
            {
                "CALLCENTER_AMI_HOST": "127.0.0.1",
                "CALLCENTER_AMI_PORT": str(self.ami_port),
                "CALLCENTER_AMI_SECRET": "faults",
                "CALLCENTER_AMI_RECONNECT_MAX": "1",
                "CALLCENTER_DATABASE_URL": self.database_url,
                "CALLCENTER_HTTP_PORT": str(self.http_port),
                "CALLCENTER_AGI_PORT": str(self.agi_port),
                "CALLCENTER_ACD_CONFIG": str(self.center.root / "acd.yaml"),
                "CALLCENTER_IVR_FLOWS_DIR": str(self.center.root / "flows"),
                "CALLCENTER_RECORDINGS_DIR": str(self.center.root / "recordings"),
                "CALLCENTER_SESSION_SECRET": "faults-session-secret-0123456789abcdef",
                "CALLCENTER_LOG_JSON": "true",
                "CALLCENTER_LOG_LEVEL": "INFO",
                "PYTHONUNBUFFERED": "1",
            }
        )
        if self.redis_url:
            env["CALLCENTER_REDIS_URL"] = self.redis_url
        env.update(self.extra_env)
        return env

    def cli(self, *args: str, stdin: str | None = None) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "callcenter", *args],
            env=self.env(),
            input=stdin.encode() if stdin is not None else None,
            capture_output=True,
            timeout=120,
            cwd=self.center.root,
        )
        if done.returncode != 0:
            raise RuntimeError(f"callcenter {' '.join(args)}: {done.stderr.decode()[-2000:]}")
        return done.stdout.decode()

    def prepare(self) -> None:
        """Schema and an admin with a bearer token (done once per database)."""
        self.cli("migrate")
        self.cli(
            "user", "add", "faults-admin", "--role", "admin", "--password-stdin", stdin="faults-admin-pw\n"
        )
        self.token = self.cli("token", "add", "faults-admin").strip().splitlines()[-1]

    def _spawn(self) -> subprocess.Popen[bytes]:
        with open(self.center.root / f"{self.name}.log", "ab") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "callcenter", "serve"],
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.center.root,
            )

    async def start(self, ready_timeout: float = 60.0) -> None:
        self.proc = await asyncio.to_thread(self._spawn)
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}: {self.log_tail()}")
            status, body = await self.health()
            if status == 200 and body.get("pbx", {}).get("state") == "up":
                return
            await asyncio.sleep(0.2)
        raise TimeoutError(f"{self.name} not healthy after {ready_timeout} s: {self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL: no flush, no goodbye."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    async def stop(self) -> None:
        """SIGTERM and wait: the clean shutdown flushes what is pending."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            for _ in range(300):
                if self.proc.poll() is not None:
                    break
                await asyncio.sleep(0.1)
            else:
                self.kill()

    def log_tail(self, lines: int = 30) -> str:
        path = self.center.root / f"{self.name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    async def health(self) -> tuple[int, dict[str, object]]:
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=6)) as http,
                http.get(f"{self.base}/healthz") as resp,
            ):
                return resp.status, await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, json.JSONDecodeError, ValueError):
            return 0, {}

    async def api(self, method: str, path: str, body: object | None = None) -> tuple[int, object]:
        headers = {"Authorization": f"Bearer {self.token}"}
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http,
                http.request(method, f"{self.base}{path}", json=body, headers=headers) as resp,
            ):
                try:
                    return resp.status, await resp.json(content_type=None)
                except (json.JSONDecodeError, ValueError):
                    return resp.status, await resp.text()
        except (aiohttp.ClientError, TimeoutError):
            return 0, None

    async def login_agents(self) -> None:
        for agent in self.center.agent_ids:
            status, body = await self.api("POST", f"/api/acd/agents/{agent}/login")
            assert status == 200, f"login {agent}: {status} {body}"

    async def agent_states(self) -> Counter[str]:
        return Counter((await self.agents_by_id()).values())

    async def agents_by_id(self) -> dict[str, str]:
        """Agent id -> ACD state, as the service's API reports them."""
        status, body = await self.api("GET", "/api/acd/agents")
        if status != 200 or not isinstance(body, dict | list):
            return {}
        items = body.get("agents", []) if isinstance(body, dict) else body
        return {str(a.get("id")): str(a.get("state")) for a in items if isinstance(a, dict)}

    async def stuck_agents(self, sim: Simulator) -> set[str]:
        """Agents the ACD holds ``ringing``/``on_call`` whose simulated phone is in no call."""
        pbx = sim.pbx
        assert pbx is not None
        busy = {a for a, state in (await self.agents_by_id()).items() if state in ("ringing", "on_call")}
        return {a for a in busy if a not in pbx.agent_in_use}

    async def last_stuck(self, sim: Simulator, since: float, window: float) -> tuple[float, set[str]]:
        """Samples every 0.5 s for ``window`` seconds. Returns the seconds from ``since`` to the last
        sample at which some agent had been stuck for two samples in a row (0.0: never), and every agent
        seen stuck. A value close to ``window`` means agents were still stuck at the end."""
        last, seen, previous = 0.0, set(), set()
        end = time.monotonic() + window
        while time.monotonic() < end:
            stuck = await self.stuck_agents(sim)
            if stuck & previous:
                last = time.monotonic() - since
                seen |= stuck & previous
            previous = stuck
            await asyncio.sleep(0.5)
        return last, seen


class Traffic:
    """Calls at ``rate`` per second, each from its own number (``0700000001``, ...)."""

    def __init__(self, sim: Simulator, rate: float, prefix: str = "07") -> None:
        self.sim = sim
        self.rate = rate
        self.prefix = prefix
        self.numbers: list[str] = []
        #: number -> wall time it was placed
        self.placed_at: dict[str, float] = {}
        #: number -> the simulator's bookkeeping of that call (kept across a PBX crash and restart)
        self.stats: dict[str, CallStat] = {}
        self._task: asyncio.Task[None] | None = None

    def place(self) -> str:
        number = f"{self.prefix}{len(self.numbers) + 1:08d}"
        self.stats[number] = self.sim.place_call(number=number, name=f"Fault {len(self.numbers) + 1}")
        self.numbers.append(number)
        self.placed_at[number] = time.monotonic()
        return number

    async def _run(self) -> None:
        """Place calls at ``rate``; while the PBX is down (crashed), place none."""
        interval = 1.0 / self.rate
        next_at = time.monotonic()
        while True:
            if self.sim.pbx is not None and not self.sim.down:
                self.place()
            next_at += interval
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="fault-traffic")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def answered_after(self, since: float) -> float | None:
        """Seconds from ``since`` (monotonic) to the placing of the first call after it that an agent
        answered: how long agents stayed unroutable."""
        firsts = [
            self.placed_at[n] - since
            for n in self.numbers
            if self.placed_at[n] >= since and self.stats[n].connected
        ]
        return min(firsts) if firsts else None


async def drain(sim: Simulator, timeout: float = 120.0) -> None:
    """Wait until every simulated call has ended."""
    pbx = sim.pbx
    assert pbx is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(c.ended for c in pbx.calls):
            return
        await asyncio.sleep(0.2)
    open_calls = sum(1 for c in pbx.calls if not c.ended)
    raise AssertionError(f"{open_calls} simulated calls still up after {timeout} s")


@dataclass(frozen=True)
class Ledger:
    """What the store holds for the numbers a test placed."""

    placed: int
    stored: int
    lost: list[str]
    duplicated: list[str]
    open_rows: int
    foreign_rows: int  # rows of this run that match no placed number (e.g. an empty caller)
    outcomes: dict[str, list[str]] = field(default_factory=dict)  # number -> outcome of each row

    @classmethod
    async def read(cls, database_url: str, numbers: Iterable[str], also_placed: Iterable[str] = ()) -> Ledger:
        """``numbers`` must each be stored exactly once; ``also_placed`` (e.g. calls placed while the
        service was down) may be stored or not, but never twice, and are not counted as unmatched."""
        placed = list(numbers)
        others = set(also_placed)
        engine = create_async_engine(database_url)
        try:
            async with engine.connect() as conn:
                rows = (await conn.execute(text("SELECT caller_num, outcome FROM calls"))).all()
        finally:
            await engine.dispose()
        counts = Counter(str(r[0]) for r in rows)
        wanted = set(placed)
        known = wanted | others
        return cls(
            placed=len(placed),
            stored=sum(1 for n in placed if counts[n] >= 1),
            lost=[n for n in placed if counts[n] == 0],
            duplicated=[n for n in sorted(known) if counts[n] > 1],
            open_rows=sum(1 for r in rows if str(r[0]) in wanted and r[1] == "in_progress"),
            foreign_rows=sum(1 for r in rows if str(r[0]) not in known),
            outcomes={n: [str(r[1]) for r in rows if str(r[0]) == n] for n in wanted if counts[n]},
        )

    def summary(self) -> str:
        return (
            f"placed {self.placed} / stored {self.stored} / lost {len(self.lost)} / "
            f"duplicated {len(self.duplicated)} / left open {self.open_rows} / "
            f"unmatched rows {self.foreign_rows}"
        )


class HealthWatch:
    """Polls ``/healthz`` once a second and keeps (monotonic time, HTTP status, body)."""

    def __init__(self, service: ServiceProcess) -> None:
        self.service = service
        self.samples: list[tuple[float, int, dict[str, object]]] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            status, body = await self.service.health()
            self.samples.append((time.monotonic(), status, body))
            await asyncio.sleep(1.0)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="fault-health")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def between(self, start: float, end: float) -> list[tuple[int, dict[str, object]]]:
        return [(s, b) for t, s, b in self.samples if start <= t <= end]
