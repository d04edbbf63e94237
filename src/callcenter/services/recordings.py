"""Recordings (issue #8): safe file resolution, metadata (size, WAV duration, sha256), playback access,
the playback audit log, legal holds and the retention purge.

Every file-system touch (``resolve``, ``stat``, hashing, reading, unlinking) runs in a worker thread
(``asyncio.to_thread``): the event loop never blocks on the disk.

Path safety: a recording's stored name (MixMonitor's file name, relative or absolute) is joined to
``recordings_dir`` and fully resolved (symlinks followed); the result must be a regular file *inside* the
resolved ``recordings_dir``, else ``RecordingAccessDenied``. ``..``, absolute paths elsewhere, NUL bytes
and symlinks pointing out of the directory are all refused this way.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import time
import wave
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from callcenter.domain.calls import CallRecord
from callcenter.domain.errors import CallcenterError, NotFound, PermissionDenied
from callcenter.domain.qa import ValidationError
from callcenter.domain.qa_recordings import Playback, RecordingInfo, RetentionPolicy
from callcenter.domain.users import ROLE_CAN_SEE_ALL_CALLS, Role, User

log = logging.getLogger(__name__)

CHUNK = 64 * 1024
#: rounds of ``fill_missing_meta`` that try a recording whose file is not there before giving up on it
META_ATTEMPTS = 5
#: Who may set or lift a legal hold.
HOLD_ROLES = frozenset({Role.SUPERVISOR, Role.ADMIN})


class RecordingAccessDenied(PermissionDenied):
    """The recording's path is unsafe (outside recordings_dir) or the file is missing."""


class RecordingStore(Protocol):
    async def get_recording(self, recording_id: int) -> RecordingInfo | None: ...
    async def recordings_for_call(self, call_id: str) -> list[RecordingInfo]: ...
    async def recordings_started_before(self, before: float, limit: int = ...) -> list[RecordingInfo]: ...
    async def set_meta(
        self, recording_id: int, *, size_bytes: int, duration_seconds: float | None, sha256: str
    ) -> None: ...
    async def recordings_missing_meta(self, limit: int = ..., after_id: int = ...) -> list[RecordingInfo]: ...
    async def set_hold(self, recording_id: int, held: bool, *, by: str, reason: str, at: float) -> None: ...
    async def delete_recording(self, recording_id: int) -> bool: ...
    async def log_playback(self, playback: Playback) -> None: ...
    async def playbacks(self, recording_id: int | None = None, limit: int = ...) -> list[Playback]: ...


@dataclass(frozen=True, slots=True)
class FileMeta:
    size_bytes: int
    duration_seconds: float | None
    sha256: str


@dataclass(frozen=True, slots=True)
class PurgeItem:
    recording_id: int
    call_id: str
    path: str
    queue: str | None
    age_days: float
    removed: bool  # False in a dry run
    file_removed: bool


def resolve_under(root: Path, name: str) -> Path:
    """The real path of recording ``name`` inside ``root`` (blocking: call in a thread)."""
    if not name or "\x00" in name:
        raise RecordingAccessDenied("invalid recording name")
    base = root.resolve(strict=True)
    try:
        real = (base / name).resolve(strict=True)
    except (OSError, RuntimeError):
        raise RecordingAccessDenied("recording file not found") from None
    if not real.is_relative_to(base) or real == base:
        raise RecordingAccessDenied("recording path escapes the recordings directory")
    if not real.is_file():
        raise RecordingAccessDenied("recording is not a regular file")
    return real


def probe_file(path: Path) -> FileMeta:
    """Size, WAV duration (None for other formats) and sha256 of a file (blocking: call in a thread)."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    duration: float | None = None
    try:
        with wave.open(str(path), "rb") as wav:
            rate = wav.getframerate()
            duration = round(wav.getnframes() / rate, 3) if rate else None
    except (wave.Error, EOFError, OSError):
        duration = None
    return FileMeta(size, duration, digest.hexdigest())


#: formats ``open_for`` serves: the stored file, or an MP3 transcode (LAME via ``lameenc``, cached)
FORMATS = ("wav", "mp3")
#: the transcodes' cache, inside ``recordings_dir`` (so the purge and the path checks cover it)
TRANSCODED_DIR = ".transcoded"
MP3_BITRATE = 24  # kbit/s: telephone speech at 8 kHz mono (about a tenth of the WAV)


def transcode_mp3(src: Path, dst: Path, bitrate: int = MP3_BITRATE) -> int:
    """Encode a 16-bit PCM WAV as MP3 (blocking: call in a thread), written to ``dst`` via a temporary
    file; returns the MP3's size. A file that is not 16-bit PCM WAV raises ``ValidationError``."""
    try:
        with wave.open(str(src), "rb") as wav:
            return _encode_mp3(wav, dst, bitrate)
    except (wave.Error, EOFError) as exc:
        raise ValidationError(f"recording cannot be transcoded: {exc}") from None


