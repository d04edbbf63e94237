"""Recordings adapter (issue #8): file metadata, legal holds, the playback audit log, retention candidates."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from callcenter.domain.qa_recordings import Playback, RecordingInfo
from callcenter.store.engine import translate_errors
from callcenter.store.models import Call, Recording, RecordingHoldRow, RecordingPlaybackRow

_REC: Table = Recording.__table__  # type: ignore[assignment]
_CALLS: Table = Call.__table__  # type: ignore[assignment]
_HOLDS: Table = RecordingHoldRow.__table__  # type: ignore[assignment]
_PLAYS: Table = RecordingPlaybackRow.__table__  # type: ignore[assignment]


def _dt(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _ep(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


_SELECT = (
    select(
        _REC,
        _CALLS.c.started_at.label("call_started_at"),
        _CALLS.c.queue,
        _CALLS.c.agent_id,
        _HOLDS.c.by.label("hold_by"),
        _HOLDS.c.reason.label("hold_reason"),
        _HOLDS.c.recording_id.label("hold_id"),
    )
    .select_from(_REC)
    .join(_CALLS, _CALLS.c.id == _REC.c.call_id)
    .outerjoin(_HOLDS, _HOLDS.c.recording_id == _REC.c.id)
)


def _info(r: Any) -> RecordingInfo:
    return RecordingInfo(
        id=r["id"],
        call_id=r["call_id"],
        path=r["path"],
        started_at=_ep(r["started_at"]),
        size_bytes=r["size_bytes"],
        duration_seconds=r["duration_seconds"],
        sha256=r["sha256"],
        held=r["hold_id"] is not None,
        hold_by=r["hold_by"],
        hold_reason=r["hold_reason"] or "",
        call_started_at=_ep(r["call_started_at"]),
        queue=r["queue"],
        agent=r["agent_id"],
    )


class SqlRecordingStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def get_recording(self, recording_id: int) -> RecordingInfo | None:
        with translate_errors("get_recording"):
            async with self._engine.connect() as conn:
                row = (await conn.execute(_SELECT.where(_REC.c.id == recording_id))).mappings().first()
        return None if row is None else _info(row)

    async def recordings_for_call(self, call_id: str) -> list[RecordingInfo]:
        stmt = _SELECT.where(_REC.c.call_id == call_id).order_by(_REC.c.started_at, _REC.c.id)
        with translate_errors("recordings_for_call"):
            async with self._engine.connect() as conn:
                rows = (await conn.execute(stmt)).mappings().all()
        return [_info(r) for r in rows]

    async def recording_ids_for_calls(self, call_ids: Sequence[str]) -> dict[str, int]:
        """The first recording of each call that has one (the screen pop's play controls)."""
        if not call_ids:
            return {}
        stmt = (
            select(_REC.c.call_id, _REC.c.id)
            .where(_REC.c.call_id.in_(list(call_ids)))
            .order_by(_REC.c.started_at, _REC.c.id)
        )
        with translate_errors("recording_ids_for_calls"):
            async with self._engine.connect() as conn:
                rows = (await conn.execute(stmt)).all()
        out: dict[str, int] = {}
        for call_id, rid in rows:
            out.setdefault(call_id, rid)
        return out

    async def recordings_started_before(self, before: float, limit: int = 10_000) -> list[RecordingInfo]:
        """Recordings whose call started before ``before`` (oldest first): the purge candidates."""
        stmt = _SELECT.where(_CALLS.c.started_at < _dt(before)).order_by(_CALLS.c.started_at).limit(limit)
        with translate_errors("recordings_started_before"):
            async with self._engine.connect() as conn:
                rows = (await conn.execute(stmt)).mappings().all()
        return [_info(r) for r in rows]

    async def recordings_missing_meta(self, limit: int = 500, after_id: int = 0) -> list[RecordingInfo]:
        """Recordings without size/duration/checksum whose call has ended (the file is complete), by id."""
        stmt = (
            _SELECT.where(_REC.c.sha256.is_(None), _CALLS.c.ended_at.is_not(None), _REC.c.id > after_id)
            .order_by(_REC.c.id)
            .limit(limit)
        )
        with translate_errors("recordings_missing_meta"):
            async with self._engine.connect() as conn:
                rows = (await conn.execute(stmt)).mappings().all()
        return [_info(r) for r in rows]

    async def set_meta(
        self, recording_id: int, *, size_bytes: int, duration_seconds: float | None, sha256: str
    ) -> None:
        stmt = (
            update(_REC)
            .where(_REC.c.id == recording_id)
            .values(size_bytes=size_bytes, duration_seconds=duration_seconds, sha256=sha256)
        )
        with translate_errors("set_recording_meta"):
            async with self._engine.begin() as conn:
                await conn.execute(stmt)

    async def set_hold(self, recording_id: int, held: bool, *, by: str, reason: str, at: float) -> None:
        with translate_errors("set_recording_hold"):
            async with self._engine.begin() as conn:
                await conn.execute(delete(_HOLDS).where(_HOLDS.c.recording_id == recording_id))
                if held:
                    await conn.execute(
                        insert(_HOLDS),
                        {"recording_id": recording_id, "at": _dt(at), "by": by, "reason": reason},
                    )

    async def delete_recording(self, recording_id: int) -> bool:
        """Remove a recording's row unless it is under a legal hold (checked in the same statement)."""
        held = select(_HOLDS.c.recording_id).where(_HOLDS.c.recording_id == recording_id)
        stmt = delete(_REC).where(_REC.c.id == recording_id, ~held.exists())
        with translate_errors("delete_recording"):
            async with self._engine.begin() as conn:
                result = await conn.execute(stmt)
        return bool(result.rowcount)

    async def log_playback(self, playback: Playback) -> None:
        row = {
            "at": _dt(playback.at),
            "actor": playback.actor,
            "role": playback.role,
            "recording_id": playback.recording_id,
            "call_id": playback.call_id,
            "remote": playback.remote,
            "byte_range": playback.byte_range,
        }
        with translate_errors("log_playback"):
            async with self._engine.begin() as conn:
                await conn.execute(insert(_PLAYS), row)

    async def playbacks(self, recording_id: int | None = None, limit: int = 200) -> list[Playback]:
        stmt = select(_PLAYS).order_by(_PLAYS.c.at.desc(), _PLAYS.c.id.desc()).limit(max(1, min(limit, 1000)))
        if recording_id is not None:
            stmt = stmt.where(_PLAYS.c.recording_id == recording_id)
        with translate_errors("playbacks"):
            async with self._engine.connect() as conn:
                rows = (await conn.execute(stmt)).mappings().all()
        return [
            Playback(
                at=r["at"].timestamp(),
                actor=r["actor"],
                role=r["role"],
                recording_id=r["recording_id"],
                call_id=r["call_id"],
                remote=r["remote"],
                byte_range=r["byte_range"],
            )
            for r in rows
        ]
