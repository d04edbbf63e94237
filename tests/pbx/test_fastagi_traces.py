"""Our FastAGI server against the real wire: every reply line of the recorded ``*.agi`` traces parses, and a
scripted client replays each recorded session (environment block in its recorded chunks, the recorded
reply bytes to each command, asynchronous ``HANGUP`` lines where Asterisk sent them)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from callcenter.domain.agi import AgiReply
from callcenter.domain.errors import AgiHangup
from callcenter.pbx.fastagi import FastAgiConfig, FastAgiServer, parse_env, parse_reply
from callcenter.ports import AgiChannel
from tests.support.traces import read_trace

AGI_TRACES = ("ivr-to-agent.agi", "agent-no-answer.agi", "caller-abandons.agi")


@dataclass
class Session:
    conn: str
    env_chunks: list[bytes] = field(default_factory=list)
    # (command sent by the recorder, the bytes Asterisk sent until the next command)
    exchanges: list[tuple[str, list[bytes]]] = field(default_factory=list)


def sessions(path: Path) -> list[Session]:
    out: dict[str, Session] = {}
    for rec in read_trace(path):
        if not rec.conn.startswith("agi"):
            continue
        s = out.setdefault(rec.conn, Session(rec.conn))
        if rec.kind == "RX":
            if s.exchanges:
                s.exchanges[-1][1].append(rec.payload)
            else:
                s.env_chunks.append(rec.payload)
        elif rec.kind == "TX":
            s.exchanges.append((rec.payload.decode().rstrip("\n"), []))
    return list(out.values())


@pytest.mark.parametrize("name", AGI_TRACES)
def test_every_recorded_reply_parses(traces_dir: Path, name: str) -> None:
    seen = 0
    for s in sessions(traces_dir / name):
        for command, chunks in s.exchanges:
            for line in b"".join(chunks).decode().splitlines():
                if line in ("HANGUP", ""):
                    continue
                reply = parse_reply(line)
                seen += 1
                assert reply.text == line
                if reply.code == 200:
                    assert line.startswith(f"200 result={reply.result}")
                    if "endpos=" in line:
                        assert reply.endpos is not None and reply.endpos >= 0
                if command.startswith("GET DATA") and reply.code == 200:
                    assert reply.timeout == line.endswith("(timeout)")
    assert seen > 10


def test_reply_forms_from_the_traces() -> None:
    assert parse_reply("200 result= (timeout)") == AgiReply(
        200, "", "timeout", None, True, "200 result= (timeout)"
    )
    assert parse_reply("200 result=49").digit == "1"
    assert parse_reply("200 result=2").result == "2"
    r = parse_reply("200 result=1 (1795439062.13)")
    assert (r.result, r.data) == ("1", "1795439062.13")
    assert parse_reply('200 result=1 ("Customer One" <5551234>)').data == '"Customer One" <5551234>'
    r = parse_reply("200 result=0 endpos=12736")
    assert (r.result_int, r.endpos, r.digit) == (0, 12736, None)
    assert parse_reply("200 result=-1 endpos=0").result == "-1"
    assert parse_reply("200 result=-2").result_int == -2
    assert parse_reply("200 result=0 (timeout) endpos=8000").timeout
    assert parse_reply("510 Invalid or unknown command").code == 510
    assert parse_reply("520 Invalid command syntax.  Proper usage not available.").code == 520
    assert parse_reply("511 Command Not Permitted on a dead channel or intercept routine").code == 511
    assert not parse_reply("510 Invalid or unknown command").ok


def test_environment_blocks_from_the_traces(traces_dir: Path) -> None:
    abandons = sessions(traces_dir / "caller-abandons.agi")
    env = parse_env(b"".join(abandons[1].env_chunks).decode().strip("\n").split("\n"))
    assert env["script"] == "ivr"
    assert env["network_script"] == "ivr?queue=support&lang=en"
    assert (env["query_queue"], env["query_lang"]) == ("support", "en")
    assert (env["arg_1"], env["arg_2"]) == ("first arg", "5554444")
    assert env["dnid"] == "unknown" and env["accountcode"] == ""
    first = sessions(traces_dir / "ivr-to-agent.agi")[0]
    assert len(first.env_chunks) == 2  # the block spans two reads (fact 22)
    env = parse_env(b"".join(first.env_chunks).decode().strip("\n").split("\n"))
    assert env["uniqueid"] and env["channel"].startswith("Local/") and env["extension"] == "8002"


class ReplayPeer:
    """Plays Asterisk for one recorded session against our server."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.skipped: list[str] = []
        self.matched = 0
        self.closed_promptly = False

    async def run(self, port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for chunk in self.session.env_chunks:  # the recorded chunking
            writer.write(chunk)
            await writer.drain()
            await asyncio.sleep(0.01)
        pending = list(self.session.exchanges)
        try:
            while True:
                line = await asyncio.wait_for(reader.readline(), 5)
                if not line:
                    self.closed_promptly = True
                    break
                command = line.decode().rstrip("\n")
                if command == 'GET VARIABLE "CHANNEL(linkedid)"':
                    writer.write(b"200 result=1 (1795439000.1)\n")
                    continue
                while pending and _normal(pending[0][0]) != _normal(command):
                    self.skipped.append(pending.pop(0)[0])
                assert pending, f"unexpected command {command!r}"
                _, chunks = pending.pop(0)
                self.matched += 1
                for chunk in chunks:
                    writer.write(chunk)
                    await writer.drain()
                    await asyncio.sleep(0.002)
        finally:
            writer.close()
        self.skipped += [p[0] for p in pending]  # trailing commands the server refused locally


def _normal(command: str) -> str:
    """Compare commands modulo our quoting of arguments (``"x"`` vs ``x``)."""
    return command.replace('"', "")


@pytest.mark.parametrize("name", AGI_TRACES)
async def test_replay_recorded_sessions_through_our_server(traces_dir: Path, name: str) -> None:
    for recorded in sessions(traces_dir / name):
        replies: list[tuple[str, AgiReply | str]] = []
        hung_up_seen: list[bool] = []

        async def handler(
            channel: AgiChannel,
            recorded: Session = recorded,
            replies: list[tuple[str, AgiReply | str]] = replies,
            hung_up_seen: list[bool] = hung_up_seen,
        ) -> None:
            for command, _ in recorded.exchanges:
                try:
                    reply = await channel.command(
                        _normal(command) if command.startswith("GET VARIABLE") else command
                    )
                    replies.append((command, reply))
                except AgiHangup as exc:
                    replies.append((command, f"hangup: {exc}"))
                hung_up_seen.append(channel.hung_up)

        server = FastAgiServer(lambda script: handler, FastAgiConfig(port=0, command_timeout=5))
        await server.start()
        peer = ReplayPeer(recorded)
        try:
            await asyncio.wait_for(peer.run(server.port), 20)
        finally:
            await server.close(grace=1)
        assert peer.closed_promptly, "the server must close the socket as soon as the script ends"
        # commands we did not send are exactly those Asterisk refuses on a dead channel (511)
        for skipped in peer.skipped:
            assert skipped.startswith(("STREAM FILE", "WAIT FOR DIGIT", "CHANNEL STATUS", "SET MUSIC")), (
                skipped
            )
        assert peer.matched + len(peer.skipped) == len(recorded.exchanges)
        for command, reply in replies:
            if isinstance(reply, AgiReply):
                assert reply.code in (200, 510, 520), (command, reply)
        # once the HANGUP line came, the channel stays hung up
        if True in hung_up_seen:
            first = hung_up_seen.index(True)
            assert all(hung_up_seen[first:])
        assert server.stats.handler_errors == 0


async def test_replay_knows_a_dead_channel_from_the_hangup_line(traces_dir: Path) -> None:
    """ivr-to-agent: EXEC Dial gives -1, then HANGUP arrives ahead of the DIALSTATUS reply (fact 24)."""
    recorded = sessions(traces_dir / "ivr-to-agent.agi")[0]
    seen: dict[str, object] = {}

    async def handler(channel: AgiChannel) -> None:
        await channel.answer()
        await channel.exec("Dial", "Local/1001@agents/n,20,U(mixmon)")
        seen["after_dial"] = channel.hung_up
        seen["dialstatus"] = await channel.get_variable("DIALSTATUS")
        seen["after_getvar"] = channel.hung_up
        with pytest.raises(AgiHangup):
            await channel.stream_file("goodbye")

    exchanges = [
        e
        for e in recorded.exchanges
        if e[0] in ("ANSWER", 'EXEC Dial "Local/1001@agents/n,20,U(mixmon)"', "GET VARIABLE DIALSTATUS")
    ]
    server = FastAgiServer(lambda script: handler, FastAgiConfig(port=0))
    await server.start()
    try:
        await asyncio.wait_for(
            ReplayPeer(Session("agi1", recorded.env_chunks, exchanges)).run(server.port), 10
        )
    finally:
        await server.close(grace=1)
    assert seen == {"after_dial": False, "dialstatus": "ANSWER", "after_getvar": True}
