"""Simulator lifecycle, generated traffic (Poisson arrivals of simulated customers) and the report."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
from dataclasses import dataclass, replace
from typing import Any

from callcenter.sim.agi import run_agi
from callcenter.sim.ami import AmiServer
from callcenter.sim.config import HOSTILE_NAMES, AgentPhoneProfile, CustomerProfile, SimConfig, SurveyProfile
from callcenter.sim.crash import kill_ami, kill_pbx
from callcenter.sim.pbx import CallStat, Channel, Pbx
from callcenter.sim.script import CustomerScripts
from callcenter.sim.survey import PLAN as SURVEY_PLAN
from callcenter.sim.survey import SurveyAnswers, survey_plan

log = logging.getLogger(__name__)

_FIRST_NAMES = ("Alice", "Bob", "Carol", "Dave", "Erin", "Frank", "Grace", "Heidi", "Ivan", "Judy", "Mallory")
_LAST_NAMES = ("Martin", "Bernard", "Dubois", "Smith", "Jones", "Garcia", "Rossi", "Novak", "Kowalski")


@dataclass(frozen=True, slots=True)
class SimReport:
    placed: int
    answered: int
    abandoned: int
    failed: int
    completed: int
    still_up: int
    events: int
    sim_seconds: float
    wall_seconds: float

    def format(self) -> str:
        return (
            f"calls placed {self.placed}, answered {self.answered}, abandoned {self.abandoned}, "
            f"failed {self.failed}, completed {self.completed}, still up {self.still_up}; "
            f"{self.events} AMI events; {self.sim_seconds:.1f} simulated s in {self.wall_seconds:.1f} wall s"
        )


class Simulator:
    """The simulated PBX: AMI server + call engine (+ traffic when ``rate`` > 0)."""

    def __init__(self, cfg: SimConfig) -> None:
        self.cfg = cfg
        self.pbx: Pbx | None = None
        self.ami: AmiServer | None = None
        self._traffic: asyncio.Task[None] | None = None
        self._t0 = 0.0
        self._sim0 = 0.0
        self._down = False
        self._port = cfg.ami_port
        self._cfg_before_crash: SimConfig | None = None

    @property
    def ami_port(self) -> int:
        assert self.ami is not None
        return self.ami.port

    async def start(self) -> None:
        pbx, ami = await self._boot(self.cfg)
        loop = asyncio.get_running_loop()
        self._t0 = loop.time()
        self._sim0 = pbx.clock.mono()
        log.info("PBX simulator: AMI on %s:%s, mode %s", self.cfg.ami_host, ami.port, self.cfg.mode)

    async def _boot(self, cfg: SimConfig) -> tuple[Pbx, AmiServer]:
        pbx = Pbx(cfg)
        pbx.agi_runner = self._agi
        self.scripts = CustomerScripts(pbx)
        self.surveys = SurveyAnswers(pbx, cfg.customers.survey)
        pbx.agi_hook = self._on_agi_command
        ami = AmiServer(cfg, pbx)
        await ami.start()
        self.pbx, self.ami = pbx, ami
        return pbx, ami

    def _on_agi_command(self, chan: Channel, words: tuple[str, ...], args: list[str]) -> None:
        self.surveys.on_command(chan, words, args)
        self.scripts.on_command(chan, words, args)

    async def _agi(self, chan: Channel, url: str, args: list[str]) -> str:
        assert self.pbx is not None
        return await run_agi(self.pbx, chan, url, args)

    # -- kill -9 (sim/crash.py) -----------------------------------------------------------------
    @property
    def down(self) -> bool:
        """True between ``crash()`` and ``restart()``."""
        return self._down

    async def crash(self) -> None:
        """``kill -9`` of the PBX: every AMI and FastAGI socket gets EOF with nothing more said (no
        Shutdown, no Hangup, no reply to a command in flight), every channel is forgotten and new AMI
        connections are refused until ``restart()``. See ``sim/crash.py``."""
        if self._down:
            return
        self._down = True
        await self.stop_traffic()
        if self.ami is not None:
            self._port = self.ami.port
            await kill_ami(self.ami)
        if self.pbx is not None:
            self._cfg_before_crash = self.pbx.cfg
            await kill_pbx(self.pbx)

    async def restart(self, delay: float | None = None) -> None:
        """Start a fresh PBX on the same AMI port after ``delay`` wall seconds (default
        ``SimConfig.restart_delay``): no channels, counters from 0, Uptime 0, FullyBooted on Login."""
        if not self._down:
            return
        await asyncio.sleep(self.cfg.restart_delay if delay is None else delay)
        cfg = self._cfg_before_crash or self.cfg
        await self._boot(replace(cfg, ami_port=self._port))
        self._down = False

    async def crash_and_restart(self, down: float | None = None) -> None:
        await self.crash()
        await self.restart(down)

    async def stop(self) -> None:
        if self._down:
            return
        if self._traffic is not None:
            self._traffic.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._traffic
        if self.pbx is not None:
            await self.pbx.shutdown()
        if self.ami is not None:
            await self.ami.stop()

    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- traffic ---------------------------------------------------------------------------------
    def place_call(
        self,
        *,
        number: str | None = None,
        name: str | None = None,
        script: str | None = None,
        patience: float | None = None,
        talk: float | None = None,
    ) -> CallStat:
        """Start one simulated customer call now. ``script`` makes a scripted customer (``sim/script.py``)
        calling from ``number``; the other arguments override the random customer's."""
        pbx = self.pbx
        assert pbx is not None
        cfg, r, cp = self.cfg, pbx.cust_rng, self.cfg.customers
        if number is not None:
            num = number
        elif cp.known_numbers and r.random() < cp.known_prob:
            num = r.choice(cp.known_numbers)
        else:
            num = f"0{r.randrange(600000000, 799999999)}"
        if name is None:
            if r.random() < cp.hostile_name_prob:
                name = r.choice(HOSTILE_NAMES)
            else:
                name = f"{r.choice(_FIRST_NAMES)} {r.choice(_LAST_NAMES)}"
        if script is None and cp.scripts and cfg.mode == "agi":
            script = r.choice(cp.scripts)
        if script is not None:
            dtmf = ""
        else:
            dtmf = r.choice(cp.dtmf_choices) if cp.dtmf_choices and cfg.mode == "agi" else ""
        if patience is None:
            patience = r.uniform(cp.patience_min, cp.patience_max)
        if talk is None:
            talk = r.uniform(cp.talk_min, cp.talk_max)
        exten = cfg.direct_exten if cfg.mode == "direct" else cfg.agi_exten
        stat = CallStat(placed_at=pbx.clock.mono(), number=num, name=name)
        pbx.calls.append(stat)
        variables = [
            ("CUST_WAIT", _fmt(cp.dtmf_delay if dtmf else 0.0)),
            ("CUST_DTMF", dtmf),
            ("CUST_PATIENCE", _fmt(patience)),
            ("CUST_TALK", _fmt(talk)),
        ]
        if script is not None:
            variables.append(("CUST_SCRIPT", script))
        if cfg.mode == "agi":  # the post-call survey, from the call's own stream (sim/survey.py)
            variables.append((SURVEY_PLAN, survey_plan(cp.survey, cfg.seed, len(pbx.calls))))
        pbx.spawn(self._originate(stat, exten, num, name, variables))
        return stat

    async def _originate(
        self, stat: CallStat, exten: str, num: str, name: str, variables: list[tuple[str, str]]
    ) -> None:
        assert self.pbx is not None
        res = await self.pbx.originate(
            f"Local/{exten}@incoming/n",
            context="customer-sim",
            exten="caller",
            cid_num=num,
            cid_name=name,
            answer_timeout=30.0,
            variables=variables,
            call=stat,
        )
        if not res.success:
            stat.failed = True
            stat.ended = True

    async def stop_traffic(self) -> None:
        """Stop placing new calls (calls in progress go on)."""
        if self._traffic is not None:
            self._traffic.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._traffic
            self._traffic = None

    async def start_traffic(self) -> None:
        """Start the generated traffic in the background; ``stop`` ends it."""
        if self._traffic is None and self.cfg.rate > 0:
            self._traffic = asyncio.get_running_loop().create_task(self.run_traffic(), name="sim-traffic")

    async def run_traffic(self) -> None:
        pbx = self.pbx
        assert pbx is not None
        cfg = self.cfg
        if cfg.rate <= 0:
            return
        start = pbx.clock.mono()
        placed = 0
        next_at = start
        while True:
            next_at += pbx.cust_rng.expovariate(cfg.rate)
            if cfg.duration and next_at - start > cfg.duration:
                break
            if cfg.max_calls and placed >= cfg.max_calls:
                break
            delay = next_at - pbx.clock.mono()
            if delay > 0:
                await pbx.clock.sleep(delay)
            self.place_call()
            placed += 1

    async def drain(self, limit: float) -> None:
        """Wait (simulated seconds) until every generated call has ended."""
        pbx = self.pbx
        assert pbx is not None
        deadline = pbx.clock.mono() + limit
        while pbx.clock.mono() < deadline:
            if all(c.ended for c in pbx.calls) and not any(
                ch.call is not None for ch in pbx.channels.values()
            ):
                return
            await pbx.clock.sleep(0.5)

    def report(self) -> SimReport:
        pbx = self.pbx
        assert pbx is not None
        calls = pbx.calls
        loop = asyncio.get_running_loop()
        return SimReport(
            placed=len(calls),
            answered=sum(1 for c in calls if c.connected),
            abandoned=sum(1 for c in calls if c.ended and not c.connected and not c.failed),
            failed=sum(1 for c in calls if c.failed and not c.connected),
            completed=sum(1 for c in calls if c.ended and c.connected),
            still_up=sum(1 for c in calls if not c.ended),
            events=pbx.events_emitted,
            sim_seconds=pbx.clock.mono() - self._sim0,
            wall_seconds=loop.time() - self._t0,
        )


