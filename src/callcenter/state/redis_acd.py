"""``AcdState`` on Redis: several service instances share queues, agents and waiting callers.

Every change that touches more than one key is one Lua script (atomic on the server): a caller's
``claim`` (choose the agent and reserve it), an agent's compare-and-set, enqueue/requeue/remove. The
agent choice is ``domain.routing.pick`` written again in Lua; the contract suite runs the same tests
against this and the in-process implementation.

Keys (``P`` = the prefix, one per deployment; tests use a unique one per test):

=====================  ======  =========================================================================
``P:q``                hash    queue name → queue config (JSON, ``queue_to_mapping``)
``P:qs:<queue>``       hash    ``strategy`` and ``skills`` (``name:level,...``): what ``claim`` reads
``P:ac``               hash    agent id → agent config (JSON)
``P:as:<agent>``       hash    the agent's live status (``AgentStatus`` fields, ``version``)
``P:am:<agent>``       hash    queue → the agent's score there (``penalty * 1e9 + order``)
``P:sk:<agent>``       hash    skill → level
``P:av:<queue>``       zset    available members by score (penalty tier, then order)
``P:li:<queue>``       set     logged-in members; ``P:sf:<queue>`` staffed members
``P:rr:<queue>``       string  round-robin cursor: the order of the last agent offered
``P:w:<queue>``        zset    waiting entries by ``rank_score`` (priority, then FIFO)
``P:wsk:<queue>``      string  how many waiting entries carry skills or an agent to avoid (0 = fast path)
``P:e:<entry>``        hash    a waiting entry (status waiting/offered, agent, score, ...)
``P:cb``               set     callback entry ids
``P:ents``             set     every entry id (waiting or offered, all queues): what the reconciler reads
``P:inst``             set     instances that held a lease; ``P:lease:<id>`` string with a TTL: alive
``P:seed``             string  set once the configuration is stored: missing = Redis came back empty
``P:tm``               zset    agent → end of timed wrap-up / busy rest
``P:seq``              string  entry sequence counter
``P:ht:<queue>``       list    recent handle times; ``P:ct:<queue>`` hash: counters
=====================  ======  =========================================================================

Scripts build key names from the prefix (no ``KEYS`` declaration): fine on a standalone server or a
replicated pair, not on Redis Cluster (documented limitation).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from callcenter.domain.acd import (
    AgentConfig,
    AgentState,
    AgentStatus,
    Claim,
    EntryKind,
    EntryStatus,
    QueueConfig,
    QueueCounts,
    Skills,
    WaitingEntry,
    agent_from_mapping,
    agent_to_mapping,
    queue_from_mapping,
    queue_to_mapping,
)
from callcenter.domain.errors import StateError
from callcenter.domain.routing import ORDER_SPAN, PRIORITY_MAX, SEQ_SPAN, agent_score
from callcenter.state.redis_conn import RedisCalls

_LIB = r"""
local P = ARGV[1]
local SPAN = 1000000000
local STAFFED = {available=true, ringing=true, on_call=true, on_hold=true, wrapup=true}

local function unindex(agent)
  local m = redis.call('HGETALL', P..':am:'..agent)
  for i = 1, #m, 2 do
    local q = m[i]
    redis.call('ZREM', P..':av:'..q, agent)
    redis.call('SREM', P..':li:'..q, agent)
    redis.call('SREM', P..':sf:'..q, agent)
  end
  redis.call('ZREM', P..':tm', agent)
end

local function index(agent, state, untl)
  local m = redis.call('HGETALL', P..':am:'..agent)
  for i = 1, #m, 2 do
    local q = m[i]
    if state ~= 'logged_out' then redis.call('SADD', P..':li:'..q, agent) end
    if STAFFED[state] then redis.call('SADD', P..':sf:'..q, agent) end
    if state == 'available' then redis.call('ZADD', P..':av:'..q, m[i+1], agent) end
  end
  local u = tonumber(untl) or 0
  if (state == 'wrapup' or state == 'busy') and u > 0 then redis.call('ZADD', P..':tm', u, agent) end
end

local function parse_skills(text, into)
  if text and text ~= '' then
    for name, level in string.gmatch(text, '([^:,]+):(%-?%d+)') do
      local l = tonumber(level)
      if into[name] == nil or into[name] < l then into[name] = l end
    end
  end
  return into
