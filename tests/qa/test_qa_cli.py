"""``callcenter recordings purge [--dry-run]`` and ``callcenter qa sample``."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from callcenter.cli import main
from callcenter.store.crm import create_store
from callcenter.store.migrate import migrate
from callcenter.store.recordings import SqlRecordingStore
from tests.qa.conftest import write_wav
from tests.webapp.helpers import make_call

DAY = 86400.0


async def _seed(url: str, now: float) -> None:
    await migrate(url)
    store = create_store(url)
    try:
        monday = datetime(2026, 11, 16, 9, tzinfo=UTC).timestamp()  # 2026-W47
        calls = [make_call(f"a{i}", agent="1001", started_at=monday + i * 60) for i in range(10)]
        calls += [
            make_call(f"b{i}", agent="1002", queue="support", started_at=monday + i * 60) for i in range(2)
        ]
        calls += [make_call("next-week", agent="1001", started_at=monday + 8 * DAY)]
        calls += [
            make_call("old", agent="1001", started_at=now - 400 * DAY, recording_file="old.wav"),
            make_call("held", agent="1001", started_at=now - 400 * DAY, recording_file="held.wav"),
        ]
        await store.save_calls(calls)
        recs = SqlRecordingStore(store.engine)
        [held] = await recs.recordings_for_call("held")
        await recs.set_hold(held.id, True, by="sam", reason="court", at=now)
    finally:
        await store.close()


def test_purge_and_sample(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    rec_dir = tmp_path / "rec"
    write_wav(rec_dir / "old.wav", seconds=0.1)
    write_wav(rec_dir / "held.wav", seconds=0.1)
    asyncio.run(_seed(url, datetime.now(UTC).timestamp()))
    monkeypatch.setenv("CALLCENTER_DATABASE_URL", url)
    monkeypatch.setenv("CALLCENTER_RECORDINGS_DIR", str(rec_dir))
    monkeypatch.setenv("CALLCENTER_RECORDINGS_RETENTION_DAYS", "365")

    assert main(["recordings", "purge", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "would remove recording" in out and "call old " in out and "held" not in out
    assert (rec_dir / "old.wav").exists()
    assert main(["recordings", "purge"]) == 0
    out = capsys.readouterr().out
    assert "removed recording" in out and "1 recording(s) removed" in out
    assert not (rec_dir / "old.wav").exists() and (rec_dir / "held.wav").exists()

    assert main(["qa", "sample", "--per-agent", "3", "--week", "2026-W47", "--seed", "1"]) == 0
    first = capsys.readouterr().out
    lines = [line.split("\t") for line in first.splitlines() if "\t" in line]
    assert sum(1 for agent, _ in lines if agent == "1001") == 3
    assert sorted(c for agent, c in lines if agent == "1002") == ["b0", "b1"]
    assert "next-week" not in first
    assert main(["qa", "sample", "--per-agent", "3", "--week", "2026-W47", "--seed", "1"]) == 0
    assert capsys.readouterr().out == first
    assert main(["qa", "sample", "--per-agent", "3", "--week", "bad"]) == 1
