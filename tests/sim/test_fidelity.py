"""Replay the recorded scenarios on the simulator over real TCP and compare with the real Asterisk.

Compared per channel (names and ids become labels in order of first appearance): the sequence of
call events with ChannelState, Cause, DialStatus, AGI command/result; Cdr (channel, disposition,
destination channel); Linkedid/Uniqueid relations; responses. Left out: VarSet, Newexten,
DeviceStateChange, security events, QueueMemberStatus (see the fidelity table in
src/callcenter/sim/README.md). Two orderings that race between Asterisk threads are canonicalised:
DialBegin(dest) vs. the callee's Newstate, and the position of OriginateResponse.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from .amiclient import Message
from .replay import Normalised, ReplayAgi, normalise, replay, trace_messages

SPEED = 10.0  # faster replays let scheduling delay on a loaded machine move DIALEDTIME to the next second


def canon(seq: list[str]) -> list[str]:
    out = [s for s in seq if s != "OriginateResponse"]
    out = [
        s.split(" State=")[0] + " " + s.split("DialStatus=")[1] if s.startswith("DialBegin(dest)") else s
        for s in out
    ]
    i = 0
    while i < len(out) - 1:
        if out[i].startswith("Newstate") and out[i + 1].startswith("DialBegin(dest)"):
            out[i], out[i + 1] = out[i + 1], out[i]
        i += 1
    return out


def compare(trace: Normalised, sim: Normalised, only: set[str] | None = None) -> list[str]:
    problems = []
    chans = set(trace.per_channel) | set(sim.per_channel)
    for ch in sorted(chans):
        if only is not None and not any(tag in ch for tag in only):
            continue
        a, b = canon(trace.per_channel.get(ch, [])), canon(sim.per_channel.get(ch, []))
        if a != b:
            problems.append(f"{ch}:\n  trace {a}\n  sim   {b}")
    return problems


def originate_responses(n: Normalised) -> list[tuple[str, ...]]:
    out = []
    for m in n.events:
        d = dict(m)
        if d.get("Event") == "OriginateResponse":
            out.append(
                (d.get("Response", ""), d.get("Channel", ""), d.get("Reason", ""), d.get("Uniqueid", ""))
            )
    return out


def mask_agi(lines: list[str]) -> list[str]:
    return [re.sub(r"endpos=\d+", "endpos=N", re.sub(r"\(\d+\.\d+\)", "(ID)", x)) for x in lines]


_SECONDS = re.compile(r"200 result=1 \((\d+)\)")


def same_agi(got: list[str], expected: list[str]) -> bool:
    """Equal reply streams; whole-second values (ANSWEREDTIME, DIALEDTIME: wall-clock measurements
    taken at 10x on a shared machine) may differ by one."""
    if len(got) != len(expected):
        return False
    for a, b in zip(mask_agi(got), mask_agi(expected), strict=True):
        ma, mb = _SECONDS.fullmatch(a), _SECONDS.fullmatch(b)
        if a != b and not (ma and mb and abs(int(ma.group(1)) - int(mb.group(1))) <= 1):
            return False
    return True


@pytest.mark.parametrize(
    "scenario", ["ivr-to-agent", "agent-no-answer", "caller-abandons", "chanspy", "originate-variants"]
)
async def test_scenario_matches_trace(scenario: str) -> None:
    msgs, agi, _ = await replay(scenario, speed=SPEED)
    trace, sim = normalise(trace_messages(scenario + ".ami")), normalise(msgs)
    assert compare(trace, sim) == []
    assert sorted(trace.cdrs) == sorted(sim.cdrs)
    assert trace.linked == sim.linked
    assert trace.uniq == sim.uniq
    assert trace.responses == sim.responses
    assert originate_responses(trace) == originate_responses(sim)
    # the FastAGI byte stream: replies and asynchronous HANGUP lines as recorded
    for conn, records in agi.sessions.items():
        rx = b"".join(r.payload for r in records if r.kind == "RX").decode()
        expected = [line for line in rx.split("\n") if line and not line.startswith("agi_")]
        assert same_agi(agi.rx[conn], expected), (conn, agi.rx[conn], expected)
    if scenario == "caller-abandons":
        check_agi_environment(agi)
        check_hangup_waits_for_agi_close(msgs)


def check_agi_environment(agi: ReplayAgi) -> None:
    """Environment block: same keys in the same order, same values except run-dependent ids."""
    for conn, records in agi.sessions.items():
        rx = b"".join(r.payload for r in records if r.kind == "RX").decode()
        expected = [line.split(": ", 1) for line in rx.split("\n\n", 1)[0].split("\n")]
        got = agi.envs[conn]
        assert list(got) == [k for k, _ in expected], conn
        for key, value in expected:
            if key not in ("agi_channel", "agi_uniqueid", "agi_threadid", "agi_request"):
                assert got[key] == value, (conn, key)
    assert agi.envs["agi2"]["agi_network_script"] == "ivr?queue=support&lang=en"
    assert agi.envs["agi2"]["agi_arg_1"] == "first arg"


def check_hangup_waits_for_agi_close(msgs: list[Message]) -> None:
    """Fact 27: HangupRequest when the caller hangs up, the AGI channel's Hangup only after the
    FastAGI server closed (it still ran a command on the dead channel in between)."""
    evs = [dict(m) for m in msgs if m and m[0][0] == "Event"]

    def index(pred: Callable[[dict[str, str]], bool]) -> int:
        return next(i for i, d in enumerate(evs) if pred(d))

    req = index(lambda d: d["Event"] == "HangupRequest" and "8010" in d["Channel"])
    cmd = index(lambda d: d["Event"] == "AGIExecEnd" and d.get("Command") == "SET MUSIC ON default")
    hup = index(lambda d: d["Event"] == "Hangup" and "8010" in d["Channel"] and d["Channel"].endswith(";2"))
    assert req < cmd < hup


async def test_redirect_and_blind_transfer_match_trace() -> None:
    msgs, _, _ = await replay("redirect-transfer", speed=SPEED)
    trace, sim = normalise(trace_messages("redirect-transfer.ami")), normalise(msgs)
    # calls A (Redirect, channels C0-C2) and B (BlindTransfer, C3-C5); call C (Atxfer) is simplified
    first_two = {f"-C{i};" for i in range(6)}

    def mine(name: str) -> bool:
        return any(t in name for t in first_two)

    assert compare(trace, sim, only=first_two) == []
    assert sorted(c for c in trace.cdrs if mine(c[0])) == sorted(c for c in sim.cdrs if mine(c[0]))
    assert {k: v for k, v in trace.linked.items() if mine(k)} == {
        k: v for k, v in sim.linked.items() if mine(k)
    }
    assert trace.responses[:8] == sim.responses[:8]
