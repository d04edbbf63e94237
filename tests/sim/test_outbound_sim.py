"""The simulator's outbound customers on the AMI wire: ``Originate Channel=PJSIP/<number>@trunk``
answers with the ``OriginateResponse`` reasons Asterisk's ``ast_request_and_dial`` gives (5 busy, 8
congestion, 3 ringing then timed out, 4 answered), and an answered call runs ``[cc-outbound]``: AMD, then
the FastAGI script (none here: the customer hears the sorry prompt and is hung up, never left silent)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from callcenter.sim import SimConfig, Simulator
from callcenter.sim.config import OutboundProfile

from .amiclient import AmiClient, first

FIXED = (
    ("+15550001", "busy"),
    ("+15550002", "failed"),
    ("+15550003", "no_answer"),
    ("+15550004", "human"),
    ("+15550005", "machine"),
)


@pytest.fixture
async def client() -> AsyncIterator[tuple[Simulator, AmiClient]]:
    profile = OutboundProfile(fixed=FIXED, ring_min=1.0, ring_max=1.0, amd_error=0.0)
    sim = Simulator(SimConfig(ami_port=0, speed=10.0, seed=3, event_filter="all", outbound=profile))
    await sim.start()
    c = await AmiClient.connect(sim.ami_port)
    try:
        await c.login()
        yield sim, c
    finally:
        await c.close()
        await sim.stop()


async def originate(c: AmiClient, number: str, timeout_ms: int = 4000) -> str:
    """Send the dialer's Originate; returns its ActionID (what the OriginateResponse carries)."""
    aid = c.send(
        "Originate",
        ("Channel", f"PJSIP/{number}@trunk"),
        ("Context", "cc-outbound"),
        ("Exten", "s"),
        ("Priority", "1"),
        ("CallerID", '"Campaign" <+15559990000>'),
        ("Timeout", str(timeout_ms)),
        ("Async", "true"),
        ("Variable", "CC_ATTEMPT=7"),
    )
    reply = await c.response(aid)
    assert first(reply, "Response") == "Success"
    return aid


@pytest.mark.parametrize(
    ("number", "response", "reason"),
    [
        ("+15550001", "Failure", "5"),
        ("+15550002", "Failure", "8"),
        ("+15550003", "Failure", "3"),
        ("+15550004", "Success", "4"),
        ("+15550005", "Success", "4"),
    ],
)
async def test_originate_reasons(
    client: tuple[Simulator, AmiClient], number: str, response: str, reason: str
) -> None:
    _, c = client
    aid = await originate(c, number)
    msg = await c.wait_for(
        lambda m: first(m, "Event") == "OriginateResponse" and first(m, "ActionID") == aid, limit=10
    )
    assert first(msg, "Response") == response
    assert first(msg, "Reason") == reason
    if response == "Failure":
        assert first(msg, "Uniqueid") == "<unknown>"
        assert first(msg, "Channel") == f"PJSIP/{number}@trunk"
    else:
        assert (first(msg, "Channel") or "").startswith("PJSIP/trunk-")


async def test_busy_hangs_up_with_cause_17(client: tuple[Simulator, AmiClient]) -> None:
    _, c = client
    await originate(c, "+15550001")
    hangup = await c.wait_for(
        lambda m: first(m, "Event") == "Hangup" and (first(m, "Channel") or "").startswith("PJSIP/trunk-"),
        limit=10,
    )
    assert first(hangup, "Cause") == "17"


@pytest.mark.parametrize(("number", "amd"), [("+15550004", "HUMAN"), ("+15550005", "MACHINE")])
async def test_answered_runs_amd_then_sorry_without_a_service(
    client: tuple[Simulator, AmiClient], number: str, amd: str
) -> None:
    _, c = client
    await originate(c, number)
    await c.wait_for(
        lambda m: (
            first(m, "Event") == "VarSet" and first(m, "Variable") == "AMDSTATUS" and first(m, "Value") == amd
        ),
        limit=10,
    )
    await c.wait_for(
        lambda m: first(m, "Event") == "Newexten" and first(m, "AppData") == "cc-outbound-sorry", limit=10
    )
    await c.wait_for(
        lambda m: first(m, "Event") == "Hangup" and (first(m, "Channel") or "").startswith("PJSIP/trunk-"),
        limit=10,
    )


async def test_same_seed_same_behaviour() -> None:
    plans = []
    for _ in range(2):
        sim = Simulator(SimConfig(ami_port=0, seed=11, outbound=OutboundProfile()))
        await sim.start()
        try:
            assert sim.pbx is not None
            plans.append([sim.pbx.outbound_plan(f"+1555000{i:04d}").kind for i in range(200)])
        finally:
            await sim.stop()
    assert plans[0] == plans[1]
    kinds = plans[0]
    assert 0.3 < kinds.count("human") / len(kinds) < 0.6  # the default 45 % share
