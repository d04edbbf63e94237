"""AMI ingest benchmark: recorded traffic over loopback at full speed through link, tracker and store.

A separate process plays the PBX: it logs us in and then writes, as fast as the socket takes it, the
events of N copies of the real ``ivr-to-agent`` call (every id, channel name and bridge renamed per
copy), interleaved so that about ``--concurrent`` calls are live at once. This process runs the real
service path: ``AmiLink`` (panoramisk protocol, bounded queue, one consumer) → ``Translator`` →
``CallTracker`` → ``CallRecorder`` → ``SqlCrmStore`` (SQLite file, WAL, batches).

Phase 1 prints events/s and calls/s end to end (until every call is in the database).
Phase 2 streams only the first half of 10,000 calls (none ends) and prints the RSS growth per live call.

    .venv/bin/python bench/ami_ingest.py [--calls 4000] [--concurrent 200] [--live 10000] [--filtered]

``--filtered`` applies the ``read=`` classes and ``eventfilter`` lines of ``dialplan/manager.conf``
(``callcenter.sim.eventfilter``, manager.c's semantics) to the fake PBX's stream, as a real Asterisk does.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import multiprocessing as mp
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from tests.support.trace_messages import TRACES_DIR, read_records  # noqa: E402

from callcenter.config import Secret, Settings  # noqa: E402
from callcenter.domain.calls import CallQuery  # noqa: E402
from callcenter.domain.events import PbxEvent  # noqa: E402
from callcenter.logging_setup import setup_logging  # noqa: E402
from callcenter.pbx.ami import AmiLink  # noqa: E402
from callcenter.pbx.message import AmiMessage  # noqa: E402
from callcenter.pbx.translate import Translator  # noqa: E402
from callcenter.services.journal import CallJournal  # noqa: E402
from callcenter.services.records import CallRecorder  # noqa: E402
from callcenter.services.tracker import CallTracker  # noqa: E402
from callcenter.sim.eventfilter import account_for, read_mask  # noqa: E402
from callcenter.store.crm import create_store  # noqa: E402
from callcenter.store.migrate import migrate  # noqa: E402

TEMPLATE = "ivr-to-agent.ami"
SHIPPED = account_for("callcenter", "", "shipped")


def shipped_passes(frame: bytes) -> bool:
    """What the shipped manager.conf account lets through (read= classes, then the eventfilter)."""
    head = frame.split(b"\r\n", 2)
    privilege = head[1][len(b"Privilege: ") :].decode() if len(head) > 1 else "all"
    cls = read_mask(privilege.replace(",all", ""))
    return SHIPPED.may_read(cls) and SHIPPED.passes(frame)


def template_frames(filtered: bool) -> list[tuple[float, bytes]]:
    """(time, frame) of every event of the template call, responses and login noise removed."""
    buf = b""
    out: list[tuple[float, bytes]] = []
    for kind, conn, t, payload in read_records(TRACES_DIR / TEMPLATE):
        if kind != "RX" or conn != "ami1":
            continue
        buf += payload
        if buf.startswith(b"Asterisk Call Manager/"):
            buf = buf.split(b"\r\n", 1)[1]
        *frames, buf = buf.split(b"\r\n\r\n")
        for frame in frames:
            if not frame.startswith(b"Event: ") or frame.startswith(
                (b"Event: FullyBooted", b"Event: Success")
            ):
                continue
            if frame.startswith(b"Event: OriginateResponse"):
                continue
            if filtered and not shipped_passes(frame + b"\r\n"):
                continue
            out.append((t, frame + b"\r\n\r\n"))
    return out


def renamed(frames: list[tuple[float, bytes]], index: int) -> list[tuple[float, bytes]]:
    """A copy of the template call with every id unique to ``index``."""
    base = 1_800_000_000 + index
    subs = {
        b"1795439030.2": f"{base}.{4 * index}".encode(),
        b"1795439030.3": f"{base}.{4 * index + 1}".encode(),
        b"1795439033.4": f"{base}.{4 * index + 2}".encode(),
        b"1795439033.5": f"{base}.{4 * index + 3}".encode(),
        b"incoming-00000001": f"incoming-{2 * index:08x}".encode(),
        b"agents-00000002": f"agents-{2 * index + 1:08x}".encode(),
        b"0a8dff38-7e5b-49b8-9006-46a2f4b81a73": f"bench-bridge-{index:012d}".encode(),
    }
    out = []
    for t, frame in frames:
        for old, new in subs.items():
            frame = frame.replace(old, new)
        out.append((t, frame))
    return out


def build_stream(
    calls: int, concurrent: int, filtered: bool, first_half_only: bool = False
) -> tuple[bytes, int]:
    frames = template_frames(filtered)
    duration = frames[-1][0] - frames[0][0]
    if first_half_only:  # up to (and including) the agent's answer: every call stays live
        answer = next(i for i, (_, f) in enumerate(frames) if f.startswith(b"Event: BridgeEnter"))
        frames = frames[: answer + 2]
    spacing = duration / max(1, concurrent)
    timeline: list[tuple[float, int, bytes]] = []
    for i in range(calls):
        offset = i * spacing
        for seq, (t, frame) in enumerate(renamed(frames, i)):
            timeline.append((offset + t, i * 1000 + seq, frame))
    timeline.sort()
    return b"".join(f for _, _, f in timeline), len(timeline)


# --- the fake PBX (separate process) -------------------------------------------------------------
def pbx_process(port_out: mp.connection.Connection, spec: tuple[int, int, bool, bool]) -> None:
    """The fake PBX. It builds the stream itself so its memory is not counted in the service's RSS."""
    stream, events = build_stream(*spec)
    port_out.send(events)

    async def serve() -> None:
        done = asyncio.Event()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(b"Asterisk Call Manager/11.0.0\r\n")
            sent_stream = False
            buf = b""
            while True:
                chunk = await reader.read(65536)
                if not chunk:
                    break
                buf += chunk
                while b"\r\n\r\n" in buf:
                    frame, buf = buf.split(b"\r\n\r\n", 1)
                    fields = dict(
                        line.split(": ", 1) for line in frame.decode().split("\r\n") if ": " in line
                    )
                    action = fields.get("Action", "").lower()
                    aid = fields.get("ActionID", "")
                    head = f"Response: Success\r\nActionID: {aid}\r\n".encode()
                    if action == "login":
                        writer.write(
                            head + b"Message: Authentication accepted\r\n\r\n"
                            b"Event: FullyBooted\r\nPrivilege: system,all\r\nStatus: Fully Booted\r\n\r\n"
                        )
                    elif action == "coreshowchannels":
                        writer.write(
                            head + b"EventList: start\r\nMessage: Channels will follow\r\n\r\n"
                            b"Event: CoreShowChannelsComplete\r\nActionID: "
                            + aid.encode()
                            + b"\r\nEventList: Complete\r\nListItems: 0\r\n\r\n"
                        )
                        if not sent_stream:
                            sent_stream = True
                            writer.write(stream)
                    elif action == "ping":
                        writer.write(head + b"Ping: Pong\r\nTimestamp: 0.0\r\n\r\n")
                    elif action == "logoff":
                        writer.write(head.replace(b"Success", b"Goodbye") + b"\r\n")
                        await writer.drain()
                        writer.close()
                        done.set()
                        return
                    else:
                        writer.write(head + b"\r\n")
                await writer.drain()
            done.set()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port_out.send(server.sockets[0].getsockname()[1])
        async with server:
            await done.wait()

    asyncio.run(serve())


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


