"""What the store sums of the KPI engine's counters for a report period, and what it gives back (the
shapes of ``store/kpi_tallies.py``; pure data)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from callcenter.domain.acd import IN_CALL, STAFFED, AgentState, AgentTransition
from callcenter.domain.kpis import HANDLING, Tally


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
    agent: str | None = None


@dataclass(frozen=True, slots=True)
class Thresholds:
    by_queue: Mapping[str, float]
    default: float
    short_abandon: float


@dataclass(frozen=True, slots=True)
class KeyedTally:
    key: str  # the queue, or the agent (``group="agent"``)
    interval: int  # the 15-minute interval index (epoch // 900); 0 when grouped by agent only
    tally: Tally
    max_wait: float


@dataclass(frozen=True, slots=True)
class AgentTimeRows:
    """Agent state time of a period, as the database summed it."""

    seconds: dict[tuple[str, str, str], tuple[float, int]]  # (agent, from, to) → (clipped s, rows)
    last_states: dict[str, tuple[AgentState, float]]  # agent → (state at the end, since when)
    pause_rows: list[AgentTransition]  # rows entering or leaving a pause (their reasons), in time order


@dataclass(slots=True)
class AgentTime:
    """One agent's time in a period: what occupancy and the agent report need."""

    staffed: float = 0.0  # available + ringing + on call + on hold + wrap-up (the engine's STAFFED)
    handling: float = 0.0  # on call + on hold + wrap-up (the engine's HANDLING)
    missed_offers: int = 0  # rang and then did not go into the call
    pauses: dict[str, float] = field(default_factory=dict)  # reason → seconds


def agent_times(rows: AgentTimeRows, since: float, until: float) -> dict[str, AgentTime]:
    """Per agent, from the store's sums: closed stints (clipped at ``since`` by the store), the state each
    agent is still in at ``until`` counted up to it, pauses by the reason they were entered with."""
    out: dict[str, AgentTime] = {}
    for (agent, from_state, to_state), (seconds, count) in rows.seconds.items():
        t = out.setdefault(agent, AgentTime())
        _add_state(t, AgentState(from_state), seconds)
        if from_state == AgentState.RINGING.value and AgentState(to_state) not in IN_CALL:
            t.missed_offers += count
    for agent, (state, at) in rows.last_states.items():
        open_seconds = until - max(at, since)
        if open_seconds > 0 and state in STAFFED:
            _add_state(out.setdefault(agent, AgentTime()), state, open_seconds)
    for agent, reason, start, end in _pause_stints(rows, until):
        seconds = min(end, until) - max(start, since)
        if seconds > 0:
            pauses = out.setdefault(agent, AgentTime()).pauses
            pauses[reason] = pauses.get(reason, 0.0) + seconds
    return out


def _add_state(t: AgentTime, state: AgentState, seconds: float) -> None:
    if state in STAFFED:
        t.staffed += seconds
        if state in HANDLING:
            t.handling += seconds


def _pause_stints(rows: AgentTimeRows, until: float) -> list[tuple[str, str, float, float]]:
    """(agent, reason, start, end) of each pause: a row leaving a pause closes ``duration`` seconds before
    it, with the reason of the row that entered it; a pause still on at ``until`` runs to it."""
    entered: dict[str, AgentTransition] = {}
    out: list[tuple[str, str, float, float]] = []
    for row in rows.pause_rows:
        if row.from_state is AgentState.PAUSED:
            entry = entered.pop(row.agent, None)
            out.append((row.agent, entry.reason if entry else "", row.at - row.duration, row.at))
        if row.to_state is AgentState.PAUSED:
            entered[row.agent] = row
    for agent, entry in entered.items():
        last = rows.last_states.get(agent)
        if last is not None and last[0] is AgentState.PAUSED and last[1] == entry.at:
            out.append((agent, entry.reason, entry.at, until))
    return out
