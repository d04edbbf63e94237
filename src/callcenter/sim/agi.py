"""The PBX side of FastAGI: what Asterisk's ``AGI(agi://host:port/script?query,args)`` does on the wire.

The environment block, the reply lines and the asynchronous ``HANGUP`` notification follow
``tests/fixtures/pbx-traces/*.agi`` (protocol facts 22-27). The AMI ``Hangup`` of the AGI channel is
delayed until the FastAGI server closes the socket, because the dialplan stays in ``AGI()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from callcenter.sim.classes import EV_AGI
from callcenter.sim.pbx import PROMPT_SECONDS, Channel, Pbx, _float, _prompt_seconds

log = logging.getLogger(__name__)

DEAD = "511 Command Not Permitted on a dead channel or intercept routine"
USAGE = "520 Invalid command syntax.  Proper usage not available."
UNKNOWN = "510 Invalid or unknown command"

# command -> (minimum number of arguments after the command words, allowed on a dead channel)
COMMANDS: dict[tuple[str, ...], tuple[int, bool]] = {
    ("ANSWER",): (0, False),
    ("HANGUP",): (0, True),
    ("STREAM", "FILE"): (2, False),
    ("CONTROL", "STREAM", "FILE"): (2, False),
    ("GET", "DATA"): (1, False),
    ("GET", "OPTION"): (2, False),
    ("WAIT", "FOR", "DIGIT"): (1, False),
    ("SAY", "DIGITS"): (2, False),
    ("SAY", "NUMBER"): (2, False),
    ("SAY", "ALPHA"): (2, False),
    ("SAY", "DATE"): (2, False),
    ("SET", "VARIABLE"): (2, True),
    ("GET", "VARIABLE"): (1, True),
    ("GET", "FULL", "VARIABLE"): (1, True),
    ("SET", "MUSIC"): (1, False),
    ("CHANNEL", "STATUS"): (0, False),
    ("VERBOSE",): (2, True),
    ("NOOP",): (0, True),
    ("EXEC",): (1, True),
    ("SET", "CONTEXT"): (1, True),
    ("SET", "EXTENSION"): (1, True),
    ("SET", "PRIORITY"): (1, True),
    ("SET", "CALLERID"): (1, True),
    ("SET", "AUTOHANGUP"): (1, True),
    ("DATABASE", "GET"): (2, True),
    ("DATABASE", "PUT"): (3, True),
    ("DATABASE", "DEL"): (2, True),
    ("RECORD", "FILE"): (4, False),
    ("ASYNCAGI", "BREAK"): (0, True),
}
_BY_LEN = sorted(COMMANDS, key=len, reverse=True)


def split_args(line: str) -> list[str]:
    """Asterisk's AGI argument parser: whitespace separated, double quotes group, backslash escapes."""
    out: list[str] = []
    cur: list[str] = []
    in_quote = False
    have = False
    escaped = False
    for ch in line:
        if escaped:
            cur.append(ch)
            escaped = False
            have = True
        elif ch == "\\":
            escaped = True
        elif ch == '"':
            in_quote = not in_quote
            have = True
        elif ch in " \t" and not in_quote:
            if have:
                out.append("".join(cur))
                cur, have = [], False
        else:
            cur.append(ch)
            have = True
    if have:
        out.append("".join(cur))
    return out


