from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.ivr.harness import FakeRouter, Harness, start_harness, stop_harness


@pytest.fixture
async def ivr() -> AsyncIterator[Harness]:
    """The sample flows, no ACD (queue nodes take their no-agents fallback), open hours."""
    h = await start_harness()
    try:
        yield h
    finally:
        await stop_harness(h)


@pytest.fixture
async def ivr_acd() -> AsyncIterator[Harness]:
    """The sample flows with a fake ACD router."""
    h = await start_harness(router=FakeRouter())
    try:
        yield h
    finally:
        await stop_harness(h)
