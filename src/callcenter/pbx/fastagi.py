"""Our own FastAGI server (``panoramisk.fast_agi`` is not used: see DESIGN "Stack notes").

One TCP connection = one call sitting in the dialplan's ``AGI(agi://host:port/<script>?<query>,<args>)``.
What each connection goes through (wire facts 22-27 of ``tests/fixtures/pbx-traces/README.md``):

1. The ``agi_*`` environment block (LF lines ended by an empty line, possibly split over several reads)
   is read within ``env_timeout``. A port probe (connect and close), a half-open peer (connects, sends
   nothing), an over-long line or bytes that are not an ``agi_`` block cost that one connection: it is
   counted, logged once and closed. Nothing a peer sends can stop the server.
2. The script name (``agi_network_script`` without its query string) selects a handler; the query string
   is parsed into ``query_<key>`` entries and ``agi_arg_N`` become ``arg_N`` (the env keeps every
   ``agi_`` key without its prefix). ``linkedid`` is added: the ``linkedid`` query parameter if the
   dialplan passed ``${CHANNEL(linkedid)}``, else one ``GET VARIABLE CHANNEL(linkedid)``.
3. Every command has a timeout (``command_timeout``; waiting commands add their own duration:
   ``GET DATA``, ``WAIT FOR DIGIT``; ``EXEC`` of long applications such as Dial, Queue, MusicOnHold or
   VoiceMail gets ``long_timeout``). A command that times out ends the session: the reply stream can no
   longer be trusted.
4. Replies: ``200 result=<r>[ (<data>)][ endpos=<n>]`` (``result=`` may be empty: ``200 result= (timeout)``),
   ``510`` unknown command, ``520`` bad usage (also the older multi-line ``520-`` form), ``511`` dead channel.
   The asynchronous ``HANGUP`` line may arrive ahead of any reply; it, EOF and 511 all mean the caller is
   gone (``AgiHangup`` for commands that need a live channel; GET/SET VARIABLE, VERBOSE, NOOP and EXEC still
   run on a dead channel, fact 26).
5. Error boundary per session: an exception from the handler is logged with the call's linkedid and the
   call is sent to the dialplan's failsafe: ``SET VARIABLE CC_IVR_RESULT error`` then ``SET CONTEXT
   cc-failsafe`` / ``SET EXTENSION s`` / ``SET PRIORITY 1``. A session that ends normally sets
   ``CC_IVR_RESULT done``; ``dialplan/extensions.conf`` sends any call whose ``CC_IVR_RESULT`` is not
   ``done`` after ``AGI()`` (service down, timeout, crash) to ``cc-failsafe`` too.
6. The socket is closed as soon as the handler returns: Asterisk keeps the channel (and holds its AMI
   ``Hangup`` event) until the FastAGI server closes (fact 27).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import re
import time
from bisect import bisect_left
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from callcenter.domain.agi import AgiReply
from callcenter.domain.errors import AgiError, AgiHangup
from callcenter.ports import AgiChannel

log = logging.getLogger(__name__)

#: played instead of a GET DATA prompt the PBX does not have (Asterisk's core sounds have silence/1..10)
FALLBACK_PROMPT = "silence/1"

AgiHandler = Callable[[AgiChannel], Awaitable[None]]
#: script name (``ivr`` of ``agi://host/ivr?x=1``) → handler, or None for an unknown script
AgiRoutes = Callable[[str], AgiHandler | None]

#: commands Asterisk refuses on a dead channel (511): raise AgiHangup without asking
_LIVE_ONLY = (
    "ANSWER",
    "STREAM FILE",
    "CONTROL STREAM FILE",
    "GET DATA",
    "GET OPTION",
    "WAIT FOR DIGIT",
    "CHANNEL STATUS",
    "SET MUSIC",
    "SAY ",
    "RECORD FILE",
    "RECEIVE ",
    "SEND ",
    "SPEECH ",
)
#: applications whose EXEC can last as long as a conversation
_LONG_APPS = frozenset(
    {
        "dial",
        "queue",
        "musiconhold",
        "voicemail",
        "wait",
        "waitexten",
        "playback",
        "background",
        "read",
        "record",
        "followme",
        "page",
        "confbridge",
        "meetme",
        "chanspy",
        "bridge",
        "originate",
    }
)
_REPLY_RE = re.compile(r"^200 result=(\S*)(?: \((.*)\))?(?: endpos=(-?\d+))?\s*$")
_ENV_LINE_RE = re.compile(r"^agi_([a-z0-9_]+): ?(.*)$")
FAILSAFE_VAR = "CC_IVR_RESULT"


@dataclass(frozen=True, slots=True)
class FastAgiConfig:
    host: str = "127.0.0.1"
    port: int = 4573
    env_timeout: float = 5.0
    command_timeout: float = 10.0
    #: prompts played by STREAM FILE / GET DATA are at most this long (seconds)
    max_prompt: float = 120.0
    long_timeout: float = 4 * 3600.0
    max_line: int = 8192
    max_env_lines: int = 200
    failsafe_context: str = "cc-failsafe"
    failsafe_exten: str = "s"
    failsafe_priority: int = 1
    failsafe_timeout: float = 2.0
    close_timeout: float = 2.0
    backlog: int = 1024


def parse_reply(line: str) -> AgiReply:
    """One reply line → AgiReply (``text`` keeps the line)."""
    code_text = line[:3]
    if not code_text.isdigit():
        raise AgiError(f"not an AGI reply: {line[:80]!r}")
    code = int(code_text)
    if code != 200:
        return AgiReply(code=code, text=line)
    m = _REPLY_RE.match(line)
    if m is None:
        return AgiReply(code=200, text=line)
    result, data, endpos = m.groups()
    return AgiReply(
        code=200,
        result=result,
        data=data,
        endpos=int(endpos) if endpos is not None else None,
        timeout=data == "timeout",
        text=line,
    )


def parse_env(lines: list[str]) -> dict[str, str]:
    """The ``agi_*`` lines → env (prefix removed; query string of the script as ``query_<key>``)."""
    env: dict[str, str] = {}
    for line in lines:
        m = _ENV_LINE_RE.match(line)
        if m is None:
            raise AgiError(f"not an AGI environment line: {line[:80]!r}")
        env[m.group(1)] = m.group(2)
    script = env.get("network_script", "")
    name, _, query = script.partition("?")
    env["script"] = name.strip("/")
    for key, value in parse_qsl(query, keep_blank_values=True):
        env[f"query_{key}"] = value
    return env


def quote(arg: str) -> str:
    """An AGI argument in double quotes; newlines (which would inject commands) become spaces."""
    clean = arg.replace("\r", " ").replace("\n", " ").replace("\\", "\\\\").replace('"', '\\"')
    return f'"{clean}"'


class AgiSession:
    """``ports.AgiChannel`` on one FastAGI connection."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        env: dict[str, str],
        config: FastAgiConfig,
        stats: FastAgiStats,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._env = env
        self._cfg = config
        self._stats = stats
        self._hung_up = False
        self._eof = False
        self._broken = False  # a timeout or a bad reply: the stream is out of step
        self._in_flight = False  # a command was sent and its reply not read (cancelled meanwhile)
        self.failsafe_sent = False
        self.commands = 0
        self._replied_at = 0.0

    # --- AgiChannel ---------------------------------------------------------------------------
    @property
    def env(self) -> Mapping[str, str]:
        return self._env

    @property
    def uniqueid(self) -> str:
        return self._env.get("uniqueid", "")

    @property
    def linkedid(self) -> str:
        return self._env.get("linkedid") or self.uniqueid

    @property
    def hung_up(self) -> bool:
        return self._hung_up

    @property
    def script(self) -> str:
        return self._env.get("script", "")

    async def command(self, line: str, *, timeout: float | None = None) -> AgiReply:
        if self._eof or self._broken:
            raise AgiHangup("the FastAGI connection is closed")
        upper = line.upper()
        if self._hung_up and upper.startswith(_LIVE_ONLY):
            raise AgiHangup(f"caller gone: {line.split(' ', 2)[0]} not sent")
        if "\n" in line or "\r" in line:
            raise ValueError("an AGI command is one line")
        self.commands += 1
        self._stats.commands += 1
        if self._replied_at:  # the turnaround this service added: previous reply read -> this command
            self._stats.observe(time.perf_counter() - self._replied_at)
        writer = self._writer
        writer.write(line.encode("utf-8", "replace") + b"\n")
        self._in_flight = True
        try:
            async with asyncio.timeout(timeout if timeout is not None else self._cfg.command_timeout):
                if writer.transport.get_write_buffer_size():  # the line did not go out at once
                    await writer.drain()
                reply = await self._read_reply()
            self._in_flight = False
            self._replied_at = time.perf_counter()
        except TimeoutError:
            self._broken = True
            self._stats.command_timeouts += 1
            raise AgiError(f"no reply to {line[:40]!r} in time") from None
        except (ConnectionError, OSError) as exc:
            self._eof = self._hung_up = True
            raise AgiHangup(f"connection lost: {exc}") from exc
        if reply.code == 511:
            self._hung_up = True
            raise AgiHangup(reply.text)
        return reply

    async def _read_reply(self) -> AgiReply:
        while True:
            line = await self._readline()
            if not line:
                continue
            if line == "HANGUP":
                self._hung_up = True
                continue
            if line.startswith("520-"):  # older Asterisk: usage text until "520 End of proper usage."
                while not (await self._readline()).startswith("520 "):
                    pass
                return AgiReply(code=520, text=line)
            try:
                return parse_reply(line)
            except AgiError:
                self._broken = True
                raise

    async def _readline(self) -> str:
        try:
            raw = await self._reader.readuntil(b"\n")
        except asyncio.IncompleteReadError:
            self._eof = self._hung_up = True
            raise AgiHangup("EOF from Asterisk") from None
        except asyncio.LimitOverrunError:
            self._broken = True
            raise AgiError("over-long line from Asterisk") from None
        return raw.decode("utf-8", "replace").rstrip("\r\n")

    async def wait_idle(self, timeout: float) -> bool:
        """``ports.IdleAgiChannel``: no command outstanding; True once the caller is gone (the
        asynchronous ``HANGUP`` line or EOF, fact 24), False after ``timeout``. Cancel-safe: a line not
        complete stays in the reader's buffer. The idle time is not counted as the service's turnaround."""
        if self._hung_up or self._eof or self._broken:
            return True
        if self._in_flight:
            raise AgiError("wait_idle with a command in flight")
        try:
            async with asyncio.timeout(max(0.0, timeout)):
                while True:
                    line = await self._readline()
                    if line == "HANGUP":
                        self._hung_up = True
                        return True
                    if line:
                        self._broken = True
                        raise AgiError(f"unexpected line from Asterisk between commands: {line[:40]!r}")
        except TimeoutError:
            return False
        except AgiHangup:
            return True
        finally:
            self._replied_at = 0.0

    def _check(self, reply: AgiReply, what: str) -> AgiReply:
        if reply.code != 200:
            raise AgiError(f"{what}: {reply.text}")
        return reply

    async def answer(self) -> None:
        self._check(await self.command("ANSWER"), "ANSWER")

    async def hangup(self) -> None:
        if self._hung_up:
            return
        self._check(await self.command("HANGUP"), "HANGUP")
        self._hung_up = True

    async def stream_file(self, sound: str, escape_digits: str = "") -> AgiReply:
        reply = self._check(
            await self.command(
                f"STREAM FILE {quote(sound)} {quote(escape_digits)}", timeout=self._play_timeout()
            ),
            "STREAM FILE",
        )
        if reply.result == "-1":
            await self._missing_prompt_or_hangup("STREAM FILE", sound)
            return dataclasses.replace(reply, result="0")  # nothing played, no digit
        return reply

    async def get_data(self, prompt: str, timeout_ms: int, max_digits: int) -> AgiReply:
        # the caller may take timeout_ms per digit, after the prompt
        budget = self._play_timeout() + timeout_ms / 1000.0 * (max_digits + 1)
        line = f"GET DATA {quote(prompt)} {int(timeout_ms)} {int(max_digits)}"
        reply = self._check(await self.command(line, timeout=budget), "GET DATA")
        if reply.result == "-1":
            await self._missing_prompt_or_hangup("GET DATA", prompt)
            # the prompt is missing: GET DATA gave up at once, before any digit; ask again without it
            # (a second of silence from the core sounds) so the caller can still answer
            line = f"GET DATA {quote(FALLBACK_PROMPT)} {int(timeout_ms)} {int(max_digits)}"
            reply = self._check(await self.command(line, timeout=budget), "GET DATA")
            if reply.result == "-1":
                await self._missing_prompt_or_hangup("GET DATA", FALLBACK_PROMPT)
                return AgiReply(code=200, result="", timeout=True, text=reply.text)
        return reply

    async def _missing_prompt_or_hangup(self, what: str, prompt: str) -> None:
        """``result=-1``: the caller hung up, or the prompt is not on the PBX (res_agi answers -1 at once
        with the caller still there, missing-prompt.agi). ``CHANNEL STATUS`` tells them apart (511 on a
        dead channel, fact 26): a hang-up raises AgiHangup; a missing prompt is logged and counted and
        the caller goes on, never dropped to the failsafe for a sound file."""
        try:
            await self.command("CHANNEL STATUS")
        except AgiHangup:
            self._hung_up = True
            raise AgiHangup(f"{what} returned -1") from None
        self._stats.prompts_missing += 1
        log.warning(
            "prompt missing on the PBX: nothing played",
            extra={"prompt": prompt[:120], "command": what, "uniqueid": self.uniqueid},
        )

    async def wait_for_digit(self, timeout_ms: int) -> AgiReply:
        budget = self._cfg.long_timeout if timeout_ms < 0 else self._cfg.command_timeout + timeout_ms / 1000.0
        reply = self._check(
            await self.command(f"WAIT FOR DIGIT {int(timeout_ms)}", timeout=budget), "WAIT FOR DIGIT"
        )
        if reply.result == "-1":
            self._hung_up = True
            raise AgiHangup("WAIT FOR DIGIT returned -1")
        return reply

    async def set_variable(self, name: str, value: str) -> None:
        self._check(await self.command(f"SET VARIABLE {quote(name)} {quote(value)}"), "SET VARIABLE")

    async def get_variable(self, name: str) -> str | None:
        reply = self._check(await self.command(f"GET VARIABLE {quote(name)}"), "GET VARIABLE")
        return reply.data if reply.result == "1" else None

    async def exec(self, application: str, args: str = "", *, timeout: float | None = None) -> AgiReply:
        if timeout is None:
            timeout = (
                self._cfg.long_timeout if application.lower() in _LONG_APPS else self._cfg.command_timeout
            )
        line = f"EXEC {application} {quote(args)}" if args else f"EXEC {application}"
        return await self.command(line, timeout=timeout)

    async def verbose(self, message: str, level: int = 1) -> None:
        await self.command(f"VERBOSE {quote(message)} {int(level)}")

    def _play_timeout(self) -> float:
        return self._cfg.command_timeout + self._cfg.max_prompt

    # --- server side --------------------------------------------------------------------------
    async def send_failsafe(self, reason: str) -> bool:
        """Point the channel at the failsafe context (allowed on a dead channel too). True if sent."""
        if self._eof or self._broken or self.failsafe_sent:
            return False
        self.failsafe_sent = True
        cfg = self._cfg
        try:
            async with asyncio.timeout(cfg.failsafe_timeout):
                if self._in_flight:  # cancelled while a command ran: its reply comes first
                    await self._read_reply()
                    self._in_flight = False
                await self.set_variable(FAILSAFE_VAR, "error")
                if not self._hung_up:
                    await self.command(f"SET CONTEXT {cfg.failsafe_context}")
                    await self.command(f"SET EXTENSION {cfg.failsafe_exten}")
                    await self.command(f"SET PRIORITY {cfg.failsafe_priority}")
        except (AgiError, TimeoutError, OSError):
            return False
        self._stats.failsafe += 1
        log.warning(
            "call sent to the failsafe context",
            extra={"linkedid": self.linkedid, "context": cfg.failsafe_context, "reason": reason},
        )
        return True

    async def mark_done(self) -> None:
        if self._hung_up or self._eof or self._broken or self.failsafe_sent:
            return
        with contextlib.suppress(AgiError, TimeoutError, OSError):
            await self.set_variable(FAILSAFE_VAR, "done")


