"""Settled 15-minute report intervals on SQLAlchemy (``report_intervals``, ``report_pauses``,
``report_rollup_state``; migration 0010): written a window at a time by ``services/report_rollup.py``,
read by the reports for the part of a period that is settled.

A window is replaced in one transaction (delete its intervals, insert the new ones, move the watermark), so
a second instance doing the same work, or a rebuild, leaves the same rows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, and_, delete, func, insert, select

from callcenter.domain.kpi_tallies import AgentTime, KeyedTally
from callcenter.domain.kpis import INTERVAL, Tally
from callcenter.store.engine import SqlReads, translate_errors
from callcenter.store.models import ReportIntervalRow, ReportPauseRow, ReportRollupState

_INTERVALS: Table = ReportIntervalRow.__table__  # type: ignore[assignment]
_PAUSES: Table = ReportPauseRow.__table__  # type: ignore[assignment]
_STATE: Table = ReportRollupState.__table__  # type: ignore[assignment]
_STATE_NAME = "intervals"
_TALLY_COLUMNS = (
    "offered",
    "answered",
    "answered_within",
    "abandoned",
    "abandoned_within",
    "abandoned_short",
    "wait_answered",
    "talk",
    "hold",
    "wrapup",
)


class SqlReportRollup(SqlReads):
    async def settled_until(self) -> float | None:
        rows = await self._rows(
            "report rollup state", select(_STATE.c.settled_until).where(_STATE.c.name == _STATE_NAME)
        )
        return float(rows[0][0]) if rows else None

    async def replace_window(
        self,
        since: float,
        until: float,
        queues: Sequence[KeyedTally],
        agents: Sequence[KeyedTally],
        agent_time: Mapping[tuple[str, int], AgentTime],
    ) -> None:
        """The intervals of [since, until) (both on interval boundaries) replaced by these, and the
        watermark moved to ``until``."""
        first, last = int(since // INTERVAL), int(until // INTERVAL)
        rows: dict[tuple[str, str, str, int], dict[str, Any]] = {}
        for kind, tallies in (("queue", queues), ("agent", agents)):
            for t in tallies:
                queue = t.queue if kind == "agent" else ""
                rows[(kind, t.key, queue, t.interval)] = _row(
                    kind, t.key, queue, t.interval, t.tally, t.max_wait
                )
        pauses = []
        for (agent, interval), time in agent_time.items():
            row = rows.get(("agent", agent, "", interval))
            if row is None:
                row = rows[("agent", agent, "", interval)] = _row("agent", agent, "", interval, Tally(), 0.0)
            row.update(staffed=time.staffed, handling=time.handling, missed_offers=time.missed_offers)
            pauses += [
                {"agent": agent, "interval_no": interval, "reason": reason, "seconds": seconds}
                for reason, seconds in time.pauses.items()
            ]
        now = datetime.now(UTC)
        with translate_errors("report rollup write"):
            async with asyncio.timeout(self._timeout), self._engine.begin() as conn:
                in_window = and_(_INTERVALS.c.interval_no >= first, _INTERVALS.c.interval_no < last)
                await conn.execute(delete(_INTERVALS).where(in_window))
                await conn.execute(
                    delete(_PAUSES).where(_PAUSES.c.interval_no >= first, _PAUSES.c.interval_no < last)
                )
                if rows:
                    await conn.execute(insert(_INTERVALS), list(rows.values()))
                if pauses:
                    await conn.execute(insert(_PAUSES), pauses)
                updated = await conn.execute(
                    _STATE.update()
                    .where(_STATE.c.name == _STATE_NAME)
                    .values(settled_until=until, updated_at=now)
                )
                if updated.rowcount == 0:
                    await conn.execute(
                        insert(_STATE).values(name=_STATE_NAME, settled_until=until, updated_at=now)
                    )

    async def intervals(
        self, kind: str, since: float, until: float, key: str | None = None
    ) -> list[tuple[KeyedTally, AgentTime]]:
        """The settled rows of one kind in [since, until) (interval boundaries), optionally one key (an
        agent's all-queue rows)."""
        c = _INTERVALS.c
        conditions = [
            c.kind == kind,
            c.queue == "",
            c.interval_no >= int(since // INTERVAL),
            c.interval_no < int(until // INTERVAL),
        ]
        if key:
            conditions.append(c.key == key)
        stmt = select(
            c.key,
            c.interval_no,
            *(c[name] for name in _TALLY_COLUMNS),
            c.max_wait,
            c.staffed,
            c.handling,
            c.missed_offers,
        ).where(and_(*conditions))
        out = []
        n = len(_TALLY_COLUMNS)
        for r in await self._rows("report intervals", stmt):
            tally = Tally(**dict(zip(_TALLY_COLUMNS, r[2 : 2 + n], strict=True)))
            time = AgentTime(staffed=r[3 + n], handling=r[4 + n], missed_offers=r[5 + n])
            out.append((KeyedTally(r[0], r[1], tally, r[2 + n]), time))
        return out

    async def agent_totals(
        self, since: float, until: float, agent: str | None = None, queue: str | None = None
    ) -> dict[str, tuple[Tally, AgentTime]]:
        """Per agent, the settled intervals of [since, until) summed by the database: their calls and
        time, or (``queue``) their calls in that queue only, with no time."""
        c = _INTERVALS.c
        conditions = [
            c.kind == "agent",
            c.queue == (queue or ""),
            c.interval_no >= int(since // INTERVAL),
            c.interval_no < int(until // INTERVAL),
        ]
        if agent:
            conditions.append(c.key == agent)
        sums = [func.sum(c[name]) for name in (*_TALLY_COLUMNS, "staffed", "handling", "missed_offers")]
        stmt = select(c.key, *sums).where(and_(*conditions)).group_by(c.key)
        p = _PAUSES.c
        pause_conditions = [p.interval_no >= int(since // INTERVAL), p.interval_no < int(until // INTERVAL)]
        if agent:
            pause_conditions.append(p.agent == agent)
        pause_stmt = (
            select(p.agent, p.reason, func.sum(p.seconds))
            .where(and_(*pause_conditions))
            .group_by(p.agent, p.reason)
        )
        pause_rows: list[Any] = []
        if queue:
            rows = await self._rows("report agent totals", stmt)
        else:
            rows, pause_rows = await asyncio.gather(
                self._rows("report agent totals", stmt), self._rows("report pause totals", pause_stmt)
            )
        n = len(_TALLY_COLUMNS)
        out: dict[str, tuple[Tally, AgentTime]] = {}
        for r in rows:
            values = [v or 0 for v in r[1:]]
            tally = Tally(**dict(zip(_TALLY_COLUMNS, values[:n], strict=True)))
            out[r[0]] = (tally, AgentTime(float(values[n]), float(values[n + 1]), int(values[n + 2])))
        for agent_name, reason, seconds in pause_rows:
            entry = out.setdefault(agent_name, (Tally(), AgentTime()))
            entry[1].pauses[reason] = float(seconds or 0.0)
        return out


def _row(kind: str, key: str, queue: str, interval: int, t: Tally, max_wait: float) -> dict[str, Any]:
    return {
        "kind": kind,
        "key": key,
        "queue": queue,
        "interval_no": interval,
        **{name: getattr(t, name) for name in _TALLY_COLUMNS},
        "max_wait": max_wait,
        "staffed": 0.0,
        "handling": 0.0,
        "missed_offers": 0,
    }
