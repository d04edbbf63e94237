"""Which ``AcdState``, ``Publisher`` and ``HoldStore`` the service uses: Redis when a client is
configured (``CALLCENTER_REDIS_URL``: several instances share queues, agents and the console's holds),
else in process."""

from __future__ import annotations

from redis.asyncio import Redis

from callcenter.state.bus import InProcessBus
from callcenter.state.memory import MemoryAcdState, MemoryHoldStore
from callcenter.state.redis_acd import RedisAcdState
from callcenter.state.redis_bus import RedisBus
from callcenter.state.redis_holds import RedisHoldStore


def acd_backends(
    redis: Redis | None, prefix: str = "callcenter:acd"
) -> tuple[MemoryAcdState | RedisAcdState, InProcessBus | RedisBus]:
    if redis is None:
        return MemoryAcdState(), InProcessBus()
    return RedisAcdState(redis, prefix), RedisBus(redis, prefix)


def hold_backend(redis: Redis | None, prefix: str = "callcenter:acd") -> MemoryHoldStore | RedisHoldStore:
    """The agent console's holds: beside the ACD state (same client, same key prefix)."""
    if redis is None:
        return MemoryHoldStore()
    return RedisHoldStore(redis, prefix)
