"""Replay a recorded scenario of ``tests/fixtures/pbx-traces`` against the simulator and normalise both
event streams so they can be compared (channel names, ids and bridges become labels in order of
first appearance)."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from callcenter.sim import SimConfig, Simulator
from tests.support.trace_messages import TRACES_DIR as TRACES

from .amiclient import AmiClient, Message, parse


def read_trace(path: str) -> list[tuple[str, str, float, bytes]]:
    """Records of a trace file (format in the traces' README; same as recorder.read_trace)."""
    with open(path, "rb") as fh:
        data = fh.read()
    out = []
    pos = 0
    while pos < len(data):
        eol = data.index(b"\n", pos)
        line = data[pos:eol]
        pos = eol + 1
        if not line.startswith(b"@@ "):
            continue
        _, kind, conn, t, n = line.decode().split(" ")
        payload = data[pos : pos + int(n)]
        pos += int(n) + 1
        out.append((kind, conn, float(t), payload))
    return out


#: events left out of the comparison (see the fidelity table in src/callcenter/sim/README.md)
IGNORED = {
    "VarSet",
    "Newexten",
    "DeviceStateChange",
    "SuccessfulAuth",
    "InvalidPassword",
    "RequestNotAllowed",
    "RequestBadFormat",
    "QueueMemberStatus",
    "FullyBooted",
}
_HEX = re.compile(r"-([0-9a-f]{8});([12])")
_PJSIP = re.compile(r"^(PJSIP/[^-]+)-([0-9a-f]{8})$")


@dataclass
class TraceRecord:
    kind: str
    conn: str
    t: float
    payload: bytes


def load(name: str) -> list[TraceRecord]:
    return [TraceRecord(k, c, t, p) for k, c, t, p in read_trace(str(TRACES / name))]


def rx_messages(records: list[TraceRecord], conn: str) -> list[bytes]:
    buf = b""
    out: list[bytes] = []
    for r in records:
        if r.kind != "RX" or r.conn != conn:
            continue
        buf += r.payload
        if buf.startswith(b"Asterisk Call Manager/"):
            buf = buf[buf.index(b"\r\n") + 2 :]
        while b"\r\n\r\n" in buf:
            raw, buf = buf.split(b"\r\n\r\n", 1)
            out.append(raw)
    return out


class Labeler:
    """Channel names -> C0;1, ids -> U0, bridges -> B0, in order of first appearance."""

    def __init__(self) -> None:
        self.chan_base: dict[str, str] = {}
        self.ids: dict[str, str] = {}
        self.bridges: dict[str, str] = {}

    def chan(self, name: str) -> str:
        m = _HEX.search(name)
        if m:
            base = name[: m.start()] + "-" + m.group(1)
            label = self.chan_base.setdefault(base, f"C{len(self.chan_base)}")
            return f"{name[: m.start()]}-{label};{m.group(2)}"
        return name

    def uid(self, value: str) -> str:
        if value in ("", "<unknown>"):
            return value
        return self.ids.setdefault(value, f"U{len(self.ids)}")

    def bridge(self, value: str) -> str:
        return self.bridges.setdefault(value, f"B{len(self.bridges)}")


@dataclass
class Normalised:
    events: list[Message] = field(default_factory=list)
    per_channel: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    cdrs: list[tuple[str, str, str]] = field(default_factory=list)
    linked: dict[str, str] = field(default_factory=dict)
    uniq: dict[str, str] = field(default_factory=dict)
    responses: list[tuple[str, str]] = field(default_factory=list)
    #: Getvar answers (variable, value with channel names relabelled)
    getvars: list[tuple[str, str]] = field(default_factory=list)
    #: list items of CoreShowChannels/Status: (event, channel, Application, Variable lines)
    items: list[tuple[str, str, str, tuple[str, ...]]] = field(default_factory=list)


CHANNEL_KEYS = ("Channel", "DestChannel", "LocalOneChannel", "SpyerChannel", "TransfererChannel")


def normalise(msgs: list[Message]) -> Normalised:
    lab = Labeler()
    out = Normalised()
    for m in msgs:  # ids are labelled in Newchannel order (a Cdr can precede its Newchannel)
        if m and m[0] == ("Event", "Newchannel"):
            lab.uid(dict(m).get("Uniqueid", ""))
    for m in msgs:
        if not m:
            continue
        key0, val0 = m[0]
        if key0 == "Response":
            msg = next((v for k, v in m if k == "Message"), "")
            out.responses.append((val0, _CHAN_IN_TEXT.sub(lambda x: lab.chan(x.group(0)), msg)))
            got = dict(m)
            if "Variable" in got and "Value" in got:
                out.getvars.append((got["Variable"], lab.chan(got["Value"])))
            continue
        if key0 != "Event" or val0 in IGNORED:
            continue
        nm: Message = []
        for k, v in m:
            if k.endswith("Channel") or k == "Channel":
                v = lab.chan(v)
            elif k.endswith(("Uniqueid", "Linkedid")) or k == "UniqueID":
                v = lab.uid(v)
            elif k.endswith("BridgeUniqueid"):
                v = lab.bridge(v)
            elif k.startswith("ChanVariable(") or k == "CommandId":
                continue
            nm.append((k, v))
        out.events.append(nm)
        d = dict(reversed(nm))
        ev = val0
        if ev in ("CoreShowChannel", "Status"):
            varlines = tuple(_relabel(lab, k2) + "=" + _relabel(lab, v2) for k2, v2 in _vars(nm))
            out.items.append((ev, d.get("Channel", ""), d.get("Application", ""), varlines))
        if ev == "Cdr":
            out.cdrs.append((d.get("Channel", ""), d.get("Disposition", ""), d.get("DestinationChannel", "")))
            continue
        if "Channel" in d and "Uniqueid" in d:
            out.linked[d["Channel"]] = d.get("Linkedid", "")
            out.uniq[d["Channel"]] = d["Uniqueid"]
        desc = ev
        for extra in ("ChannelState", "Cause", "DialStatus", "Command", "Result"):
            if extra in d:
                desc += f" {extra}={d[extra]}"
        if ev.startswith("Dial"):
            if "Channel" in d:
                out.per_channel[d["Channel"]].append(f"{ev}(caller) DialStatus={d.get('DialStatus', '')}")
            out.per_channel[d["DestChannel"]].append(
                f"{ev}(dest) State={d.get('DestChannelState')} DialStatus={d.get('DialStatus', '')}"
            )
            continue
        if ev == "LocalBridge":
            out.per_channel[d["LocalOneChannel"]].append("LocalBridge")
            continue
        if ev in ("ChanSpyStart", "ChanSpyStop"):
            out.per_channel[d["SpyerChannel"]].append(f"{ev}(spyer)")
            out.per_channel[d["SpyeeChannel"]].append(f"{ev}(spyee)")
            continue
        if ev in ("BlindTransfer", "AttendedTransfer"):
            continue
        if "Channel" in d:
            out.per_channel[d["Channel"]].append(desc)
    return out


def _responses(client: AmiClient) -> int:
    return sum(1 for m in client.msgs if m and m[0][0] == "Response")


_CHAN_IN_TEXT = re.compile(r"(?:Local|PJSIP)/\S+")
_UID = re.compile(r"\d{9,}\.\d+")


def _vars(m: Message) -> list[tuple[str, str]]:
    return [(v.split("=", 1)[0], v.split("=", 1)[-1]) for k, v in m if k == "Variable"]


def _relabel(lab: Labeler, value: str) -> str:
    return lab.uid(value) if _UID.fullmatch(value) else lab.chan(value)


def trace_messages(name: str, conn: str = "ami1") -> list[Message]:
    return [parse(raw) for raw in rx_messages(load(name), conn)]


class ReplayAgi:
    """A FastAGI server that sends the recorded commands of each ``aginN`` session in order."""

    def __init__(self, records: list[TraceRecord], speed: float) -> None:
        self.speed = speed
        self.sessions: dict[str, list[TraceRecord]] = defaultdict(list)
        for r in records:
            if r.conn.startswith("agi"):
                self.sessions[r.conn].append(r)
        self.order = sorted(self.sessions, key=lambda c: int(c[3:]))
        self.rx: dict[str, list[str]] = defaultdict(list)
        self.envs: dict[str, dict[str, str]] = {}
        self.server: asyncio.Server | None = None
        self.port = 0
        self.done = asyncio.Event()
        self._n = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = self.order[self._n] if self._n < len(self.order) else f"agi{self._n + 1}"
        self._n += 1
        env: dict[str, str] = {}
        while True:
            line = (await reader.readline()).decode()
            if line in ("\n", ""):
                break
            k, _, v = line.rstrip("\n").partition(": ")
            env[k] = v
        self.envs[conn] = env
        recs = self.sessions.get(conn, [])
        last_t = next((r.t for r in recs if r.kind == "RX"), 0.0)
        got = self.rx[conn]
        try:
            for r in recs:
                if r.kind == "RX":
                    last_t = r.t
                elif r.kind == "TX":
                    await asyncio.sleep(max(0.0, r.t - last_t) / self.speed)
                    writer.write(r.payload)
                    await writer.drain()
                    while True:
                        line = (await reader.readline()).decode()
                        if not line:
                            return
                        got.append(line.rstrip("\n"))
                        if line[:1].isdigit():
                            break
                elif r.kind == "CLOSE":
                    await asyncio.sleep(max(0.0, r.t - last_t) / self.speed)
                    writer.write_eof()
                    while line := (await reader.readline()).decode():
                        got.append(line.rstrip("\n"))
                    return
        finally:
            writer.close()


async def replay(
    name: str, speed: float = 20.0, tail: float = 2.0, conn: str = "ami1", **overrides: Any
) -> tuple[list[Message], ReplayAgi, AmiClient]:
    """Replay the AMI actions of ``conn`` (and FastAGI sessions) on a fresh simulator.
    ``overrides`` are SimConfig fields (``dialplan="project"`` for the project-dialplan traces)."""
    msgs, agi, clients = await replay_sessions(name, speed, tail, (conn,), **overrides)
    return msgs[conn], agi, clients[conn]


async def replay_sessions(
    name: str, speed: float = 20.0, tail: float = 2.0, conns: tuple[str, ...] = ("ami1",), **overrides: Any
) -> tuple[dict[str, list[Message]], ReplayAgi, dict[str, AmiClient]]:
    """Replay the AMI sessions ``conns`` of a trace in their recorded order on one simulator. The
    recorder's notes of a ``kill -9`` and of the new start become ``Simulator.crash()``/``restart()``."""
    ami_records = load(name + ".ami")
    agi_path = TRACES / (name + ".agi")
    agi_records = load(name + ".agi") if agi_path.exists() else []
    agi = ReplayAgi(agi_records, speed)
    await agi.start()
    cfg = SimConfig(
        ami_port=0,
        agi_port=agi.port,
        trace_agents=True,
        speed=speed,
        auth_fail_delay=1.0 / speed,
        seed=7,
        event_filter="all",
    )
    cfg = dataclasses.replace(cfg, **overrides)
    sim = Simulator(cfg)
    await sim.start()
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    clients: dict[str, AmiClient] = {}
    trace_labs = {c: Labeler() for c in conns}
    sim_labs = {c: Labeler() for c in conns}
    trace_rx = {c: rx_messages(ami_records, c) for c in conns}
    sent = dict.fromkeys(conns, 0)
    last_tx = -1.0
    try:
        for r in ami_records:
            if r.kind == "NOTE" and "SIGKILL" in r.payload.decode():
                await asyncio.sleep(max(0.0, t0 + r.t / speed - loop.time()))
                # the trace got its answers before the kill: compressed time must not outrun them
                for c, cl in clients.items():
                    await cl.wait_for(lambda m, c=c: _responses(clients[c]) >= sent[c], limit=5)
                await sim.crash()
                continue
            if r.kind == "NOTE" and "starts Asterisk again" in r.payload.decode():
                await asyncio.sleep(max(0.0, t0 + r.t / speed - loop.time()))
                await sim.restart(delay=0.0)
                continue
            if r.conn not in conns:
                continue
            conn = r.conn
            if r.kind == "OPEN":
                await asyncio.sleep(max(0.0, t0 + r.t / speed - loop.time()))
                clients[conn] = await AmiClient.connect(sim.ami_port)
            client = clients.get(conn)
            if r.kind != "TX" or client is None:
                continue
            delay = t0 + r.t / speed - loop.time()
            if delay > 0 or r.t - last_tx > 0.0005:
                await asyncio.sleep(max(0.0, delay))
            # else: actions the recorder sent together stay together (no loop turn in between)
            last_tx = r.t
            # label the channel names of both streams, then map trace names to sim names
            text = r.payload.decode()
            trace_lab, sim_lab = trace_labs[conn], sim_labs[conn]
            for raw in trace_rx[conn]:
                for k, v in parse(raw):
                    if k.endswith("Channel"):
                        trace_lab.chan(v)
            for m in client.msgs:
                for k, v in m:
                    if k.endswith("Channel"):
                        sim_lab.chan(v)
            reverse = {label: base for base, label in sim_lab.chan_base.items()}
            for base, label in trace_lab.chan_base.items():
                if base in text and label in reverse:
                    text = text.replace(base, reverse[label])
            client.send_raw(text.encode())
            sent[conn] += 1
        await asyncio.sleep(tail / speed)
        for client in clients.values():
            await asyncio.wait_for(client.closed.wait(), 5)
        return {c: list(cl.msgs) for c, cl in clients.items()}, agi, clients
    finally:
        for client in clients.values():
            await client.close()
        await sim.stop()
        await agi.stop()