async def run_phase(
    spec: tuple[int, int, bool, bool], db_path: str, *, expect_finished: bool, no_journal: bool = False
) -> dict[str, float]:
    calls = spec[0]
    parent, child = mp.Pipe()
    proc = mp.get_context("fork").Process(target=pbx_process, args=(child, spec), daemon=True)
    proc.start()
    events = parent.recv()
    port = parent.recv()
    settings = Settings(
        ami_port=port,
        ami_secret=Secret("bench"),
        ami_event_queue=int(os.environ.get("BENCH_QUEUE", "10000")),
        ami_ping_interval=30.0,
        database_url=f"sqlite+aiosqlite:///{db_path}",
        store_batch_size=1000,
        store_flush_interval=0.2,
    )
    url = settings.database_url
    await migrate(url)
    store = create_store(url)
    translator = Translator()
    tracker = CallTracker()
    journal = None if no_journal else CallJournal(url.split(":///", 1)[1] + ".journal")
    recorder = CallRecorder(store, tracker.take_changes, batch_size=1000, journal=journal)
    tracker.on_change(recorder.notify)
    await recorder.recover()
    received = 0

    def on_item(item: AmiMessage | PbxEvent) -> None:
        nonlocal received
        if isinstance(item, AmiMessage):
            received += 1
            event = translator(item)
            if event is not None:
                tracker.handle(event)
        else:
            tracker.handle(item)

    link = AmiLink(settings, on_item)
    recorder.start()
    gc.collect()
    rss_before = rss_mb()
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    await link.start()
    await link.wait_ready(10)
    last, last_change = -1, time.perf_counter()
    while received < events and time.perf_counter() - last_change < 5.0:  # stop if the stream stalls
        if received != last:
            last, last_change = received, time.perf_counter()
        await asyncio.sleep(0.01)
    t_events = time.perf_counter() - t0
    if expect_finished:
        deadline = time.perf_counter() + 30
        while (tracker.calls_finished < calls or recorder.pending) and time.perf_counter() < deadline:
            await asyncio.sleep(0.01)
        await recorder.flush()
    t_all = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    gc.collect()
    rss_live = rss_mb()
    live = tracker.live_calls
    await link.close()
    t_close = time.perf_counter()
    await recorder.close(timeout=60)
    t_close = time.perf_counter() - t_close
    stored = (await store.list_calls(CallQuery(limit=1))).total
    await store.close()
    proc.join(timeout=5)
    return {
        "events": events,
        "seconds_events": t_events,
        "seconds_all": t_all,
        "cpu": cpu,
        "rss_before": rss_before,
        "rss_live": rss_live,
        "live_calls": live,
        "stored": stored,
        "malformed": float(link.malformed_frames),
        "unknown": float(translator.stats()["unknown"]),
        "received": float(received),
        "close_seconds": t_close,
        "dropped": float(link.events_dropped),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=4000)
    parser.add_argument("--concurrent", type=int, default=200)
    parser.add_argument("--live", type=int, default=10_000)
    parser.add_argument("--filtered", action="store_true")
    parser.add_argument("--no-journal", action="store_true", help="the call records' journal off")
    args = parser.parse_args()
    setup_logging("WARNING")
    if not TRACES_DIR.is_dir():
        sys.exit(f"traces not found at {TRACES_DIR}; set CALLCENTER_TRACES_DIR")

    with tempfile.TemporaryDirectory() as tmp:
        print(f"phase 1: {args.calls} calls, ~{args.concurrent} live at once, filtered={args.filtered}")
        spec = (args.calls, args.concurrent, args.filtered, False)
        r = asyncio.run(
            run_phase(spec, os.path.join(tmp, "p1.db"), expect_finished=True, no_journal=args.no_journal)
        )
        print(f"  {r['events']:.0f} AMI events streamed")
        print(f"  events/s through link+translate+tracker : {r['events'] / r['seconds_events']:,.0f}")
        print(
            f"  end to end (all calls in SQLite)        : {r['events'] / r['seconds_all']:,.0f} events/s,"
            f" {args.calls / r['seconds_all']:,.0f} calls/s, {r['seconds_all']:.2f} s wall"
        )
        print(
            f"  CPU of this process                     : {r['cpu']:.2f} s"
            f" = {1e6 * r['cpu'] / r['events']:.1f} µs/event,"
            f" {1e3 * r['cpu'] / args.calls:.2f} ms/call"
        )
        print(
            f"  calls stored {r['stored']:.0f}/{args.calls}, events received {r['received']:.0f},"
            f" dropped {r['dropped']:.0f}, malformed {r['malformed']:.0f}, unknown {r['unknown']:.0f}"
        )

        print(f"phase 2: {args.live} calls left live (streamed up to the agent's answer)")
        spec = (args.live, args.live, args.filtered, True)
        r = asyncio.run(run_phase(spec, os.path.join(tmp, "p2.db"), expect_finished=False))
        grown = r["rss_live"] - r["rss_before"]
        print(
            f"  live calls {r['live_calls']:.0f}; RSS {r['rss_before']:.0f} MB → {r['rss_live']:.0f} MB"
            f" (+{grown:.0f} MB, {1024 * grown / max(1, r['live_calls']):.1f} KB per live call)"
        )
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"  peak RSS of the process: {peak:.0f} MB;"
            f" final flush of the live calls took {r['close_seconds']:.2f} s"
        )


if __name__ == "__main__":
    main()