end

-- does the entry (its hash key) filter agents: caller skills or a transferer to avoid (``P:wsk``)
local function filters(e)
  local f = redis.call('HMGET', e, 'skills', 'avoid_agent')
  return (f[1] and f[1] ~= '') or (f[2] and f[2] ~= '')
end

local function counts(q)
  return {redis.call('ZCARD', P..':w:'..q), redis.call('SCARD', P..':li:'..q),
          redis.call('SCARD', P..':sf:'..q), redis.call('ZCARD', P..':av:'..q)}
end
"""

_CAS = (
    _LIB
    + r"""
local agent = ARGV[2]
local key = P..':as:'..agent
local version = redis.call('HGET', key, 'version')
if not version or version ~= ARGV[3] then return false end
unindex(agent)
local state, untl = nil, '0'
for i = 4, #ARGV, 2 do
  redis.call('HSET', key, ARGV[i], ARGV[i+1])
  if ARGV[i] == 'state' then state = ARGV[i+1] end
  if ARGV[i] == 'until' then untl = ARGV[i+1] end
end
local v = tonumber(version) + 1
redis.call('HSET', key, 'version', v)
index(agent, state, untl)
return v
"""
)

_SAVE_AGENT = (
    _LIB
    + r"""
-- ARGV: P, agent, config json, skills 'a:1,b:2', then queue, score pairs
local agent = ARGV[2]
local key = P..':as:'..agent
if redis.call('EXISTS', key) == 0 then
  redis.call('HSET', key, 'state', 'logged_out', 'since', '0', 'reason', '', 'call_id', '',
             'queue', '', 'until', '0', 'idle_since', '0', 'calls', '0', 'offers', '0',
             'pending_pause', '', 'version', '0')
end
unindex(agent)
redis.call('DEL', P..':am:'..agent, P..':sk:'..agent)
for i = 5, #ARGV, 2 do redis.call('HSET', P..':am:'..agent, ARGV[i], ARGV[i+1]) end
local skills = parse_skills(ARGV[4], {})
for name, level in pairs(skills) do redis.call('HSET', P..':sk:'..agent, name, level) end
redis.call('HSET', P..':ac', agent, ARGV[3])
local st = redis.call('HMGET', key, 'state', 'until')
index(agent, st[1], st[2])
return 1
"""
)

_DELETE_AGENT = (
    _LIB
    + r"""
local agent = ARGV[2]
unindex(agent)
redis.call('DEL', P..':as:'..agent, P..':am:'..agent, P..':sk:'..agent)
redis.call('HDEL', P..':ac', agent)
return 1
"""
)

_ENQUEUE = (
    (
        _LIB
        + r"""
-- ARGV: P, id, queue, call_id, priority, enqueued_at, skills, kind, caller_num, caller_name, owner,
-- avoid_agent
local id, q = ARGV[2], ARGV[3]
local e = P..':e:'..id
local old = redis.call('HMGET', e, 'queue', 'status')
if old[1] then
  redis.call('ZREM', P..':w:'..old[1], id)
  if old[2] == 'waiting' and filters(e) then redis.call('DECR', P..':wsk:'..old[1]) end
  redis.call('SREM', P..':cb', id)
  redis.call('DEL', e)
end
local seq = redis.call('INCR', P..':seq')
local prio = math.max(0, math.min(PMAX, tonumber(ARGV[5])))
local score = (PMAX - prio) * SEQSPAN + (seq % SEQSPAN)
redis.call('HSET', e, 'queue', q, 'call_id', ARGV[4], 'priority', ARGV[5], 'enqueued_at', ARGV[6],
           'skills', ARGV[7], 'kind', ARGV[8], 'caller_num', ARGV[9], 'caller_name', ARGV[10],
           'seq', seq, 'score', string.format('%.0f', score), 'status', 'waiting', 'agent', '',
           'owner', ARGV[11], 'claimed_by', '', 'avoid_agent', ARGV[12])
redis.call('ZADD', P..':w:'..q, score, id)
redis.call('SADD', P..':ents', id)
if filters(e) then redis.call('INCR', P..':wsk:'..q) end
if ARGV[8] == 'callback' then redis.call('SADD', P..':cb', id) end
return seq
"""
    )
    .replace("PMAX", str(PRIORITY_MAX))
    .replace("SEQSPAN", f"{SEQ_SPAN:.0f}")
)

_REQUEUE = (
    _LIB
    + r"""
