"""Which ``AcdState`` and ``Publisher`` the service uses: Redis when a client is configured
(``CALLCENTER_REDIS_URL``: several instances share queues and agents), else in process."""

from __future__ import annotations

from redis.asyncio import Redis

from callcenter.state.bus import InProcessBus
from callcenter.state.memory import MemoryAcdState
from callcenter.state.redis_acd import RedisAcdState
from callcenter.state.redis_bus import RedisBus


def acd_backends(
    redis: Redis | None, prefix: str = "callcenter:acd"
) -> tuple[MemoryAcdState | RedisAcdState, InProcessBus | RedisBus]:
    if redis is None:
        return MemoryAcdState(), InProcessBus()
    return RedisAcdState(redis, prefix), RedisBus(redis, prefix)
