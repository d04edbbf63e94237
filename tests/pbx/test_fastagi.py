"""FastAGI server robustness: one bad peer costs one session, never the process; the error boundary sends
the call to the failsafe context; timeouts on every command; prompt close when the script ends."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from callcenter.domain.errors import AgiError, AgiHangup
from callcenter.pbx.fastagi import AgiHandler, FastAgiConfig, FastAgiServer, quote
from callcenter.ports import AgiChannel

ENV = (
    "agi_network: yes\nagi_network_script: ivr?flow=main&linkedid=1700000000.1\n"
    "agi_request: agi://127.0.0.1/ivr?flow=main&linkedid=1700000000.1\n"
    "agi_channel: PJSIP/trunk-00000001\nagi_language: en\nagi_type: PJSIP\nagi_uniqueid: 1700000000.2\n"
    "agi_version: 22.10.1\nagi_callerid: 5551234\nagi_calleridname: Someone\nagi_callingpres: 0\n"
    "agi_callingani2: 0\nagi_callington: 0\nagi_callingtns: 0\nagi_dnid: unknown\nagi_rdnis: unknown\n"
    "agi_context: incoming\nagi_extension: 8002\nagi_priority: 4\nagi_enhanced: 0.0\nagi_accountcode: \n"
    "agi_threadid: 1397\nagi_arg_1: hello world\n\n"
)


class Peer:
    """A minimal Asterisk side: sends the environment, answers commands from a reply function."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.commands: list[str] = []

    async def serve(self, reply: Callable[[str], str | None], *, limit: float = 5.0) -> bool:
        """Answer until the server closes; returns True when it closed (EOF)."""
        while True:
            line = await asyncio.wait_for(self.reader.readline(), limit)
            if not line:
                self.close()
                return True
            command = line.decode().rstrip("\n")
            self.commands.append(command)
            answer = reply(command)
            if answer is not None:
                self.writer.write(answer.encode())
                await self.writer.drain()

    def close(self) -> None:
        self.writer.close()


def default_reply(command: str) -> str:
    if command.startswith("GET VARIABLE"):
        return "200 result=1 (x)\n"
    if command.startswith("GET DATA"):
        return "200 result=12\n"
    return "200 result=0\n"


@pytest.fixture
async def make_server() -> AsyncIterator[Callable[..., Awaitable[FastAgiServer]]]:
    servers: list[FastAgiServer] = []

    async def make(handler: AgiHandler | None, **config: float) -> FastAgiServer:
        server = FastAgiServer(
            lambda script: handler if script == "ivr" else None,
            FastAgiConfig(port=0, **config),  # type: ignore[arg-type]
        )
        await server.start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        await server.close(grace=0.5)
    for writer in _WRITERS:
        writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await writer.wait_closed()
    _WRITERS.clear()


_WRITERS: list[asyncio.StreamWriter] = []


async def open_raw(server: FastAgiServer) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    _WRITERS.append(writer)
    return reader, writer


async def connect(server: FastAgiServer, env: str = ENV) -> Peer:
    reader, writer = await open_raw(server)
    writer.write(env.encode())
    await writer.drain()
    return Peer(reader, writer)