#: upper bounds (seconds) of the turnaround histogram (Prometheus ``le`` buckets)
TURNAROUND_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.1, float("inf"))


@dataclass(slots=True)
class FastAgiStats:
    accepted: int = 0
    sessions_active: int = 0
    sessions_done: int = 0
    probes: int = 0  # closed before sending anything
    env_timeouts: int = 0  # half-open peers
    bad_env: int = 0  # garbage instead of an agi_ block
    unknown_scripts: int = 0
    handler_errors: int = 0
    hangups: int = 0
    command_timeouts: int = 0
    failsafe: int = 0
    max_active: int = 0
    commands: int = 0  # AGI commands sent, every session
    prompts_missing: int = 0  # STREAM FILE / GET DATA of a prompt the PBX does not have (played nothing)
    #: per-command turnaround added by the service, counts per TURNAROUND_BUCKETS bound (not cumulative)
    turnaround: list[int] = field(default_factory=lambda: [0] * len(TURNAROUND_BUCKETS))
    turnaround_sum: float = 0.0
    #: raw samples (seconds) when a list is set (benchmarks); None in production
    samples: list[float] | None = None

    def observe(self, seconds: float) -> None:
        self.turnaround_sum += seconds
        self.turnaround[bisect_left(TURNAROUND_BUCKETS, seconds)] += 1
        if self.samples is not None:
            self.samples.append(seconds)

    def as_dict(self) -> dict[str, int]:
        return {
            name: getattr(self, name)
            for name in self.__slots__
            if name not in ("turnaround", "turnaround_sum", "samples")
        }

    def turnaround_quantile(self, q: float) -> float | None:
        """Upper bound (seconds) of the bucket holding the ``q`` quantile; None before any command."""
        total = sum(self.turnaround)
        if not total:
            return None
        rank = q * total
        seen = 0
        for bound, count in zip(TURNAROUND_BUCKETS, self.turnaround, strict=True):
            seen += count
            if seen >= rank:
                return bound
        return TURNAROUND_BUCKETS[-1]