def _encode_mp3(wav: wave.Wave_read, dst: Path, bitrate: int) -> int:
    import lameenc

    if wav.getsampwidth() != 2 or wav.getnchannels() not in (1, 2):
        raise ValidationError("recording cannot be transcoded: not 16-bit PCM")
    encoder = lameenc.Encoder()
    encoder.set_bit_rate(bitrate)
    encoder.set_in_sample_rate(wav.getframerate())
    encoder.set_channels(wav.getnchannels())
    encoder.set_quality(5)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.part")
    with tmp.open("wb") as out:
        while frames := wav.readframes(16384):
            out.write(encoder.encode(frames))
        out.write(encoder.flush())
    os.replace(tmp, dst)
    return dst.stat().st_size


def _transcoded_name(rec: RecordingInfo, source: Path) -> str:
    """The cache entry of ``rec`` (its id and the source's size and mtime: a changed file is redone)."""
    st = source.stat()
    return f"{TRANSCODED_DIR}/{rec.id}-{st.st_size}-{st.st_mtime_ns}.mp3"


def _remove_transcodes(root: Path, recording_id: int) -> int:
    """Delete the cached transcodes of one recording (blocking)."""
    removed = 0
    for path in (root / TRANSCODED_DIR).glob(f"{recording_id}-*.mp3"):
        with contextlib.suppress(OSError):
            path.unlink()
            removed += 1
    return removed


def may_hear(user: User, rec: RecordingInfo) -> bool:
    """QA, supervisors and admins hear every recording; an agent only those of their own calls."""
    if user.role in ROLE_CAN_SEE_ALL_CALLS:
        return True
    return user.role is Role.AGENT and bool(user.agent) and rec.agent == user.agent