async def until(predicate: Callable[[], bool], within: float = 3.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def test_env_routing_and_normal_end(make_server: Callable[..., Awaitable[FastAgiServer]]) -> None:
    got: dict[str, object] = {}

    async def handler(channel: AgiChannel) -> None:
        got["env"] = dict(channel.env)
        got["data"] = await channel.get_data("cc-main-menu", 5000, 1)
        await channel.set_variable("IVR_CHOICE", 'a "quoted"\nvalue')

    server = await make_server(handler)
    peer = await connect(server)
    closed = await peer.serve(default_reply)
    assert closed  # the server closed the socket as soon as the script ended (fact 27)
    env = got["env"]
    assert isinstance(env, dict)
    assert env["script"] == "ivr" and env["query_flow"] == "main" and env["arg_1"] == "hello world"
    assert env["linkedid"] == "1700000000.1"  # from the query string: no GET VARIABLE needed
    assert env["uniqueid"] == "1700000000.2" and env["callerid"] == "5551234" and env["accountcode"] == ""
    assert peer.commands == [
        'GET DATA "cc-main-menu" 5000 1',
        'SET VARIABLE "IVR_CHOICE" "a \\"quoted\\" value"',  # no newline can inject a command
        'SET VARIABLE "CC_IVR_RESULT" "done"',
    ]
    assert server.stats.sessions_done == 1 and server.stats.failsafe == 0


async def test_linkedid_asked_when_not_in_the_url(
    make_server: Callable[..., Awaitable[FastAgiServer]],
) -> None:
    seen: list[str] = []

    async def handler(channel: AgiChannel) -> None:
        seen.append(channel.env["linkedid"])

    server = await make_server(handler)
    peer = await connect(server, ENV.replace("?flow=main&linkedid=1700000000.1", ""))
    await peer.serve(
        lambda c: "200 result=1 (1699999999.7)\n" if "CHANNEL(linkedid)" in c else "200 result=1\n"
    )
    assert peer.commands[0] == 'GET VARIABLE "CHANNEL(linkedid)"' and seen == ["1699999999.7"]


async def test_handler_error_goes_to_failsafe_and_logs_linkedid(
    make_server: Callable[..., Awaitable[FastAgiServer]], caplog: pytest.LogCaptureFixture
) -> None:
    async def handler(channel: AgiChannel) -> None:
        await channel.answer()
        raise RuntimeError("flow bug")

    server = await make_server(handler)
    peer = await connect(server)
    with caplog.at_level(logging.ERROR, logger="callcenter.pbx.fastagi"):
        await peer.serve(default_reply)
    assert peer.commands == [
        "ANSWER",
        'SET VARIABLE "CC_IVR_RESULT" "error"',
        "SET CONTEXT cc-failsafe",
        "SET EXTENSION s",
        "SET PRIORITY 1",
    ]
    failed = [r for r in caplog.records if r.getMessage() == "FastAGI session failed"]
    assert failed and getattr(failed[0], "linkedid", None) == "1700000000.1" and failed[0].exc_info
    assert server.stats.handler_errors == 1 and server.stats.failsafe == 1


async def test_unknown_script_goes_to_failsafe(make_server: Callable[..., Awaitable[FastAgiServer]]) -> None:
    server = await make_server(None)
    peer = await connect(server, ENV.replace("ivr?flow", "nosuch?flow"))
    await peer.serve(default_reply)
    assert peer.commands[:2] == ['SET VARIABLE "CC_IVR_RESULT" "error"', "SET CONTEXT cc-failsafe"]
    assert server.stats.unknown_scripts == 1


async def test_hangup_line_eof_and_511(make_server: Callable[..., Awaitable[FastAgiServer]]) -> None:
    results: list[str] = []

    async def handler(channel: AgiChannel) -> None:
        reply = await channel.exec("Dial", "PJSIP/1001,20")
        results.append(f"dial {reply.result} hung_up={channel.hung_up}")
        results.append(f"var {await channel.get_variable('DIALSTATUS')} hung_up={channel.hung_up}")
        try:
            await channel.stream_file("goodbye")
        except AgiHangup:
            results.append("stream refused locally")
        await channel.verbose("still here")  # allowed on a dead channel (fact 26)
        results.append("verbose ok")
        try:
            await channel.command("SET MUSIC ON default")
        except AgiHangup:
            results.append("set music refused")

    def reply(command: str) -> str:
        if command.startswith("EXEC Dial"):
            return "200 result=-1\n"
        if command.startswith("GET VARIABLE"):
            return "HANGUP\n200 result=1 (ANSWER)\n"
        return "200 result=1\n"

    server = await make_server(handler)
    peer = await connect(server)
    await peer.serve(reply)
    assert results == [
        "dial -1 hung_up=False",  # -1 alone does not mean the caller is gone (fact 25)
        "var ANSWER hung_up=True",
        "stream refused locally",
        "verbose ok",
        "set music refused",
    ]
    assert not any(c.startswith("STREAM FILE") for c in peer.commands)
    assert 'SET VARIABLE "CC_IVR_RESULT" "done"' not in peer.commands  # the caller is gone: nothing to mark


async def test_511_marks_the_caller_gone(make_server: Callable[..., Awaitable[FastAgiServer]]) -> None:
    outcome: list[str] = []

    async def handler(channel: AgiChannel) -> None:
        try:
            await channel.wait_for_digit(1000)
        except AgiHangup:
            outcome.append(f"hangup {channel.hung_up}")

    server = await make_server(handler)
    peer = await connect(server)
    await peer.serve(lambda c: "511 Command Not Permitted on a dead channel or intercept routine\n")
    assert outcome == ["hangup True"]


async def test_eof_in_the_middle_of_a_command(make_server: Callable[..., Awaitable[FastAgiServer]]) -> None:
    outcome: list[str] = []
    done = asyncio.Event()

    async def handler(channel: AgiChannel) -> None:
        try:
            await channel.get_data("cc-main-menu", 5000, 1)
        except AgiHangup:
            outcome.append("hangup")
        try:
            await channel.set_variable("X", "1")  # even "dead channel" commands fail after EOF
        except AgiHangup:
            outcome.append("closed")
        done.set()

    server = await make_server(handler)
    peer = await connect(server)
    assert await peer.reader.readline()  # GET DATA
    peer.close()
    await asyncio.wait_for(done.wait(), 3)
    assert outcome == ["hangup", "closed"]
    await until(lambda: server.stats.sessions_active == 0)


async def test_command_timeout_ends_the_session(make_server: Callable[..., Awaitable[FastAgiServer]]) -> None:
    errors: list[str] = []

    async def handler(channel: AgiChannel) -> None:
        try:
            await channel.command("NOOP", timeout=0.2)
        except AgiError as exc:
            errors.append(str(exc))
            raise

    server = await make_server(handler)
    peer = await connect(server)
    closed = await peer.serve(lambda c: None)  # never answers
    assert closed and errors and "in time" in errors[0]
    assert server.stats.command_timeouts == 1
    assert peer.commands == ["NOOP"]  # the stream is out of step: no failsafe commands are trusted to it


async def test_multiline_520(make_server: Callable[..., Awaitable[FastAgiServer]]) -> None:
    replies: list[int] = []

    async def handler(channel: AgiChannel) -> None:
        replies.append((await channel.command("STREAM FILE")).code)
        replies.append((await channel.command("NOOP")).code)

    server = await make_server(handler)
    peer = await connect(server)

    def reply(command: str) -> str:
        if command == "STREAM FILE":
            return (
                "520-Invalid command syntax.  Proper usage follows:\n"
                " Usage: STREAM FILE\n520 End of proper usage.\n"
            )
        return "200 result=0\n"

    await peer.serve(reply)
    assert replies == [520, 200]


async def test_bad_peers_cost_one_session_each(make_server: Callable[..., Awaitable[FastAgiServer]]) -> None:
    served: list[str] = []

    async def handler(channel: AgiChannel) -> None:
        served.append(channel.uniqueid)
        await channel.answer()

    server = await make_server(handler, env_timeout=0.3, max_line=1024)
    # a good call in progress meanwhile must not notice anything
    slow = await connect(server)
    # 1. port probes
    for _ in range(5):
        _, w = await open_raw(server)
        w.close()
    # 2. half-open peers: connect and say nothing / stop in the middle of the block
    silent = [await open_raw(server) for _ in range(3)]
    _, partial = await open_raw(server)
    partial.write(ENV[:100].encode())
    # 3. garbage: HTTP, binary, an over-long line, a block that closes half-way
    for junk in (
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        bytes(range(256)) * 4,
        b"agi_x: " + b"y" * 5000 + b"\n",
    ):
        r, w = await open_raw(server)
        w.write(junk)
        await w.drain()
        assert await asyncio.wait_for(r.read(), 2) == b""  # closed by the server
        w.close()
    _, cut = await open_raw(server)
    cut.write(ENV[:200].encode())
    await cut.drain()
    cut.close()
    await until(lambda: server.stats.env_timeouts == 4, 3)
    for _, w in silent:
        w.close()
    partial.close()
    # the good call still works, and new ones too
    assert await slow.serve(default_reply)
    again = await connect(server)
    assert await again.serve(default_reply)
    assert served == ["1700000000.2", "1700000000.2"]
    stats = server.stats
    assert stats.probes >= 5 and stats.bad_env >= 4 and stats.env_timeouts == 4
    await until(lambda: server.stats.sessions_active == 0)
    assert server.listening


async def test_shutdown_sends_live_sessions_to_failsafe(
    make_server: Callable[..., Awaitable[FastAgiServer]],
) -> None:
    started = asyncio.Event()

    async def handler(channel: AgiChannel) -> None:
        started.set()
        await channel.exec("MusicOnHold", "default,3600")

    server = await make_server(handler, failsafe_timeout=1.0)
    peer = await connect(server)
    assert (await peer.reader.readline()).startswith(b"EXEC MusicOnHold")
    await started.wait()
    closing = asyncio.create_task(server.close(grace=0.1))
    await asyncio.sleep(0.3)
    # Asterisk ends the long command (the service went away) and then runs what we send
    peer.writer.write(b"200 result=0\n")
    assert await peer.serve(default_reply)
    await closing
    assert peer.commands[:2] == ['SET VARIABLE "CC_IVR_RESULT" "error"', "SET CONTEXT cc-failsafe"]
    assert server.stats.failsafe == 1


def test_quote() -> None:
    assert quote("") == '""'
    assert quote('a"b\\c\r\nd') == '"a\\"b\\\\c  d"'
