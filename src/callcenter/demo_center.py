"""The demo's center: traffic sized to its staff (Erlang C), the simulator, the service and the people.

``DemoCenter`` is what ``callcenter demo`` runs and what the demo's tests fast-forward:

* **traffic** (``DemoTraffic``): Poisson arrivals, talk times and patience chosen so that the seven
  simulated agents (agent1001 is left to you) hold the default service level around 80/20 on every queue
  (``forecast`` prints the Erlang C figures per queue);
* **the PBX**: the built-in simulator, whose MixMonitor writes real audio into the service's
  recordings directory;
* **the people** (``demo_agents.DemoAgents``): the agents behind the simulated phones, working the ACD API;
* **open around the clock**: the demo's IVR runs a copy of ``ivr_flows/`` whose opening hours are 24/7
  (else a demo started in the evening only ever reaches the after-hours message).

``speed`` > 1 runs the simulated center faster than the wall clock. The service's own timers are
wall-clock, so at speed the queues' wall-clock durations (wrap-up, service-level threshold, max wait,
announcement interval, busy rest) and the wallboard's short-abandon threshold are divided by ``speed``
through the ACD's admin API; ring timeouts, IVR prompt and digit timeouts run on the PBX's (simulated)
clock already.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from callcenter.app import Service
from callcenter.config import Settings, async_database_url
from callcenter.demo_agents import DemoAgents, PersonProfile
from callcenter.domain.acd import queue_to_mapping
from callcenter.domain.erlang import service_level
from callcenter.sim.config import AgentPhoneProfile, CustomerProfile, SimConfig
from callcenter.sim.runner import Simulator
from callcenter.store.migrate import migrate

log = logging.getLogger(__name__)

DEMO_AGENTS = [f"{1001 + i}" for i in range(8)]
#: agents whose simulated phones take calls by themselves; agent1001 is left for you to log in from the
#: agent console (and never rung outside the ACD: no demo caller asks for the operator, whose transfer
#: node dials 1001 directly)
AUTO_LOGIN_AGENTS = DEMO_AGENTS[1:]

#: what the demo's simulated callers press in the IVR (ivr_flows/main.yaml; syntax: sim/script.py), one
#: picked at random per call: sales 3/10, support 4/10, after-sales (rma) 1/10, complaints 1/10, and a
#: caller who gives up in the main menu. Nobody presses 0 in the main menu (the operator transfer rings
#: PJSIP/1001, the human's phone, outside the ACD); after-sales callers press 0 after their case status.
DEMO_IVR_SCRIPTS = (
    "1;1",
    "3;1",  # Mandarin (the flows' zh prompts), then sales
    "1;9;1",
    "2;2;#",
    "1;2;12#",
    "-;-;2;#",
    "1;2;#",
    "1;3;0",  # after-sales: hears their repair (if any), presses 0 for an agent
    "2;4",
    "1;cc-main-menu:h",
)
#: the share of calls per queue in DEMO_IVR_SCRIPTS (the forecast's mix)
QUEUE_MIX = {"sales": 0.3, "support": 0.4, "rma": 0.1, "complaints": 0.1}


@dataclass(frozen=True, slots=True)
class DemoTraffic:
    """The demo's customers and phones (simulated seconds)."""

    rate: float = 0.05  # calls per second: 180 an hour
    talk: tuple[float, float] = (40.0, 120.0)
    patience: tuple[float, float] = (90.0, 300.0)  # from the call's start (the IVR takes ~15-25 s)
    ring: tuple[float, float] = (1.0, 4.0)
    no_answer_prob: float = 0.03
    busy_prob: float = 0.0
    #: queue-level handle time beyond talk: ring + wrap-up (config/acd.yaml: 10 s, complaints 30 s)
    after_call: float = 12.5
    #: the agent ends the call (then the caller gets the post-call survey) in this share of calls
    agent_hangs_up_prob: float = 0.6


def forecast(
    traffic: DemoTraffic, staff: dict[str, int] | None = None, threshold: float = 20.0
) -> dict[str, dict[str, float]]:
    """Erlang C per queue for the traffic: offered Erlangs, agents, predicted service level.

    Each queue is taken with the simulated agents who serve it (config/acd.yaml) as if dedicated to it,
    and the whole center as one pool, so the truth lies between the two (shared agents help the busy
    queue; breaks and missed calls take agents away)."""
    staff = staff or {"sales": 3, "support": 7, "rma": 2, "complaints": 2, "*": 7}
    aht = sum(traffic.talk) / 2 + traffic.after_call
    out: dict[str, dict[str, float]] = {}
    for queue, share in {**QUEUE_MIX, "*": sum(QUEUE_MIX.values())}.items():
        extra = 20.0 if queue == "complaints" else 0.0
        a = traffic.rate * share * (aht + extra)
        n = staff[queue]
        out[queue] = {
            "erlangs": round(a, 2),
            "agents": n,
            "service_level": round(service_level(n, a, aht + extra, threshold), 3),
        }
    return out