def _fmt(value: float) -> str:
    return f"{value:.2f}"


async def run_simulator(config: SimConfig, stop: asyncio.Event | None = None) -> SimReport:
    """Run the simulator: serve AMI, place traffic for ``duration``, let calls drain, report.

    With ``rate`` 0 (or ``duration`` 0) it serves until ``stop`` is set or the task is cancelled.
    """
    sim = Simulator(config)
    await sim.start()
    try:
        if config.rate > 0 and (config.duration > 0 or config.max_calls > 0):
            await sim.run_traffic()
            await sim.drain(config.drain_timeout)
        else:
            traffic = asyncio.get_running_loop().create_task(sim.run_traffic())
            sim._traffic = traffic
            waiter = stop.wait() if stop is not None else asyncio.Event().wait()
            await waiter
        return sim.report()
    finally:
        report_now: SimReport | None = None
        with contextlib.suppress(Exception):
            report_now = sim.report()
        await sim.stop()
        if report_now is not None:
            log.info("simulator: %s", report_now.format())


# -- CLI -----------------------------------------------------------------------------------------
def add_sim_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    d = SimConfig()
    cp, ph = CustomerProfile(), AgentPhoneProfile()
    g = parser.add_argument_group("PBX simulator")
    g.add_argument("--ami-host", default=None, help=f"AMI listen address (default {d.ami_host})")
    g.add_argument(
        "--ami-port", type=int, default=None, help=f"AMI listen port (default {d.ami_port}; 0 = any)"
    )
    g.add_argument("--ami-user", default=None, help="AMI username accepted (default from settings)")
    g.add_argument("--ami-secret", default=None, help="AMI secret accepted (default from settings)")
    g.add_argument("--agi-host", default=None, help="the service's FastAGI host (agi mode)")
    g.add_argument("--agi-port", type=int, default=None, help="the service's FastAGI port (agi mode)")
    g.add_argument(
        "--mode",
        choices=("direct", "agi"),
        default=d.mode,
        help="direct: the PBX dials agents itself (like 8006); agi: calls run the service's FastAGI IVR",
    )
    g.add_argument("--agents", type=int, default=d.agents, help="number of simulated agent phones")
    g.add_argument("--first-agent", type=int, default=d.first_agent, help="extension of the first agent")
    g.add_argument(
        "--agent-tech", choices=("PJSIP", "Local"), default=d.agent_tech, help="agent channel type"
    )
    g.add_argument(
        "--rate", type=float, default=d.rate, help="arrivals per simulated second (Poisson); 0 = none"
    )
    g.add_argument(
        "--duration", type=float, default=d.duration, help="simulated seconds of arrivals; 0 = forever"
    )
    g.add_argument("--max-calls", type=int, default=d.max_calls, help="stop arrivals after this many calls")
    g.add_argument("--speed", type=float, default=d.speed, help="simulated seconds per wall second")
    g.add_argument("--seed", type=int, default=d.seed, help="random seed (same seed, same run)")
    g.add_argument(
        "--known-numbers",
        default="",
        help="comma-separated caller numbers of known customers (screen pops hit CRM records)",
    )
    g.add_argument("--known-numbers-file", default="", help="file with one known caller number per line")
    sv = cp.survey
    g.add_argument(
        "--survey-answer-prob",
        type=float,
        default=sv.answer_prob,
        help="share of customers who answer the post-call survey (the others hang up at its question)",
    )
    g.add_argument(
        "--survey-scores",
        default=",".join(f"{w:g}" for w in sv.scores),
        help="weights of the survey scores 1,2,3,4,5 (comma separated)",
    )
    g.add_argument(
        "--hostile-prob",
        type=float,
        default=cp.hostile_name_prob,
        help="share of callers with a hostile caller-ID name (XSS probes)",
    )
    g.add_argument(
        "--patience",
        type=float,
        nargs=2,
        metavar=("MIN", "MAX"),
        default=(cp.patience_min, cp.patience_max),
        help="customer patience before abandoning (s)",
    )
    g.add_argument(
        "--talk",
        type=float,
        nargs=2,
        metavar=("MIN", "MAX"),
        default=(cp.talk_min, cp.talk_max),
        help="conversation length (s)",
    )
    g.add_argument(
        "--ring",
        type=float,
        nargs=2,
        metavar=("MIN", "MAX"),
        default=(ph.ring_min, ph.ring_max),
        help="agent ring-to-answer delay (s)",
    )
    g.add_argument("--no-answer-prob", type=float, default=ph.no_answer_prob, help="agent does not answer")
    g.add_argument("--busy-prob", type=float, default=ph.busy_prob, help="agent phone is busy")
    g.add_argument(
        "--agent-hangup-prob",
        type=float,
        default=ph.agent_hangs_up_prob,
        help="share of answered calls ended by the agent",
    )
    g.add_argument("--no-dialplan-events", action="store_true", help="do not emit VarSet/Newexten events")
    g.add_argument(
        "--dialplan",
        choices=("traces", "project"),
        default=d.dialplan,
        help="traces: the recorder's dialplan (8002 IVR, 8006 direct); project: dialplan/extensions.conf",
    )
    g.add_argument(
        "--event-filter",
        default=d.event_filter,
        metavar="shipped|all|PATH",
        help="manager.conf account of the AMI user: the shipped dialplan/manager.conf (read= + eventfilter, "
        "as Asterisk applies it), all events, or a manager.conf file",
    )
    g.add_argument(
        "--dual-redirect-unbridged",
        choices=("success", "secondary-failed"),
        default=d.dual_redirect_unbridged,
        help="reply to a dual Redirect whose ExtraChannel is a Local agent's un-bridged ;2 half",
    )
    return parser


