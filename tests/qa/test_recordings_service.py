"""Recordings service: path safety (../, encoded, absolute, symlinks), metadata, access, retention purge."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import os
from pathlib import Path

import pytest

from callcenter.domain.errors import NotFound, PermissionDenied
from callcenter.domain.qa import ValidationError
from callcenter.domain.qa_recordings import RecordingInfo, RetentionPolicy
from callcenter.domain.users import Role, User
from callcenter.services.recordings import (
    META_ATTEMPTS,
    RecordingAccessDenied,
    RecordingService,
    may_hear,
    probe_file,
    resolve_under,
)
from callcenter.store.crm import SqlCrmStore
from callcenter.store.recordings import SqlRecordingStore
from tests.qa.conftest import write_wav
from tests.webapp.helpers import T0, make_call

DAY = 86400.0


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "recordings"
    write_wav(root / "ok" / "a.wav", seconds=1.0)
    (tmp_path / "secret.txt").write_text("top secret")
    os.symlink(tmp_path / "secret.txt", root / "escape.wav")
    os.symlink(root / "ok" / "a.wav", root / "inside.wav")
    os.symlink(tmp_path, root / "updir")
    return root


def test_resolve_inside(tree: Path) -> None:
    assert resolve_under(tree, "ok/a.wav") == (tree / "ok" / "a.wav").resolve()
    assert resolve_under(tree, "inside.wav") == (tree / "ok" / "a.wav").resolve()  # symlink staying inside
    assert resolve_under(tree, str(tree / "ok" / "a.wav")) == (tree / "ok" / "a.wav").resolve()


@pytest.mark.parametrize(
    "name",
    [
        "../secret.txt",
        "ok/../../secret.txt",
        "..%2Fsecret.txt",  # never URL-decoded: simply not a file
        "%2e%2e/secret.txt",
        "/etc/passwd",
        "escape.wav",  # symlink pointing out
        "updir/secret.txt",  # directory symlink pointing out
        "ok",  # a directory
        "",
        ".",
        "ok/a.wav\x00.txt",
        "missing.wav",
    ],
)
def test_resolve_refuses(tree: Path, name: str) -> None:
    with pytest.raises(RecordingAccessDenied):
        resolve_under(tree, name)


def test_probe_wav(tree: Path) -> None:
    meta = probe_file(tree / "ok" / "a.wav")
    data = (tree / "ok" / "a.wav").read_bytes()
    assert meta.size_bytes == len(data) and meta.duration_seconds == 1.0
    assert meta.sha256 == hashlib.sha256(data).hexdigest()
    assert probe_file(tree.parent / "secret.txt").duration_seconds is None


def test_may_hear() -> None:
    rec = RecordingInfo(1, "c1", "a.wav", agent="1001")
    assert may_hear(User(1, "q", Role.QA), rec)
    assert may_hear(User(2, "s", Role.SUPERVISOR), rec)
    assert may_hear(User(3, "a", Role.AGENT, agent="1001"), rec)
    assert not may_hear(User(4, "b", Role.AGENT, agent="1002"), rec)
    assert not may_hear(User(5, "n", Role.AGENT), rec)


async def _seed(crm: SqlCrmStore, root: Path) -> RecordingService:
    calls = [
        make_call(
            "old-sales", agent="1001", queue="sales", started_at=T0 - 40 * DAY, recording_file="o1.wav"
        ),
        make_call("old-held", agent="1001", queue="sales", started_at=T0 - 40 * DAY, recording_file="o2.wav"),
        make_call(
            "young-sales", agent="1001", queue="sales", started_at=T0 - 5 * DAY, recording_file="y.wav"
        ),
        make_call(
            "old-support", agent="1002", queue="support", started_at=T0 - 40 * DAY, recording_file="s.wav"
        ),
        make_call(
            "evil", agent="1002", queue="sales", started_at=T0 - 40 * DAY, recording_file="../outside.wav"
        ),
    ]
    await crm.save_calls(calls)
    for name in ("o1.wav", "o2.wav", "y.wav", "s.wav"):
        write_wav(root / name, seconds=0.1)
    write_wav(root.parent / "outside.wav", seconds=0.1)
    return RecordingService(
        SqlRecordingStore(crm.engine),
        root,
        retention=RetentionPolicy(default_days=90, per_queue={"sales": 30}),
        clock=lambda: T0,
    )


async def test_purge_respects_hold_and_retention(crm: SqlCrmStore, tmp_path: Path) -> None:
    root = tmp_path / "rec"
    root.mkdir()
    svc = await _seed(crm, root)
    [held] = await svc.for_call("old-held")
    sam = User(9, "sam", Role.SUPERVISOR)
    await svc.set_hold(sam, held.id, True, "litigation")
    with pytest.raises(PermissionDenied):
        await svc.set_hold(User(8, "q", Role.QA), held.id, False)

    dry = await svc.purge(dry_run=True)
    assert sorted(i.call_id for i in dry) == ["evil", "old-sales"]
    assert all(not i.removed for i in dry) and (root / "o1.wav").exists()

    done = await svc.purge()
    assert sorted(i.call_id for i in done) == ["evil", "old-sales"]
    by_call = {i.call_id: i for i in done}
    assert by_call["old-sales"].file_removed and not (root / "o1.wav").exists()
    assert not by_call["evil"].file_removed and (root.parent / "outside.wav").exists()  # never outside
    assert (root / "o2.wav").exists() and await svc.for_call("old-held")  # legal hold
    assert (root / "y.wav").exists() and (root / "s.wav").exists()  # within retention
    assert await svc.for_call("old-sales") == []
    assert await svc.purge() == []


async def test_open_for_and_metadata(crm: SqlCrmStore, tmp_path: Path) -> None:
    root = tmp_path / "rec"
    root.mkdir()
    svc = await _seed(crm, root)
    [rec] = await svc.for_call("old-sales")
    alice = User(1, "alice", Role.AGENT, agent="1001")
    bob = User(2, "bob", Role.AGENT, agent="1002")
    found, path, size = await svc.open_for(alice, rec.id)
    assert path == (root / "o1.wav").resolve() and size == path.stat().st_size
    with pytest.raises(PermissionDenied):
        await svc.open_for(bob, rec.id)
    with pytest.raises(NotFound):
        await svc.open_for(alice, 999_999)
    [evil] = await svc.for_call("evil")
    with pytest.raises(RecordingAccessDenied):
        await svc.open_for(bob, evil.id)
    meta = await svc.ensure_meta(found)
    assert meta.size_bytes == size and meta.duration_seconds == 0.1 and meta.sha256 is not None


async def test_metadata_is_filled_in_the_background_for_finished_calls(
    crm: SqlCrmStore, tmp_path: Path
) -> None:
    """``fill_missing_meta`` (run every few seconds by the service): size, duration and checksum of each
    finished call's recording without opening the QA page; a missing or unsafe file is skipped."""
    root = tmp_path / "rec"
    root.mkdir()
    svc = await _seed(crm, root)
    assert await svc.fill_missing_meta() == 4  # o1, o2, y, s; "evil" points outside: skipped
    [rec] = await svc.for_call("young-sales")
    data = (root / "y.wav").read_bytes()
    assert rec.size_bytes == len(data) and rec.duration_seconds == 0.1
    assert rec.sha256 == hashlib.sha256(data).hexdigest()
    assert svc.meta_stats == {"filled": 4, "missing": 1, "errors": 0, "transcoded": 0}
    assert await svc.fill_missing_meta() == 0  # nothing left but the unsafe one
    for _ in range(10):
        await svc.fill_missing_meta()
    assert svc.meta_stats["missing"] == 5  # given up on after META_ATTEMPTS rounds
    # a call still going on (no end yet): its file may still be growing, not touched
    live = make_call("live", agent="1001", queue="sales", started_at=T0, recording_file="live.wav")
    live = dataclasses.replace(live, ended_at=None)
    await crm.save_calls([live])
    write_wav(root / "live.wav", seconds=0.1)
    assert await svc.fill_missing_meta() == 0
    [rec] = await svc.for_call("live")
    assert rec.sha256 is None


