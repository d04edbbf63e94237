"""Write-ahead journal of call records: what the recorder holds but the store does not have yet.

The recorder (``services/records``) batches call snapshots for the database (one transaction per
second or per ``flush_size`` records). Without a journal a SIGKILL of the service loses every change of
the last batch window, and a call that started and ended inside it is never stored at all (measured:
17 calls). So every snapshot the recorder takes from the tracker is appended here first, *before* it
waits in the batch: one ``os.write`` of JSON lines per collection (the kernel's page cache keeps what
was written when the process dies; no ``fsync``, see the README "What a crash can lose").

Layout: numbered segment files ``<path>.<n>`` (``n`` counts up). The recorder rotates to a new segment
when a database write starts and releases (deletes) the older segments once that write has stored
everything that was pending: every record in a released segment is in the store or superseded by a
newer version that is. At start, ``recover`` reads every segment left over (a crash), and the recorder
writes their newest version per call before the PBX link starts; the store keeps the highest version,
so replaying a record twice changes nothing.

The file I/O is small and synchronous on purpose: an append is one ``os.write`` of a few kilobytes to
the page cache (measured in ``bench/journal.py``), cheaper than handing it to a thread; the startup
read runs in a thread.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from callcenter.domain.calls import (
    CallOutcome,
    CallRecord,
    HangupSide,
    LegRecord,
    LegRole,
    OfferRecord,
    TransferRecord,
)

log = logging.getLogger(__name__)

_VERSION = 1  # the line format; a line of another format is skipped (logged)
#: one encoder for every line (``json.dumps`` with options builds a new one per call); the dicts are
#: fresh and acyclic, so the circular-reference check is skipped
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, check_circular=False)


def encode(record: CallRecord) -> dict[str, Any]:
    """A call record as a JSON-ready dict (the journal's line format)."""
    return {
        "f": _VERSION,
        "call_id": record.call_id,
        "started_at": record.started_at,
        "direction": record.direction,
        "caller_num": record.caller_num,
        "caller_name": record.caller_name,
        "dnis": record.dnis,
        "queue": record.queue,
        "agent": record.agent,
        "ivr_at": record.ivr_at,
        "queued_at": record.queued_at,
        "offered_at": record.offered_at,
        "answered_at": record.answered_at,
        "ended_at": record.ended_at,
        "wait_seconds": record.wait_seconds,
        "talk_seconds": record.talk_seconds,
        "hold_seconds": record.hold_seconds,
        "outcome": record.outcome.value,
        "hangup_cause": record.hangup_cause,
        "hangup_by": None if record.hangup_by is None else record.hangup_by.value,
        "recording_file": record.recording_file,
        "legs": [
            [
                leg.uniqueid,
                leg.call_id,
                leg.channel,
                leg.role.value,
                leg.started_at,
                leg.agent,
                leg.answered_at,
                leg.ended_at,
                leg.hangup_cause,
                leg.dial_status,
            ]
            for leg in record.legs
        ],
        "offers": [
            [o.agent, o.uniqueid, o.rang_at, o.ended_at, o.answered, o.dial_status] for o in record.offers
        ],
        "transfers": [[t.at, t.kind, t.target, t.from_agent] for t in record.transfers],
        "version": record.version,
        "extra": record.extra,
    }


def decode(data: dict[str, Any]) -> CallRecord:
    """The inverse of ``encode``; raises ``KeyError``/``ValueError``/``TypeError`` on a bad line."""
    if data.get("f") != _VERSION:
        raise ValueError(f"journal line format {data.get('f')!r}")
    legs = tuple(
        LegRecord(
            uniqueid=u,
            call_id=c,
            channel=ch,
            role=LegRole(role),
            started_at=float(st),
            agent=ag,
            answered_at=ans,
            ended_at=end,
            hangup_cause=cause,
            dial_status=ds,
        )
        for u, c, ch, role, st, ag, ans, end, cause, ds in data["legs"]
    )
    offers = tuple(
        OfferRecord(agent=a, uniqueid=u, rang_at=float(r), ended_at=e, answered=bool(ok), dial_status=ds)
        for a, u, r, e, ok, ds in data["offers"]
    )
    transfers = tuple(
        TransferRecord(at=float(at), kind=k, target=t, from_agent=f) for at, k, t, f in data["transfers"]
    )
    hangup_by = data["hangup_by"]
    return CallRecord(
        call_id=str(data["call_id"]),
        started_at=float(data["started_at"]),
        direction=data["direction"],
        caller_num=data["caller_num"],
        caller_name=data["caller_name"],
        dnis=data["dnis"],
        queue=data["queue"],
        agent=data["agent"],
        ivr_at=data["ivr_at"],
        queued_at=data["queued_at"],
        offered_at=data["offered_at"],
        answered_at=data["answered_at"],
        ended_at=data["ended_at"],
        wait_seconds=data["wait_seconds"],
        talk_seconds=float(data["talk_seconds"]),
        hold_seconds=float(data["hold_seconds"]),
        outcome=CallOutcome(data["outcome"]),
        hangup_cause=data["hangup_cause"],
        hangup_by=None if hangup_by is None else HangupSide(hangup_by),
        recording_file=data["recording_file"],
        legs=legs,
        offers=offers,
        transfers=transfers,
        version=int(data["version"]),
        extra={str(k): str(v) for k, v in data["extra"].items()},
    )


def newest(records: Iterable[CallRecord]) -> dict[str, CallRecord]:
    """The highest version of each call."""
    out: dict[str, CallRecord] = {}
    for record in records:
        seen = out.get(record.call_id)
        if seen is None or record.version >= seen.version:
            out[record.call_id] = record
    return out


class CallJournal:
    """Append-only segments ``<path>.<n>``; see the module docstring."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._fd: int | None = None
        self._segment = 0
        self.appended = 0  # records
        self.bytes_written = 0
        self.bad_lines = 0
        self.write_errors = 0

    # --- start ---------------------------------------------------------------------------
    def segments(self) -> list[tuple[int, Path]]:
        """The segment files on disk, oldest first."""
        directory = self.path.parent
        if not directory.is_dir():
            return []
        prefix = self.path.name + "."
        out: list[tuple[int, Path]] = []
        for entry in directory.iterdir():
            suffix = entry.name[len(prefix) :] if entry.name.startswith(prefix) else ""
            if suffix.isdigit():
                out.append((int(suffix), entry))
        return sorted(out)

    def recover(self) -> list[CallRecord]:
        """Read what a previous process left (blocking: run it in a thread, before ``open``).
        A torn last line (the process died mid-write) or a bad line is skipped and counted."""
        records: list[CallRecord] = []
        for number, path in self.segments():
            self._segment = max(self._segment, number)
            with path.open("rb") as fh:
                for raw in fh:
                    if not raw.strip():
                        continue
                    try:
                        records.append(decode(json.loads(raw)))
                    except (ValueError, KeyError, TypeError) as exc:
                        self.bad_lines += 1
                        log.warning("journal line skipped", extra={"segment": str(path), "error": str(exc)})
        return list(newest(records).values())

    def open(self) -> None:
        """Start a fresh segment after the ones on disk (their data stays until released)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._open_next()

    def _open_next(self) -> None:
        self._segment += 1
        name = f"{self.path}.{self._segment:06d}"
        self._fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    # --- running -------------------------------------------------------------------------
    def append(self, records: Sequence[CallRecord]) -> None:
        """One write of one line per record. A failed write is logged and counted (the records are
        still pending for the store: only the crash window is affected)."""
        if not records or self._fd is None:
            return
        line = _ENCODER.encode
        blob = "".join([line(encode(r)) + "\n" for r in records]).encode()
        try:
            view = memoryview(blob)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
        except OSError as exc:
            self.write_errors += 1
            if self.write_errors == 1 or self.write_errors % 1000 == 0:
                log.error("call journal write failed", extra={"error": str(exc), "errors": self.write_errors})
            return
        self.appended += len(records)
        self.bytes_written += len(blob)

    def rotate(self) -> int:
        """Close the current segment and start the next; returns the number of the closed one."""
        closed = self._segment
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self._open_next()
        return closed

    def release(self, upto: int) -> None:
        """Delete the segments numbered ``upto`` and below (their records are in the store)."""
        for number, path in self.segments():
            if number > upto:
                break
            try:
                path.unlink()
            except FileNotFoundError:
                pass
            except OSError as exc:
                log.error("call journal segment not removed", extra={"segment": str(path), "error": str(exc)})

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def stats(self) -> dict[str, int]:
        return {
            "appended": self.appended,
            "bytes": self.bytes_written,
            "segment": self._segment,
            "bad_lines": self.bad_lines,
            "write_errors": self.write_errors,
        }
