"""Fidelity of the project-dialplan traces (facts 30-36): each new trace is replayed on the simulator
(``SimConfig(dialplan="project")``, Local agents ``Local/<ext>@agent-sim/n``) and compared as
``test_fidelity.py`` does for the first traces, plus the list items (CoreShowChannel Application,
Status ``Variables:``) and Getvar values that tell the two halves of a Local agent apart."""

from __future__ import annotations

from .replay import Normalised, ReplayAgi, normalise, replay, trace_messages
from .test_fidelity import SPEED, compare, mask_agi, originate_responses


def agi_streams(agi: ReplayAgi) -> dict[str, tuple[list[str], list[str]]]:
    out = {}
    for conn, records in agi.sessions.items():
        rx = b"".join(r.payload for r in records if r.kind == "RX").decode()
        expected = [line for line in rx.split("\n") if line and not line.startswith("agi_")]
        out[conn] = (mask_agi(expected), mask_agi(agi.rx[conn]))
    return out


async def run(name: str, conn: str = "ami1") -> tuple[Normalised, Normalised, ReplayAgi]:
    msgs, agi, _ = await replay(name, speed=SPEED, conn=conn, dialplan="project")
    return normalise(trace_messages(name + ".ami", conn)), normalise(msgs), agi


def assert_same(trace: Normalised, sim: Normalised, agi: ReplayAgi) -> None:
    assert compare(trace, sim) == []
    assert sorted(trace.cdrs) == sorted(sim.cdrs)
    assert trace.linked == sim.linked
    assert trace.uniq == sim.uniq
    assert trace.responses == sim.responses
    assert originate_responses(trace) == originate_responses(sim)
    assert trace.getvars == sim.getvars
    assert sorted(trace.items) == sorted(sim.items)
    for conn, (expected, got) in agi_streams(agi).items():
        assert got == expected, conn


async def test_local_agent_halves_match_trace() -> None:
    """Fact 30: ;1 (AppDial) bridged, ;2 runs [agent-sim]; BRIDGEPEER on ;1 only; the agent's ;2
    hangs up: EXEC Dial 200 result=-1, and HANGUP only when the script closes."""
    trace, sim, agi = await run("local-agent-halves")
    assert_same(trace, sim, agi)
    apps = {(ch, app) for ev, ch, app, _ in sim.items if ev == "CoreShowChannel"}
    assert ("Local/1001@agent-sim-C1;1", "AppDial") in apps
    assert ("Local/1001@agent-sim-C1;2", "Playback") in apps
    assert ("BRIDGEPEER", "Local/8001@incoming-C0;2") in sim.getvars
    assert ("BRIDGEPEER", "") in sim.getvars
