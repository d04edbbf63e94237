"""``callcenter reports rollup``: catches the rollup up to the settled intervals and says how far."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from callcenter.cli import main
from callcenter.store.crm import create_store
from callcenter.store.migrate import migrate
from tests.webapp.helpers import make_call

DAY = 86400.0


async def _seed(url: str, start: float) -> None:
    await migrate(url)
    store = create_store(url)
    try:
        calls = [
            make_call(f"c{i}", agent="1001", started_at=start + i * 600, queued_at=start + i * 600 + 5)
            for i in range(12)
        ]
        await store.save_calls(calls)
    finally:
        await store.close()


async def _intervals(url: str) -> int:
    store = create_store(url)
    try:
        async with store.engine.connect() as conn:
            return int((await conn.execute(text("SELECT count(*) FROM report_intervals"))).scalar_one())
    finally:
        await store.close()


def test_rollup_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    start = datetime.now(UTC).timestamp() - 3 * DAY
    asyncio.run(_seed(url, start))
    monkeypatch.setenv("CALLCENTER_DATABASE_URL", url)
    monkeypatch.setenv("CALLCENTER_ACD_CONFIG", str(tmp_path / "missing-acd.yaml"))

    assert main(["reports", "rollup"]) == 0
    out = capsys.readouterr().out
    assert "window(s) rolled up" in out and "settled until" in out and "nothing stored" not in out
    assert asyncio.run(_intervals(url)) > 0
    assert main(["reports", "rollup"]) == 0  # caught up: nothing more to do
    assert capsys.readouterr().out.startswith("0 window(s)")
