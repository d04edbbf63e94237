"""The KPI engine's tallies summed by the database, for reports over long periods (issue #8).

``KpiEngine.add_call`` turns each finished queue call into counters (``domain.kpis.Tally``: offered,
answered, answered within the threshold, abandoned, abandoned within, short abandons, wait of the answered,
talk, hold, wrap-up) in the 15-minute interval of its *arrival* (``queued_at``, else ``offered_at``). For a
day that is fast enough in Python; a month of a large center is half a million calls and two million agent
state rows, which the engine walks in tens of seconds. Here the same counters are ``GROUP BY`` sums in SQL,
one row per (queue or agent, interval), and ``domain.kpis.figures`` still computes every published number
from them. ``tests/reports/test_sql_tallies.py`` checks these sums against the engine fed with the same
calls and transitions, on SQLite and PostgreSQL.

The rules, as in the engine:

- a call counts if it entered a queue, has ended and is not ``in_progress``; its wait is ``wait_seconds``
  (0 when unknown); "within" is ``wait <= threshold`` of its queue; a short abandon has ``wait < short``;
- a call's wrap-up is the ``duration`` of the agent log rows leaving ``wrapup`` for it (the ACD writes
  the call id on that row), inside the given window of the log;
- agent time: each log row says how long its agent spent in ``from_state`` (``duration``); rows in the
  period are summed per (agent, from_state, to_state), the first one clipped at the period start, and the
  state an agent is still in at the period end is read from its last row (``last_states``).

Time arithmetic is per dialect: PostgreSQL keeps ``timestamptz`` (``extract(epoch …)``), SQLite keeps UTC
text (``strftime('%s')`` of the text cut to whole seconds, ``julianday`` for the clipping arithmetic,
precise to a millisecond). Indexes used: the calls'
``ix_calls_started_at`` / ``ix_calls_queue_started_at`` / ``ix_calls_agent_id_started_at``, the log's
``ix_agent_state_log_at``, ``ix_agent_state_log_agent_at`` and ``ix_agent_state_log_from_state_at`` (0009).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import Float, Integer, Table, and_, case, cast, func, literal, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.elements import ColumnElement

from callcenter.domain.acd import AgentState, AgentTransition
from callcenter.domain.calls import CallOutcome
from callcenter.domain.kpi_tallies import AgentTimeRows, CallWindow, KeyedTally, Thresholds, WrapWindow
from callcenter.domain.kpis import INTERVAL, Tally
from callcenter.store.engine import DEFAULT_CONNECT_TIMEOUT, translate_errors
from callcenter.store.models import AgentStateRow, Call

_CALLS: Table = Call.__table__  # type: ignore[assignment]
_LOG: Table = AgentStateRow.__table__  # type: ignore[assignment]
_ANSWERED = CallOutcome.ANSWERED.value
_ABANDONED = CallOutcome.ABANDONED.value
_WRAPUP = AgentState.WRAPUP.value
_PAUSED = AgentState.PAUSED.value
_UNIX_EPOCH_JULIAN = 2440587.5


def _dt(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


class SqlKpiTallies:
    def __init__(self, engine: AsyncEngine, *, timeout: float = DEFAULT_CONNECT_TIMEOUT * 20) -> None:
        self._engine = engine
        self._timeout = timeout
        self._sqlite = engine.dialect.name == "sqlite"

    async def _rows(self, what: str, stmt: Any) -> list[Any]:
        with translate_errors(what):
            async with asyncio.timeout(self._timeout), self._engine.connect() as conn:
                return list((await conn.execute(stmt)).all())

    # --- per-dialect time arithmetic ------------------------------------------------------------------
    def _epoch(self, col: Any) -> ColumnElement[float]:
        """Epoch seconds (with fractions) of a timestamp column."""
        if self._sqlite:
            return (func.julianday(col) - _UNIX_EPOCH_JULIAN) * 86400.0
        return cast(func.date_part("epoch", col), Float)

    def _interval(self, col: Any) -> ColumnElement[int]:
        """The 15-minute interval index of a timestamp column (whole seconds // 900)."""
        if self._sqlite:
            # whole seconds from the text itself: SQLite's date functions round to milliseconds, which
            # would move 10:14:59.9999 into the next interval
            seconds = cast(func.strftime("%s", func.substr(col, 1, 19)), Integer)
            return seconds.op("/")(literal(INTERVAL, Integer))
        return cast(func.floor(func.date_part("epoch", col) / INTERVAL), Integer)

    # --- calls ------------------------------------------------------------------------------------------
    def _call_conditions(self, w: CallWindow, arrived: Any) -> list[Any]:
        c = _CALLS.c
        out: list[Any] = [
            c.started_at >= _dt(w.since - w.lookback),
            c.started_at < _dt(w.until),
            c.queue.is_not(None),
            c.ended_at.is_not(None),
            c.outcome != CallOutcome.IN_PROGRESS.value,
            arrived >= _dt(w.since),
            arrived < _dt(w.until),
        ]
        if w.queue:
            out.append(c.queue == w.queue)
        if w.agent:
            out.append(c.agent_id == w.agent)
        return out

    async def call_tallies(
        self,
        window: CallWindow,
        wraps: WrapWindow,
        thresholds: Thresholds,
        *,
        group: Literal["queue", "agent"] = "queue",
    ) -> list[KeyedTally]:
        """The engine's call counters per (queue, 15-minute interval of arrival), or per agent for the
        answered calls an agent took (``group="agent"``), wrap-up included."""
        c = _CALLS.c
        arrived = func.coalesce(c.queued_at, c.offered_at)
        wait = func.coalesce(c.wait_seconds, 0.0)
        if thresholds.by_queue:
            threshold: Any = case(dict(thresholds.by_queue), value=c.queue, else_=thresholds.default)
        else:
            threshold = literal(thresholds.default, Float)
        answered = c.outcome == _ANSWERED
        abandoned = c.outcome == _ABANDONED
        within = wait <= threshold

        def count(cond: Any) -> Any:
            return func.sum(case((cond, 1), else_=0))

        def total(cond: Any, value: Any) -> Any:
            return func.sum(case((cond, value), else_=0.0))

        conditions = self._call_conditions(window, arrived)
        if group == "agent":
            key: Any = c.agent_id
            interval: Any = literal(0, Integer)
            conditions += [answered, c.agent_id.is_not(None), c.agent_id != ""]
        else:
            key, interval = c.queue, self._interval(arrived)
        calls_stmt = (
            select(
                key,
                interval,
                func.count(),
                count(answered),
                count(and_(answered, within)),
                count(abandoned),
                count(and_(abandoned, within)),
                count(and_(abandoned, wait < thresholds.short_abandon)),
                total(answered, wait),
                total(answered, func.coalesce(c.talk_seconds, 0.0)),
                total(answered, func.coalesce(c.hold_seconds, 0.0)),
                func.max(wait),
            )
            .where(and_(*conditions))
            .group_by(key, interval)
        )
        log = _LOG.c
        wrap_conditions = [
            log.from_state == _WRAPUP,
            log.at >= _dt(wraps.since),
            log.at < _dt(wraps.until),
            answered,
            *conditions,
        ]
        if wraps.agent:
            wrap_conditions.append(log.agent == wraps.agent)
        wrap_stmt = (
            select(key, interval, func.sum(log.duration))
            .select_from(_LOG.join(_CALLS, c.id == log.call_id))
            .where(and_(*wrap_conditions))
            .group_by(key, interval)
        )
        call_rows, wrap_rows = await asyncio.gather(
            self._rows("report call tallies", calls_stmt), self._rows("report wrap-up tallies", wrap_stmt)
        )
        wrap = {(r[0], int(r[1])): float(r[2] or 0.0) for r in wrap_rows}
        out = []
        for r in call_rows:
            k, i = str(r[0]), int(r[1])
            tally = Tally(
                offered=int(r[2]),
                answered=int(r[3] or 0),
                answered_within=int(r[4] or 0),
                abandoned=int(r[5] or 0),
                abandoned_within=int(r[6] or 0),
                abandoned_short=int(r[7] or 0),
                wait_answered=float(r[8] or 0.0),
                talk=float(r[9] or 0.0),
                hold=float(r[10] or 0.0),
                wrapup=wrap.get((k, i), 0.0),
            )
            out.append(KeyedTally(k, i, tally, float(r[11] or 0.0)))
        return out

    # --- agent time -------------------------------------------------------------------------------------
    async def agent_time(
        self, since: float, until: float, lookback: float, agent: str | None = None
    ) -> AgentTimeRows:
        """Seconds per (agent, from_state, to_state) of the rows in [since, until), the first stint of each
        agent clipped at ``since``; each agent's state at ``until`` (its last row from ``since −
        lookback``); the pause rows from ``since − lookback`` for the pause reasons."""
        log = _LOG.c
        at = self._epoch(log.at)
        clipped = case((at - log.duration < since, at - since), else_=log.duration)
        in_period = [log.at >= _dt(since), log.at < _dt(until)]
        before = [log.at >= _dt(since - lookback), log.at < _dt(since)]
        pauses = [
            log.at >= _dt(since - lookback),
            log.at < _dt(until),
            or_(log.from_state == _PAUSED, log.to_state == _PAUSED),
        ]
        if agent:
            for conditions in (in_period, before, pauses):
                conditions.append(log.agent == agent)
        sums = (
            select(log.agent, log.from_state, log.to_state, func.sum(clipped), func.count(), func.max(log.at))
            .where(and_(*in_period))
            .group_by(log.agent, log.from_state, log.to_state)
        )
        earlier = select(log.agent, func.max(log.at)).where(and_(*before)).group_by(log.agent)
        pause_stmt = (
            select(log.agent, log.from_state, log.to_state, log.at, log.duration, log.reason, log.call_id)
            .where(and_(*pauses))
            .order_by(log.at, log.id)
        )
        sum_rows, earlier_rows, pause_rows = await asyncio.gather(
            self._rows("report agent time", sums),
            self._rows("report agent states before", earlier),
            self._rows("report pauses", pause_stmt),
        )
        seconds: dict[tuple[str, str, str], tuple[float, int]] = {}
        last_at: dict[str, datetime] = {str(r[0]): r[1] for r in earlier_rows}
        for r in sum_rows:
            seconds[(str(r[0]), str(r[1]), str(r[2]))] = (float(r[3] or 0.0), int(r[4]))
            a = str(r[0])
            if a not in last_at or r[5] > last_at[a]:
                last_at[a] = r[5]
        return AgentTimeRows(
            seconds=seconds,
            last_states=await self._states_at(last_at),
            pause_rows=[
                AgentTransition(
                    agent=r[0],
                    from_state=AgentState(r[1]),
                    to_state=AgentState(r[2]),
                    at=r[3].timestamp(),
                    duration=r[4],
                    reason=r[5],
                    call_id=r[6],
                )
                for r in pause_rows
            ],
        )

    async def _states_at(self, last_at: Mapping[str, datetime]) -> dict[str, tuple[AgentState, float]]:
        """The state each agent entered with its row at ``last_at[agent]`` (the latest row on a tie)."""
        out: dict[str, tuple[AgentState, float]] = {}
        pairs: Sequence[tuple[str, datetime]] = list(last_at.items())
        log = _LOG.c
        for start in range(0, len(pairs), 500):
            chunk = pairs[start : start + 500]
            stmt = (
                select(log.agent, log.to_state, log.at)
                .where(tuple_(log.agent, log.at).in_(chunk))
                .order_by(log.at, log.id)
            )
            for r in await self._rows("report agent states", stmt):
                out[str(r[0])] = (AgentState(r[1]), r[2].timestamp())
        return out