class FastAgiServer:
    """Accepts FastAGI connections and runs one handler per session (see the module docstring)."""

    def __init__(self, routes: AgiRoutes, config: FastAgiConfig | None = None) -> None:
        self._routes = routes
        self.config = config or FastAgiConfig()
        self.stats = FastAgiStats()
        self._server: asyncio.Server | None = None
        self._sessions: set[asyncio.Task[Any]] = set()
        self._closing = False
        self.started_at: float | None = None

    @property
    def port(self) -> int:
        if self._server is None or not self._server.sockets:
            raise RuntimeError("FastAGI server not listening")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def listening(self) -> bool:
        return self._server is not None and self._server.is_serving()

    async def start(self) -> None:
        cfg = self.config
        self._server = await asyncio.start_server(
            self._on_connect, cfg.host, cfg.port, limit=cfg.max_line, backlog=cfg.backlog, reuse_address=True
        )
        self.started_at = time.time()
        log.info("FastAGI listening", extra={"host": cfg.host, "port": self.port})

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {"state": "listening" if self.listening else "down"}
        if self.listening:
            out["port"] = self.port
        out.update(self.stats.as_dict())
        p99 = self.stats.turnaround_quantile(0.99)
        out["turnaround_p99_ms_le"] = round(p99 * 1000, 3) if p99 is not None and p99 != float("inf") else p99
        return out

    async def close(self, grace: float = 5.0) -> None:
        """Stop accepting; give running sessions ``grace`` seconds, then cancel them (-> failsafe)."""
        self._closing = True
        if self._server is not None:
            self._server.close()
        if self._sessions:
            _, pending = await asyncio.wait(set(self._sessions), timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(
                    pending, timeout=self.config.failsafe_timeout + self.config.close_timeout + 1
                )
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
        log.info("FastAGI stopped", extra=self.stats.as_dict())

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._sessions.add(task)
        self.stats.accepted += 1
        self.stats.sessions_active += 1
        self.stats.max_active = max(self.stats.max_active, self.stats.sessions_active)
        try:
            await self._serve(reader, writer)
        except asyncio.CancelledError:
            pass  # shutdown: the session has already tried the failsafe
        except Exception:  # the last boundary: never let a connection's failure escape
            self.stats.handler_errors += 1
            log.exception("FastAGI connection failed", extra={"peer": _peer(writer)})
        finally:
            self.stats.sessions_active -= 1
            self.stats.sessions_done += 1
            self._sessions.discard(task)
            await self._close(writer)

    async def _read_env(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> dict[str, str] | None:
        cfg = self.config
        lines: list[str] = []
        try:
            async with asyncio.timeout(cfg.env_timeout):
                while True:
                    raw = await reader.readuntil(b"\n")
                    line = raw.decode("utf-8", "replace").rstrip("\r\n")
                    if not line:
                        break
                    lines.append(line)
                    if len(lines) > cfg.max_env_lines:
                        raise AgiError("too many environment lines")
                    if not line.startswith("agi_"):
                        raise AgiError(f"not an AGI environment line: {line[:60]!r}")
            return parse_env(lines)
        except asyncio.IncompleteReadError as exc:
            if not lines and not exc.partial:
                self.stats.probes += 1
                log.debug(
                    "FastAGI connection closed before any data (port probe)", extra={"peer": _peer(writer)}
                )
            else:
                self.stats.bad_env += 1
                log.warning("FastAGI peer closed inside the environment block", extra={"peer": _peer(writer)})
        except TimeoutError:
            self.stats.env_timeouts += 1
            log.warning(
                "FastAGI peer sent no complete environment block in time",
                extra={"peer": _peer(writer), "timeout": cfg.env_timeout, "lines": len(lines)},
            )
        except (asyncio.LimitOverrunError, ValueError, AgiError, UnicodeError) as exc:
            self.stats.bad_env += 1
            log.warning("FastAGI connection rejected: %s", exc, extra={"peer": _peer(writer)})
        except (ConnectionError, OSError) as exc:
            self.stats.probes += 1
            log.debug("FastAGI connection lost before the environment: %s", exc)
        return None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        env = await self._read_env(reader, writer)
        if env is None:
            return
        session = AgiSession(reader, writer, env, self.config, self.stats)
        handler = self._routes(session.script)
        try:
            if "linkedid" not in env:
                env["linkedid"] = env.get("query_linkedid") or (
                    await session.get_variable("CHANNEL(linkedid)") or session.uniqueid
                )
            if handler is None:
                self.stats.unknown_scripts += 1
                log.error(
                    "FastAGI request for an unknown script",
                    extra={"linkedid": session.linkedid, "script": session.script},
                )
                await session.send_failsafe(f"unknown script {session.script!r}")
                return
            await handler(session)
            await session.mark_done()
        except AgiHangup:
            self.stats.hangups += 1
            log.debug("caller gone", extra={"linkedid": session.linkedid, "uniqueid": session.uniqueid})
        except asyncio.CancelledError:
            await session.send_failsafe("service shutting down")
            raise
        except Exception as exc:
            self.stats.handler_errors += 1
            log.exception(
                "FastAGI session failed",
                extra={"linkedid": session.linkedid, "uniqueid": session.uniqueid, "script": session.script},
            )
            await session.send_failsafe(f"{type(exc).__name__}: {exc}")

    async def _close(self, writer: asyncio.StreamWriter) -> None:
        try:
            writer.close()
            await asyncio.wait_for(writer.wait_closed(), self.config.close_timeout)
        except (TimeoutError, ConnectionError, OSError):
            writer.transport.abort()
        except asyncio.CancelledError:
            writer.transport.abort()
            raise


def _peer(writer: asyncio.StreamWriter) -> str:
    peer = writer.get_extra_info("peername")
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return str(peer)
