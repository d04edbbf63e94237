"""Fidelity of the project-dialplan traces (facts 30-36): each new trace is replayed on the simulator
(``SimConfig(dialplan="project")``, Local agents ``Local/<ext>@agent-sim/n``) and compared as
``test_fidelity.py`` does for the first traces, plus the list items (CoreShowChannel Application,
Status ``Variables:``) and Getvar values that tell the two halves of a Local agent apart."""

from __future__ import annotations

from .amiclient import first
from .replay import Normalised, ReplayAgi, normalise, replay, replay_sessions, trace_messages
from .test_fidelity import SPEED, compare, originate_responses, same_agi


def agi_streams(agi: ReplayAgi) -> dict[str, tuple[list[str], list[str]]]:
    out = {}
    for conn, records in agi.sessions.items():
        rx = b"".join(r.payload for r in records if r.kind == "RX").decode()
        expected = [line for line in rx.split("\n") if line and not line.startswith("agi_")]
        out[conn] = (expected, agi.rx[conn])
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
        assert same_agi(got, expected), (conn, got, expected)


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
        assert same_agi(got, expected), (conn, got, expected)


def drop(n: Normalised, channel: str, event: str) -> None:
    for ch, seq in n.per_channel.items():
        if ch.startswith(channel):
            seq[:] = [e for e in seq if not e.startswith(event)]


async def test_hold_dual_redirect_matches_trace() -> None:
    """Facts 31/32. A: ExtraChannel = the bridged ;1: Dual Redirect successful, the agent ;1 waits in
    [cc-hold-agent], EXEC Dial gets 200 result=0 + HANGUP, ANSWEREDTIME empty, resume by Bridge. B:
    ExtraChannel = the un-bridged ;2: still "Dual Redirect successful", the customer alone in MOH, the
    agent pair hung up (Cause 16), Bridge answers "Channel2 does not exist: <name>"."""
    trace, sim, agi = await run("hold-dual-redirect")
    # cleanup of B: both customer halves are hung up by two AMI actions sent together; which half's
    # thread goes first (and so which one gets the other's HangupRequest) is a race in Asterisk
    for n in (trace, sim):
        drop(n, "Local/8022@incoming-C2;", "HangupRequest")
    assert_same(trace, sim, agi)
    assert ("Error", "Channel2 does not exist: Local/1002@agent-sim-C3;1") in sim.responses
    assert ("Error", "Channel2 does not exist: Local/1002@agent-sim-C3;2") in sim.responses


async def test_blind_transfer_results_match_trace() -> None:
    """Fact 33: BlindTransfer on ;2 → Transfer invalid + Event Result: Invalid; on a missing channel →
    Channel specified does not exist; on ;1 → Transfer succeeded, the customer opens a new FastAGI
    session queue?queue=support&linkedid=<same>; to a context that does not exist → success, then the
    customer is hung up there."""
    trace, sim, agi = await run("blind-transfer-results")
    assert_same(trace, sim, agi)
    assert ("Error", "Transfer invalid") in sim.responses
    assert ("Error", "Channel specified does not exist") in sim.responses
    assert agi.envs["agi2"]["agi_network_script"].startswith("queue?queue=support&linkedid=")
    results = [
        (first(e, "Result"), first(e, "TransfereeChannel"))
        for e in sim.events
        if first(e, "Event") == "BlindTransfer"
    ]
    assert results == [
        ("Invalid", None),
        ("Success", "Local/8031@incoming-C0;2"),
        ("Success", "Local/8032@incoming-C3;2"),
    ]
    hangup = next(
        e
        for e in sim.events
        if first(e, "Event") == "Hangup" and first(e, "Channel") == "Local/8032@incoming-C3;2"
    )
    assert (first(hangup, "Context"), first(hangup, "Cause")) == ("no-such-context", "16")


async def test_chanspy_originate_matches_trace() -> None:
    """Fact 36: the supervisor's Originate is a separate call (own Linkedid); ChanSpyStart names the
    agent ;1 as spyee with the customer call's Linkedid."""
    trace, sim, agi = await run("chanspy-originate")
    assert_same(trace, sim, agi)
    start = next(e for e in sim.events if first(e, "Event") == "ChanSpyStart")
    assert first(start, "SpyeeChannel") == "Local/1001@agent-sim-C1;1"
    assert first(start, "SpyerLinkedid") != first(start, "SpyeeLinkedid")
