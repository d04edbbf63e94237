"""The real Redis server on loopback for the state suites: a unique key prefix per test, cleaned up after.

Unreachable server → the test is skipped with the reason, unless ``CALLCENTER_REQUIRE_SERVICES=1``
(CI), where it fails instead.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from callcenter.state.redis_acd import RedisAcdState
from callcenter.state.redis_conn import connect_redis

REDIS_URL = os.environ.get("CALLCENTER_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def unavailable(reason: str) -> None:
    if os.environ.get("CALLCENTER_REQUIRE_SERVICES") == "1":
        pytest.fail(f"Redis is required here (CALLCENTER_REQUIRE_SERVICES=1): {reason}")
    print(f"SKIP: Redis unavailable at {REDIS_URL}: {reason}")
    pytest.skip(f"Redis unavailable at {REDIS_URL}: {reason}")


async def redis_client() -> Redis:
    client = connect_redis(REDIS_URL, timeout=1.0, retries=0)
    try:
        await asyncio.wait_for(client.ping(), timeout=1.5)
    except (RedisError, OSError, TimeoutError) as exc:
        await client.aclose()
        unavailable(f"{type(exc).__name__}: {exc}")
    return client


def unique_prefix() -> str:
    return f"cctest:{uuid.uuid4().hex[:12]}"


@asynccontextmanager
async def redis_state(prefix: str | None = None) -> AsyncIterator[RedisAcdState]:
    client = await redis_client()
    state = RedisAcdState(client, prefix or unique_prefix())
    try:
        yield state
    finally:
        try:
            await state.clear()
        finally:
            await client.aclose()
