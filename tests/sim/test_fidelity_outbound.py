"""The simulator's answers to the dialer's Originate against the real Asterisk 22.10.1 trace
``originate-outcomes.ami`` (fact 37). Nothing is replayed: the facts of each ``OriginateResponse`` are
read from the trace and the simulator must give the same ones for the same outcome.

* every failure (busy 5, congestion 8, no answer 3, a missing extension 0): ``Response: Failure``,
  ``Channel:`` the string that was requested (not a channel name), ``Uniqueid`` the Originate's
  ``ChannelId``;
* an answer: ``Response: Success``, ``Reason: 4``, ``Channel:`` the real channel's name, ``Uniqueid``
  the ``ChannelId``;
* an answer followed by an immediate hang-up is a ``Success`` / 4 too, and its call never reaches the
  FastAGI script (the dialer must not wait for it: ``tests/dialer/test_dialer_sim.py``)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from callcenter.sim import SimConfig, Simulator
from callcenter.sim.config import OutboundProfile

from .amiclient import AmiClient, Message, first, parse
from .replay import TRACES, load, trace_messages

TRACE = "originate-outcomes.ami"
#: a channel name, as Asterisk gives one: technology/resource-<8 hex>, a Local half's ;1 or ;2
CHANNEL_NAME = re.compile(r"^[A-Za-z]+/[^/]+-[0-9a-f]{8}(;[12])?$")


def _fields(m: Message) -> dict[str, str]:
    return {k: v for k, v in m}


def trace_facts() -> dict[str, tuple[str, str, bool, bool, bool]]:
    """ChannelId → (Response, Reason, Channel is the requested string, Channel is a channel name,
    Uniqueid is the ChannelId), from the trace's Originate actions and their OriginateResponses."""
    sent: dict[str, tuple[str, str]] = {}
    for record in load(TRACE):
        if record.kind == "TX" and record.conn == "ami1" and b"Action: Originate" in record.payload:
            action = _fields(parse(record.payload.strip()))
            sent[action["ActionID"]] = (action["Channel"], action["ChannelId"])
    facts: dict[str, tuple[str, str, bool, bool, bool]] = {}
    for m in trace_messages(TRACE, "ami1"):
        if first(m, "Event") != "OriginateResponse":
            continue
        requested, channel_id = sent[first(m, "ActionID") or ""]
        channel = first(m, "Channel") or ""
        facts[channel_id] = (
            first(m, "Response") or "",
            first(m, "Reason") or "",
            channel == requested,
            bool(CHANNEL_NAME.match(channel)),
            first(m, "Uniqueid") == channel_id,
        )
    return facts


def test_the_trace_says_what_fact_37_says() -> None:
    facts = trace_facts()
    assert len(facts) == 7
    failures = {reason for response, reason, *_ in facts.values() if response == "Failure"}
    assert failures == {"5", "8", "3", "0"}
    for response, reason, requested, named, same_id in facts.values():
        assert same_id  # Uniqueid = ChannelId, whatever the outcome
        if response == "Failure":
            assert requested and not named
        else:
            assert (response, reason, requested, named) == ("Success", "4", False, True)
    # the answer-and-hang-up (the last case) never reached the FastAGI script
    agi = (Path(TRACES) / "originate-outcomes.agi").read_text(errors="replace")
    successes = [cid for cid, f in facts.items() if f[0] == "Success"]
    assert len(successes) == 3
    assert sum(cid in agi for cid in successes) == 2


def real(reason: str, response: str = "Failure") -> tuple[str, str, bool, bool, bool]:
    """The facts of the trace's response with that Reason (one per failure reason; answers agree)."""
    return next(f for f in trace_facts().values() if f[0] == response and f[1] == reason)


FIXED = (
    ("+15550001", "busy"),
    ("+15550002", "failed"),
    ("+15550003", "no_answer"),
    ("+15550004", "human"),
    ("+15550005", "hangup"),
)


@pytest.fixture
async def client() -> AsyncIterator[AmiClient]:
    profile = OutboundProfile(fixed=FIXED, ring_min=0.5, ring_max=0.5, amd_error=0.0)
    sim = Simulator(SimConfig(ami_port=0, speed=10.0, seed=5, event_filter="all", outbound=profile))
    await sim.start()
    c = await AmiClient.connect(sim.ami_port)
    try:
        await c.login()
        yield c
    finally:
        await c.close()
        await sim.stop()


async def sim_facts(c: AmiClient, requested: str, channel_id: str) -> tuple[str, str, bool, bool, bool]:
    aid = c.send(
        "Originate",
        ("Channel", requested),
        ("Context", "cc-outbound"),
        ("Exten", "s"),
        ("Priority", "1"),
        ("Timeout", "3000"),
        ("Async", "true"),
        ("ChannelId", channel_id),
        ("CallerID", "<5550100>"),
        ("Variable", "CC_ATTEMPT=1"),
    )
    assert first(await c.response(aid), "Response") == "Success"
    m = await c.wait_for(
        lambda m: first(m, "Event") == "OriginateResponse" and first(m, "ActionID") == aid, limit=20
    )
    channel = first(m, "Channel") or ""
    return (
        first(m, "Response") or "",
        first(m, "Reason") or "",
        channel == requested,
        bool(CHANNEL_NAME.match(channel)),
        first(m, "Uniqueid") == channel_id,
    )


@pytest.mark.parametrize(
    ("requested", "response", "reason"),
    [
        ("PJSIP/+15550001@trunk", "Failure", "5"),  # busy
        ("PJSIP/+15550002@trunk", "Failure", "8"),  # congestion (carrier failure)
        ("PJSIP/+15550003@trunk", "Failure", "3"),  # no answer within Timeout
        ("Local/5550006@trunk-sim/n", "Failure", "0"),  # a missing extension
        ("PJSIP/+15550004@trunk", "Success", "4"),  # a person
        ("PJSIP/+15550005@trunk", "Success", "4"),  # answered and hung up at once
    ],
)
async def test_simulator_originate_response_matches_the_trace(
    client: AmiClient, requested: str, response: str, reason: str
) -> None:
    facts = await sim_facts(client, requested, f"cc-out-{reason}-{requested[-12:-6]}")
    assert facts == real(reason, response)
