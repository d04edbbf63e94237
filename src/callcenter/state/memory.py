"""``AcdState`` in one process (the embedded default): plain dicts and sorted lists, no awaits inside a
change, so every operation is atomic on the event loop.

Per queue: the available members as a sorted list of ``(penalty, order, agent)`` (``domain.routing``),
the waiting entries as a sorted list of ``(rank_score, entry_id)``, the round-robin cursor, and the sets
of logged-in and staffed members (kept up to date on each state change, so a caller's tick is O(log n)).
"""

from __future__ import annotations

import time
from bisect import bisect_left, bisect_right, insort
from collections import defaultdict, deque
from collections.abc import Callable

from callcenter.domain.acd import (
    STAFFED,
    AgentConfig,
    AgentState,
    AgentStatus,
    Claim,
    EntryKind,
    EntryStatus,
    QueueConfig,
    QueueCounts,
    Strategy,
    WaitingEntry,
)
from callcenter.domain.agent_state import transition
from callcenter.domain.hold import HeldCall
from callcenter.domain.routing import Candidate, has_skills, merge_skills, pick, rank_score

#: how many waiting callers ahead of one a tick looks through when skills make the order non-trivial
MAX_SCAN = 200
TIMED = (AgentState.WRAPUP, AgentState.BUSY)
_TOP = "\U0010ffff"


