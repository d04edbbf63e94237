"""Fidelity of the project-dialplan traces (facts 30-36): each new trace is replayed on the simulator
(``SimConfig(dialplan="project")``, Local agents ``Local/<ext>@agent-sim/n``) and compared as
``test_fidelity.py`` does for the first traces, plus the list items (CoreShowChannel Application,
Status ``Variables:``) and Getvar values that tell the two halves of a Local agent apart."""

from __future__ import annotations

from .amiclient import first
from .replay import Normalised, ReplayAgi, normalise, replay, replay_sessions, trace_messages
from .test_fidelity import compare, mask_agi, originate_responses

#: slower than test_fidelity's 20x: ANSWEREDTIME (whole seconds) must not move on a loaded machine
SPEED = 10.0


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


async def test_kill9_restart_matches_trace() -> None:
    """Fact 34: kill -9 with two bridged calls and one caller in its FastAGI session: EOF on AMI with no
    Shutdown/Hangup, every FastAGI socket closed with the command unanswered; after the restart Login,
    FullyBooted, CoreShowChannels/Status with 0 items."""
    msgs, agi, _ = await replay_sessions("kill9-restart", SPEED, 2.0, ("ami1", "ami2"), dialplan="project")
    for conn in ("ami1", "ami2"):
        trace, sim = normalise(trace_messages("kill9-restart.ami", conn)), normalise(msgs[conn])
        assert compare(trace, sim) == [], conn
        assert sorted(trace.cdrs) == sorted(sim.cdrs), conn
        assert trace.linked == sim.linked, conn
        assert trace.responses == sim.responses, conn
        assert sorted(trace.items) == sorted(sim.items), conn
    tail = [first(m, "Event") for m in msgs["ami1"][-3:]]
    assert "Shutdown" not in tail
    after = normalise(msgs["ami2"])
    assert next(e for e in after.events if first(e, "Event") == "CoreShowChannelsComplete")[-1] == (
        "ListItems",
        "0",
    )
    for conn, (expected, got) in agi_streams(agi).items():
        assert got == expected, conn
