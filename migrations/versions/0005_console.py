"""Agent console: call dispositions (wrap-up code and notes per call and agent, issue #6).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24

Only a new table, nothing altered: it can be re-chained after any other revision.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "call_dispositions",
        sa.Column("call_id", sa.String(), nullable=False),
        sa.Column("agent", sa.String(), nullable=False),
        sa.Column("code", sa.String(), nullable=False),
        sa.Column("note", sa.String(), nullable=False),
        sa.Column("queue", sa.String(), nullable=True),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("at", TS, nullable=False),
        sa.Column("author", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("call_id", "agent", name="pk_call_dispositions"),
    )
    op.create_index("ix_call_dispositions_agent_at", "call_dispositions", ["agent", "at"])
    op.create_index("ix_call_dispositions_customer_id", "call_dispositions", ["customer_id"])


def downgrade() -> None:
    op.drop_index("ix_call_dispositions_customer_id", table_name="call_dispositions")
    op.drop_index("ix_call_dispositions_agent_at", table_name="call_dispositions")
    op.drop_table("call_dispositions")