def config_from_args(ns: argparse.Namespace, settings: Any | None = None) -> SimConfig:
    """Build a ``SimConfig`` from parsed arguments; AMI/AGI defaults come from ``settings``
    (a ``callcenter.config.Settings``) when given."""
    base = SimConfig()
    if settings is not None:
        secret = settings.ami_secret
        base = replace(
            base,
            ami_host=settings.ami_host,
            ami_port=settings.ami_port,
            ami_user=settings.ami_user,
            ami_secret=secret.reveal() if hasattr(secret, "reveal") else str(secret),
            agi_host=settings.agi_host,
            agi_port=settings.agi_port,
        )
    known: list[str] = [n.strip() for n in (ns.known_numbers or "").split(",") if n.strip()]
    if ns.known_numbers_file:
        with open(ns.known_numbers_file, encoding="utf-8") as fh:
            known += [line.strip() for line in fh if line.strip() and not line.startswith("#")]
    try:
        weights = tuple(float(w) for w in str(ns.survey_scores).split(","))
    except ValueError:
        raise ValueError(f"--survey-scores: five numbers, got {ns.survey_scores!r}") from None
    if len(weights) != 5:
        raise ValueError(f"--survey-scores: five weights (scores 1-5), got {len(weights)}")
    survey = replace(SurveyProfile(), answer_prob=ns.survey_answer_prob, scores=weights)
    customers = replace(
        CustomerProfile(),
        survey=survey,
        known_numbers=tuple(known),
        hostile_name_prob=ns.hostile_prob,
        patience_min=ns.patience[0],
        patience_max=ns.patience[1],
        talk_min=ns.talk[0],
        talk_max=ns.talk[1],
    )
    phones = replace(
        AgentPhoneProfile(),
        ring_min=ns.ring[0],
        ring_max=ns.ring[1],
        no_answer_prob=ns.no_answer_prob,
        busy_prob=ns.busy_prob,
        agent_hangs_up_prob=ns.agent_hangup_prob,
    )
    overrides = {
        k: v
        for k, v in {
            "ami_host": ns.ami_host,
            "ami_port": ns.ami_port,
            "ami_user": ns.ami_user,
            "ami_secret": ns.ami_secret,
            "agi_host": ns.agi_host,
            "agi_port": ns.agi_port,
        }.items()
        if v is not None
    }
    return replace(
        base,
        **overrides,
        mode=ns.mode,
        agents=ns.agents,
        first_agent=ns.first_agent,
        agent_tech=ns.agent_tech,
        rate=ns.rate,
        duration=ns.duration,
        max_calls=ns.max_calls,
        speed=ns.speed,
        seed=ns.seed,
        customers=customers,
        phones=phones,
        dialplan_events=not ns.no_dialplan_events,
        dialplan=getattr(ns, "dialplan", base.dialplan),
        event_filter=getattr(ns, "event_filter", base.event_filter),
        dual_redirect_unbridged=getattr(ns, "dual_redirect_unbridged", base.dual_redirect_unbridged),
    )


def main(argv: list[str] | None = None) -> int:
    """``python -m callcenter.sim``: run the simulator standalone and print the report."""
    parser = argparse.ArgumentParser(
        prog="python -m callcenter.sim", description="Asterisk AMI/FastAGI simulator"
    )
    add_sim_arguments(parser)
    ns = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        cfg = config_from_args(ns)
    except ValueError as exc:  # a bad option value: argparse's usage error (exit 2), no traceback
        parser.error(str(exc))
    try:
        report = asyncio.run(run_simulator(cfg))
    except KeyboardInterrupt:
        return 130
    print(report.format())
    return 0