class AgiSession:
    def __init__(
        self,
        pbx: Pbx,
        chan: Channel,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        url: str,
        args: list[str],
    ) -> None:
        self.pbx = pbx
        self.chan = chan
        self.reader = reader
        self.writer = writer
        self.url = url
        self.args = args
        self.hangup_sent = False
        #: the PBX was killed (``Simulator.crash``): the socket just closes, nothing more is sent
        self.crashed = False
        self.db: dict[tuple[str, str], str] = pbx.agi_db

    def env_block(self) -> bytes:
        c = self.chan
        parts = urlsplit(self.url)
        script = parts.path.lstrip("/")
        if parts.query:
            script += "?" + parts.query
        cid = c.cid_num if c.cid_num != "<unknown>" else "unknown"
        name = c.cid_name if c.cid_name != "<unknown>" else "unknown"
        lines = [
            "agi_network: yes",
            f"agi_network_script: {script}",
            f"agi_request: {self.url}",
            f"agi_channel: {c.name}",
            f"agi_language: {c.language}",
            f"agi_type: {c.tech}",
            f"agi_uniqueid: {c.uniqueid}",
            f"agi_version: {self.pbx.cfg.asterisk_version}",
            f"agi_callerid: {cid}",
            f"agi_calleridname: {name}",
            "agi_callingpres: 0",
            "agi_callingani2: 0",
            "agi_callington: 0",
            "agi_callingtns: 0",
            "agi_dnid: unknown",
            "agi_rdnis: unknown",
            f"agi_context: {c.context}",
            f"agi_extension: {c.exten}",
            f"agi_priority: {c.priority}",
            "agi_enhanced: 0.0",
            f"agi_accountcode: {c.accountcode}",
            f"agi_threadid: {139700000000000 + self.pbx.rng.randrange(10**9)}",
        ]
        lines += [f"agi_arg_{i}: {a}" for i, a in enumerate(self.args, 1)]
        return ("\n".join(lines) + "\n\n").encode("utf-8", "replace")

    def kill(self) -> None:
        """The PBX died: the socket closes now, the command in flight is never answered."""
        self.crashed = True
        self.writer.close()

    def send(self, text: str) -> None:
        if self.crashed:
            return
        if not self.writer.is_closing():
            self.writer.write(text.encode("utf-8", "replace") + b"\n")

    def notify_hangup(self) -> None:
        if self.chan.agi_dead and not self.hangup_sent:
            self.hangup_sent = True
            self.send("HANGUP")

    async def next_line(self) -> bytes:
        if self.chan.agi_dead:
            return await self.reader.readline()
        loop = asyncio.get_running_loop()
        read = loop.create_task(self.reader.readline())
        try:
            while not read.done():
                if self.chan.agi_dead:
                    self.notify_hangup()
                    return await read
                fut: asyncio.Future[None] = loop.create_future()
                self.chan.waiter = fut
                read.add_done_callback(functools.partial(_wake_on, fut))
                await fut
                if self.chan.waiter is fut:
                    self.chan.waiter = None
            return read.result()
        except asyncio.CancelledError:
            read.cancel()
            raise

    async def run(self) -> str:
        self.writer.write(self.env_block())
        try:
            while True:
                raw = await self.next_line()
                if not raw:
                    break
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                if not line.strip():
                    continue
                self.notify_hangup()
                reply = await self.execute(line)
                self.send(reply)
                await self.writer.drain()
                if self.chan.agi_dead:
                    self.notify_hangup()
        except (ConnectionError, OSError):
            pass
        finally:
            # res_agi with AGISIGHUP (default yes): "HANGUP" once more when the script ends, whether
            # or not the channel is still up (local-agent-halves.agi, blind-transfer-results.agi)
            if not self.crashed:
                self.send("HANGUP")
            self.writer.close()
            with contextlib.suppress(TimeoutError, ConnectionError, OSError):
                await asyncio.wait_for(self.writer.wait_closed(), 1.0)
        return "HANGUP" if self.chan.agi_dead else "SUCCESS"

    # -- commands --------------------------------------------------------------------------------
    async def execute(self, line: str) -> str:
        pbx, chan = self.pbx, self.chan
        words = split_args(line)
        cmd_id = str(pbx.rng.randrange(2**31))
        listening = pbx.sink.listening
        if listening:
            pbx.ev("AGIExecStart", chan, f"CommandId: {cmd_id}\r\nCommand: {line}\r\n", "agi,all", EV_AGI)
        reply, code, result = await self._dispatch(words)
        if listening or pbx.sink.listening:
            pbx.ev(
                "AGIExecEnd",
                chan,
                f"CommandId: {cmd_id}\r\nCommand: {line}\r\nResultCode: {code}\r\nResult: {result}\r\n",
                "agi,all",
                EV_AGI,
            )
        return reply

    async def _dispatch(self, words: list[str]) -> tuple[str, str, str]:
        upper = [w.upper() for w in words]
        key: tuple[str, ...] | None = None
        for k in _BY_LEN:
            if tuple(upper[: len(k)]) == k:
                key = k
                break
        if key is None:
            return UNKNOWN, "510", "Invalid or unknown command"
        min_args, dead_ok = COMMANDS[key]
        args = words[len(key) :]
        if len(args) < min_args:
            return USAGE, "520", "Usage"
        if self.chan.agi_dead and not dead_ok:
            return DEAD, "511", "Command Not Permitted on a dead channel or intercept routine"
        self.chan.digits.clear()
        hook = self.pbx.agi_hook
        if hook is not None:
            hook(self.chan, key, args)
        handler: Callable[[list[str]], Awaitable[tuple[str, int]]] = getattr(
            self, "cmd_" + "_".join(key).lower(), self.cmd_noop
        )
        reply, status = await handler(args)
        if status == 1:
            return reply, "-1", "Failure"
        if status == 2:
            return reply, "200", "Unknown Result"
        return reply, "200", "Success"

    # status: 0 success, 1 failure (ResultCode -1), 2 unknown result (EXEC returning < 0)
    async def cmd_answer(self, args: list[str]) -> tuple[str, int]:
        self.pbx.answer(self.chan)
        return "200 result=0", 0

    async def cmd_hangup(self, args: list[str]) -> tuple[str, int]:
        chan = self.chan
        if not chan.softhangup_agi and not chan.gone:
            chan.softhangup_agi = True
            self.pbx.ev("SoftHangupRequest", chan, "Cause: 32\r\n")
            chan.dead = True
            chan.hangup_requested = True
        return "200 result=1", 0

    async def _play(self, seconds: float, escape: str) -> tuple[str | None, bool]:
        """Play audio for ``seconds``; returns (escape digit or None, hung up)."""
        pbx, chan = self.pbx, self.chan
        deadline = pbx.clock.mono() + seconds
        while True:
            while chan.digits:
                d = chan.digits.pop(0)
                if d in escape:
                    return d, False
            if chan.agi_dead:
                return None, True
            left = deadline - pbx.clock.mono()
            if left <= 1e-9:
                return None, False
            await pbx.nap(chan, left)

    def _missing(self, prompt: str) -> bool:
        return self.pbx.sound_missing(prompt)

    async def cmd_stream_file(self, args: list[str]) -> tuple[str, int]:
        if self._missing(args[0]):  # "File ... does not exist in any format": nothing played
            return "200 result=-1 endpos=0", 0
        secs = _prompt_seconds(args[0])
        digit, hung = await self._play(secs, args[1] if len(args) > 1 else "")
        endpos = int(secs * 8000)
        if hung:
            return "200 result=-1 endpos=0", 1
        if digit is not None:
            return f"200 result={ord(digit)} endpos={endpos // 2}", 0
        self.pbx.set_var(self.chan, "PLAYBACKSTATUS", "SUCCESS")
        return f"200 result=0 endpos={endpos}", 0

    cmd_control_stream_file = cmd_stream_file

    async def _collect(self, first: str | None, gap: float, maxdigits: int) -> tuple[str, bool, bool]:
        """Collect digits after a prompt: (digits, timed out, hung up)."""
        pbx, chan = self.pbx, self.chan
        got = first or ""
        while len(got) < maxdigits:
            deadline = pbx.clock.mono() + gap
            while not chan.digits:
                if chan.agi_dead:
                    return got, False, True
                left = deadline - pbx.clock.mono()
                if left <= 1e-9:
                    return got, True, False
                await pbx.nap(chan, left)
            d = chan.digits.pop(0)
            if d == "#":
                return got, False, False
            got += d
        return got, False, False

    async def cmd_get_data(self, args: list[str]) -> tuple[str, int]:
        timeout = _float(args[1], 6000.0) / 1000.0 if len(args) > 1 else 6.0
        if timeout <= 0:
            timeout = 6.0
        maxdigits = int(_float(args[2], 1024)) if len(args) > 2 else 1024
        if self._missing(args[0]):  # app_read's ast_app_getdata fails at once: no digits waited for
            return "200 result=-1", 0
        digit, hung = await self._play(_prompt_seconds(args[0]), "0123456789*#")
        if hung:
            return "200 result=-1", 1
        if digit == "#":
            return "200 result=", 0
        got, timed_out, hung = await self._collect(digit, timeout, maxdigits)
        if hung:
            return "200 result=-1", 1
        return (f"200 result={got} (timeout)" if timed_out else f"200 result={got}"), 0

    async def cmd_get_option(self, args: list[str]) -> tuple[str, int]:
        if self._missing(args[0]):
            return "200 result=-1 endpos=0", 0
        secs = _prompt_seconds(args[0])
        digit, hung = await self._play(secs, args[1])
        if hung:
            return "200 result=-1 endpos=0", 1
        if digit is None and len(args) > 2:
            got, _, hung = await self._collect(None, _float(args[2], 0) / 1000.0, 1)
            if hung:
                return "200 result=-1 endpos=0", 1
            digit = got if got and got in args[1] else None
        return f"200 result={ord(digit) if digit else 0} endpos={int(secs * 8000)}", 0

    async def cmd_wait_for_digit(self, args: list[str]) -> tuple[str, int]:
        ms = _float(args[0], -1)
        pbx, chan = self.pbx, self.chan
        deadline = None if ms < 0 else pbx.clock.mono() + ms / 1000.0
        while not chan.digits:
            if chan.agi_dead:
                return "200 result=-1", 1
            left = None if deadline is None else deadline - pbx.clock.mono()
            if left is not None and left <= 1e-9:
                return "200 result=0", 0
            await pbx.nap(chan, left)
        return f"200 result={ord(chan.digits.pop(0))}", 0

    async def _say(self, n: int, escape: str) -> tuple[str, int]:
        digit, hung = await self._play(0.6 * max(1, n), escape)
        if hung:
            return "200 result=-1", 1
        return f"200 result={ord(digit) if digit else 0}", 0

    async def cmd_say_digits(self, args: list[str]) -> tuple[str, int]:
        return await self._say(len(args[0]), args[1])

    async def cmd_say_alpha(self, args: list[str]) -> tuple[str, int]:
        return await self._say(len(args[0]), args[1])

    async def cmd_say_date(self, args: list[str]) -> tuple[str, int]:
        # res_agi handle_saydate: the date is an integer (seconds since the epoch, UTC), else usage
        # (520); English says weekday, month, day of month: about three words
        text = args[0]
        if not (text.lstrip("-").isdigit() and len(text.lstrip("-")) <= 30):
            return USAGE, 1
        return await self._say(3, args[1])

    async def cmd_say_number(self, args: list[str]) -> tuple[str, int]:
        return await self._say(max(1, len(args[0]) - 1), args[1])

    async def cmd_set_variable(self, args: list[str]) -> tuple[str, int]:
        self.pbx.set_var(self.chan, args[0], args[1])
        return "200 result=1", 0

    async def cmd_get_variable(self, args: list[str]) -> tuple[str, int]:
        value = self.chan.getvar(args[0])
        if value is None:
            return "200 result=0", 0
        return f"200 result=1 ({value})", 0

    async def cmd_get_full_variable(self, args: list[str]) -> tuple[str, int]:
        chan = self.chan

        def expand(text: str) -> str:
            out, i = [], 0
            while i < len(text):
                if text.startswith("${", i):
                    depth, j = 1, i + 2
                    while j < len(text) and depth:
                        if text.startswith("${", j):
                            depth += 1
                            j += 2
                            continue
                        if text[j] == "}":
                            depth -= 1
                        j += 1
                    inner = expand(text[i + 2 : j - 1])
                    out.append(chan.getvar(inner) or "")
                    i = j
                else:
                    out.append(text[i])
                    i += 1
            return "".join(out)

        return f"200 result=1 ({expand(args[0])})", 0

    async def cmd_set_music(self, args: list[str]) -> tuple[str, int]:
        if args[0].lower() == "on":
            self.pbx.moh_start(self.chan, args[1] if len(args) > 1 else "default")
        else:
            self.pbx.moh_stop(self.chan)
        return "200 result=0", 0

    async def cmd_channel_status(self, args: list[str]) -> tuple[str, int]:
        return f"200 result={self.chan.state}", 0

    async def cmd_verbose(self, args: list[str]) -> tuple[str, int]:
        return "200 result=1", 0

    async def cmd_noop(self, args: list[str]) -> tuple[str, int]:
        return "200 result=0", 0

    async def cmd_set_context(self, args: list[str]) -> tuple[str, int]:
        self.chan.context = args[0]
        self.chan.touch()
        return "200 result=0", 0

    async def cmd_set_extension(self, args: list[str]) -> tuple[str, int]:
        self.chan.exten = args[0]
        self.chan.touch()
        return "200 result=0", 0

    async def cmd_set_priority(self, args: list[str]) -> tuple[str, int]:
        self.chan.priority = int(_float(args[0], 1))
        self.chan.touch()
        return "200 result=0", 0

    async def cmd_set_callerid(self, args: list[str]) -> tuple[str, int]:
        from callcenter.sim.ami import parse_callerid

        num, name = parse_callerid(args[0])
        self.pbx.set_callerid(self.chan, num or self.chan.cid_num, name or self.chan.cid_name)
        return "200 result=1", 0

    async def cmd_set_autohangup(self, args: list[str]) -> tuple[str, int]:
        return "200 result=0", 0

    async def cmd_database_get(self, args: list[str]) -> tuple[str, int]:
        value = self.db.get((args[0], args[1]))
        return ("200 result=0" if value is None else f"200 result=1 ({value})"), 0

    async def cmd_database_put(self, args: list[str]) -> tuple[str, int]:
        self.db[(args[0], args[1])] = args[2]
        return "200 result=1", 0

    async def cmd_database_del(self, args: list[str]) -> tuple[str, int]:
        return ("200 result=1" if self.db.pop((args[0], args[1]), None) is not None else "200 result=0"), 0

    async def cmd_record_file(self, args: list[str]) -> tuple[str, int]:
        digit, hung = await self._play(
            _float(args[3], 5000) / 1000.0 if _float(args[3], -1) > 0 else 5.0, args[2]
        )
        if hung:
            return "200 result=-1 (hangup) endpos=0", 1
        return f"200 result={ord(digit) if digit else 0} (timeout) endpos=8000", 0

    async def cmd_asyncagi_break(self, args: list[str]) -> tuple[str, int]:
        return "200 result=0", 0

    async def cmd_exec(self, args: list[str]) -> tuple[str, int]:
        app = args[0]
        data = ",".join(args[1:])
        # pbx_exec: while it runs, the channel's application is the EXECed one (CoreShowChannel)
        saved = self.chan.app, self.chan.appdata
        self.chan.app, self.chan.appdata = app, data
        try:
            res = await self.run_app(app, data)
        finally:
            self.chan.app, self.chan.appdata = saved
        return f"200 result={res}", (2 if res < 0 else 0)

    async def run_app(self, app: str, data: str) -> int:
        pbx, chan = self.pbx, self.chan
        a = app.lower()
        if a == "dial":
            if chan.agi_dead:
                return -1
            _, res = await pbx.dial(chan, data)
            return res
        if a in ("playback", "background"):
            if chan.agi_dead:
                return 0
            if self._missing(data):
                pbx.set_var(chan, "PLAYBACKSTATUS", "FAILED")
                return 0
            if await pbx.wait_app(chan, _prompt_seconds(data)):
                return -1
            pbx.set_var(chan, "PLAYBACKSTATUS", "SUCCESS")
            return 0
        if a == "musiconhold":
            if chan.agi_dead:
                return -1
            parts = data.split(",")
            pbx.moh_start(chan, parts[0] or "default")
            hung = await pbx.wait_app(
                chan, _float(parts[1], 3600.0) if len(parts) > 1 and parts[1] else 3600.0
            )
            pbx.moh_stop(chan)
            return -1 if hung else 0
        if a == "wait":
            if chan.agi_dead:
                return -1
            return -1 if await pbx.wait_app(chan, _float(data, 0.0)) else 0
        if a == "mixmonitor":
            pbx.mixmonitor(chan, data.split(",")[0] or f"{chan.uniqueid}.wav")
            return 0
        if a == "stopmixmonitor":
            pbx.stop_mixmonitor(chan)
            return 0
        if a == "set":
            name, _, value = data.partition("=")
            if name:
                pbx.set_var(chan, name, value)
            return 0
        if a == "mset":  # MSet(name1=value1,name2=value2,...): one VarSet per variable
            for pair in data.split(","):
                name, _, value = pair.partition("=")
                if name:
                    pbx.set_var(chan, name, value)
            return 0
        if a == "answer":
            if chan.agi_dead:
                return -1
            pbx.answer(chan)
            return 0
        if a == "hangup":
            if not chan.dead:
                chan.dead = True
                chan.hangup_requested = True
                pbx.ev("SoftHangupRequest", chan, "Cause: 16\r\n")
            return -1
        if a in ("noop", "verbose", "log", "progress", "ringing", "senddtmf", "userevent"):
            return 0
        if a == "playtones":
            return 0
        return -2


def _wake_on(fut: asyncio.Future[None], _task: object) -> None:
    if not fut.done():
        fut.set_result(None)


async def run_agi(pbx: Pbx, chan: Channel, url: str, args: list[str]) -> str:
    """Connect to the FastAGI server and serve the session. Returns AGISTATUS."""
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    port = parts.port or 4573
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port), pbx.cfg.agi_connect_timeout
        )
    except (OSError, TimeoutError) as exc:
        log.warning("FastAGI connect to %s:%s failed for %s: %s", host, port, chan.linkedid, exc)
        return "FAILURE"
    session = AgiSession(pbx, chan, reader, writer, url, args)
    pbx.agi_sessions.add(session)
    try:
        return await session.run()
    finally:
        pbx.agi_sessions.discard(session)


__all__ = ["PROMPT_SECONDS", "AgiSession", "run_agi", "split_args"]
