"""Agent state transitions stored by ``store.agent_log`` (migrated SQLite database)."""

from __future__ import annotations

from pathlib import Path

from callcenter.domain.acd import AgentState, AgentTransition
from callcenter.store.agent_log import SqlAgentStateLog
from callcenter.store.engine import make_engine
from callcenter.store.migrate import migrate


async def test_transitions_round_trip(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/acd.db"
    await migrate(url)
    engine = make_engine(url)
    try:
        log = SqlAgentStateLog(engine)
        rows = [
            AgentTransition(
                "1001", AgentState.LOGGED_OUT, AgentState.AVAILABLE, 1000.0, 0.0, by="agent:1001"
            ),
            AgentTransition(
                "1001", AgentState.AVAILABLE, AgentState.RINGING, 1010.5, 10.5, call_id="c1", queue="q"
            ),
            AgentTransition("1002", AgentState.LOGGED_OUT, AgentState.PAUSED, 1020.0, 0.0, reason="lunch"),
        ]
        await log.save_transitions(rows)
        await log.save_transitions([])
        assert await log.list_transitions("1001") == rows[:2]
        assert await log.list_transitions(since=1005.0) == rows[1:]
        assert len(await log.list_transitions(limit=1)) == 1
    finally:
        await engine.dispose()