class RecordingService:
    def __init__(
        self,
        store: RecordingStore,
        recordings_dir: str | Path,
        *,
        retention: RetentionPolicy | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.root = Path(recordings_dir)
        self.retention = retention if retention is not None else RetentionPolicy()
        self.clock = clock
        self._meta_after = 0
        self._meta_failed: dict[int, int] = {}  # recording id → rounds its file was not there
        self._meta_wake = asyncio.Event()  # a recorded call ended (``on_call_finished``)
        self.meta_stats: dict[str, int] = {"filled": 0, "missing": 0, "errors": 0, "transcoded": 0}

    async def resolve(self, rec: RecordingInfo) -> Path:
        try:
            return await asyncio.to_thread(resolve_under, self.root, rec.path)
        except FileNotFoundError:
            raise RecordingAccessDenied("recordings directory not found") from None

    async def for_call(self, call_id: str) -> list[RecordingInfo]:
        return await self.store.recordings_for_call(call_id)

    async def ensure_meta(self, rec: RecordingInfo) -> RecordingInfo:
        """Compute and store size, duration and checksum when missing (hashing in a worker thread)."""
        if rec.sha256 is not None:
            return rec
        path = await self.resolve(rec)
        meta = await asyncio.to_thread(probe_file, path)
        await self.store.set_meta(
            rec.id, size_bytes=meta.size_bytes, duration_seconds=meta.duration_seconds, sha256=meta.sha256
        )
        found = await self.store.get_recording(rec.id)
        return found if found is not None else rec

    async def fill_missing_meta(self, limit: int = 200) -> int:
        """Size, duration and checksum of the finished calls' recordings that have none yet (each file
        hashed in a worker thread). A file not there (yet) is skipped and tried again next round; returns
        how many were filled."""
        filled = 0
        batch = await self.store.recordings_missing_meta(limit, after_id=self._meta_after)
        for rec in batch:
            if self._meta_failed.get(rec.id, 0) >= META_ATTEMPTS:
                continue  # never there (a PBX whose files this host cannot see): the QA view still tries
            try:
                await self.ensure_meta(rec)
                filled += 1
                self._meta_failed.pop(rec.id, None)
            except (RecordingAccessDenied, OSError) as exc:
                self.meta_stats["missing"] += 1
                self._meta_failed[rec.id] = self._meta_failed.get(rec.id, 0) + 1
                log.debug("recording %s: no metadata yet: %s", rec.id, exc)
        # a full batch: go on after it next round; a short one: the next round starts over (retries)
        self._meta_after = batch[-1].id if len(batch) >= limit else 0
        self.meta_stats["filled"] += filled
        return filled

    def on_call_finished(self, record: CallRecord) -> None:
        """The tracker's listener (event path): a call with a recording ended, fill its metadata soon."""
        if record.recording_file:
            self._meta_wake.set()

    async def fill_meta_forever(
        self, *, settle: float = 2.0, retry_every: float = 5.0, fallback: float = 300.0
    ) -> None:
        """``fill_missing_meta`` when a recorded call ended (``settle`` seconds later, once the recorder
        has written it), every ``retry_every`` seconds while a file is not there yet, and every
        ``fallback`` seconds regardless (calls another instance stored); no timer ticks while idle.
        A store away is logged and retried like a missing file. Runs until cancelled."""
        while True:
            self._meta_wake.clear()
            retry = False
            try:
                await self.fill_missing_meta()
                retry = any(n < META_ATTEMPTS for n in self._meta_failed.values())
            except CallcenterError as exc:
                self.meta_stats["errors"] += 1
                retry = True
                log.warning("recording metadata round failed", extra={"error": str(exc)})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._meta_wake.wait(), retry_every if retry else fallback)
            await asyncio.sleep(settle)

    async def open_for(
        self, user: User, recording_id: int, fmt: str = "wav"
    ) -> tuple[RecordingInfo, Path, int]:
        """Check access and resolve the file: ``(recording, real path, size)``. ``fmt="mp3"``: an MP3
        transcode of it, made once (in a worker thread) and cached under ``recordings_dir/.transcoded``."""
        if fmt not in FORMATS:
            raise ValidationError(f"unknown audio format {fmt[:20]!r}; one of {list(FORMATS)}")
        rec = await self.store.get_recording(recording_id)
        if rec is None:
            raise NotFound(f"recording {recording_id} not found")
        if not may_hear(user, rec):
            raise PermissionDenied("your role does not allow hearing this recording")
        path = await self.resolve(rec)
        if fmt == "mp3":
            path = await self._mp3(rec, path)
        size = (await asyncio.to_thread(path.stat)).st_size
        return rec, path, size

    async def _mp3(self, rec: RecordingInfo, source: Path) -> Path:
        name = await asyncio.to_thread(_transcoded_name, rec, source)
        target = self.root.resolve() / name
        if not await asyncio.to_thread(target.is_file):
            await asyncio.to_thread(_remove_transcodes, self.root, rec.id)  # an older version's
            await asyncio.to_thread(transcode_mp3, source, target)
            self.meta_stats["transcoded"] += 1
        return target

    async def log_playback(self, user: User, rec: RecordingInfo, *, remote: str, byte_range: str) -> None:
        await self.store.log_playback(
            Playback(
                at=self.clock(),
                actor=user.username,
                role=user.role.value,
                recording_id=rec.id,
                call_id=rec.call_id,
                remote=remote,
                byte_range=byte_range,
            )
        )

    async def set_hold(self, user: User, recording_id: int, held: bool, reason: str = "") -> RecordingInfo:
        if user.role not in HOLD_ROLES:
            raise PermissionDenied("only supervisors and admins set legal holds")
        rec = await self.store.get_recording(recording_id)
        if rec is None:
            raise NotFound(f"recording {recording_id} not found")
        await self.store.set_hold(recording_id, held, by=user.username, reason=reason[:500], at=self.clock())
        log.info("legal hold %s on recording %s by %s", "set" if held else "lifted", rec.id, user.username)
        found = await self.store.get_recording(recording_id)
        assert found is not None
        return found

    async def purge(self, *, dry_run: bool = False, now: float | None = None) -> list[PurgeItem]:
        """Remove recordings past their queue's retention, never one under a legal hold: the row first
        (the store re-checks the hold in the same statement), then the file if it is safely inside
        ``recordings_dir``. Returns what was (or, in a dry run, would be) removed."""
        now = self.clock() if now is None else now
        min_days = self.retention.min_days()
        if min_days <= 0:
            return []
        out: list[PurgeItem] = []
        candidates = await self.store.recordings_started_before(now - min_days * 86400.0)
        for rec in candidates:
            if rec.held or not self.retention.expired(rec, now):
                continue
            born = rec.started_at if rec.started_at is not None else rec.call_started_at or now
            age = round((now - born) / 86400.0, 2)
            if dry_run:
                out.append(PurgeItem(rec.id, rec.call_id, rec.path, rec.queue, age, False, False))
                continue
            if not await self.store.delete_recording(rec.id):
                continue  # put under hold meanwhile, or already gone
            file_removed = False
            await asyncio.to_thread(_remove_transcodes, self.root, rec.id)
            with contextlib.suppress(RecordingAccessDenied):
                path = await self.resolve(rec)
                try:
                    await asyncio.to_thread(path.unlink)
                    file_removed = True
                except OSError as exc:
                    log.warning("recording %s: could not remove %s: %s", rec.id, rec.path, exc)
            out.append(PurgeItem(rec.id, rec.call_id, rec.path, rec.queue, age, True, file_removed))
        return out


def read_range(fh: BinaryIO, start: int, length: int) -> bytes:
    """Read ``length`` bytes at ``start`` (blocking: call in a thread)."""
    fh.seek(start)
    return fh.read(length)


__all__ = [
    "CHUNK",
    "FORMATS",
    "FileMeta",
    "PurgeItem",
    "RecordingAccessDenied",
    "RecordingService",
    "RecordingStore",
    "may_hear",
    "probe_file",
    "read_range",
    "resolve_under",
    "transcode_mp3",
]
