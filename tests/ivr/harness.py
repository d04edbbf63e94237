"""The IVR end to end on loopback TCP: our FastAGI server + IvrService, driven by the PBX simulator's
scripted customers (``callcenter.sim.script``), with fakes of the ports the IVR needs."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from callcenter.domain.ivr import CustomerInfo, FlowSet, IvrSessionRecord
from callcenter.domain.queueing import QueueRequest, RouteOutcome, RouteResult
from callcenter.pbx.fastagi import AgiHandler, FastAgiConfig, FastAgiServer
from callcenter.ports import AgiChannel
from callcenter.services.ivr import IvrService
from callcenter.services.ivr_cases import CaseLookup
from callcenter.services.ivr_flows import FlowLibrary
from callcenter.sim.config import AgentPhoneProfile, SimConfig
from callcenter.sim.pbx import CallStat
from callcenter.sim.runner import Simulator

ROOT = Path(__file__).resolve().parents[2]
FLOWS_DIR = ROOT / "ivr_flows"
PARIS = ZoneInfo("Europe/Paris")
#: a Monday 10:00 in Paris (open), a Sunday (closed), Christmas (holiday), Monday 07:59 (closed)
OPEN = datetime(2026, 11, 23, 10, 0, tzinfo=PARIS).timestamp()
SUNDAY = datetime(2026, 11, 22, 11, 0, tzinfo=PARIS).timestamp()
CHRISTMAS = datetime(2026, 12, 25, 10, 0, tzinfo=PARIS).timestamp()
EARLY = datetime(2026, 11, 23, 7, 59, tzinfo=PARIS).timestamp()

VIP_NUMBER = "0612345678"
KNOWN_NUMBER = "0698765432"
CUSTOMERS = {
    VIP_NUMBER: CustomerInfo(7, "Vera Important", "vip", True),
    KNOWN_NUMBER: CustomerInfo(8, "Karl Known", "regular", False),
}


class FakeDirectory:
    def __init__(self) -> None:
        self.lookups: list[str] = []
        self.delay = 0.0

    async def find_by_phone(self, number: str) -> CustomerInfo | None:
        self.lookups.append(number)
        if self.delay:
            await asyncio.sleep(self.delay)
        return CUSTOMERS.get(number)

    async def find_by_id(self, customer_id: int) -> CustomerInfo | None:
        self.lookups.append(f"id:{customer_id}")
        return next((c for c in CUSTOMERS.values() if c.id == customer_id), None)


class FakeRouter:
    """The ACD as the IVR sees it: answers each request with ``results[queue]`` (default: ANSWERED after
    playing hold music for ``hold`` simulated seconds through the channel, like a real wait)."""

    def __init__(self, queues: tuple[str, ...] = ("sales", "support", "rma", "complaints")) -> None:
        self.queues = set(queues)
        self.requests: list[QueueRequest] = []
        self.results: dict[str, RouteResult] = {}
        self.hold = "default,1"

    def has_queue(self, name: str) -> bool:
        return name in self.queues

    async def route(self, channel: AgiChannel, request: QueueRequest) -> RouteResult:
        self.requests.append(request)
        result = self.results.get(request.queue)
        if result is not None:
            return result
        reply = await channel.exec("MusicOnHold", self.hold)
        if reply.result == "-1":
            return RouteResult(RouteOutcome.ABANDONED)
        return RouteResult(RouteOutcome.ANSWERED, agent="1002")


class Clock:
    def __init__(self, now: float = OPEN) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclasses.dataclass
class Harness:
    sim: Simulator
    server: FastAgiServer
    ivr: IvrService
    library: FlowLibrary
    clock: Clock
    directory: FakeDirectory
    router: FakeRouter | None
    records: list[IvrSessionRecord]
    _waiters: dict[str, asyncio.Future[IvrSessionRecord]]

    def on_session(self, record: IvrSessionRecord) -> None:
        self.records.append(record)
        fut = self._waiters.pop(record.caller_num, None)
        if fut is not None and not fut.done():
            fut.set_result(record)

    async def call(
        self, script: str, number: str = "0555000001", *, timeout: float = 20.0, talk: float = 1.0
    ) -> IvrSessionRecord:
        """Place a scripted call and return the IVR session record once the IVR ends."""
        fut: asyncio.Future[IvrSessionRecord] = asyncio.get_running_loop().create_future()
        assert number not in self._waiters, "one call per number at a time"
        self._waiters[number] = fut
        self.place(script, number, talk=talk)
        return await asyncio.wait_for(fut, timeout)

    def place(self, script: str, number: str, *, talk: float = 1.0) -> CallStat:
        return self.sim.place_call(
            number=number, name="Test Caller", script=script, patience=600.0, talk=talk
        )

    @staticmethod
    def nodes(record: IvrSessionRecord) -> list[str]:
        return [step["node"] for step in record.path]

    @staticmethod
    def step(record: IvrSessionRecord, node: str) -> dict[str, Any]:
        return next(s for s in record.path if s["node"] == node)


async def start_harness(
    *,
    flows_dir: Path = FLOWS_DIR,
    router: FakeRouter | None = None,
    speed: float = 40.0,
    clock: Clock | None = None,
    handler_wrap: Callable[[AgiHandler], AgiHandler] | None = None,
    config: FastAgiConfig | None = None,
    cases: CaseLookup | None = None,
    missing_sounds: tuple[str, ...] = (),
) -> Harness:
    library = FlowLibrary(flows_dir, has_queue=router.has_queue if router else None)
    report = await library.load()
    assert report.ok, report.problems
    clock = clock or Clock()
    directory = FakeDirectory()
    records: list[IvrSessionRecord] = []
    holder: list[Harness] = []
    ivr = IvrService(
        library,
        router=router,
        directory=directory,
        clock=clock,
        on_session=lambda r: holder[0].on_session(r),
        cases=cases,
    )
    handler: AgiHandler = ivr.handle
    if handler_wrap is not None:
        handler = handler_wrap(handler)
    server = FastAgiServer(
        lambda script: handler if script == "ivr" else None, config or FastAgiConfig(port=0)
    )
    await server.start()
    sim = Simulator(
        SimConfig(
            ami_port=0,
            mode="agi",
            agi_port=server.port,
            agents=4,
            agent_tech="Local",
            speed=speed,
            dialplan_events=False,
            missing_sounds=missing_sounds,
            phones=AgentPhoneProfile(
                ring_min=1.0, ring_max=2.0, no_answer_prob=0.0, busy_prob=0.0, talk_min=2.0, talk_max=3.0
            ),
        )
    )
    await sim.start()
    h = Harness(sim, server, ivr, library, clock, directory, router, records, {})
    holder.append(h)
    return h


async def stop_harness(h: Harness) -> None:
    await h.sim.stop()
    await h.server.close(grace=1.0)


def flow_set(h: Harness) -> FlowSet:
    assert h.library.current is not None
    return h.library.current
