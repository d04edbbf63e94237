"""The KPI engine's counters of a report period: what the store is asked to sum and gives back (the shapes
of ``store/kpi_tallies.py``), and agent time split per 15-minute interval from the agent log (pure)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from callcenter.domain.acd import IN_CALL, STAFFED, AgentState, AgentTransition
from callcenter.domain.kpis import HANDLING, INTERVAL, Tally


@dataclass(frozen=True, slots=True)
class CallWindow:
    """Which calls feed a report: arrived in [since, until), started from ``since − lookback`` (a call
    arrives in its queue after its IVR), optionally one queue or one agent's calls."""

    since: float
    until: float
    lookback: float
    queue: str | None = None
    agent: str | None = None


@dataclass(frozen=True, slots=True)
class WrapWindow:
    """The agent log rows whose wrap-up seconds count (rows leaving wrap-up in [since, until))."""

    since: float
    until: float


@dataclass(frozen=True, slots=True)
class Thresholds:
    by_queue: Mapping[str, float]
    default: float
    short_abandon: float


@dataclass(frozen=True, slots=True)
class KeyedTally:
    key: str  # the queue, or the agent (``group="agent"``)
    interval: int  # the 15-minute interval index (epoch // 900)
    tally: Tally
    max_wait: float
    queue: str = ""  # the queue of an agent's calls, when grouped by agent and queue


@dataclass(slots=True)
class AgentTime:
    """One agent's time in a period: what occupancy and the agent report need."""

    staffed: float = 0.0  # available + ringing + on call + on hold + wrap-up (the engine's STAFFED)
    handling: float = 0.0  # on call + on hold + wrap-up (the engine's HANDLING)
    missed_offers: int = 0  # rang and then did not go into the call
    pauses: dict[str, float] = field(default_factory=dict)  # reason → seconds

    def add(self, other: AgentTime) -> None:
        self.staffed += other.staffed
        self.handling += other.handling
        self.missed_offers += other.missed_offers
        for reason, seconds in other.pauses.items():
            self.pauses[reason] = self.pauses.get(reason, 0.0) + seconds


def split_agent_time(
    rows: Sequence[AgentTransition],
    start_states: Mapping[str, AgentTransition],
    since: float,
    until: float,
) -> dict[tuple[str, int], AgentTime]:
    """Agent time per (agent, 15-minute interval) within [since, until), as the KPI engine splits it.

    ``rows``: the log rows in [since, until) in time order (each says the agent spent ``duration`` seconds
    in ``from_state`` up to ``at``); ``start_states``: each agent's last row before ``since`` (the state
    they were in when the window opened). A stint is clipped to the window; the state an agent is still in
    at ``until`` counts up to it; a pause counts under the reason it was entered with; a missed offer (rang,
    then not into the call) counts in the interval it ended."""
    out: dict[tuple[str, int], AgentTime] = {}
    current = dict(start_states)
    for row in rows:
        prev = current.get(row.agent)
        reason = prev.reason if prev is not None and prev.to_state is row.from_state else ""
        _add_stint(out, row.agent, row.from_state, reason, max(row.at - row.duration, since), row.at)
        if row.from_state is AgentState.RINGING and row.to_state not in IN_CALL:
            key = (row.agent, int(row.at // INTERVAL))
            out.setdefault(key, AgentTime()).missed_offers += 1
        current[row.agent] = row
    for agent, row in current.items():
        _add_stint(out, agent, row.to_state, row.reason, max(row.at, since), until)
    return out


def _add_stint(
    out: dict[tuple[str, int], AgentTime],
    agent: str,
    state: AgentState,
    reason: str,
    start: float,
    end: float,
) -> None:
    if end <= start or not (state in STAFFED or state is AgentState.PAUSED):
        return
    i = int(start // INTERVAL)
    while i * INTERVAL < end:
        seconds = min(end, (i + 1) * INTERVAL) - max(start, i * INTERVAL)
        if seconds > 0:
            t = out.setdefault((agent, i), AgentTime())
            if state is AgentState.PAUSED:
                t.pauses[reason] = t.pauses.get(reason, 0.0) + seconds
            else:
                t.staffed += seconds
                if state in HANDLING:
                    t.handling += seconds
        i += 1


def sum_agent_time(parts: Iterable[tuple[str, AgentTime]]) -> dict[str, AgentTime]:
    """Per agent, the sum of their interval parts."""
    out: dict[str, AgentTime] = {}
    for agent, part in parts:
        t = out.setdefault(agent, AgentTime())
        t.add(part)
    return out
