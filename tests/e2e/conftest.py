from __future__ import annotations

from pathlib import Path

import pytest

from callcenter.store.migrate import migrate


@pytest.fixture
async def db_url(tmp_path: Path) -> str:
    """A migrated SQLite database in the test's own directory (its journal lands beside it)."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'calls.db'}"
    await migrate(url)
    return url
