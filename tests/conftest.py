"""Shared fixtures. Area-specific fixtures live in each tests/<area>/conftest.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.trace_messages import TRACES_DIR


@pytest.fixture(scope="session")
def traces_dir() -> Path:
    if not TRACES_DIR.is_dir():
        pytest.skip(f"the PBX traces are not at {TRACES_DIR} (set CALLCENTER_TRACES_DIR)")
    return TRACES_DIR