class MemoryAcdState:
    def __init__(self) -> None:
        self._queues: dict[str, QueueConfig] = {}
        self._agents: dict[str, AgentConfig] = {}
        self._status: dict[str, AgentStatus] = {}
        self._skills: dict[str, dict[str, int]] = {}
        self._avail: dict[str, list[Candidate]] = defaultdict(list)
        self._in_avail: set[str] = set()
        self._logged_in: dict[str, set[str]] = defaultdict(set)
        self._staffed: dict[str, set[str]] = defaultdict(set)
        self._cursor: dict[str, int] = defaultdict(int)
        self._entries: dict[str, WaitingEntry] = {}
        self._wait: dict[str, list[tuple[float, str]]] = defaultdict(list)
        #: waiting entries that filter agents (skills, a transferer to avoid): no fast path while any
        self._skilled_waiting: dict[str, int] = defaultdict(int)
        self._timers: dict[str, float] = {}
        self._seq = 0
        self._handle: dict[str, deque[float]] = {}
        self._counters: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self._leases: dict[str, float] = {}  # instance → lease expiry (epoch seconds)
        self._instances: set[str] = set()
        self._seeded = False

    # --- configuration --------------------------------------------------------------------------
    async def save_queue(self, queue: QueueConfig) -> None:
        self._queues[queue.name] = queue

    async def delete_queue(self, name: str) -> None:
        self._queues.pop(name, None)
        for _score, entry_id in list(self._wait.get(name, [])):
            self._drop_entry(entry_id)
        self._wait.pop(name, None)

    async def load_queues(self) -> list[QueueConfig]:
        return sorted(self._queues.values(), key=lambda q: q.name)

    async def save_agent(self, agent: AgentConfig) -> None:
        old = self._agents.get(agent.id)
        status = self._status.get(agent.id)
        if old is not None and status is not None:
            self._unindex(old, status)
        self._agents[agent.id] = agent
        self._skills[agent.id] = dict(agent.skills)
        if status is None:
            status = AgentStatus(agent=agent.id)
            self._status[agent.id] = status
        self._index(agent, status)

    async def delete_agent(self, agent_id: str) -> None:
        cfg = self._agents.pop(agent_id, None)
        status = self._status.pop(agent_id, None)
        if cfg is not None and status is not None:
            self._unindex(cfg, status)
        self._skills.pop(agent_id, None)
        self._timers.pop(agent_id, None)

    async def load_agents(self) -> list[AgentConfig]:
        return sorted(self._agents.values(), key=lambda a: (a.order, a.id))

    # --- agent states ---------------------------------------------------------------------------
    async def get_agent(self, agent_id: str) -> AgentStatus | None:
        return self._status.get(agent_id)

    async def list_agents(self) -> list[AgentStatus]:
        return [self._status[a.id] for a in await self.load_agents()]

    async def compare_and_set(self, status: AgentStatus) -> AgentStatus | None:
        current = self._status.get(status.agent)
        cfg = self._agents.get(status.agent)
        if current is None or cfg is None or current.version != status.version:
            return None
        stored = status.with_(version=current.version + 1)
        self._unindex(cfg, current)
        self._status[status.agent] = stored
        self._index(cfg, stored)
        return stored

    async def due_timers(self, now: float) -> list[str]:
        return [agent for agent, until in self._timers.items() if until <= now]

    def _index(self, cfg: AgentConfig, status: AgentStatus) -> None:
        state = status.state
        for m in cfg.queues:
            if state is not AgentState.LOGGED_OUT:
                self._logged_in[m.queue].add(cfg.id)
            if state in STAFFED:
                self._staffed[m.queue].add(cfg.id)
            if state is AgentState.AVAILABLE:
                insort(self._avail[m.queue], (m.penalty, cfg.order, cfg.id))
        if state is AgentState.AVAILABLE:
            self._in_avail.add(cfg.id)
        if state in TIMED and status.until > 0:
            self._timers[cfg.id] = status.until

    def _unindex(self, cfg: AgentConfig, status: AgentStatus) -> None:
        for m in cfg.queues:
            self._logged_in[m.queue].discard(cfg.id)
            self._staffed[m.queue].discard(cfg.id)
            if cfg.id in self._in_avail:
                avail = self._avail[m.queue]
                key = (m.penalty, cfg.order, cfg.id)
                i = bisect_left(avail, key)
                if i < len(avail) and avail[i] == key:
                    del avail[i]
        self._in_avail.discard(cfg.id)
        self._timers.pop(cfg.id, None)

    # --- waiting callers ------------------------------------------------------------------------
    async def enqueue(self, entry: WaitingEntry) -> WaitingEntry:
        self._seq += 1
        stored = WaitingEntry(
            id=entry.id,
            queue=entry.queue,
            call_id=entry.call_id,
            priority=entry.priority,
            enqueued_at=entry.enqueued_at,
            skills=entry.skills,
            kind=entry.kind,
            caller_num=entry.caller_num,
            caller_name=entry.caller_name,
            seq=self._seq,
            owner=entry.owner,
            avoid_agent=entry.avoid_agent,
        )
        if entry.id in self._entries:
            self._drop_entry(entry.id)
        self._entries[entry.id] = stored
        self._wait_add(stored)
        return stored

    def _key(self, entry: WaitingEntry) -> tuple[float, str]:
        return (rank_score(entry.priority, entry.seq), entry.id)

    def _wait_add(self, entry: WaitingEntry) -> None:
        insort(self._wait[entry.queue], self._key(entry))
        if entry.skills or entry.avoid_agent:
            self._skilled_waiting[entry.queue] += 1

    def _wait_remove(self, entry: WaitingEntry) -> None:
        wl = self._wait.get(entry.queue)
        if wl is None:
            return
        key = self._key(entry)
        i = bisect_left(wl, key)
        if i < len(wl) and wl[i] == key:
            del wl[i]
            if entry.skills or entry.avoid_agent:
                self._skilled_waiting[entry.queue] -= 1

    def _drop_entry(self, entry_id: str) -> WaitingEntry | None:
        entry = self._entries.pop(entry_id, None)
        if entry is not None and entry.status is EntryStatus.WAITING:
            self._wait_remove(entry)
        return entry

    async def claim(self, queue: str, entry_id: str, now: float, rnd: float = 0.0, owner: str = "") -> Claim:
        entry = self._entries.get(entry_id)
        q = self._queues.get(queue)
        if entry is None or q is None or entry.queue != queue:
            return Claim(EntryStatus.GONE)
        counts = self._counts(queue)
        if entry.status is EntryStatus.OFFERED:
            return Claim(EntryStatus.OFFERED, agent=self._status.get(entry.agent))
        wl = self._wait[queue]
        rank = bisect_left(wl, self._key(entry))
        waiting = Claim(
            EntryStatus.WAITING,
            position=rank + 1,
            waiting=counts.waiting,
            logged_in=counts.logged_in,
            staffed=counts.staffed,
            available=counts.available,
        )
        avail = self._avail[queue]
        if not avail:
            return waiting
        fast = not q.required_skills and self._skilled_waiting[queue] == 0
        if fast and rank >= len(avail):
            return waiting  # the callers ahead take every available agent
        if fast and q.strategy in (Strategy.RRMEMORY, Strategy.LINEAR, Strategy.RANDOM):
            # nothing filters: the callers ahead take the next agents in the strategy's order, so this
            # caller's agent is the rank-th from the start (what the greedy loop below would find)
            penalty = avail[0][0]
            size = bisect_left(avail, (penalty + 1,))
            if rank < size:
                if q.strategy is Strategy.RRMEMORY:
                    start = bisect_right(avail, (penalty, self._cursor[queue], _TOP), 0, size)
                elif q.strategy is Strategy.RANDOM:
                    start = min(size - 1, int(rnd * size))
                else:
                    start = 0
                return self._commit(q, entry, avail[(start + rank) % size], now, owner)
        taken: set[str] = set()
        cursor = self._cursor[queue]
        key = self._strategy_key(q.strategy)
        for index in range(min(rank + 1, len(wl), MAX_SCAN + 1)):
            other = self._entries[wl[index][1]]
            required = merge_skills(q.required_skills, other.skills)

            def eligible(
                agent: str, required: tuple[tuple[str, int], ...] = required, avoid: str = other.avoid_agent
            ) -> bool:
                if agent in taken or (required and not has_skills(self._skills[agent], required)):
                    return False
                return agent != avoid or not self._substitute(queue, avoid, required)

            cand = pick(avail, q.strategy, cursor=cursor, rnd=rnd, eligible=eligible, key=key)
            if other.id == entry.id:
                if cand is None:
                    return waiting
                return self._commit(q, entry, cand, now, owner)
            if cand is not None:
                taken.add(cand[2])
                cursor = cand[1]
                if len(taken) >= len(avail):
                    return waiting
        return waiting

    def _substitute(self, queue: str, avoid: str, required: tuple[tuple[str, int], ...]) -> bool:
        """Is another member staffed for ``queue`` with the skills (``avoid`` is then skipped)?"""
        return any(
            agent != avoid and (not required or has_skills(self._skills[agent], required))
            for agent in self._staffed.get(queue, ())
        )

    def _strategy_key(self, strategy: Strategy) -> Callable[[str], float] | None:
        if strategy is Strategy.LONGEST_IDLE:
            return lambda agent: self._status[agent].idle_since
        if strategy is Strategy.FEWEST_CALLS:
            return lambda agent: float(self._status[agent].calls)
        return None

    def _commit(self, q: QueueConfig, entry: WaitingEntry, cand: Candidate, now: float, owner: str) -> Claim:
        agent = cand[2]
        cfg = self._agents[agent]
        current = self._status[agent]
        ringing, _ = transition(current, AgentState.RINGING, now, call_id=entry.call_id, queue=q.name)
        ringing = ringing.with_(offers=current.offers + 1, version=current.version + 1)
        self._unindex(cfg, current)
        self._status[agent] = ringing
        self._index(cfg, ringing)
        self._wait_remove(entry)
        self._entries[entry.id] = _replace_entry(
            entry, status=EntryStatus.OFFERED, agent=agent, claimed_by=owner
        )
        self._cursor[q.name] = cand[1]
        counts = self._counts(q.name)
        return Claim(
            EntryStatus.OFFERED,
            agent=ringing,
            previous_since=current.since,
            waiting=counts.waiting,
            logged_in=counts.logged_in,
            staffed=counts.staffed,
            available=counts.available,
        )

    async def requeue(self, entry_id: str) -> bool:
        entry = self._entries.get(entry_id)
        if entry is None or entry.queue not in self._queues:
            return False
        if entry.status is EntryStatus.OFFERED:
            entry = _replace_entry(entry, status=EntryStatus.WAITING, agent="", claimed_by="")
            self._entries[entry_id] = entry
            self._wait_add(entry)
        return True

    async def remove(self, entry_id: str) -> WaitingEntry | None:
        return self._drop_entry(entry_id)

    async def to_callback(self, entry_id: str, caller_num: str) -> bool:
        entry = self._entries.get(entry_id)
        if entry is None or entry.status is not EntryStatus.WAITING:
            return False
        self._entries[entry_id] = _replace_entry(entry, kind=EntryKind.CALLBACK, caller_num=caller_num)
        return True

    async def get_entry(self, entry_id: str) -> WaitingEntry | None:
        return self._entries.get(entry_id)

    async def waiting(self, queue: str) -> list[WaitingEntry]:
        return [self._entries[entry_id] for _score, entry_id in self._wait.get(queue, [])]

    async def callbacks(self) -> list[WaitingEntry]:
        return [
            e
            for e in self._entries.values()
            if e.kind is EntryKind.CALLBACK and e.status is EntryStatus.WAITING
        ]

    async def entries(self) -> list[WaitingEntry]:
        return list(self._entries.values())

    async def counts(self, queue: str) -> QueueCounts:
        return self._counts(queue)

    def _counts(self, queue: str) -> QueueCounts:
        return QueueCounts(
            waiting=len(self._wait.get(queue, ())),
            logged_in=len(self._logged_in.get(queue, ())),
            staffed=len(self._staffed.get(queue, ())),
            available=len(self._avail.get(queue, ())),
        )

    # --- statistics -----------------------------------------------------------------------------
    async def add_handle_time(self, queue: str, seconds: float, keep: int = 20) -> None:
        times = self._handle.get(queue)
        if times is None or times.maxlen != keep:
            times = deque(times or (), maxlen=keep)
            self._handle[queue] = times
        times.appendleft(seconds)

    async def handle_times(self, queue: str) -> list[float]:
        return list(self._handle.get(queue, ()))

    async def incr(self, queue: str, counter: str, amount: int = 1) -> None:
        self._counters[queue][counter] += amount

    async def counters(self, queue: str) -> dict[str, int]:
        return dict(self._counters.get(queue, {}))

    # --- instances and the state's own health -------------------------------------------------
    async def renew_lease(self, instance: str, ttl: float, now: float) -> None:
        self._leases[instance] = now + ttl
        self._instances.add(instance)

    async def drop_lease(self, instance: str) -> None:
        self._leases.pop(instance, None)

    async def instances(self, now: float) -> dict[str, bool]:
        return {i: self._leases.get(i, 0.0) > now for i in sorted(self._instances)}

    async def forget_instance(self, instance: str) -> None:
        self._instances.discard(instance)

    async def seeded(self) -> bool:
        return self._seeded

    async def mark_seeded(self) -> None:
        self._seeded = True

    async def close(self) -> None:
        return None


