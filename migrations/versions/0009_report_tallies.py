"""Reports summed in SQL (issue #8): agent state log indexes by state and time.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03

The queue and agent reports sum the KPI counters in the database (``store/kpi_tallies.py``): the wrap-up of
each call is read from the rows leaving ``wrapup`` in the period, and the pause reasons from the rows
entering or leaving ``paused``; a year of the log is tens of millions of rows, so both are read by
(state, time). Nothing altered.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_agent_state_log_from_state_at", "agent_state_log", ["from_state", "at"])
    op.create_index("ix_agent_state_log_to_state_at", "agent_state_log", ["to_state", "at"])


def downgrade() -> None:
    op.drop_index("ix_agent_state_log_to_state_at", table_name="agent_state_log")
    op.drop_index("ix_agent_state_log_from_state_at", table_name="agent_state_log")
