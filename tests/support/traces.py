"""Real AMI transcripts (``tests/fixtures/pbx-traces/*.ami``) for tests:
 reading them and replaying them over TCP.

Reading
-------
``TRACES_DIR``                the folder (``$CALLCENTER_TRACES_DIR`` or ``tests/fixtures/pbx-traces``)
``ami_traces()``              every ``*.ami`` path, sorted
``read_trace(path)``          yields ``TraceRecord(kind, conn, t, payload)`` (kind RX/TX/OPEN/CLOSE/EOF/NOTE)
``connections(path)``         AMI connection labels in order of first appearance (``ami1``, ``ami2``, …)
``rx_chunks(path, conn)``     that connection's RX payloads, one per real ``recv()``
``rx_stream(path, conn)``     their concatenation (the exact byte stream Asterisk sent)
``split_frames(stream)``      the messages of a stream split on ``\\r\\n\\r\\n`` (banner glued to the first)
``RESTART_OBSERVER``          the observer's connections in ``restart.ami`` in reconnect order; ``ami3`` and
                              ``ami9`` are the resets before the banner (fact 29)

Replaying
---------
``TraceReplayServer(path, conns=("ami1",), *, chunk_delay=0.0, drop_list_items=True, close_last=False,
start_after="CoreShowChannels", **FakeAmiServer_kwargs)`` is a :class:`FakeAmiServer` whose *n*-th accepted
connection serves ``conns[n-1]`` of the trace:

* a part with no RX bytes (``ami3``/``ami9`` of restart.ami) is a TCP reset right after accept;
* otherwise the trace's own banner is sent, the client logs in (our secret is checked as usual), and once
  the client's resync was answered (``start_after``: the first action of that name; ``None`` = right
  after the login reply), so that ``ResyncComplete`` deterministically precedes the replayed events,
  the part's RX bytes are streamed **with the trace's chunk boundaries** (one write per
  recorded ``recv()``, ``chunk_delay`` seconds apart; TCP may still coalesce them), minus:
  - every ``Response:`` message (replies to the recorder's own actions; our link never sent them),
  - with ``drop_list_items`` (default), the events carrying the ActionID of a recorder *list* action
    (CoreShowChannel, Status, QueueMember, …: Asterisk only sends those to the session that asked);
  the rest (FullyBooted, SuccessfulAuth, OriginateResponse with the recorder's ActionID, Shutdown, …) is kept;
* our own actions are answered in between (Ping, CoreShowChannels with ``channels=``, QueueStatus, Logoff,
  handlers from ``on_action``), never in the middle of a replayed frame;
* when the part ends with an ``EOF`` record the server closes the connection (FIN), except for the last
  part unless ``close_last=True``; the client then reconnects and gets the next part;
* connections beyond ``len(conns)`` behave like a plain ``FakeAmiServer`` (login, pings, empty resync).

``server.parts_done`` counts finished parts; ``await server.wait_replayed(within)`` waits until every
part was streamed (the client may still be processing: wait on your own sink after that).
``server.replayed_frames`` counts replayed messages per part label.

Example (end to end)::

    async with TraceReplayServer(trace_path("restart.ami"), RESTART_OBSERVER) as srv:
        link = AmiLink(srv.settings(), sink.append)
        await link.start(); await link.wait_ready(5)
        await srv.wait_replayed(10)
        await link.close()          # delivers what is still queued
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from callcenter.pbx.message import AmiMessage, parse_frame
from tests.support.ami_server import FakeAmiConnection, FakeAmiServer, reset_writer
from tests.support.trace_messages import TRACES_DIR

RESTART_OBSERVER: tuple[str, ...] = ("ami1", "ami3", "ami4", "ami6", "ami8", "ami9", "ami10")


@dataclass(frozen=True, slots=True)
class TraceRecord:
    kind: str
    conn: str
    t: float
    payload: bytes


def trace_path(name: str) -> Path:
    return TRACES_DIR / name


def ami_traces() -> list[Path]:
    return sorted(TRACES_DIR.glob("*.ami"))


def read_trace(path: str | os.PathLike[str]) -> Iterator[TraceRecord]:
    """Yield the records of a trace file (format: the traces' README); header lines skipped."""
    data = Path(path).read_bytes()
    pos = 0
    while pos < len(data):
        eol = data.index(b"\n", pos)
        line = data[pos:eol]
        pos = eol + 1
        if line.startswith(b"# ") or line == b"#":
            continue
        if not line.startswith(b"@@ "):
            raise ValueError(f"bad record header at byte {pos}: {line[:60]!r}")
        _, kind, conn, t, n = line.decode().split(" ")
        size = int(n)
        payload = data[pos : pos + size]
        pos += size
        if data[pos : pos + 1] != b"\n":
            raise ValueError(f"missing record separator at byte {pos}")
        pos += 1
        yield TraceRecord(kind, conn, float(t), payload)


def connections(path: str | os.PathLike[str]) -> list[str]:
    seen: list[str] = []
    for rec in read_trace(path):
        if rec.conn.startswith("ami") and rec.conn not in seen:
            seen.append(rec.conn)
    return seen


def rx_chunks(path: str | os.PathLike[str], conn: str) -> list[bytes]:
    return [r.payload for r in read_trace(path) if r.kind == "RX" and r.conn == conn]


def rx_stream(path: str | os.PathLike[str], conn: str) -> bytes:
    return b"".join(rx_chunks(path, conn))


def split_frames(stream: bytes) -> list[bytes]:
    """Messages of a stream (the trailing remainder, normally empty, is not a message)."""
    return stream.split(b"\r\n\r\n")[:-1]


def ended_with_eof(path: str | os.PathLike[str], conn: str) -> bool:
    return any(r.kind == "EOF" and r.conn == conn for r in read_trace(path))


@dataclass(slots=True)
class ReplayPart:
    """One connection of a trace, prepared for replay."""

    conn: str
    banner: bytes
    chunks: list[bytes]  # filtered, with the original boundaries (empty chunks removed)
    boundary_after: list[bool]  # True when the stream is between two messages after chunks[i]
    frames: int
    eof: bool
    times: list[float] = field(default_factory=list)  # trace time of each chunk (for timed replays)


def prepare_part(path: str | os.PathLike[str], conn: str, *, drop_list_items: bool = True) -> ReplayPart:
    timed = [(r.t, r.payload) for r in read_trace(path) if r.kind == "RX" and r.conn == conn]
    chunks = [payload for _, payload in timed]
    stream = b"".join(chunks)
    eof = ended_with_eof(path, conn)
    if not stream:
        return ReplayPart(conn, b"", [], [], 0, eof)
    eol = stream.index(b"\r\n") + 2
    banner = stream[:eol]
    # spans (start, end) of every message in the stream after the banner, end includes \r\n\r\n
    spans: list[tuple[int, int, bytes]] = []
    pos = eol
    while (end := stream.find(b"\r\n\r\n", pos)) >= 0:
        spans.append((pos, end + 4, stream[pos:end]))
        pos = end + 4
    list_ids: set[str] = set()
    keep: list[bool] = []
    for _, _, raw in spans:
        msg = parse_frame(raw) if raw.strip() else None
        if msg is None:
            keep.append(True)
            continue
        if msg.response is not None:
            if (msg.get("EventList") or "").lower() == "start" and msg.action_id:
                list_ids.add(msg.action_id)
            keep.append(False)
        elif drop_list_items and msg.event is not None and msg.action_id in list_ids:
            keep.append(False)
        else:
            keep.append(True)
    removed = [(s, e) for (s, e, _), k in zip(spans, keep, strict=True) if not k]
    removed.insert(0, (0, eol))  # the banner is sent on its own
    out_chunks: list[bytes] = []
    out_times: list[float] = []
    boundary: list[bool] = []
    boundaries = {e for s, e, _ in spans} | {eol}
    offset = 0
    for chunk_t, chunk in timed:
        start, end = offset, offset + len(chunk)
        offset = end
        pieces: list[bytes] = []
        cur = start
        for s, e in removed:
            if e <= cur or s >= end:
                continue
            if s > cur:
                pieces.append(stream[cur:s])
            cur = max(cur, e)
        if cur < end:
            pieces.append(stream[cur:end])
        data = b"".join(pieces)
        if data:
            out_chunks.append(data)
            out_times.append(chunk_t)
            boundary.append(end in boundaries or _ends_at_removed(end, removed))
    frames = sum(1 for k in keep if k)
    return ReplayPart(conn, banner, out_chunks, boundary, frames, eof, out_times)


def _ends_at_removed(end: int, removed: Sequence[tuple[int, int]]) -> bool:
    return any(s < end <= e for s, e in removed)


class TraceReplayServer(FakeAmiServer):
    """See the module docstring."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        conns: Sequence[str] = ("ami1",),
        *,
        chunk_delay: float = 0.0,
        drop_list_items: bool = True,
        close_last: bool = False,
        start_after: str | None = "CoreShowChannels",
        speed: float | None = None,
        max_gap: float = 1.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.start_after = start_after.lower() if start_after else None
        self.path = Path(path)
        self.parts = [prepare_part(path, c, drop_list_items=drop_list_items) for c in conns]
        self.chunk_delay = chunk_delay
        #: with ``speed``, chunks are sent at the trace's own pace divided by ``speed`` (gaps capped
        #: at ``max_gap`` real seconds, for the long idle stretches of restart.ami)
        self.speed = speed
        self.max_gap = max_gap
        self.close_last = close_last
        self.parts_done = 0
        self.replayed_frames: dict[str, int] = {}
        self._all_done = asyncio.Event()
        self._replays: set[asyncio.Task[None]] = set()

    async def wait_replayed(self, within: float = 10.0) -> None:
        await asyncio.wait_for(self._all_done.wait(), within)

    async def close(self) -> None:
        for task in list(self._replays):
            task.cancel()
        await asyncio.gather(*self._replays, return_exceptions=True)
        await super().close()

    def _part_for(self, accepted: int) -> ReplayPart | None:
        return self.parts[accepted - 1] if accepted <= len(self.parts) else None

    def _part_finished(self) -> None:
        self.parts_done += 1
        if self.parts_done >= len(self.parts):
            self._all_done.set()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        part = self._part_for(self.accepted)
        if part is not None and not part.banner:
            self.resets += 1
            reset_writer(writer)
            self._part_finished()
            return
        if part is not None:
            conn = FakeAmiConnection(self, self.accepted, reader, writer)
            conn.banner = part.banner
            conn.part = part
            conn.send_fully_booted = False  # the trace has its own
            self.connections.append(conn)
            await conn.serve()
            return
        await super()._handle(reader, writer)

    async def after_login(self, conn: FakeAmiConnection) -> None:
        if self.start_after is None:
            self._start_replay(conn)

    async def after_action(self, conn: FakeAmiConnection, msg: AmiMessage) -> None:
        if self.start_after is not None and (msg.get("Action") or "").lower() == self.start_after:
            self._start_replay(conn)

    def _start_replay(self, conn: FakeAmiConnection) -> None:
        part: ReplayPart | None = conn.part
        if part is None or conn.replaying:
            return
        conn.replaying = True
        task = asyncio.create_task(self._replay(conn, part))
        self._replays.add(task)
        task.add_done_callback(self._replays.discard)

    async def _replay(self, conn: FakeAmiConnection, part: ReplayPart) -> None:
        # let the login reply go out first (the serve loop holds no lock between actions)
        await asyncio.sleep(0)
        lock = conn.write_lock
        holding = False
        previous_t = part.times[0] if part.times else 0.0
        try:
            for i, (chunk, at_boundary) in enumerate(zip(part.chunks, part.boundary_after, strict=True)):
                if conn.writer.is_closing():
                    break
                if self.speed and part.times and not holding:
                    gap = min((part.times[i] - previous_t) / self.speed, self.max_gap)
                    previous_t = part.times[i]
                    if gap > 0:
                        await asyncio.sleep(gap)
                if not holding:
                    await lock.acquire()
                    holding = True
                await conn._write(chunk)
                if at_boundary:
                    lock.release()
                    holding = False
                if self.chunk_delay:
                    await asyncio.sleep(self.chunk_delay)
                else:
                    await asyncio.sleep(0)
        finally:
            if holding:
                lock.release()
        self.replayed_frames[part.conn] = part.frames
        is_last = part is self.parts[-1]
        if part.eof and (not is_last or self.close_last):
            await conn.close()
        self._part_finished()