def _replace_entry(entry: WaitingEntry, **changes: object) -> WaitingEntry:
    from dataclasses import replace

    return replace(entry, **changes)  # type: ignore[arg-type]


class MemoryHoldStore:
    """``ports.HoldStore`` in one process (the embedded default): no awaits inside an operation, so each
    is atomic on the event loop. Records expire ``ttl`` seconds after their last store or refresh."""

    def __init__(self, ttl: float = 900.0, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._clock = clock
        self._held: dict[str, tuple[HeldCall, float]] = {}  # agent → (hold, expires at)

    def _live(self, agent: str) -> HeldCall | None:
        item = self._held.get(agent)
        if item is None:
            return None
        if item[1] <= self._clock():
            del self._held[agent]
            return None
        return item[0]

    async def put(self, held: HeldCall) -> bool:
        if self._live(held.agent) is not None:
            return False
        self._held[held.agent] = (held, self._clock() + self.ttl)
        return True

    async def get(self, agent: str) -> HeldCall | None:
        return self._live(agent)

    async def remove(self, agent: str) -> HeldCall | None:
        held = self._live(agent)
        if held is not None:
            del self._held[agent]
        return held

    async def take_by_leg(self, uniqueid: str) -> HeldCall | None:
        for agent in list(self._held):
            held = self._live(agent)
            if held is not None and held.other_channel(uniqueid) is not None:
                del self._held[agent]
                return held
        return None

    async def refresh(self, agent: str) -> bool:
        held = self._live(agent)
        if held is None:
            return False
        self._held[agent] = (held, self._clock() + self.ttl)
        return True

    async def list_held(self) -> list[HeldCall]:
        return [held for agent in list(self._held) if (held := self._live(agent)) is not None]
