"""The AMI wire format against login-and-actions.ami, byte for byte where deterministic."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import pytest

from callcenter.sim import SimConfig, Simulator

from .amiclient import AmiClient, first
from .replay import load, replay, rx_messages

TRACE = "login-and-actions"


def trace_by_aid(conn: str) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for raw in rx_messages(load(TRACE + ".ami"), conn):
        if raw.startswith(b"Response: "):
            m = re.search(rb"^ActionID: ([^\r\n]*)", raw, re.M)
            out[m.group(1).decode() if m else ""] = raw
    return out


def tx_payloads(conn: str) -> list[bytes]:
    return [r.payload for r in load(TRACE + ".ami") if r.conn == conn and r.kind == "TX"]


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(
        SimConfig(ami_port=0, trace_agents=True, speed=20, auth_fail_delay=0.05, event_filter="all")
    ) as s:
        yield s


async def test_login_session_responses_are_byte_identical() -> None:
    msgs, _, client = await replay(TRACE, speed=40)
    assert client.banner == b"Asterisk Call Manager/11.0.0\r\n"
    expected = trace_by_aid("ami1")
    got: dict[str, bytes] = {}
    for raw in client.raw:
        if raw.startswith(b"Response: "):
            m = re.search(rb"^ActionID: ([^\r\n]*)", raw, re.M)
            got[m.group(1).decode() if m else ""] = raw
    mask = re.compile(rb"Timestamp: \d+\.\d{6}")
    deterministic = [
        "la-login",
        "la-001",
        "id with spaces: and colon 42",
        "",
        "la-002",
        "la-004",
        "la-005",
        "la-010",
        "la-012",
        "la-017",
        "la-018",
        "la-019",
        "la-021",
    ]
    for aid in deterministic:
        assert mask.sub(b"Timestamp: T", got[aid]) == mask.sub(b"Timestamp: T", expected[aid]), aid
    # Ping without ActionID has no ActionID line at all
    assert b"ActionID" not in got[""]
    # FullyBooted right after the login response
    i = client.raw.index(got["la-login"])
    assert re.fullmatch(
        rb"Event: FullyBooted\r\nPrivilege: system,all\r\n"
        rb"Uptime: \d+\r\nLastReload: \d+\r\nStatus: Fully Booted",
        client.raw[i + 1],
    )
    # EventList framing with ListItems, even when 0
    trace_raw = rx_messages(load(TRACE + ".ami"), "ami1")
    empty = next(r for r in trace_raw if r.startswith(b"Event: CoreShowChannelsComplete") and b"la-004" in r)
    assert empty in client.raw
    two = next(r for r in client.raw if r.startswith(b"Event: CoreShowChannelsComplete") and b"la-006" in r)
    assert two.endswith(b"ListItems: 2")
    hung = next(r for r in client.raw if r.startswith(b"Event: ChannelsHungupListComplete"))
    assert (
        hung
        == b"Event: ChannelsHungupListComplete\r\nActionID: la-020\r\nEventList: Complete\r\nListItems: 2"
    )
    status = [r for r in client.raw if r.startswith(b"Event: Status\r\n") and r.endswith(b"ActionID: la-008")]
    assert (
        len(status) == 1 and b"Variable: CC_CALLID=(null)\r\nVariable: CALLERID(num)=5550100\r\n" in status[0]
    )
    # the whole Status item has the trace's field order
    trace_status = next(r for r in trace_raw if r.startswith(b"Event: Status\r\n") and r.endswith(b"la-008"))
    keys = [line.split(b": ")[0] for line in trace_status.split(b"\r\n")]
    assert [line.split(b": ")[0] for line in status[0].split(b"\r\n")] == keys
    assert msgs


async def test_action_before_login_then_wrong_secret(sim: Simulator) -> None:
    expected = trace_by_aid("ami2")
    c = await AmiClient.connect(sim.ami_port)
    ping, login = tx_payloads("ami2")[:2]
    c.send_raw(ping)
    await c.response("bad-001")
    assert c.raw[0] == expected["bad-001"]
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    c.send_raw(login)
    await asyncio.wait_for(c.closed.wait(), 5)
    assert loop.time() - t0 >= 0.04  # the configured delay before the answer
    assert c.raw[-1] == expected["bad-login"]
    await c.close()


async def test_events_off_login_events_action_and_logoff(sim: Simulator) -> None:
    expected = trace_by_aid("ami3")
    c = await AmiClient.connect(sim.ami_port)
    for payload in tx_payloads("ami3"):
        c.send_raw(payload)
    await asyncio.wait_for(c.closed.wait(), 5)
    got = [r for r in c.raw]
    assert got == [
        expected[a] if a != "quiet-001" else got[1]
        for a in ("quiet-login", "quiet-001", "quiet-002", "quiet-003", "quiet-004")
    ]
    assert got[1].startswith(b"Response: Success\r\nActionID: quiet-001\r\nPing: Pong\r\nTimestamp: ")
    await c.close()


async def test_other_sessions_see_security_events(sim: Simulator) -> None:
    watcher = await AmiClient.connect(sim.ami_port)
    await watcher.login()
    bad = await AmiClient.connect(sim.ami_port)
    await bad.action("Ping")
    bad.send("Login", ("Username", "callcenter"), ("Secret", "nope"))
    await watcher.event("RequestNotAllowed")
    ev = await watcher.event("InvalidPassword")
    assert first(ev, "AccountID") == "callcenter" and first(ev, "Service") == "AMI"
    await asyncio.wait_for(bad.closed.wait(), 5)
    await bad.close()
    await watcher.close()


async def test_misc_actions(sim: Simulator) -> None:
    c = await AmiClient.connect(sim.ami_port)
    await c.login()
    r = await c.action("Command", ("Command", "core show channels"))
    assert first(r, "Message") == "Command output follows"
    assert ("Output", "0 active channels") in r
    r = await c.action("QueueStatus", ("Queue", "support"))
    done = await c.event("QueueStatusComplete")
    assert first(done, "ListItems") == "3"
    r = await c.action(
        "QueueAdd", ("Queue", "support"), ("Interface", "Local/1003@agents/n"), ("Paused", "true")
    )
    assert first(r, "Message") == "Added interface to queue"
    r = await c.action("QueueAdd", ("Queue", "support"), ("Interface", "Local/1003@agents/n"))
    assert first(r, "Message") == "Unable to add interface: Already there"
    await c.event("QueueMemberAdded")
    r = await c.action(
        "QueuePause", ("Interface", "Local/1001@agents/n"), ("Paused", "true"), ("Reason", "lunch")
    )
    assert first(r, "Message") == "Interface paused successfully"
    ev = await c.event("QueueMemberPause")
    assert first(ev, "PausedReason") == "lunch"
    r = await c.action("QueueRemove", ("Queue", "support"), ("Interface", "Local/1003@agents/n"))
    assert first(r, "Message") == "Removed interface from queue"
    r = await c.action("QueueRemove", ("Queue", "support"), ("Interface", "Local/1003@agents/n"))
    assert first(r, "Message") == "Unable to remove interface: Not there"
    r = await c.action(
        "Originate", ("Channel", "Local/9999@agents/n"), ("Application", "Wait"), ("Data", "3")
    )
    assert (first(r, "Response"), first(r, "Message")) == ("Error", "Originate failed")
    r = await c.action("UserEvent", ("UserEvent", "CtiTest"), ("Header1", "value one"))
    ev = await c.event("UserEvent")
    assert first(ev, "Header1") == "value one"
    r = await c.action("Hangup", ("Channel", "Local/nothing-00000000;1"))
    assert first(r, "Message") == "No such channel"
    await c.close()


async def test_shutdown_event_on_stop() -> None:
    s = Simulator(SimConfig(ami_port=0, speed=20, event_filter="all"))
    await s.start()
    c = await AmiClient.connect(s.ami_port)
    await c.login()
    await s.stop()
    await asyncio.wait_for(c.closed.wait(), 5)
    assert c.raw[-1] == b"Event: Shutdown\r\nPrivilege: system,all\r\nShutdown: Cleanly\r\nRestart: False"
    await c.close()
