"""The ``AcdState`` contract suite runs on both implementations: in process and on the real Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from callcenter.ports import AcdState
from callcenter.state.memory import MemoryAcdState
from tests.state.redis_support import redis_state


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def acd_state(request: pytest.FixtureRequest) -> AsyncIterator[AcdState]:
    if request.param == "memory":
        yield MemoryAcdState()
        return
    async with redis_state() as state:
        yield state
