"""Contact-center KPIs: one engine for the live wallboard and for reports recomputed from the store.

The engine is fed *facts*: a finished call (``CallFact``, built from the tracker's final ``CallRecord``
by ``call_fact``) and agent state changes (``agent_state``: the ACD's ``agent.state`` bus events live,
the ``agent_state_log`` rows for reports). Both paths run exactly this code, so the same facts give the
same numbers (``tests/wallboard/test_kpi_equivalence.py``). Scopes: each queue, and ``CENTER`` (``*``).

**Which window a fact falls in.** A call counts at its *arrival* in the queue (``queued_at``, else its
first offer to an agent, else its start); its wrap-up counts with the call. Agent time counts when it is
spent (split at minute boundaries). Windows: **today** (since local midnight, in 15-minute intervals —
the chart), and the sliding **60m** and **15m** windows: the current minute and the 59 (14) whole minutes
before it. A call is known once it has ended (its wait, talk and outcome are final then); calls waiting
now are shown by the live counters (calls waiting, longest wait), not in the windows.

**Formulas** (T = the queue's service-level threshold, s = the short-abandon threshold):

=====================  ===================================================================================
offered                calls that entered the queue (queued or offered to an agent)
answered               offered calls an agent answered
abandoned              offered calls the caller hung up on before an answer
short abandons         abandoned with wait < s (``short_abandon``, default 5 s): misdials, not lost demand
service level          per queue convention (``SlConvention``; printed beside the number):
  ``answered``           answered within T / answered                   (Asterisk ``ServicelevelPerf``)
  ``answered_abandoned`` answered within T / (answered + abandoned)     (abandons count against)
  ``asterisk_sl2``       (answered within T + abandoned within T) / (answered + abandoned)
                                                                        (Asterisk ``ServicelevelPerf2``)
  ``offered``            answered within T / offered                    (every queued call, overflows too)
ASA                    Σ wait of answered calls / answered    (wait as defined in ``services/tracker``)
AHT                    Σ (talk + hold + wrap-up) of answered calls / answered
abandon rate           (abandoned − short abandons) / (offered − short abandons)
occupancy              handling time / staffed time, agent time in the window: handling = on call + on
                       hold + wrap-up; staffed = handling + available + ringing (paused, busy and logged
                       out are not staffed). A queue's occupancy sums the time of its member agents.
longest wait           now − the oldest enqueue time of the calls waiting now (callbacks excluded)
agents by state        current state of each agent (a queue: its members)
=====================  ===================================================================================

Sources: Asterisk ``apps/app_queue.c`` (``ServicelevelPerf`` / ``ServicelevelPerf2`` in
``QueueParams``, ``callscompletedinsl``, ``callsabandonedinsl``); ICMI / COPC definitions of service
level, ASA, AHT (talk + hold + after-call work), abandon rate with short abandons excluded, occupancy.
Staffing (Erlang C): ``domain/erlang.py``.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any

from callcenter.domain.acd import IN_CALL, STAFFED, AgentState
from callcenter.domain.calls import CallOutcome, CallRecord

CENTER = "*"
MINUTE = 60
INTERVAL = 900  # the chart's 15-minute intervals
WINDOWS: tuple[tuple[str, int], ...] = (("15m", 15), ("60m", 60))  # sliding windows, in minutes
HANDLING = frozenset({AgentState.ON_CALL, AgentState.ON_HOLD, AgentState.WRAPUP})
_KEEPS_CALL = IN_CALL | {AgentState.WRAPUP}


class SlConvention(StrEnum):
    ANSWERED = "answered"
    ANSWERED_ABANDONED = "answered_abandoned"
    ASTERISK_SL2 = "asterisk_sl2"
    OFFERED = "offered"

    def label(self, threshold: float | None) -> str:
        """How the number was computed, printed beside it (``None``: each queue's own threshold)."""
        t = "T" if threshold is None else f"{threshold:g}s"
        return {
            SlConvention.ANSWERED: f"≤{t} / answered",
            SlConvention.ANSWERED_ABANDONED: f"≤{t} / answered+abandoned",
            SlConvention.ASTERISK_SL2: f"≤{t} incl. abandons ≤{t} (SL2)",
            SlConvention.OFFERED: f"≤{t} / all queued",
        }[self]


class FactKind(StrEnum):
    ANSWERED = "answered"
    ABANDONED = "abandoned"
    OTHER = "other"  # overflow, voicemail, callback, no answer, lost: offered but neither of the above


@dataclass(frozen=True, slots=True)
class CallFact:
    call_id: str
    queue: str
    agent: str | None
    arrived_at: float
    kind: FactKind
    wait: float
    talk: float
    hold: float
    threshold: float


def call_fact(record: CallRecord, threshold_of: Callable[[str], float]) -> CallFact | None:
    """The KPI fact of a *finished* call that entered a queue (None for the others)."""
    if record.queue is None or record.ended_at is None or record.outcome is CallOutcome.IN_PROGRESS:
        return None
    arrived = record.queued_at if record.queued_at is not None else record.offered_at
    if arrived is None:
        return None
    if record.outcome is CallOutcome.ANSWERED:
        kind = FactKind.ANSWERED
    elif record.outcome is CallOutcome.ABANDONED:
        kind = FactKind.ABANDONED
    else:
        kind = FactKind.OTHER
    return CallFact(
        call_id=record.call_id,
        queue=record.queue,
        agent=record.agent,
        arrived_at=arrived,
        kind=kind,
        wait=record.wait_seconds or 0.0,
        talk=record.talk_seconds,
        hold=record.hold_seconds,
        threshold=threshold_of(record.queue),
    )


@dataclass(slots=True)
class Tally:
    """Additive counters of one scope over one bucket (a minute, an interval) or a whole window."""

    offered: int = 0
    answered: int = 0
    answered_within: int = 0
    abandoned: int = 0
    abandoned_within: int = 0
    abandoned_short: int = 0
    wait_answered: float = 0.0
    talk: float = 0.0
    hold: float = 0.0
    wrapup: float = 0.0
    handling_time: float = 0.0
    staffed_time: float = 0.0

    def add(self, other: Tally) -> None:
        for name in _TALLY_FIELDS:
            setattr(self, name, getattr(self, name) + getattr(other, name))


_TALLY_FIELDS = tuple(f.name for f in fields(Tally))


def service_level(t: Tally, convention: SlConvention) -> float | None:
    if convention is SlConvention.ANSWERED:
        num, den = t.answered_within, t.answered
    elif convention is SlConvention.ANSWERED_ABANDONED:
        num, den = t.answered_within, t.answered + t.abandoned
    elif convention is SlConvention.ASTERISK_SL2:
        num, den = t.answered_within + t.abandoned_within, t.answered + t.abandoned
    else:
        num, den = t.answered_within, t.offered
    return None if den == 0 else num / den


def _ratio(num: float, den: float) -> float | None:
    return None if den <= 0 else num / den


def _r(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def figures(t: Tally, convention: SlConvention) -> dict[str, Any]:
    """The published numbers of one tally (rounded: what the wallboard and the API show)."""
    counted = t.offered - t.abandoned_short
    return {
        "offered": t.offered,
        "answered": t.answered,
        "answered_within": t.answered_within,
        "abandoned": t.abandoned,
        "abandoned_short": t.abandoned_short,
        "service_level": _r(service_level(t, convention), 4),
        "asa": _r(_ratio(t.wait_answered, t.answered), 1),
        "aht": _r(_ratio(t.talk + t.hold + t.wrapup, t.answered), 1),
        "abandon_rate": _r(_ratio(t.abandoned - t.abandoned_short, counted), 4),
        "occupancy": _r(_ratio(t.handling_time, t.staffed_time), 4),
    }


@dataclass(slots=True)
class AgentLive:
    """What the engine knows of one agent now (the agent grid)."""

    agent: str
    state: AgentState
    since: float
    reason: str = ""
    call_id: str = ""
    queue: str = ""
    call_since: float | None = None  # when the current ACD call was answered

    def as_dict(self) -> dict[str, Any]:
        return {
            "agent": self.agent,
            "state": self.state.value,
            "since": self.since,
            "reason": self.reason,
            "call_id": self.call_id or None,
            "queue": self.queue or None,
            "call_since": self.call_since,
        }


def local_day_start(now: float) -> float:
    """Local midnight before ``now`` (the start of "today")."""
    lt = time.localtime(now)
    return time.mktime((lt.tm_year, lt.tm_mon, lt.tm_mday, 0, 0, 0, 0, 0, -1))


@dataclass(frozen=True, slots=True)
class OpenTime:
    now: float
    time: dict[tuple[str, str], list[float]]  # (scope, window) → [staffed s, handling s]
    states: dict[str, dict[str, int]]  # scope → agents by state
    staffed: dict[str, int]


@dataclass(slots=True)
class _Scope:
    minutes: dict[int, Tally] = field(default_factory=dict)
    intervals: dict[int, Tally] = field(default_factory=dict)


class KpiEngine:
    """Incremental KPI buckets. Not thread-safe; one owner feeds it in order (any order of facts gives
    the same totals: wrap-ups that arrive before their call wait for it)."""

    def __init__(
        self,
        *,
        short_abandon: float = 5.0,
        queues_of: Callable[[str], Sequence[str]] = lambda agent: (),
        day_start: Callable[[float], float] = local_day_start,
        recent_calls: int = 50_000,
    ) -> None:
        self.short_abandon = short_abandon
        self.queues_of = queues_of
        self._day_start_of = day_start
        self._scopes: dict[str, _Scope] = {}
        self.agents: dict[str, AgentLive] = {}
        self.agent_calls: dict[str, int] = {}  # answered calls today per agent
        self._calls: OrderedDict[str, tuple[str, float]] = OrderedDict()  # call → (queue, arrival)
        self._pending_wrap: OrderedDict[str, float] = OrderedDict()  # call → wrap-up s, call not seen yet
        self._recent_limit = recent_calls
        self.now = 0.0
        self.day_start = float("-inf")
        self._min_minute = -(2**62)
        self.dirty: set[str] = set()
        self.dirty_intervals: dict[str, set[int]] = {}
        self.changed_agents: set[str] = set()

    # --- time -------------------------------------------------------------------------------
    def advance(self, now: float) -> None:
        """Move the engine's clock: drop minutes older than the longest sliding window and intervals
        before today (a new day starts from zero)."""
        self.now = now
        day = self._day_start_of(now)
        if day != self.day_start:
            self.day_start = day
            self.agent_calls.clear()
            self.dirty.update(self._scopes)
        keep = int(now // MINUTE) - max(m for _, m in WINDOWS) - 1
        self._min_minute = keep
        first_interval = int(day // INTERVAL)
        for scope in self._scopes.values():
            for m in [m for m in scope.minutes if m < keep]:
                del scope.minutes[m]
            for i in [i for i in scope.intervals if i < first_interval]:
                del scope.intervals[i]

    def _scope(self, name: str) -> _Scope:
        scope = self._scopes.get(name)
        if scope is None:
            scope = self._scopes[name] = _Scope()
        return scope

    def _buckets(self, name: str, at: float) -> list[Tally]:
        """The tallies a fact at ``at`` adds to in scope ``name`` (its minute and/or its interval)."""
        out: list[Tally] = []
        scope = self._scope(name)
        minute = int(at // MINUTE)
        if minute >= self._min_minute:
            t = scope.minutes.get(minute)
            if t is None:
                t = scope.minutes[minute] = Tally()
            out.append(t)
        if at >= self.day_start:
            index = int(at // INTERVAL)
            t = scope.intervals.get(index)
            if t is None:
                t = scope.intervals[index] = Tally()
            out.append(t)
            self.dirty_intervals.setdefault(name, set()).add(index)
        if out:
            self.dirty.add(name)
        return out

    # --- facts ------------------------------------------------------------------------------
    def add_call(self, fact: CallFact) -> None:
        within = fact.wait <= fact.threshold
        answered = fact.kind is FactKind.ANSWERED
        abandoned = fact.kind is FactKind.ABANDONED
        for name in (fact.queue, CENTER):
            for t in self._buckets(name, fact.arrived_at):
                t.offered += 1
                if answered:
                    t.answered += 1
                    t.answered_within += within
                    t.wait_answered += fact.wait
                    t.talk += fact.talk
                    t.hold += fact.hold
                elif abandoned:
                    t.abandoned += 1
                    t.abandoned_within += within
                    t.abandoned_short += fact.wait < self.short_abandon
        if answered and fact.agent and fact.arrived_at >= self.day_start:
            self.agent_calls[fact.agent] = self.agent_calls.get(fact.agent, 0) + 1
            self.changed_agents.add(fact.agent)
        if not answered:
            return
        self._calls[fact.call_id] = (fact.queue, fact.arrived_at)
        if len(self._calls) > self._recent_limit:
            self._calls.popitem(last=False)
        wrap = self._pending_wrap.pop(fact.call_id, None)
        if wrap is not None:
            self._add_wrapup(fact.queue, fact.arrived_at, wrap)

    def _wrapup_done(self, call_id: str, seconds: float) -> None:
        known = self._calls.get(call_id)
        if known is not None:
            self._add_wrapup(known[0], known[1], seconds)
            return
        self._pending_wrap[call_id] = self._pending_wrap.get(call_id, 0.0) + seconds
        if len(self._pending_wrap) > self._recent_limit:
            self._pending_wrap.popitem(last=False)

    def _add_wrapup(self, queue: str, arrived_at: float, seconds: float) -> None:
        for name in (queue, CENTER):
            for t in self._buckets(name, arrived_at):
                t.wrapup += seconds

    def agent_state(
        self,
        agent: str,
        state: AgentState,
        at: float,
        *,
        reason: str = "",
        call_id: str = "",
        queue: str = "",
    ) -> None:
        """An agent changed state at ``at`` (the time spent in the previous state is counted)."""
        live = self.agents.get(agent)
        call_since: float | None = None
        if live is not None:
            if at > live.since:
                self._add_time(agent, live.state, live.since, at)
            if live.state is AgentState.WRAPUP and live.call_id:
                self._wrapup_done(live.call_id, max(0.0, at - live.since))
            if live.state in IN_CALL and state in IN_CALL and state is not AgentState.RINGING:
                call_since = live.call_since if live.call_since is not None else at
        if state in (AgentState.ON_CALL, AgentState.ON_HOLD) and call_since is None:
            call_since = at
        keeps = state in _KEEPS_CALL
        self.agents[agent] = AgentLive(
            agent=agent,
            state=state,
            since=at,
            reason=reason,
            call_id=call_id if keeps else "",
            queue=queue if keeps else "",
            call_since=call_since,
        )
        self.changed_agents.add(agent)
        self.dirty.add(CENTER)
        self.dirty.update(self.queues_of(agent))

    def seed_agent(self, live: AgentLive) -> None:
        """The state an agent is in when the engine starts (time before ``live.since`` is not counted)."""
        self.agents[live.agent] = live
        self.changed_agents.add(live.agent)

    def _add_time(self, agent: str, state: AgentState, start: float, end: float) -> None:
        if state not in STAFFED:
            return
        handling = state in HANDLING
        scopes = (CENTER, *self.queues_of(agent))
        # minute buckets (only those still kept)
        m = max(int(start // MINUTE), self._min_minute)
        while m * MINUTE < end:
            lo, hi = max(start, m * MINUTE), min(end, (m + 1) * MINUTE)
            if hi > lo:
                self._time_into(scopes, "minutes", m, hi - lo, handling)
            m += 1
        # intervals (today only)
        first = max(start, self.day_start)
        i = int(first // INTERVAL)
        while i * INTERVAL < end:
            lo, hi = max(first, i * INTERVAL), min(end, (i + 1) * INTERVAL)
            if hi > lo:
                self._time_into(scopes, "intervals", i, hi - lo, handling)
            i += 1

    def _time_into(self, scopes: Iterable[str], kind: str, key: int, seconds: float, handling: bool) -> None:
        for name in scopes:
            scope = self._scope(name)
            buckets: dict[int, Tally] = scope.minutes if kind == "minutes" else scope.intervals
            t = buckets.get(key)
            if t is None:
                t = buckets[key] = Tally()
            t.staffed_time += seconds
            if handling:
                t.handling_time += seconds
            self.dirty.add(name)

    # --- reading ----------------------------------------------------------------------------
    def scopes(self) -> list[str]:
        return sorted(self._scopes)

    def window_start(self, window: str, now: float) -> float:
        if window == "today":
            return self.day_start
        return (int(now // MINUTE) - dict(WINDOWS)[window] + 1) * MINUTE

    def open_time(self, now: float) -> OpenTime:
        """The agents' current (still open) state time per scope and window, their states and the staffed
        count per scope, in one pass over the agents (the wallboard computes this once per update)."""
        starts = {w: self.window_start(w, now) for w in ("today", *dict(WINDOWS))}
        time_: dict[tuple[str, str], list[float]] = {}
        states: dict[str, dict[str, int]] = {}
        staffed: dict[str, int] = {}
        for live in self.agents.values():
            scopes = (CENTER, *self.queues_of(live.agent))
            state = live.state.value
            is_staffed = live.state in STAFFED
            handling = live.state in HANDLING
            for name in scopes:
                by_state = states.setdefault(name, {})
                by_state[state] = by_state.get(state, 0) + 1
                if is_staffed:
                    staffed[name] = staffed.get(name, 0) + 1
            if not is_staffed:
                continue
            for w, start in starts.items():
                seconds = now - max(live.since, start)
                if seconds <= 0:
                    continue
                for name in scopes:
                    acc = time_.get((name, w))
                    if acc is None:
                        acc = time_[(name, w)] = [0.0, 0.0]
                    acc[0] += seconds
                    if handling:
                        acc[1] += seconds
        return OpenTime(now, time_, states, staffed)

    def window(
        self, name: str, window: str, now: float | None = None, open_time: OpenTime | None = None
    ) -> Tally:
        """The tally of scope ``name`` over ``today``, ``60m`` or ``15m`` at ``now`` (default: the
        engine's clock), the agents' current states counted up to ``now`` (from ``open_time`` when given:
        computed once for every scope)."""
        now = self.now if now is None else now
        scope = self._scopes.get(name, _Scope())
        out = Tally()
        if window == "today":
            start = self.day_start
            first = int(start // INTERVAL)
            for i, t in scope.intervals.items():
                if i >= first:
                    out.add(t)
        else:
            minutes = dict(WINDOWS)[window]
            first_minute = int(now // MINUTE) - minutes + 1
            start = first_minute * MINUTE
            for m, t in scope.minutes.items():
                if m >= first_minute:
                    out.add(t)
        if open_time is not None and open_time.now == now:
            acc = open_time.time.get((name, window))
            if acc is not None:
                out.staffed_time += acc[0]
                out.handling_time += acc[1]
            return out
        for live in self.agents.values():
            if live.state not in STAFFED:
                continue
            if name != CENTER and name not in self.queues_of(live.agent):
                continue
            seconds = now - max(live.since, start)
            if seconds > 0:
                out.staffed_time += seconds
                if live.state in HANDLING:
                    out.handling_time += seconds
        return out

    def sum_minutes(self, name: str, first: int, last: int) -> Tally:
        """The tally of whole minutes ``first``..``last`` (inclusive; closed agent time only)."""
        out = Tally()
        scope = self._scopes.get(name)
        if scope is not None:
            for m, t in scope.minutes.items():
                if first <= m <= last:
                    out.add(t)
        return out

    def interval_rows(self, name: str, indexes: Iterable[int] | None = None) -> dict[int, Tally]:
        scope = self._scopes.get(name, _Scope())
        first = int(self.day_start // INTERVAL)
        keys = scope.intervals.keys() if indexes is None else indexes
        return {i: scope.intervals[i] for i in keys if i >= first and i in scope.intervals}

    def agents_by_state(self, name: str) -> dict[str, int]:
        out: dict[str, int] = {}
        for live in self.agents.values():
            if name == CENTER or name in self.queues_of(live.agent):
                out[live.state.value] = out.get(live.state.value, 0) + 1
        return out

    def staffed(self, name: str) -> int:
        return sum(
            1
            for live in self.agents.values()
            if live.state in STAFFED and (name == CENTER or name in self.queues_of(live.agent))
        )


def feed_transitions(engine: KpiEngine, transitions: Iterable[Any]) -> None:
    """Apply stored ``AgentTransition`` rows in time order (the report path)."""
    for t in sorted(transitions, key=lambda t: t.at):
        engine.agent_state(t.agent, t.to_state, t.at, reason=t.reason, call_id=t.call_id, queue=t.queue)


def agent_state_from_event(event: Mapping[str, Any]) -> tuple[str, AgentState, float, str, str, str] | None:
    """(agent, state, at, reason, call_id, queue) of an ACD ``agent.state`` bus event, or None."""
    try:
        state = AgentState(str(event["state"]))
        return (
            str(event["agent"]),
            state,
            float(event["at"]),
            str(event.get("reason") or ""),
            str(event.get("call_id") or ""),
            str(event.get("queue") or ""),
        )
    except (KeyError, ValueError, TypeError):
        return None
