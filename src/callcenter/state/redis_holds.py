"""``HoldStore`` on Redis: the agent console's calls on hold, shared by every service instance.

Keys (``P`` = the deployment prefix, the ACD's ``CALLCENTER_ACD_REDIS_PREFIX``; tests use a unique one):

=========================  ======  ===================================================================
``P:hold:<agent>``         string  the agent's hold (JSON, ``domain.hold.held_to_mapping``)
``P:holdleg:<uniqueid>``   string  agent id: which hold one of the two channels belongs to
=========================  ======  ===================================================================

All three keys of a hold carry the same time to live (``ttl``): stored on hold, refreshed while the call
is live (the console's refresher), deleted on resume or hang-up, so a hold whose call is gone (every
instance down meanwhile, a missed hang-up) expires on its own. Changes that touch several keys are one
Lua script each (atomic: when every instance sees the same hang-up, exactly one takes the hold).
Scripts build key names from the prefix, like ``redis_acd`` (standalone or replicated server, not Cluster).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from callcenter.domain.errors import StateError
from callcenter.domain.hold import HeldCall, held_from_mapping, held_to_mapping
from callcenter.state.redis_conn import RedisCalls

_LIB = r"""
local P = ARGV[1]

local function drop(agent, value)
  redis.call('DEL', P..':hold:'..agent)
  local h = cjson.decode(value)
  for _, u in ipairs({h.customer_uniqueid, h.agent_uniqueid}) do
    local lk = P..':holdleg:'..u
    if redis.call('GET', lk) == agent then
      redis.call('DEL', lk)
    end
  end
  return value
end
"""

_PUT = (
    _LIB
    + r"""
local agent, value, ttl = ARGV[2], ARGV[3], ARGV[6]
if not redis.call('SET', P..':hold:'..agent, value, 'NX', 'PX', ttl) then
  return 0
end
redis.call('SET', P..':holdleg:'..ARGV[4], agent, 'PX', ttl)
redis.call('SET', P..':holdleg:'..ARGV[5], agent, 'PX', ttl)
return 1
"""
)

_REMOVE = (
    _LIB
    + r"""
local agent = ARGV[2]
local value = redis.call('GET', P..':hold:'..agent)
if not value then
  return false
end
return drop(agent, value)
"""
)

_TAKE_BY_LEG = (
    _LIB
    + r"""
local lk = P..':holdleg:'..ARGV[2]
local agent = redis.call('GET', lk)
if not agent then
  return false
end
local value = redis.call('GET', P..':hold:'..agent)
if value then
  local h = cjson.decode(value)
  if h.customer_uniqueid == ARGV[2] or h.agent_uniqueid == ARGV[2] then
    return drop(agent, value)
  end
end
redis.call('DEL', lk)
return false
"""
)

_REFRESH = (
    _LIB
    + r"""
local agent, ttl = ARGV[2], ARGV[3]
local k = P..':hold:'..agent
local value = redis.call('GET', k)
if not value then
  return 0
end
redis.call('PEXPIRE', k, ttl)
local h = cjson.decode(value)
for _, u in ipairs({h.customer_uniqueid, h.agent_uniqueid}) do
  local lk = P..':holdleg:'..u
  if redis.call('GET', lk) == agent then
    redis.call('PEXPIRE', lk, ttl)
  end
end
return 1
"""
)


def _decode(raw: Any) -> HeldCall | None:
    if raw is None:
        return None
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise StateError(f"malformed hold record: {exc}") from exc
    if not isinstance(data, dict):
        raise StateError("malformed hold record: not an object")
    return held_from_mapping(data)


class RedisHoldStore(RedisCalls):
    """``ports.HoldStore`` on one Redis server (client from ``state.redis_conn.connect_redis``). Every
    call is bounded by ``timeout`` and raises ``StateError`` on failure."""

    def __init__(
        self, client: Redis, prefix: str = "callcenter:acd", *, ttl: float = 900.0, timeout: float = 2.0
    ) -> None:
        self._r = client
        self._p = prefix
        self.ttl = ttl
        self._timeout = timeout
        self._put_s: AsyncScript = client.register_script(_PUT)
        self._remove_s: AsyncScript = client.register_script(_REMOVE)
        self._take_s: AsyncScript = client.register_script(_TAKE_BY_LEG)
        self._refresh_s: AsyncScript = client.register_script(_REFRESH)

    @property
    def prefix(self) -> str:
        return self._p

    def _ttl_ms(self) -> str:
        return str(max(1, round(self.ttl * 1000)))

    async def put(self, held: HeldCall) -> bool:
        value = json.dumps(held_to_mapping(held))
        done = await self._script(
            "hold put",
            self._put_s,
            held.agent,
            value,
            held.customer_uniqueid,
            held.agent_uniqueid,
            self._ttl_ms(),
        )
        return bool(done)

    async def get(self, agent: str) -> HeldCall | None:
        return _decode(await self._run("hold get", self._r.get(f"{self._p}:hold:{agent}")))

    async def remove(self, agent: str) -> HeldCall | None:
        return _decode(await self._script("hold remove", self._remove_s, agent))

    async def take_by_leg(self, uniqueid: str) -> HeldCall | None:
        return _decode(await self._script("hold take_by_leg", self._take_s, uniqueid))

    async def refresh(self, agent: str) -> bool:
        return bool(await self._script("hold refresh", self._refresh_s, agent, self._ttl_ms()))

    async def list_held(self) -> list[HeldCall]:
        async def go() -> list[Any]:
            keys = [key async for key in self._r.scan_iter(match=f"{self._p}:hold:*", count=500)]
            if not keys:
                return []
            values: list[Any] = await self._r.mget(keys)
            return values

        with self._errors("hold list"):
            async with asyncio.timeout(self._timeout * 5):
                raws = await go()
        out = [held for raw in raws if (held := _decode(raw)) is not None]
        return sorted(out, key=lambda h: (h.since, h.agent))
