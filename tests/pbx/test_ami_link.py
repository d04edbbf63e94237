"""AmiLink against the fake AMI server on real loopback TCP."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from callcenter.domain.errors import AmiActionError, AmiActionTimeout, AmiLoginFailed, PbxUnavailable
from callcenter.domain.events import LinkDown, LinkUp, PbxEvent, ResyncComplete
from callcenter.pbx.ami import AmiLink
from callcenter.pbx.message import AmiMessage
from tests.support.ami_server import FakeAmiConnection, FakeAmiServer, core_show_channel, frame

Item = AmiMessage | PbxEvent


class Sink:
    def __init__(self) -> None:
        self.items: list[Item] = []

    def __call__(self, item: Item) -> None:
        self.items.append(item)

    def events(self, name: str | None = None) -> list[AmiMessage]:
        return [i for i in self.items if isinstance(i, AmiMessage) and (name is None or i.event == name)]

    def of(self, cls: type[PbxEvent]) -> list[Any]:
        return [i for i in self.items if isinstance(i, cls)]

    def kinds(self) -> list[str]:
        return [i.event or "?" if isinstance(i, AmiMessage) else type(i).__name__ for i in self.items]

    async def wait(self, predicate: Callable[[], bool], within: float = 5.0) -> None:
        deadline = asyncio.get_running_loop().time() + within
        while not predicate():
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"not met within {within}s; got {self.kinds()}")
            await asyncio.sleep(0.005)


@pytest.fixture
async def server() -> AsyncIterator[FakeAmiServer]:
    srv = FakeAmiServer(
        channels=[
            core_show_channel("1795439025.0", "Local/idle@customer-sim-00000000;1"),
            core_show_channel("1795439025.1", "Local/idle@customer-sim-00000000;2", linkedid="1795439025.0"),
        ]
    )
    await srv.start()
    yield srv
    await srv.close()


@pytest.fixture
def sink() -> Sink:
    return Sink()


async def started(link: AmiLink) -> AmiLink:
    await link.start()
    await link.wait_ready(5)
    return link


# --- login, LinkUp, resync ----------------------------------------------------------------------------


async def test_login_linkup_resync_in_order(server: FakeAmiServer, sink: Sink) -> None:
    link = await started(AmiLink(server.settings(), sink))
    try:
        await sink.wait(lambda: bool(sink.of(ResyncComplete)))
        assert sink.kinds()[:5] == [
            "LinkUp",
            "FullyBooted",
            "CoreShowChannel",
            "CoreShowChannel",
            "ResyncComplete",
        ]
        assert sink.of(ResyncComplete)[0].live_uniqueids == {"1795439025.0", "1795439025.1"}
        item = sink.events("CoreShowChannel")[0]
        assert item.get_all("ChanVariable") == ["CC_CALLID=1795439025.0", "IVR_CHOICE="]
        assert link.connected and link.status()["state"] == "up"
        assert link.status()["protocol_version"] == "11.0.0"
        login = server.actions_named("Login")[0]
        assert login["Secret"] == "callcenter" and login["ActionID"].startswith("cc-")
    finally:
        await link.close()
    assert isinstance(sink.items[-1], LinkDown)
    assert server.actions_named("Logoff"), "close() logs off"


async def test_queue_status_resync_when_observing_queues(sink: Sink) -> None:
    qs = [
        [("Event", "QueueParams"), ("Queue", "support"), ("Strategy", "rrmemory")],
        [("Event", "QueueMember"), ("Queue", "support"), ("Name", "Agent 1001"), ("Paused", "0")],
    ]
    async with FakeAmiServer(queue_status=qs, channels=[core_show_channel("9.1", "Local/a-1;1")]) as srv:
        link = await started(AmiLink(srv.settings(), sink, observe_queues=True))
        try:
            await sink.wait(lambda: bool(sink.of(ResyncComplete)))
        finally:
            await link.close()
    assert sink.kinds()[:6] == [
        "LinkUp",
        "FullyBooted",
        "QueueParams",
        "QueueMember",
        "CoreShowChannel",
        "ResyncComplete",
    ]
    assert sink.events("QueueMember")[0]["Name"] == "Agent 1001"


# --- actions ------------------------------------------------------------------------------------------


async def test_actions_responses_errors_and_lists(server: FakeAmiServer, sink: Sink) -> None:
    link = await started(AmiLink(server.settings(), sink))
    try:
        pong = await link.send_action("Ping")
        assert pong["Ping"] == "Pong" and pong["Response"] == "Success"
        with pytest.raises(AmiActionError, match="Invalid/unknown command: Nonsense") as info:
            await link.send_action("Nonsense")
        assert info.value.message == "Invalid/unknown command: Nonsense"
        listed = await link.send_action("CoreShowChannels")
        assert listed["response"]["EventList"] == "start"
        assert [e["Uniqueid"] for e in listed["events"]] == ["1795439025.0", "1795439025.1"]
        assert listed["events"][0]["ChanVariable"] == ["CC_CALLID=1795439025.0", "IVR_CHOICE="]
        assert listed["complete"]["ListItems"] == "2"
        rtt = await link.ping()
        assert 0 <= rtt < 1 and link.status()["last_ping_rtt"] == rtt
    finally:
        await link.close()


async def test_originate_sends_repeated_variable_lines(server: FakeAmiServer, sink: Sink) -> None:
    server.on_action(
        "Originate",
        lambda c, m: frame(
            ("Response", "Success"), ("ActionID", m["ActionID"]), ("Message", "Originate successfully queued")
        ),
    )
    server.on_action("Hangup", lambda c, m: frame(("Response", "Success"), ("ActionID", m["ActionID"])))
    server.on_action("Redirect", lambda c, m: frame(("Response", "Success"), ("ActionID", m["ActionID"])))
    link = await started(AmiLink(server.settings(), sink))
    try:
        aid = await link.originate(
            "Local/8002@incoming/n",
            context="customer-sim",
            exten="caller",
            caller_id='"Customer One" <5551234>',
            variables={"CUST_WAIT": "3", "CUST_DTMF": "2"},
        )
        await link.hangup("Local/1001@agents-00000001;1", cause=16)
        await link.redirect("Local/1001@agents-00000001;1", "transfer", "1002")
        await link.send_action("Redirect", {"Channel": "X", "Variable": ["A=1", "B=2"]}, timeout=1)
    finally:
        await link.close()
    conn = server.connections[0]
    raw = next(r for r in conn.raw_actions if r.startswith(b"Action: Originate"))
    assert b"Variable: CUST_WAIT=3\r\nVariable: CUST_DTMF=2\r\n" in raw
    assert f"ActionID: {aid}\r\n".encode() in raw and b"Async: true\r\n" in raw
    hangup = server.actions_named("Hangup")[0]
    assert hangup["Cause"] == "16"
    assert server.actions_named("Redirect")[1].get_all("Variable") == ["A=1", "B=2"]


async def test_action_timeout_default_and_per_call(server: FakeAmiServer, sink: Sink) -> None:
    server.on_action("Slow", lambda c, m: None)  # never answers
    link = await started(AmiLink(server.settings(ami_action_timeout=0.2), sink))
    try:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        with pytest.raises(AmiActionTimeout, match="Slow"):
            await link.send_action("Slow")
        assert 0.15 < loop.time() - t0 < 1.0
        t0 = loop.time()
        with pytest.raises(AmiActionTimeout):
            await link.send_action("Slow", timeout=0.05)
        assert loop.time() - t0 < 0.15
        assert link.connected  # a timed-out action does not kill the link
        assert (await link.send_action("Ping"))["Ping"] == "Pong"
    finally:
        await link.close()


async def test_actions_while_disconnected_raise_pbx_unavailable(sink: Sink) -> None:
    link = AmiLink(FakeAmiServer().settings(ami_port=1), sink)
    with pytest.raises(PbxUnavailable):
        await link.send_action("Ping")
    with pytest.raises(PbxUnavailable):
        await link.ping()


async def test_pending_action_fails_when_connection_drops(server: FakeAmiServer, sink: Sink) -> None:
    async def drop(conn: FakeAmiConnection, msg: AmiMessage) -> None:
        conn.reset()

    server.on_action("Drop", drop)
    link = await started(AmiLink(server.settings(ami_action_timeout=5), sink))
    try:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        with pytest.raises(PbxUnavailable, match="connection lost"):
            await link.send_action("Drop")
        assert loop.time() - t0 < 1
    finally:
        await link.close()


# --- 4. login failure ---------------------------------------------------------------------------------


async def test_wrong_secret_surfaces_and_keeps_retrying(
    server: FakeAmiServer, sink: Sink, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    link = AmiLink(server.settings(ami_secret="wrong-secret-xyz"), sink)
    await link.start()
    try:
        with pytest.raises(AmiLoginFailed, match="Authentication failed"):
            await link.wait_ready(5)
        assert link.status()["state"] == "login_failed"

        def refused() -> int:
            return sum(r.levelno == logging.ERROR and "refused" in r.getMessage() for r in caplog.records)

        await server.wait_for(lambda: refused() >= 2)  # an ERROR line on every failed attempt
        assert link.status()["state"] == "login_failed"
        # the admin fixes the secret on the PBX side: no restart needed
        server.secret = "wrong-secret-xyz"
        await server.wait_logins(1)
        await sink.wait(lambda: link.state == "up")
        assert link.status()["last_error"] is None
    finally:
        await link.close()
    assert "wrong-secret-xyz" not in caplog.text, "the secret is never logged"


# --- 3. watchdog --------------------------------------------------------------------------------------


async def test_silent_peer_is_detected_by_ping_and_reconnected(server: FakeAmiServer, sink: Sink) -> None:
    link = await started(AmiLink(server.settings(ami_ping_interval=0.05, ami_ping_timeout=0.1), sink))
    try:
        await server.wait_for(lambda: len(server.actions_named("Ping")) >= 2)
        assert link.status()["last_ping_rtt"] is not None
        server.current.go_silent()  # Asterisk deadlocked, socket still open
        await server.wait_logins(2)
        await sink.wait(lambda: link.state == "up" and len(sink.of(LinkUp)) == 2)
        down = sink.of(LinkDown)
        assert len(down) == 1 and "Ping" in down[0].reason
        assert link.status()["reconnects"] == 1
    finally:
        await link.close()


# --- 5. reconnect -------------------------------------------------------------------------------------


async def test_reconnect_after_eof_with_resync(server: FakeAmiServer, sink: Sink) -> None:
    link = await started(AmiLink(server.settings(), sink))
    try:
        await sink.wait(lambda: len(sink.of(ResyncComplete)) == 1)
        await server.current.close()
        await server.wait_logins(2)
        await sink.wait(lambda: len(sink.of(ResyncComplete)) == 2)
        kinds = [k for k in sink.kinds() if k in ("LinkUp", "LinkDown", "ResyncComplete")]
        assert kinds == ["LinkUp", "ResyncComplete", "LinkDown", "LinkUp", "ResyncComplete"]
        assert sink.of(LinkDown)[0].reason == "EOF"
    finally:
        await link.close()


async def test_reconnect_after_shutdown_event(server: FakeAmiServer, sink: Sink) -> None:
    link = await started(AmiLink(server.settings(), sink))
    try:
        await server.current.shutdown_event(close=False)  # we close on Shutdown, without waiting for EOF
        await server.wait_logins(2)
        await sink.wait(lambda: len(sink.of(LinkUp)) == 2)
        assert sink.events("Shutdown"), "the Shutdown event itself is delivered"
        assert "Shutdown" in sink.of(LinkDown)[0].reason
    finally:
        await link.close()


async def test_connection_refused_then_pbx_comes_up(sink: Sink) -> None:
    probe = FakeAmiServer()
    await probe.start()
    port = probe.port
    await probe.close()
    link = AmiLink(probe.settings(ami_port=port), sink)
    await link.start()
    try:
        with pytest.raises(PbxUnavailable, match="not ready"):
            await link.wait_ready(0.2)
        assert link.status()["state"] in ("down", "connecting")
        assert link.status()["connect_attempts"] >= 2
        async with FakeAmiServer(port=port) as srv:
            await link.wait_ready(5)
            assert srv.logins == 1
    finally:
        await link.close()


async def test_reset_before_banner_is_retried(sink: Sink) -> None:
    async with FakeAmiServer(reset_before_banner=2) as srv:
        link = AmiLink(srv.settings(), sink)
        await link.start()
        try:
            await link.wait_ready(5)
            assert srv.resets == 2 and srv.accepted == 3
            assert len(sink.of(LinkUp)) == 1 and not sink.of(LinkDown)
        finally:
            await link.close()


async def test_no_banner_within_connect_timeout_is_a_failure(sink: Sink) -> None:
    async with FakeAmiServer(no_banner=True) as srv:
        link = AmiLink(srv.settings(ami_connect_timeout=0.1), sink)
        await link.start()
        try:
            await srv.wait_accepted(1)
            with pytest.raises(PbxUnavailable, match="banner"):
                await link.wait_ready(0.15)
            srv.no_banner = False
            await link.wait_ready(5)
            assert srv.accepted >= 2
        finally:
            await link.close()


def test_backoff_is_capped_exponential_with_jitter(sink: Sink) -> None:
    link = AmiLink(FakeAmiServer().settings(ami_reconnect_min=0.5, ami_reconnect_max=30.0), sink)
    first = [link._backoff(0) for _ in range(50)]
    assert all(0.5 <= d <= 0.625 for d in first)
    fourth = [link._backoff(3) for _ in range(200)]
    assert all(3.0 <= d <= 5.0 for d in fourth) and len(set(fourth)) > 1
    assert all(22.5 <= link._backoff(20) <= 30.0 for _ in range(50))


# --- 2. handler errors and overflow -------------------------------------------------------------------


async def test_handler_exception_is_logged_with_linkedid_and_link_stays_up(
    server: FakeAmiServer, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[str] = []

    def handler(item: Item) -> None:
        if isinstance(item, AmiMessage):
            if item.event == "Boom":
                raise ValueError("translator bug")
            seen.append(item.event or "")

    link = await started(AmiLink(server.settings(), handler))
    try:
        await server.current.send_raw(frame(("Event", "Boom"), ("Linkedid", "1795439025.42")))
        await server.current.send_event("After", Linkedid="1795439025.42")
        await server.wait_for(lambda: "After" in seen)
        assert link.status()["handler_errors"] == 1
        assert link.connected and server.accepted == 1
        assert "1795439025.42" in caplog.text and "translator bug" in caplog.text
    finally:
        await link.close()


async def test_queue_overflow_is_counted_and_triggers_resync(server: FakeAmiServer) -> None:
    seen: list[Item] = []

    def handler(item: Item) -> None:
        seen.append(item)

    link = await started(AmiLink(server.settings(ami_event_queue=100), handler))
    try:
        await server.wait_for(lambda: any(isinstance(i, ResyncComplete) for i in seen))
        burst = b"".join(frame(("Event", "Newexten"), ("Uniqueid", f"1.{n}")) for n in range(300))
        await server.current.send_raw(burst)  # one read: 300 events, the queue holds 100
        await server.wait_for(lambda: sum(isinstance(i, ResyncComplete) for i in seen) == 2)
        status = link.status()
        assert status["queue_overflows"] == 1
        assert status["events_dropped"] > 0
        delivered = [i for i in seen if isinstance(i, AmiMessage) and i.event == "Newexten"]
        assert len(delivered) + status["events_dropped"] == 300
        assert len(server.actions_named("CoreShowChannels")) == 2
        # after the resync the stream flows again
        await server.current.send_event("Later")
        await server.wait_for(lambda: any(isinstance(i, AmiMessage) and i.event == "Later" for i in seen))
        assert link.connected
    finally:
        await link.close()


# --- lifecycle ----------------------------------------------------------------------------------------


async def test_close_leaves_no_tasks_and_link_events_in_order(server: FakeAmiServer, sink: Sink) -> None:
    before = asyncio.all_tasks()
    link = await started(AmiLink(server.settings(ami_ping_interval=0.05), sink))
    await sink.wait(lambda: bool(sink.of(ResyncComplete)))
    await link.close()
    await link.close()  # idempotent
    assert asyncio.all_tasks() - before == set()
    assert link.status()["state"] == "closed" and not link.connected
    with pytest.raises(PbxUnavailable):
        await link.send_action("Ping")
    with pytest.raises(PbxUnavailable, match="closed"):
        await link.wait_ready(1)


async def test_close_while_pbx_unreachable(sink: Sink) -> None:
    before = asyncio.all_tasks()
    link = AmiLink(FakeAmiServer().settings(ami_port=1), sink)
    await link.start()
    await asyncio.sleep(0.05)
    await link.close()
    assert asyncio.all_tasks() - before == set()
    assert not sink.of(LinkDown)
