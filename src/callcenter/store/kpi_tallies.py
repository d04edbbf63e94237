"""The KPI engine's call counters summed by the database, and the agent log read for a window (issue #8).

``KpiEngine.add_call`` turns each finished queue call into counters (``domain.kpis.Tally``: offered,
answered, answered within the threshold, abandoned, abandoned within, short abandons, wait of the answered,
talk, hold, wrap-up) in the 15-minute interval of its *arrival* (``queued_at``, else ``offered_at``). Here
the same counters are ``GROUP BY`` sums in SQL, one row per (queue or agent, interval), and
``domain.kpis.figures`` still computes every published number from them. Agent time is split into
intervals in Python (``domain.kpi_tallies.split_agent_time``) from the log rows of the window.
``tests/reports/test_sql_tallies.py`` checks both against the engine fed with the same calls and
transitions, on SQLite and PostgreSQL.

The rules, as in the engine: a call counts if it entered a queue, has ended and is not ``in_progress``;
its wait is ``wait_seconds`` (0 when unknown); "within" is ``wait <= threshold`` of its queue; a short
abandon has ``wait < short``; a call's wrap-up is the ``duration`` of the agent log rows leaving
``wrapup`` for it (the ACD writes the call id on that row) within the given window of the log.

Interval arithmetic per dialect: PostgreSQL ``date_part('epoch', …)`` of ``timestamptz``; SQLite
``strftime('%s')`` of the UTC text cut to whole seconds (its date functions round to milliseconds).
Indexes used: ``ix_calls_started_at`` / ``ix_calls_queue_started_at`` / ``ix_calls_agent_id_started_at``,
``ix_agent_state_log_at``, ``ix_agent_state_log_from_state_at`` (0009).
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from sqlalchemy import Float, Integer, Table, and_, case, cast, func, literal, select
from sqlalchemy.sql.elements import ColumnElement

from callcenter.domain.acd import AgentState, AgentTransition
from callcenter.domain.calls import CallOutcome
from callcenter.domain.kpi_tallies import CallWindow, KeyedTally, Thresholds, WrapWindow
from callcenter.domain.kpis import INTERVAL, Tally
from callcenter.store.engine import SqlReads, utc
from callcenter.store.models import AgentStateRow, Call

_CALLS: Table = Call.__table__  # type: ignore[assignment]
_LOG: Table = AgentStateRow.__table__  # type: ignore[assignment]
_ANSWERED = CallOutcome.ANSWERED.value
_ABANDONED = CallOutcome.ABANDONED.value
_WRAPUP = AgentState.WRAPUP.value
_PAUSED = AgentState.PAUSED.value


class SqlKpiTallies(SqlReads):
    @property
    def _sqlite(self) -> bool:
        return self._engine.dialect.name == "sqlite"

    # --- per-dialect time arithmetic ------------------------------------------------------------------
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
            c.started_at >= utc(w.since - w.lookback),
            c.started_at < utc(w.until),
            c.queue.is_not(None),
            c.ended_at.is_not(None),
            c.outcome != CallOutcome.IN_PROGRESS.value,
            arrived >= utc(w.since),
            arrived < utc(w.until),
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
        group: Literal["queue", "agent", "agent_queue"] = "queue",
    ) -> list[KeyedTally]:
        """The engine's call counters per (queue, 15-minute interval of arrival), or per (agent, interval)
        for the answered calls an agent took (``group="agent"``), or per (agent, queue, interval)
        (``"agent_queue"``: ``KeyedTally.queue`` set), wrap-up included."""
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
        interval = self._interval(arrived)
        by_queue = [c.queue] if group == "agent_queue" else []
        if group in ("agent", "agent_queue"):
            key: Any = c.agent_id
            conditions += [answered, c.agent_id.is_not(None), c.agent_id != ""]
        else:
            key = c.queue
        calls_stmt = (
            select(
                key,
                interval,
                *by_queue,
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
            .group_by(key, interval, *by_queue)
        )
        log = _LOG.c
        wrap_conditions = [
            log.from_state == _WRAPUP,
            log.at >= utc(wraps.since),
            log.at < utc(wraps.until),
            answered,
            *conditions,
        ]
        wrap_stmt = (
            select(key, interval, *by_queue, func.sum(log.duration))
            .select_from(_LOG.join(_CALLS, c.id == log.call_id))
            .where(and_(*wrap_conditions))
            .group_by(key, interval, *by_queue)
        )
        call_rows, wrap_rows = await asyncio.gather(
            self._rows("report call tallies", calls_stmt), self._rows("report wrap-up tallies", wrap_stmt)
        )
        n = len(by_queue)  # the queue column after (key, interval) when grouped by it
        wrap = {(r[0], int(r[1]), *r[2 : 2 + n]): float(r[2 + n] or 0.0) for r in wrap_rows}
        out = []
        for r in call_rows:
            k, i, queue = str(r[0]), int(r[1]), (str(r[2]) if n else "")
            v = r[2 + n :]
            tally = Tally(
                offered=int(v[0]),
                answered=int(v[1] or 0),
                answered_within=int(v[2] or 0),
                abandoned=int(v[3] or 0),
                abandoned_within=int(v[4] or 0),
                abandoned_short=int(v[5] or 0),
                wait_answered=float(v[6] or 0.0),
                talk=float(v[7] or 0.0),
                hold=float(v[8] or 0.0),
                wrapup=wrap.get((r[0], i, *r[2 : 2 + n]), 0.0),
            )
            out.append(KeyedTally(k, i, tally, float(v[9] or 0.0), queue))
        return out

    async def first_call_at(self) -> float | None:
        """When the first stored call started (where a first rollup begins)."""
        rows = await self._rows("first call", select(func.min(_CALLS.c.started_at)))
        return None if not rows or rows[0][0] is None else float(rows[0][0].timestamp())

    # --- the agent log -----------------------------------------------------------------------------------
    async def agent_log(self, since: float, until: float, agent: str | None = None) -> list[AgentTransition]:
        """The agent state rows in [since, until), in time order."""
        log = _LOG.c
        conditions = [log.at >= utc(since), log.at < utc(until)]
        if agent:
            conditions.append(log.agent == agent)
        stmt = (
            select(log.agent, log.from_state, log.to_state, log.at, log.duration, log.reason, log.call_id)
            .where(and_(*conditions))
            .order_by(log.at, log.id)
        )
        return [_transition(r) for r in await self._rows("report agent log", stmt)]

    async def agent_states_before(
        self, since: float, lookback: float, agent: str | None = None
    ) -> dict[str, AgentTransition]:
        """Each agent's last row in [since − lookback, since): the state they are in at ``since``."""
        log = _LOG.c
        conditions = [log.at >= utc(since - lookback), log.at < utc(since)]
        if agent:
            conditions.append(log.agent == agent)
        last = await self._rows(
            "report agent states",
            select(log.agent, func.max(log.at)).where(and_(*conditions)).group_by(log.agent),
        )
        wanted = {(str(r[0]), r[1]) for r in last}
        out: dict[str, AgentTransition] = {}
        times = sorted({at for _, at in wanted})
        for start in range(0, len(times), 500):  # by time (indexed): the (agent, time) pairs are kept below
            stmt = (
                select(log.agent, log.from_state, log.to_state, log.at, log.duration, log.reason, log.call_id)
                .where(log.at.in_(times[start : start + 500]))
                .order_by(log.at, log.id)
            )
            for r in await self._rows("report agent states", stmt):
                if (str(r[0]), r[3]) in wanted:
                    out[str(r[0])] = _transition(r)
        return out


def _transition(r: Any) -> AgentTransition:
    return AgentTransition(
        agent=r[0],
        from_state=AgentState(r[1]),
        to_state=AgentState(r[2]),
        at=r[3].timestamp(),
        duration=r[4],
        reason=r[5],
        call_id=r[6],
    )