local id = ARGV[2]
local e = P..':e:'..id
local f = redis.call('HMGET', e, 'queue', 'status', 'score')
if not f[1] or redis.call('HEXISTS', P..':q', f[1]) == 0 then return 0 end
if f[2] == 'offered' then
  redis.call('HSET', e, 'status', 'waiting', 'agent', '', 'claimed_by', '')
  redis.call('ZADD', P..':w:'..f[1], f[3], id)
  if filters(e) then redis.call('INCR', P..':wsk:'..f[1]) end
end
return 1
"""
)

_REMOVE = (
    _LIB
    + r"""
local id = ARGV[2]
local e = P..':e:'..id
local all = redis.call('HGETALL', e)
if #all == 0 then return all end
local f = redis.call('HMGET', e, 'queue', 'status')
if f[2] == 'waiting' then
  if redis.call('ZREM', P..':w:'..f[1], id) == 1 and filters(e) then redis.call('DECR', P..':wsk:'..f[1]) end
end
redis.call('SREM', P..':cb', id)
redis.call('SREM', P..':ents', id)
redis.call('DEL', e)
return all
"""
)

_TO_CALLBACK = (
    _LIB
    + r"""
local id = ARGV[2]
local e = P..':e:'..id
if redis.call('HGET', e, 'status') ~= 'waiting' then return 0 end
redis.call('HSET', e, 'kind', 'callback', 'caller_num', ARGV[3])
redis.call('SADD', P..':cb', id)
return 1
"""
)

_DELETE_QUEUE = (
    _LIB
    + r"""
local q = ARGV[2]
local ids = redis.call('ZRANGE', P..':w:'..q, 0, -1)
for _, id in ipairs(ids) do
  redis.call('DEL', P..':e:'..id)
  redis.call('SREM', P..':cb', id)
  redis.call('SREM', P..':ents', id)
end
redis.call('DEL', P..':w:'..q, P..':wsk:'..q, P..':rr:'..q, P..':qs:'..q)
redis.call('HDEL', P..':q', q)
return #ids
"""
)

_CLAIM = (
    _LIB
    + r"""
-- ARGV: P, queue, entry, now, rnd, max_scan, owner (the claiming instance)
local q, entry, now, rnd, max_scan = ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6])
local owner = ARGV[7] or ''
local e = P..':e:'..entry
local ef = redis.call('HMGET', e, 'status', 'queue', 'agent')
local qs = redis.call('HMGET', P..':qs:'..q, 'strategy', 'skills')
if not ef[1] or ef[2] ~= q or not qs[1] then return {'gone'} end
local c = counts(q)
if ef[1] == 'offered' then
  return {'offered', ef[3], '0', 0, c[1], c[2], c[3], c[4], redis.call('HGETALL', P..':as:'..ef[3])}
end
local wk, avk = P..':w:'..q, P..':av:'..q
local rank = redis.call('ZRANK', wk, entry)
if not rank then return {'gone'} end
local waiting = {'waiting', '', '0', rank + 1, c[1], c[2], c[3], c[4], {}}
local navail = c[4]
if navail == 0 then return waiting end
local strategy, qskills = qs[1], qs[2]
local fast = (qskills == '' or not qskills) and (tonumber(redis.call('GET', P..':wsk:'..q)) or 0) == 0
if fast and rank >= navail then return waiting end
local cursor = tonumber(redis.call('GET', P..':rr:'..q)) or 0
local taken, ntaken = {}, 0

local function commit(agent, score)
  local ak = P..':as:'..agent
  local prev = redis.call('HGET', ak, 'since') or '0'
  unindex(agent)
  local ver = tonumber(redis.call('HGET', ak, 'version')) + 1
  local offers = tonumber(redis.call('HGET', ak, 'offers') or '0') + 1
  redis.call('HSET', ak, 'state', 'ringing', 'since', now, 'reason', '', 'call_id',
             redis.call('HGET', e, 'call_id'), 'queue', q, 'until', '0', 'offers', offers, 'version', ver)
  index(agent, 'ringing', '0')
  redis.call('ZREM', wk, entry)
  if filters(e) then redis.call('DECR', P..':wsk:'..q) end
  redis.call('HSET', e, 'status', 'offered', 'agent', agent, 'claimed_by', owner)
  redis.call('SET', P..':rr:'..q, string.format('%.0f', score - math.floor(score / SPAN) * SPAN))
  local cc = counts(q)
  return {'offered', agent, prev, 0, cc[1], cc[2], cc[3], cc[4], redis.call('HGETALL', ak)}
