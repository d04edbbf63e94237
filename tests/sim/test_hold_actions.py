"""The simulator's side of the console's hold and queue transfer, on the AMI wire: a dual Redirect into
``[cc-hold]`` / ``[cc-hold-agent]`` (MusicOnHoldStart in the hold context), the Bridge action that pulls
both out of their applications (MusicOnHoldStop, BridgeCreate, BridgeEnter x2), the responses and errors
manager.c / features.c give, and what follows a hang-up in that bridge (the other side goes on to the
next priority: Hangup)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from callcenter.sim import SimConfig, Simulator

from .amiclient import AmiClient, Message, first


@pytest.fixture
async def bridged() -> AsyncIterator[tuple[Simulator, AmiClient, str, str]]:
    """Customer → 8006 → Dial Local/1001@agents (trace agents), bridged. Yields (sim, client, customer
    channel, agent channel)."""
    sim = Simulator(SimConfig(ami_port=0, trace_agents=True, speed=10.0, seed=1, event_filter="all"))
    await sim.start()
    client = await AmiClient.connect(sim.ami_port)
    try:
        await client.login()
        queued = await client.action(
            "Originate",
            ("Channel", "Local/8006@incoming/n"),
            ("Context", "customer-sim"),
            ("Exten", "caller"),
            ("Priority", "1"),
            ("CallerID", '"Erin" <5550005>'),
            ("Async", "true"),
            ("Variable", "CUST_WAIT=0"),
            ("Variable", "CUST_HOLD=600"),
            ("Variable", "AGENT=1001"),
        )
        assert first(queued, "Response") == "Success"
        enters: list[Message] = []
        while len(enters) < 2:
            msg = await client.wait_for(
                lambda m: m[:1] == [("Event", "BridgeEnter")] and m not in enters, limit=10
            )
            enters.append(msg)
        names = [first(m, "Channel") or "" for m in enters]
        (agent,) = [n for n in names if n.startswith("Local/1001@agents-")]
        (customer,) = [n for n in names if n.startswith("Local/8006@incoming-")]
        yield sim, client, customer, agent
    finally:
        await client.close()
        await sim.stop()


def events_after(client: AmiClient, start: int, name: str) -> list[Message]:
    return [m for m in client.msgs[start:] if m[:1] == [("Event", name)]]


async def test_dual_redirect_to_hold_then_bridge_back_and_hang_up(
    bridged: tuple[Simulator, AmiClient, str, str],
) -> None:
    sim, client, customer, agent = bridged
    missing = await client.action(
        "Redirect",
        ("Channel", customer),
        ("Context", "cc-hold"),
        ("Exten", "s"),
        ("Priority", "1"),
        ("ExtraChannel", "Local/9999@agents-000000ff;1"),
    )
    assert (first(missing, "Response"), first(missing, "Message")) == (
        "Error",
        "ExtraChannel does not exist: Local/9999@agents-000000ff;1",
    )
    mark = len(client.msgs)
    ok = await client.action(
        "Redirect",
        ("Channel", customer),
        ("Context", "cc-hold"),
        ("Exten", "s"),
        ("Priority", "1"),
        ("ExtraChannel", agent),
        ("ExtraContext", "cc-hold-agent"),
        ("ExtraExten", "s"),
        ("ExtraPriority", "1"),
    )
    assert (first(ok, "Response"), first(ok, "Message")) == ("Success", "Dual Redirect successful")
    moh = await client.event("MusicOnHoldStart", Channel=customer)
    assert (first(moh, "Context"), first(moh, "Exten"), first(moh, "Class")) == ("cc-hold", "s", "default")
    left = {first(m, "Channel") for m in events_after(client, mark, "BridgeLeave")}
    assert left == {customer, agent}
    assert sim.pbx is not None
    assert sim.pbx.channels[agent].context == "cc-hold-agent"
    await asyncio.sleep(0.05)
    assert sim.pbx.channels[agent].bridge is None and not sim.pbx.channels[agent].gone

    no_two = await client.action("Bridge", ("Channel1", customer))
    assert first(no_two, "Message") == "Missing channel parameter in request"
    bad = await client.action("Bridge", ("Channel1", "Local/nope-1;2"), ("Channel2", agent))
    assert first(bad, "Message") == "Channel1 does not exist: Local/nope-1;2"
    mark = len(client.msgs)
    joined = await client.action("Bridge", ("Channel1", customer), ("Channel2", agent), ("Tone", "no"))
    assert (first(joined, "Response"), first(joined, "Message")) == ("Success", "Channels have been bridged")
    await client.event("MusicOnHoldStop", Channel=customer)
    await client.wait_for(
        lambda m: m[:1] == [("Event", "BridgeEnter")] and first(m, "Channel") == agent, start=mark
    )
    entered = [m for m in events_after(client, mark, "BridgeEnter")]
    assert {first(m, "Channel") for m in entered} == {customer, agent}
    assert len({first(m, "BridgeUniqueid") for m in entered}) == 1
    assert events_after(client, mark, "BridgeCreate")

    hung = await client.action("Hangup", ("Channel", agent))
    assert first(hung, "Message") == "Channel Hungup"
    # the basic bridge dissolves; the customer's side goes on in [cc-hold] (Hangup) and ends
    gone = await client.event("Hangup", Channel=customer)
    assert first(gone, "Context") == "cc-hold"
    await client.event("Hangup", Channel=agent)


async def test_agi_sees_a_redirect_as_hangup() -> None:
    """An AMI Redirect of a channel inside AGI(): the FastAGI server gets ``HANGUP`` (async goto), live
    commands are refused with 511, and the dialplan continues at the goto once the server closes."""
    got: list[bytes] = []
    closed = asyncio.Event()
    proceed = asyncio.Event()

    async def server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while (await reader.readline()).strip():
            pass  # the environment block
        await proceed.wait()
        got.append(await reader.readline())  # the asynchronous HANGUP line
        writer.write(b'STREAM FILE hello-world ""\n')
        await writer.drain()
        got.append(await reader.readline())
        writer.close()
        closed.set()

    agi = await asyncio.start_server(server, "127.0.0.1", 0)
    port = agi.sockets[0].getsockname()[1]
    sim = Simulator(SimConfig(ami_port=0, speed=10.0, seed=2, agi_port=port, mode="agi", event_filter="all"))
    await sim.start()
    client = await AmiClient.connect(sim.ami_port)
    try:
        await client.login()
        await client.action(
            "Originate",
            ("Channel", "Local/8002@incoming/n"),
            ("Context", "customer-sim"),
            ("Exten", "caller"),
            ("Priority", "1"),
            ("Async", "true"),
            ("Variable", "CUST_WAIT=0"),
            ("Variable", "CUST_HOLD=600"),
        )
        step = await client.event("Newexten", Application="AGI")
        channel = first(step, "Channel") or ""
        ok = await client.action(
            "Redirect", ("Channel", channel), ("Context", "cc-hold"), ("Exten", "s"), ("Priority", "1")
        )
        assert first(ok, "Message") == "Redirect successful"
        proceed.set()
        await asyncio.wait_for(closed.wait(), 5)
        assert got[0] == b"HANGUP\n"
        assert got[1].startswith(b"511 ")
        moh = await client.event("MusicOnHoldStart", Channel=channel)
        assert first(moh, "Context") == "cc-hold"
    finally:
        await client.close()
        await sim.stop()
        agi.close()
        await agi.wait_closed()
