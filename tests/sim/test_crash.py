"""``kill -9`` of the simulated PBX and its restart (fact 34): EOF on every AMI and FastAGI socket with
nothing more said, connections refused while down, and a fresh PBX afterwards (no channels, counters
from 0, FullyBooted on Login)."""

from __future__ import annotations

import asyncio

import pytest

from callcenter.sim import SimConfig, Simulator

from .amiclient import AmiClient, first


async def test_crash_then_restart() -> None:
    after_command: list[bytes] = []
    waiting = asyncio.Event()
    closed = asyncio.Event()

    async def fastagi(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while (await reader.readline()).strip():
            pass
        writer.write(b"ANSWER\n")
        await reader.readline()
        writer.write(b"WAIT FOR DIGIT 120000\n")
        await writer.drain()
        waiting.set()
        after_command.append(await reader.read(1000))  # b"": EOF, no reply, no HANGUP
        closed.set()
        writer.close()

    agi = await asyncio.start_server(fastagi, "127.0.0.1", 0)
    cfg = SimConfig(
        ami_port=0, mode="agi", agi_port=agi.sockets[0].getsockname()[1], speed=10.0, event_filter="all"
    )
    sim = Simulator(cfg)
    await sim.start()
    port = sim.ami_port
    client = await AmiClient.connect(port)
    try:
        await client.login()
        await client.action(
            "Originate",
            ("Channel", "Local/8002@incoming/n"),
            ("Context", "customer-sim"),
            ("Exten", "caller"),
            ("Async", "true"),
            ("Variable", "CUST_WAIT=0"),
            ("Variable", "CUST_HOLD=600"),
        )
        await asyncio.wait_for(waiting.wait(), 5)
        await client.event("AGIExecStart", Command="WAIT FOR DIGIT 120000")
        mark = len(client.msgs)
        await sim.crash()
        await asyncio.wait_for(client.closed.wait(), 5)
        await asyncio.wait_for(closed.wait(), 5)
        assert after_command == [b""]
        names = {first(m, "Event") for m in client.msgs[mark:]}
        assert not names & {"Shutdown", "Hangup", "SoftHangupRequest", "HangupRequest", "AGIExecEnd"}
        assert sim.down
        with pytest.raises(OSError):
            await asyncio.open_connection("127.0.0.1", port)

        await sim.restart(delay=0.05)
        assert not sim.down and sim.ami_port == port
        again = await AmiClient.connect(port)
        try:
            await again.login()
            booted = await again.event("FullyBooted")
            assert first(booted, "Uptime") == "0"
            listing = await again.action("CoreShowChannels")
            mark = again.msgs.index(listing)
            done = await again.wait_for(lambda m: first(m, "Event") == "CoreShowChannelsComplete", start=mark)
            assert first(done, "ListItems") == "0"
            status = await again.action("Status")
            mark = again.msgs.index(status)
            done = await again.wait_for(lambda m: first(m, "Event") == "StatusComplete", start=mark)
            assert first(done, "ListItems") == "0"
            await again.action(
                "Originate",
                ("Channel", "Local/8002@incoming/n"),
                ("Context", "customer-sim"),
                ("Exten", "caller"),
                ("Async", "true"),
            )
            new = await again.event("Newchannel")
            assert first(new, "Channel") == "Local/8002@incoming-00000000;1"
            assert (first(new, "Uniqueid") or "").endswith(".0")
        finally:
            await again.close()
    finally:
        await client.close()
        await sim.stop()
        agi.close()
        await agi.wait_closed()