end

if fast and (strategy == 'rrmemory' or strategy == 'linear' or strategy == 'random') then
  -- nothing filters: the callers ahead take the next agents in the strategy's order, so this caller's
  -- agent is the rank-th from the start (what the greedy loop below would find)
  local first = redis.call('ZRANGE', avk, 0, 0, 'WITHSCORES')
  local p = math.floor(tonumber(first[2]) / SPAN)
  local tlo, thi = p * SPAN, p * SPAN + SPAN - 1
  local size = redis.call('ZCOUNT', avk, tlo, thi)
  if rank < size then
    local start = 0
    if strategy == 'rrmemory' then
      start = redis.call('ZCOUNT', avk, tlo, tlo + cursor)
    elseif strategy == 'random' then
      start = math.min(size - 1, math.floor(rnd * size))
    end
    local idx = (start + rank) % size
    local got = redis.call('ZRANGEBYSCORE', avk, tlo, thi, 'WITHSCORES', 'LIMIT', idx, 1)
    return commit(got[1], tonumber(got[2]))
  end
end

local function skilled(agent, required)
  for name, level in pairs(required) do
    local have = tonumber(redis.call('HGET', P..':sk:'..agent, name)) or 0
    if have < level then return false end
  end
  return true
end

-- another member staffed for the queue with the skills: the transferer ``avoid`` is then skipped
local function substitute(avoid, required)
  local sf = P..':sf:'..q
  if next(required) == nil then
    return redis.call('SCARD', sf) > redis.call('SISMEMBER', sf, avoid)
  end
  for _, agent in ipairs(redis.call('SMEMBERS', sf)) do
    if agent ~= avoid and skilled(agent, required) then return true end
  end
  return false
end

local function eligible(agent, required, avoid)
  if taken[agent] or not skilled(agent, required) then return false end
  return agent ~= avoid or not substitute(avoid, required)
end

-- call fn(agent, score) for members with min <= score <= max (min may be '(x'), from offset; stop on true
local function scan(min, max, offset, limit, fn)
  local off = offset
  while limit == nil or off < offset + limit do
    local n = 64
    if limit ~= nil then n = math.min(64, offset + limit - off) end
    if n <= 0 then return nil end
    local page = redis.call('ZRANGEBYSCORE', avk, min, max, 'WITHSCORES', 'LIMIT', off, n)
    if #page == 0 then return nil end
    for i = 1, #page, 2 do
      local r = fn(page[i], tonumber(page[i+1]))
      if r then return r end
    end
    if #page < 2 * n then return nil end
    off = off + n
  end
  return nil
end