async def test_mp3_transcode_is_cached_and_purged(crm: SqlCrmStore, tmp_path: Path) -> None:
    root = tmp_path / "rec"
    root.mkdir()
    svc = await _seed(crm, root)
    write_wav(root / "o1.wav", seconds=2.0)
    [rec] = await svc.for_call("old-sales")
    alice = User(1, "alice", Role.AGENT, agent="1001")
    _, path, size = await svc.open_for(alice, rec.id, "mp3")
    data = path.read_bytes()
    assert path.parent == (root / ".transcoded").resolve() and size == len(data)
    assert data[:3] == b"ID3" or (data[0] == 0xFF and data[1] & 0xE0 == 0xE0)  # an MPEG audio stream
    assert size < (root / "o1.wav").stat().st_size / 4  # compressed
    _, again, _ = await svc.open_for(alice, rec.id, "mp3")
    assert again == path and svc.meta_stats["transcoded"] == 1  # cached
    with pytest.raises(ValidationError):
        await svc.open_for(alice, rec.id, "flac")
    (root / "s.wav").write_bytes(b"not a wav at all")
    [bad] = await svc.for_call("old-support")
    with pytest.raises(ValidationError):
        await svc.open_for(User(2, "bob", Role.AGENT, agent="1002"), bad.id, "mp3")
    # the retention purge removes the transcode with the recording
    await svc.purge()
    assert not path.exists() and not list((root / ".transcoded").glob(f"{rec.id}-*"))


async def test_the_background_filler_sleeps_until_a_recorded_call_ends(
    crm: SqlCrmStore, tmp_path: Path
) -> None:
    """No timer ticks while idle (issue 14): after its first round the filler waits for the tracker's
    ``on_call_finished`` of a call with a recording, then fills it ``settle`` seconds later."""
    root = tmp_path / "rec"
    root.mkdir()
    svc = await _seed(crm, root)
    rounds = 0
    fill = svc.fill_missing_meta

    async def counted(limit: int = 200) -> int:
        nonlocal rounds
        rounds += 1
        return await fill(limit)

    svc.fill_missing_meta = counted  # type: ignore[method-assign]
    for _ in range(META_ATTEMPTS):  # the unsafe file is given up on: no retry rounds are due
        await fill()
    task = asyncio.get_running_loop().create_task(
        svc.fill_meta_forever(settle=0.01, retry_every=0.02, fallback=3600.0)
    )
    try:
        await asyncio.sleep(0.2)
        assert rounds == 1  # one round at start, then asleep
        svc.on_call_finished(make_call("no-rec", agent="1001", queue="sales", started_at=T0))
        await asyncio.sleep(0.1)
        assert rounds == 1  # a call without a recording does not wake it
        new = make_call("new", agent="1001", queue="sales", started_at=T0, recording_file="n.wav")
        await crm.save_calls([new])
        write_wav(root / "n.wav", seconds=0.1)
        svc.on_call_finished(new)
        for _ in range(100):
            if rounds >= 2:
                break
            await asyncio.sleep(0.01)
        [rec] = await svc.for_call("new")
        assert rounds == 2 and rec.sha256 is not None
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
