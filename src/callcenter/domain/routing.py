"""Routing decisions, pure: which waiting caller goes first and which available agent gets it.

**Callers**: higher priority first (VIP and IVR priority jump ahead), FIFO within a priority; the order is
one number, ``rank_score(priority, seq)`` (a sorted-set score in Redis, a sort key in process).

**Agents**: the candidates of a queue are its *available* members kept sorted by ``(penalty, order,
agent)`` (``order`` is the configuration order). The lowest penalty tier with an eligible agent is
used first (app_queue semantics); inside it the strategy picks:

* ``rrmemory`` (default): the first eligible agent after the last one offered (``cursor`` = its order),
  wrapping around: continue where the previous offer left off;
* ``linear``: the first eligible agent in order;
* ``random``: from a random start in the tier, the first eligible one;
* ``longest_idle``: the eligible agent whose last ACD call ended longest ago;
* ``fewest_calls``: the eligible agent with the fewest answered ACD calls since login.

*Eligible* = not already reserved in this matching round and having every required skill at the
required level (queue skills plus the caller's) and, for a call an agent transferred to the queue
(``WaitingEntry.avoid_agent``, from ``CC_TRANSFERRED_BY``), not that agent while a *substitute* exists:
another member of the queue that is *staffed* (available, ringing, on a call, on hold or in wrap-up)
and has the required skills. So the transferer is skipped whatever the strategy (their turn passes to
the next eligible agent) and the caller rather waits for a busy substitute; the call is offered back
to the transferer only when nobody else could take it: every other member with the skills is logged
out, paused (e.g. ``missed_call`` after not answering this call: "after the others were tried") or
resting after a busy phone. The Redis implementation (``state/redis_acd.py``) runs the same algorithm
in Lua; the contract tests check that both agree.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Mapping, Sequence

from callcenter.domain.acd import Skills, Strategy

PRIORITY_MAX = 999
#: sequence numbers stay below this (a waiting call's seq is a global counter)
SEQ_SPAN = 1e12
#: penalty tiers in the agents' sorted-set score: score = penalty * ORDER_SPAN + order
ORDER_SPAN = 1_000_000_000
_TOP = "\U0010ffff"

Candidate = tuple[int, int, str]  # (penalty, order, agent)


def clamp_priority(priority: int) -> int:
    return max(0, min(PRIORITY_MAX, int(priority)))


def rank_score(priority: int, seq: int) -> float:
    """Sort key of a waiting caller: lower is served first."""
    return (PRIORITY_MAX - clamp_priority(priority)) * SEQ_SPAN + (seq % SEQ_SPAN)


def agent_score(penalty: int, order: int) -> int:
    return penalty * ORDER_SPAN + order


def merge_skills(*groups: Iterable[tuple[str, int]]) -> Skills:
    out: dict[str, int] = {}
    for group in groups:
        for name, level in group:
            out[name] = max(level, out.get(name, 0))
    return tuple(sorted(out.items()))


def has_skills(agent_skills: Mapping[str, int], required: Skills) -> bool:
    return all(agent_skills.get(name, 0) >= level for name, level in required)


def pick(
    avail: Sequence[Candidate],
    strategy: Strategy,
    *,
    cursor: int = 0,
    rnd: float = 0.0,
    eligible: Callable[[str], bool] | None = None,
    key: Callable[[str], float] | None = None,
) -> Candidate | None:
    """Choose an agent from ``avail`` (sorted by (penalty, order, agent)) or None.

    ``key`` is the agent's idle-since time (longest idle) or answered calls (fewest calls)."""
    n = len(avail)
    i = 0
    while i < n:
        penalty = avail[i][0]
        hi = bisect_left(avail, (penalty + 1,), i)
        size = hi - i
        if strategy in (Strategy.LONGEST_IDLE, Strategy.FEWEST_CALLS):
            best: Candidate | None = None
            best_key = (math.inf, 0)
            for j in range(i, hi):
                cand = avail[j]
                if eligible is not None and not eligible(cand[2]):
                    continue
                k = (key(cand[2]) if key is not None else 0.0, cand[1])
                if best is None or k < best_key:
                    best, best_key = cand, k
            if best is not None:
                return best
        else:
            if strategy is Strategy.RRMEMORY:
                start = bisect_right(avail, (penalty, cursor, _TOP), i, hi)
            elif strategy is Strategy.RANDOM:
                start = i + min(size - 1, int(rnd * size))
            else:
                start = i
            for step in range(size):
                j = start + step
                if j >= hi:
                    j -= size
                cand = avail[j]
                if eligible is None or eligible(cand[2]):
                    return cand
        i = hi
    return None


def expected_wait(position: int, staffed: int, handle_times: Sequence[float], default: float) -> float:
    """Seconds a caller at ``position`` (1-based) should expect to wait: the recent average handle time
    (talk + wrap-up) times the callers ahead of and including this one, shared by the staffed agents."""
    if position <= 0:
        return 0.0
    aht = sum(handle_times) / len(handle_times) if handle_times else default
    return position * aht / max(1, staffed)


def announce_minutes(seconds: float) -> int:
    """Whole minutes to announce (at least 1)."""
    return max(1, math.ceil(seconds / 60.0))


def service_level(answered_within: int, answered: int, abandoned: int) -> float | None:
    """Share of calls answered within the threshold among answered and abandoned calls."""
    total = answered + abandoned
    return None if total == 0 else answered_within / total
