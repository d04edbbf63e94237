"""The ``HoldStore`` contract (the agent console's calls on hold): the same tests in process and on Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from callcenter.domain.hold import HeldCall
from callcenter.ports import HoldStore
from callcenter.state.memory import MemoryHoldStore
from callcenter.state.redis_holds import RedisHoldStore
from tests.state.redis_support import redis_client, unique_prefix

T0 = 1_700_000_000.0


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def holds(request: pytest.FixtureRequest) -> AsyncIterator[HoldStore]:
    if request.param == "memory":
        yield MemoryHoldStore()
        return
    async with redis_holds() as store:
        yield store


@asynccontextmanager
async def redis_holds(ttl: float = 900.0) -> AsyncIterator[RedisHoldStore]:
    """A ``RedisHoldStore`` on the real server under a unique prefix, its keys deleted after."""
    client = await redis_client()
    store = RedisHoldStore(client, unique_prefix(), ttl=ttl)
    try:
        yield store
    finally:
        try:
            async for key in client.scan_iter(match=store.prefix + ":*"):
                await client.delete(key)
        finally:
            await client.aclose()


def held(agent: str = "1001", n: int = 1) -> HeldCall:
    return HeldCall(
        agent=agent,
        call_id=f"1700.{n}",
        customer_channel=f"PJSIP/trunk-{n:08d}",
        customer_uniqueid=f"1700.{n}",
        agent_channel=f"PJSIP/{agent}-{n:08d}",
        agent_uniqueid=f"1700.{n}1",
        since=T0 + n,
    )


async def test_put_get_remove(holds: HoldStore) -> None:
    assert await holds.get("1001") is None
    assert await holds.put(held("1001", 1))
    assert await holds.get("1001") == held("1001", 1)
    assert not await holds.put(held("1001", 2))  # one hold per agent: the first stays
    assert await holds.get("1001") == held("1001", 1)
    assert await holds.put(held("1002", 2))
    assert await holds.list_held() == [held("1001", 1), held("1002", 2)]
    assert await holds.remove("1001") == held("1001", 1)
    assert await holds.remove("1001") is None
    assert await holds.get("1001") is None
    assert await holds.take_by_leg("1700.1") is None  # its legs went with it
    assert await holds.list_held() == [held("1002", 2)]


async def test_take_by_either_leg_once(holds: HoldStore) -> None:
    await holds.put(held("1001", 1))
    await holds.put(held("1002", 2))
    assert await holds.take_by_leg("1700.99") is None
    assert await holds.take_by_leg("1700.21") == held("1002", 2)  # the agent's leg
    assert await holds.take_by_leg("1700.2") is None  # the customer's leg: taken already
    assert await holds.get("1002") is None
    # concurrent takes (every instance sees the same hang-up): exactly one wins
    results = await asyncio.gather(*(holds.take_by_leg("1700.1") for _ in range(5)))
    assert [r for r in results if r is not None] == [held("1001", 1)]
    assert await holds.list_held() == []
    # the agent can hold again, and the old legs do not point to the new hold
    assert await holds.put(held("1001", 3))
    assert await holds.take_by_leg("1700.11") is None
    assert await holds.get("1001") == held("1001", 3)


async def test_refresh_and_expiry(holds: HoldStore) -> None:
    assert isinstance(holds, MemoryHoldStore | RedisHoldStore)
    holds.ttl = 0.3
    assert not await holds.refresh("1001")
    await holds.put(held("1001", 1))
    await holds.put(held("1002", 2))
    for _ in range(3):
        await asyncio.sleep(0.15)
        assert await holds.refresh("1001")
    assert await holds.get("1001") == held("1001", 1)
    assert await holds.get("1002") is None  # not refreshed: expired
    assert await holds.take_by_leg("1700.2") is None
    assert await holds.list_held() == [held("1001", 1)]
    await asyncio.sleep(0.4)
    assert await holds.get("1001") is None
    assert await holds.take_by_leg("1700.11") is None
    assert await holds.put(held("1001", 3))  # expired: the agent can hold again


@pytest.mark.redis
async def test_redis_keys_expire_with_the_hold() -> None:
    async with redis_holds(ttl=60) as store:
        await store.put(held("1001", 1))
        client = await redis_client()
        try:
            keys = sorted([k.decode() async for k in client.scan_iter(match=f"{store.prefix}:*")])
            assert keys == [
                f"{store.prefix}:hold:1001",
                f"{store.prefix}:holdleg:1700.1",
                f"{store.prefix}:holdleg:1700.11",
            ]
            for key in keys:
                assert 0 < await client.pttl(key) <= 60_000
            await store.remove("1001")
            assert [k async for k in client.scan_iter(match=f"{store.prefix}:*")] == []
        finally:
            await client.aclose()