local function pick(required, avoid)
  local first = redis.call('ZRANGE', avk, 0, 0, 'WITHSCORES')
  if #first == 0 then return nil end
  local lo = tonumber(first[2])
  while true do
    local p = math.floor(lo / SPAN)
    local tlo, thi = p * SPAN, p * SPAN + SPAN - 1
    local found, fscore = nil, nil
    local function take(agent, score)
      if eligible(agent, required, avoid) then found, fscore = agent, score; return true end
      return nil
    end
    if strategy == 'longest_idle' or strategy == 'fewest_calls' then
      local field = 'idle_since'
      if strategy == 'fewest_calls' then field = 'calls' end
      local bestk, besto = nil, nil
      scan(tlo, thi, 0, nil, function(agent, score)
        if eligible(agent, required, avoid) then
          local k = tonumber(redis.call('HGET', P..':as:'..agent, field)) or 0
          local o = score - tlo
          if bestk == nil or k < bestk or (k == bestk and o < besto) then
            bestk, besto, found, fscore = k, o, agent, score
          end
        end
        return nil
      end)
    elseif strategy == 'linear' then
      scan(tlo, thi, 0, nil, take)
    elseif strategy == 'random' then
      local size = redis.call('ZCOUNT', avk, tlo, thi)
      local start = math.min(size - 1, math.floor(rnd * size))
      if not scan(tlo, thi, start, nil, take) then scan(tlo, thi, 0, start, take) end
    else -- rrmemory
      if not scan('(' .. (tlo + cursor), thi, 0, nil, take) then scan(tlo, tlo + cursor, 0, nil, take) end
    end
    if found then return found, fscore end
    local nxt = redis.call('ZRANGEBYSCORE', avk, '(' .. thi, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
    if #nxt == 0 then return nil end
    lo = tonumber(nxt[2])
  end
end

local ahead = redis.call('ZRANGE', wk, 0, math.min(rank, max_scan))
for _, id in ipairs(ahead) do
  local ef2 = redis.call('HMGET', P..':e:'..id, 'skills', 'avoid_agent')
  local required = parse_skills(ef2[1], parse_skills(qskills, {}))
  local agent, score = pick(required, ef2[2] or '')
  if id == entry then
    if not agent then return waiting end
    return commit(agent, score)
  end
  if agent then
    taken[agent] = true
    ntaken = ntaken + 1
    cursor = score - math.floor(score / SPAN) * SPAN
    if ntaken >= navail then return waiting end
  end
end
return waiting
"""
)

_LIST_AGENTS = r"""
-- every configured agent's status in one reply: {order, id, field values...} per agent (no parsing of
-- 2,000 hashes on the client: one flat array)
local P = ARGV[1]
local conf = redis.call('HGETALL', P..':ac')
local out = {}
for i = 1, #conf, 2 do
  local id = conf[i]
  local f = redis.call('HMGET', P..':as:'..id, 'state', 'since', 'reason', 'call_id', 'queue', 'until',
                       'idle_since', 'calls', 'offers', 'pending_pause', 'version')
  if f[1] then
    local ok, cfg = pcall(cjson.decode, conf[i+1])
    local order = 0
    if ok and type(cfg) == 'table' and tonumber(cfg['order']) then order = tonumber(cfg['order']) end
    local row = {tostring(order), id}
    for j = 1, 11 do row[#row+1] = f[j] or '' end
    out[#out+1] = table.concat(row, '\31')
  end
end
return out
"""

_STATUS_FIELDS = (
    "state",
    "since",
    "reason",
    "call_id",
    "queue",
    "until",
    "idle_since",
    "calls",
    "offers",
    "pending_pause",
)


_LIST_FIELDS = (
    "state",
    "since",
    "reason",
    "call_id",
    "queue",
    "until",
    "idle_since",
    "calls",
    "offers",
    "pending_pause",
    "version",
)


def _s(value: Any) -> str:
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes) else value


def _f(value: Any) -> float:
    try:
        return float(_s(value) or 0)
    except ValueError:
        return 0.0


def skills_text(skills: Skills) -> str:
    return ",".join(f"{name}:{level}" for name, level in skills)


def parse_skills_text(text: str) -> Skills:
    out: list[tuple[str, int]] = []
    for part in text.split(","):
        name, _, level = part.partition(":")
        if name:
            out.append((name, int(level or 1)))
    return tuple(out)


def status_from_hash(agent: str, raw: Mapping[Any, Any] | Sequence[Any]) -> AgentStatus | None:
    if isinstance(raw, Sequence):
        raw = {raw[i]: raw[i + 1] for i in range(0, len(raw), 2)}
    data = {_s(k): v for k, v in raw.items()}
    if not data:
        return None
    try:
        state = AgentState(_s(data.get("state")) or "logged_out")
    except ValueError:
        state = AgentState.LOGGED_OUT
    return AgentStatus(
        agent=agent,
        state=state,
        since=_f(data.get("since")),
        reason=_s(data.get("reason")),
        call_id=_s(data.get("call_id")),
        queue=_s(data.get("queue")),
        until=_f(data.get("until")),
        idle_since=_f(data.get("idle_since")),
        calls=int(_f(data.get("calls"))),
        offers=int(_f(data.get("offers"))),
        pending_pause=_s(data.get("pending_pause")),
        version=int(_f(data.get("version"))),
    )


def status_fields(status: AgentStatus) -> list[str]:
    return [
        "state",
        status.state.value,
        "since",
        repr(status.since),
        "reason",
        status.reason,
        "call_id",
        status.call_id,
        "queue",
        status.queue,
        "until",
        repr(status.until),
        "idle_since",
        repr(status.idle_since),
        "calls",
        str(status.calls),
        "offers",
        str(status.offers),
        "pending_pause",
        status.pending_pause,
    ]


def entry_from_hash(entry_id: str, raw: Mapping[Any, Any] | Sequence[Any]) -> WaitingEntry | None:
    if isinstance(raw, Sequence):
        raw = {raw[i]: raw[i + 1] for i in range(0, len(raw), 2)}
    data = {_s(k): _s(v) for k, v in raw.items()}
    if not data:
        return None
    return WaitingEntry(
        id=entry_id,
        queue=data.get("queue", ""),
        call_id=data.get("call_id", ""),
        priority=int(_f(data.get("priority"))),
        enqueued_at=_f(data.get("enqueued_at")),
        skills=parse_skills_text(data.get("skills", "")),
        kind=EntryKind(data.get("kind") or "call"),
        caller_num=data.get("caller_num", ""),
        caller_name=data.get("caller_name", ""),
        seq=int(_f(data.get("seq"))),
        status=EntryStatus(data.get("status") or "waiting"),
        agent=data.get("agent", ""),
        owner=data.get("owner", ""),
        claimed_by=data.get("claimed_by", ""),
        avoid_agent=data.get("avoid_agent", ""),
    )


class RedisAcdState(RedisCalls):
    """``ports.AcdState`` on one Redis server. Every call is bounded by ``timeout`` and raises
    ``StateError`` on failure (the client comes from ``state.redis_conn.connect_redis``)."""

    def __init__(self, client: Redis, prefix: str = "callcenter:acd", *, timeout: float = 2.0) -> None:
        self._r = client
        self._p = prefix
        self._timeout = timeout
        self._cas: AsyncScript = client.register_script(_CAS)
        self._save_agent_s: AsyncScript = client.register_script(_SAVE_AGENT)
        self._delete_agent_s: AsyncScript = client.register_script(_DELETE_AGENT)
        self._enqueue_s: AsyncScript = client.register_script(_ENQUEUE)
        self._requeue_s: AsyncScript = client.register_script(_REQUEUE)
        self._remove_s: AsyncScript = client.register_script(_REMOVE)
        self._to_callback_s: AsyncScript = client.register_script(_TO_CALLBACK)
        self._delete_queue_s: AsyncScript = client.register_script(_DELETE_QUEUE)
        self._claim_s: AsyncScript = client.register_script(_CLAIM)
        self._list_agents_s: AsyncScript = client.register_script(_LIST_AGENTS)
        self.max_scan = 200

    @property
    def prefix(self) -> str:
        return self._p

    def _k(self, *parts: str) -> str:
        return ":".join((self._p, *parts))

    # --- configuration --------------------------------------------------------------------------
    async def save_queue(self, queue: QueueConfig) -> None:
        async def go() -> None:
            pipe = self._r.pipeline(transaction=True)
            pipe.hset(self._k("q"), queue.name, json.dumps(queue_to_mapping(queue)))
            pipe.hset(
                self._k("qs", queue.name),
                mapping={"strategy": queue.strategy.value, "skills": skills_text(queue.required_skills)},
            )
            await pipe.execute()

        await self._run("save_queue", go())

    async def delete_queue(self, name: str) -> None:
        await self._script("delete_queue", self._delete_queue_s, name)

    async def load_queues(self) -> list[QueueConfig]:
        raw = await self._run("load_queues", self._r.hgetall(self._k("q")))
        out = [queue_from_mapping(_s(name), json.loads(value)) for name, value in raw.items()]
        return sorted(out, key=lambda q: q.name)

    async def save_agent(self, agent: AgentConfig) -> None:
        pairs: list[str] = []
        for m in agent.queues:
            pairs += [m.queue, str(agent_score(m.penalty, agent.order))]
        if agent.order >= ORDER_SPAN:
            raise StateError(f"agent {agent.id}: order must be below {ORDER_SPAN}")
        await self._script(
            "save_agent",
            self._save_agent_s,
            agent.id,
            json.dumps(agent_to_mapping(agent)),
            skills_text(agent.skills),
            *pairs,
        )

    async def delete_agent(self, agent_id: str) -> None:
        await self._script("delete_agent", self._delete_agent_s, agent_id)

    async def load_agents(self) -> list[AgentConfig]:
        raw = await self._run("load_agents", self._r.hgetall(self._k("ac")))
        out = [agent_from_mapping(json.loads(value)) for value in raw.values()]
        return sorted(out, key=lambda a: (a.order, a.id))

    # --- agent states ---------------------------------------------------------------------------
    async def get_agent(self, agent_id: str) -> AgentStatus | None:
        raw = await self._run("get_agent", self._r.hgetall(self._k("as", agent_id)))
        return status_from_hash(agent_id, raw)

    async def list_agents(self) -> list[AgentStatus]:
        rows: list[tuple[float, str, AgentStatus]] = []
        for raw in await self._script("list_agents", self._list_agents_s):
            order, agent, *values = _s(raw).split("\x1f")
            status = status_from_hash(agent, dict(zip(_LIST_FIELDS, values, strict=True)))
            if status is not None:
                rows.append((_f(order), agent, status))
        rows.sort(key=lambda row: (row[0], row[1]))
        return [status for _order, _agent, status in rows]

    async def compare_and_set(self, status: AgentStatus) -> AgentStatus | None:
        version = await self._script(
            "compare_and_set", self._cas, status.agent, str(status.version), *status_fields(status)
        )
        if not version:
            return None
        return status.with_(version=int(version))

    async def due_timers(self, now: float) -> list[str]:
        raw = await self._run("due_timers", self._r.zrangebyscore(self._k("tm"), "-inf", now))
        return [_s(a) for a in raw]

    # --- waiting callers ------------------------------------------------------------------------
    async def enqueue(self, entry: WaitingEntry) -> WaitingEntry:
        seq = await self._script(
            "enqueue",
            self._enqueue_s,
            entry.id,
            entry.queue,
            entry.call_id,
            str(entry.priority),
            repr(entry.enqueued_at),
            skills_text(entry.skills),
            entry.kind.value,
            entry.caller_num,
            entry.caller_name,
            entry.owner,
            entry.avoid_agent,
        )
        return WaitingEntry(
            id=entry.id,
            queue=entry.queue,
            call_id=entry.call_id,
            priority=entry.priority,
            enqueued_at=entry.enqueued_at,
            skills=entry.skills,
            kind=entry.kind,
            caller_num=entry.caller_num,
            caller_name=entry.caller_name,
            seq=int(seq),
            owner=entry.owner,
            avoid_agent=entry.avoid_agent,
        )

    async def claim(self, queue: str, entry_id: str, now: float, rnd: float = 0.0, owner: str = "") -> Claim:
        res = await self._script(
            "claim", self._claim_s, queue, entry_id, repr(now), repr(rnd), str(self.max_scan), owner
        )
        status = EntryStatus(_s(res[0]))
        if status is EntryStatus.GONE:
            return Claim(EntryStatus.GONE)
        agent = status_from_hash(_s(res[1]), res[8]) if status is EntryStatus.OFFERED else None
        return Claim(
            status,
            agent=agent,
            previous_since=_f(res[2]),
            position=int(res[3]),
            waiting=int(res[4]),
            logged_in=int(res[5]),
            staffed=int(res[6]),
            available=int(res[7]),
        )

    async def requeue(self, entry_id: str) -> bool:
        return bool(await self._script("requeue", self._requeue_s, entry_id))

    async def remove(self, entry_id: str) -> WaitingEntry | None:
        raw = await self._script("remove", self._remove_s, entry_id)
        return entry_from_hash(entry_id, raw) if raw else None

    async def to_callback(self, entry_id: str, caller_num: str) -> bool:
        return bool(await self._script("to_callback", self._to_callback_s, entry_id, caller_num))

    async def get_entry(self, entry_id: str) -> WaitingEntry | None:
        raw = await self._run("get_entry", self._r.hgetall(self._k("e", entry_id)))
        return entry_from_hash(entry_id, raw)

    async def _entries(self, ids: Sequence[str]) -> list[WaitingEntry]:
        async def go() -> list[Any]:
            pipe = self._r.pipeline(transaction=False)
            for entry_id in ids:
                pipe.hgetall(self._k("e", entry_id))
            result: list[Any] = await pipe.execute()
            return result

        raws = await self._run("entries", go())
        out = []
        for entry_id, raw in zip(ids, raws, strict=True):
            entry = entry_from_hash(entry_id, raw)
            if entry is not None:
                out.append(entry)
        return out

    async def waiting(self, queue: str) -> list[WaitingEntry]:
        ids = [_s(i) for i in await self._run("waiting", self._r.zrange(self._k("w", queue), 0, -1))]
        return [e for e in await self._entries(ids) if e.status is EntryStatus.WAITING]

    async def callbacks(self) -> list[WaitingEntry]:
        ids = sorted(_s(i) for i in await self._run("callbacks", self._r.smembers(self._k("cb"))))
        return [
            e
            for e in await self._entries(ids)
            if e.kind is EntryKind.CALLBACK and e.status is EntryStatus.WAITING
        ]

    async def entries(self) -> list[WaitingEntry]:
        ids = sorted(_s(i) for i in await self._run("entries", self._r.smembers(self._k("ents"))))
        return await self._entries(ids)

    async def counts(self, queue: str) -> QueueCounts:
        async def go() -> list[Any]:
            pipe = self._r.pipeline(transaction=False)
            pipe.zcard(self._k("w", queue))
            pipe.scard(self._k("li", queue))
            pipe.scard(self._k("sf", queue))
            pipe.zcard(self._k("av", queue))
            result: list[Any] = await pipe.execute()
            return result

        w, li, sf, av = await self._run("counts", go())
        return QueueCounts(waiting=int(w), logged_in=int(li), staffed=int(sf), available=int(av))

    # --- statistics -----------------------------------------------------------------------------
    async def add_handle_time(self, queue: str, seconds: float, keep: int = 20) -> None:
        async def go() -> None:
            pipe = self._r.pipeline(transaction=True)
            pipe.lpush(self._k("ht", queue), repr(seconds))
            pipe.ltrim(self._k("ht", queue), 0, keep - 1)
            await pipe.execute()

        await self._run("add_handle_time", go())

    async def handle_times(self, queue: str) -> list[float]:
        raw = await self._run("handle_times", self._r.lrange(self._k("ht", queue), 0, -1))
        return [_f(v) for v in raw]

    async def incr(self, queue: str, counter: str, amount: int = 1) -> None:
        await self._run("incr", self._r.hincrby(self._k("ct", queue), counter, amount))

    async def counters(self, queue: str) -> dict[str, int]:
        raw = await self._run("counters", self._r.hgetall(self._k("ct", queue)))
        return {_s(k): int(v) for k, v in raw.items()}

    # --- instances and the state's own health -------------------------------------------------
    async def renew_lease(self, instance: str, ttl: float, now: float) -> None:
        async def go() -> None:
            pipe = self._r.pipeline(transaction=True)
            pipe.set(self._k("lease", instance), repr(now), px=max(1, int(ttl * 1000)))
            pipe.sadd(self._k("inst"), instance)
            await pipe.execute()

        await self._run("renew_lease", go())

    async def drop_lease(self, instance: str) -> None:
        await self._run("drop_lease", self._r.delete(self._k("lease", instance)))

    async def instances(self, now: float) -> dict[str, bool]:
        ids = sorted(_s(i) for i in await self._run("instances", self._r.smembers(self._k("inst"))))

        async def go() -> list[Any]:
            pipe = self._r.pipeline(transaction=False)
            for instance in ids:
                pipe.exists(self._k("lease", instance))
            result: list[Any] = await pipe.execute()
            return result

        alive = await self._run("instances", go()) if ids else []
        return {instance: bool(a) for instance, a in zip(ids, alive, strict=True)}

    async def forget_instance(self, instance: str) -> None:
        """Stop listing a dead instance (its lease is left alone: one that comes back renews it)."""
        await self._run("forget_instance", self._r.srem(self._k("inst"), instance))

    async def seeded(self) -> bool:
        return bool(await self._run("seeded", self._r.exists(self._k("seed"))))

    async def mark_seeded(self) -> None:
        await self._run("mark_seeded", self._r.set(self._k("seed"), "1"))

    async def clear(self) -> int:
        """Delete every key under the prefix (tests, ``acd reset``). Returns how many."""

        async def go() -> int:
            n = 0
            async for key in self._r.scan_iter(match=self._p + ":*", count=500):
                n += int(await self._r.delete(key))
            return n

        with self._errors("clear"):
            async with asyncio.timeout(self._timeout * 10):
                return await go()