def sim_config(settings: Settings, traffic: DemoTraffic, *, speed: float = 1.0, seed: int = 1) -> SimConfig:
    from callcenter.demo import demo_customer_numbers  # the seeded CRM's numbers

    return SimConfig(
        ami_port=0,
        ami_user=settings.ami_user,
        ami_secret=settings.ami_secret.reveal(),
        mode="agi",  # calls run the IVR flows on the service's FastAGI server
        agi_host=settings.agi_host,
        agi_port=settings.agi_port,
        agents=len(DEMO_AGENTS),
        first_agent=int(DEMO_AGENTS[0]),
        agent_tech="PJSIP",
        rate=traffic.rate,
        speed=speed,
        seed=seed,
        recordings_dir=settings.recordings_dir,
        customers=CustomerProfile(
            # as a PBX presents them: no spaces (the +86 customers dial in with their E.164 number)
            known_numbers=tuple(n.replace(" ", "") for n, *_ in demo_customer_numbers()),
            scripts=DEMO_IVR_SCRIPTS,
            patience_min=traffic.patience[0],
            patience_max=traffic.patience[1],
            talk_min=traffic.talk[0],
            talk_max=traffic.talk[1],
        ),
        phones=AgentPhoneProfile(
            ring_min=traffic.ring[0],
            ring_max=traffic.ring[1],
            no_answer_prob=traffic.no_answer_prob,
            busy_prob=traffic.busy_prob,
            talk_min=traffic.talk[0],
            talk_max=traffic.talk[1],
            # an agent who ends the call leaves the caller to the post-call survey (every queue of
            # config/acd.yaml offers it); the customers answer it per CustomerProfile.survey
            agent_hangs_up_prob=traffic.agent_hangs_up_prob,
        ),
    )


def open_around_the_clock(src: str | Path, dst: str | Path) -> Path:
    """Copy the IVR flows to ``dst`` with every ``hours`` node open 24/7 and no holidays (blocking)."""
    src, dst = Path(src), Path(dst)
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst)
    for path in dst.glob("*.yaml"):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        nodes = data.get("nodes") if isinstance(data, dict) else None
        if not isinstance(nodes, dict):
            continue
        changed = False
        for node in nodes.values():
            if isinstance(node, dict) and node.get("type") == "hours":
                node["weekly"] = {"mon-sun": "00:00-24:00"}
                node.pop("holidays", None)
                changed = True
        if changed:
            path.write_text(
                "# generated by callcenter demo: open 24/7\n" + yaml.safe_dump(data, sort_keys=False),
                encoding="utf-8",
            )
    return dst


async def time_scale(service: Service, speed: float) -> None:
    """Divide the service's wall-clock durations by ``speed`` (see the module's docstring)."""
    if speed == 1.0:
        return
    for name, q in list(service.acd.queues.items()):
        m: dict[str, Any] = queue_to_mapping(q)
        m["wrapup"] = q.wrapup / speed if q.wrapup > 0 else q.wrapup
        m["service_level"] = {"threshold": q.sl_threshold / speed, "target": q.sl_target}
        m["max_wait"] = q.max_wait / speed
        m["announce"] = {**m["announce"], "interval": q.announce_interval / speed}
        m["busy_rest"] = q.busy_rest / speed
        await service.acd.put_queue(name, m, by="demo")
    cfg = service.kpi.config
    service.kpi.configure(dataclasses.replace(cfg, short_abandon=cfg.short_abandon / speed))


class DemoCenter:
    """The running demo (``async with``): simulator + service + people; ``speed`` see the module doc."""

    def __init__(
        self,
        settings: Settings,
        *,
        traffic: DemoTraffic | None = None,
        people: PersonProfile | None = None,
        speed: float = 1.0,
        seed: int = 1,
        auto_agents: Sequence[str] = AUTO_LOGIN_AGENTS,
    ) -> None:
        self.traffic = traffic or DemoTraffic()
        self.people_profile = people or PersonProfile()
        self.speed = speed
        self.seed = seed
        self.auto_agents = tuple(auto_agents)
        self.settings = settings
        self.sim = Simulator(sim_config(settings, self.traffic, speed=speed, seed=seed))
        self.service: Service | None = None
        self.people: DemoAgents | None = None
        self._stop = asyncio.Event()
        self._people_task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> DemoCenter:
        from callcenter.demo import seed_demo

        await asyncio.to_thread(Path(self.settings.recordings_dir).mkdir, parents=True, exist_ok=True)
        await self.sim.start()
        try:
            self.settings = dataclasses.replace(
                self.settings, ami_host="127.0.0.1", ami_port=self.sim.ami_port
            )
            await migrate(async_database_url(self.settings.database_url))
            self.service = Service(self.settings)
            await seed_demo(self.service)
        except BaseException:
            await self.sim.stop()
            raise
        return self

    async def start(self) -> None:
        """Once the service runs (its web app's startup done): staff the queues, start people and traffic."""
        service = self.service
        assert service is not None
        with contextlib.suppress(Exception):
            await service.link.wait_ready(10)
        await time_scale(service, self.speed)
        for agent in self.auto_agents:
            try:
                await service.acd.login(agent, by="demo")
            except Exception as exc:  # an agent missing from config/acd.yaml: say so, keep the demo running
                log.warning("demo agent not logged in", extra={"agent": agent, "error": str(exc)})
        self.people = DemoAgents(
            service.acd,
            self.auto_agents,
            profile=self.people_profile,
            speed=self.speed,
            seed=self.seed,
            console=service.console,
        )
        self._people_task = asyncio.get_running_loop().create_task(
            self.people.run(self._stop), name="demo-people"
        )
        await self.sim.start_traffic()

    async def stop(self) -> None:
        await self.sim.stop_traffic()
        self._stop.set()
        if self._people_task is not None:
            await asyncio.gather(self._people_task, return_exceptions=True)
            self._people_task = None

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
        await self.sim.stop()
