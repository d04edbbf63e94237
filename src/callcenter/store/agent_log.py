"""``ports.AgentStateLog`` on SQLAlchemy: agent state transitions, written in batches by the ACD."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import Table, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from callcenter.domain.acd import AgentState, AgentTransition
from callcenter.store.engine import DEFAULT_CONNECT_TIMEOUT, translate_errors
from callcenter.store.models import AgentStateRow

_LOG: Table = AgentStateRow.__table__  # type: ignore[assignment]


def _ts(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


class SqlAgentStateLog:
    def __init__(self, engine: AsyncEngine, *, timeout: float = DEFAULT_CONNECT_TIMEOUT * 4) -> None:
        self._engine = engine
        self._timeout = timeout

    async def save_transitions(self, transitions: Sequence[AgentTransition]) -> None:
        if not transitions:
            return
        rows = [
            {
                "agent": t.agent,
                "from_state": t.from_state.value,
                "to_state": t.to_state.value,
                "at": _ts(t.at),
                "duration": float(t.duration),
                "reason": t.reason,
                "call_id": t.call_id,
                "queue": t.queue,
                "by": t.by,
            }
            for t in transitions
        ]
        with translate_errors("save agent transitions"):
            async with asyncio.timeout(self._timeout), self._engine.begin() as conn:
                await conn.execute(insert(_LOG), rows)

    async def list_transitions(
        self, agent: str | None = None, since: float | None = None, limit: int = 1000
    ) -> list[AgentTransition]:
        stmt = select(_LOG).order_by(_LOG.c.at, _LOG.c.id).limit(max(1, min(limit, 100_000)))
        if agent is not None:
            stmt = stmt.where(_LOG.c.agent == agent)
        if since is not None:
            stmt = stmt.where(_LOG.c.at >= _ts(since))
        with translate_errors("list agent transitions"):
            async with asyncio.timeout(self._timeout), self._engine.connect() as conn:
                rows = (await conn.execute(stmt)).mappings().all()
        return [
            AgentTransition(
                agent=r["agent"],
                from_state=AgentState(r["from_state"]),
                to_state=AgentState(r["to_state"]),
                at=r["at"].timestamp(),
                duration=r["duration"],
                reason=r["reason"],
                call_id=r["call_id"],
                queue=r["queue"],
                by=r["by"],
            )
            for r in rows
        ]
