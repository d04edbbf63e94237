"""ACD: the agent state log (every transition, timestamped, with the previous state's duration).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23

Only a new table, nothing altered: it can be re-chained after any other revision. It follows 0004
because 0004 was the head when it was written (revision ids are names, not an order).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "agent_state_log",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("agent", sa.String(), nullable=False),
        sa.Column("from_state", sa.String(), nullable=False),
        sa.Column("to_state", sa.String(), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("duration", sa.Float(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("call_id", sa.String(), nullable=False),
        sa.Column("queue", sa.String(), nullable=False),
        sa.Column("by", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_agent_state_log"),
    )
    op.create_index("ix_agent_state_log_agent_at", "agent_state_log", ["agent", "at"])
    op.create_index("ix_agent_state_log_at", "agent_state_log", ["at"])


def downgrade() -> None:
    op.drop_index("ix_agent_state_log_at", table_name="agent_state_log")
    op.drop_index("ix_agent_state_log_agent_at", table_name="agent_state_log")
    op.drop_table("agent_state_log")
