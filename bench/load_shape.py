"""The two traffic shapes of ``bench/load.py`` and the bench-side helpers they need.

* ``classic``: the original load figure: 100 calls/s, 2,000 mostly idle PJSIP agents in one queue, a
  one-node IVR flow (straight to the queue), talk 5-15 s. It measures the service's throughput ceiling
  with almost no waiting and no IVR dialogue.
* ``asterisk``: traffic shaped like the real Asterisk 22.10.1 run the budget is checked against
  (10 calls/s, 30 ``Local/`` agents, the sample flow ``ivr_flows/main.yaml`` with scripted DTMF through
  three digit prompts, ACD with announcements and recording, callers who wait): it measures the CPU a
  call costs on a center's real mix of AMI events and AGI dialogue.

Both run against the simulator's shipped ``dialplan/manager.conf`` account (its ``read=`` classes and
``eventfilter`` lines, ``callcenter.sim.eventfilter``), so the service sees the event mix a real Asterisk
with that file sends.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True, slots=True)
class Shape:
    name: str
    rate: float
    agents: int
    duration: float
    talk: tuple[float, float]
    agent_tech: str
    real_flow: bool


SHAPES = {
    "classic": Shape("classic", 100.0, 2000, 300.0, (5.0, 15.0), "PJSIP", False),
    "asterisk": Shape("asterisk", 10.0, 30, 60.0, (0.5, 1.5), "Local", True),
}

#: what the asterisk shape's callers press (syntax: sim/script.py): three digit prompts (language, main
#: menu, a customer or order number) for most, two for sales and complaints
ASTERISK_SCRIPTS = (
    "1;2;12#",
    "1;2;12#",
    "2;2;#",
    "1;3;0",  # after-sales: the case status (case_status node), then 0 for an agent
    "1;1",
    "2;4",
    "1;2;3#",
)


def open_hours_offset(tz: str = "Europe/Paris") -> float:
    """Seconds to add to now to land on the next Wednesday 10:00 in ``tz`` (the sample flow is open):
    the asterisk shape must walk the main menu whatever the hour the bench runs."""
    zone = ZoneInfo(tz)
    now = dt.datetime.now(zone)
    target = now.replace(hour=10, minute=0, second=0, microsecond=0)
    while target <= now or target.weekday() != 2:
        target += dt.timedelta(days=1)
    return target.timestamp() - time.time()


def write_center(tmp: Path, shape: Shape, agent_context: str = "agents") -> tuple[Path, Path]:
    """The ACD config and the IVR flows directory of a shape (``agent_context``: where the simulator's
    Local agents' ``;2`` halves run)."""
    acd = tmp / "acd.yaml"
    agents = shape.agents
    # the simulated agents set no disposition codes (a person's click is a web request, not measured
    # here): their wrap-up ends on its timer instead of waiting for a code (services/wrapup_rule.py)
    (tmp / "console.yaml").write_text("dispositions:\n  timed_wrapup_waits: false\n")
    if not shape.real_flow:
        lines = [
            "defaults: {ring_timeout: 20, wrapup: 0, announce: {interval: 0}}",
            "queues:",
            # simulated agents never come back from a pause: a missed call must not take them out for good
            "  support: {strategy: rrmemory, max_wait: 600, fallback: voicemail, overflow: voicemail,"
            " missed_call: {pause: false}}",
            "agents:",
        ]
        lines += [
            f'  - {{id: "{1001 + i}", name: Agent {1001 + i}, endpoint: PJSIP/{1001 + i}, queues: [support]}}'
            for i in range(agents)
        ]
        acd.write_text("\n".join(lines) + "\n")
        flows = tmp / "flows"
        flows.mkdir()
        (flows / "main.yaml").write_text(
            "flow: main\nstart: route\nlanguage: en\nlanguages: [en]\nnodes:\n"
            "  route: {type: queue, queue: support, on_no_agents: bye}\n"
            "  bye: {type: hangup}\n"
        )
        (flows / "sounds.txt").write_text((ROOT / "ivr_flows" / "sounds.txt").read_text())
        (flows / "queues.yaml").write_text("queues: [support]\n")
        return acd, flows
    # the queues of ivr_flows/main.yaml with config/acd.yaml's defaults (announcements every 30 s,
    # recording through U(mixmon)); every agent in every queue with the flow's skills
    lines = [
        "defaults: {ring_timeout: 15, wrapup: 1, announce: {interval: 30, position: true, wait_time: true},"
        " music_class: default, missed_call: {pause: false}}",
        "queues:",
        "  support: {strategy: rrmemory, max_wait: 300, overflow: voicemail, fallback: voicemail}",
        "  sales: {strategy: longest_idle, max_wait: 180, overflow: support, fallback: support}",
        "  rma: {strategy: linear, max_wait: 300, overflow: support, fallback: support}",
        "  complaints: {strategy: longest_idle, max_wait: 300, fallback: voicemail}",
        "agents:",
    ]
    lines += [
        f'  - {{id: "{1001 + i}", name: Agent {1001 + i}, endpoint: "Local/{1001 + i}@{agent_context}/n",'
        " queues: [support, sales, rma, complaints], skills: [sales, support, rma]}"
        for i in range(agents)
    ]
    acd.write_text("\n".join(lines) + "\n")
    return acd, ROOT / "ivr_flows"


def known_numbers(count: int = 300) -> list[tuple[str, str, bool]]:
    """(number, name, vip) of the CRM customers seeded for the asterisk shape."""
    return [(f"20255{i:05d}", f"Customer {i}", i % 12 == 0) for i in range(count)]
