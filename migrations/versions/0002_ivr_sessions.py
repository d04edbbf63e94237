"""IVR sessions: the recorded path of each call through the IVR flows (issue #4).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23

"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "ivr_sessions",
        sa.Column("call_id", sa.String(), nullable=False),
        sa.Column("uniqueid", sa.String(), nullable=False),
        sa.Column("flow", sa.String(), nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("ended_at", TS, nullable=False),
        sa.Column("outcome", sa.String(), nullable=False),
        sa.Column("caller_num", sa.String(), nullable=False),
        sa.Column("language", sa.String(), nullable=False),
        sa.Column("queue", sa.String(), nullable=True),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("vip", sa.Boolean(), nullable=False),
        sa.Column("route_outcome", sa.String(), nullable=True),
        sa.Column("transfer_to", sa.String(), nullable=True),
        sa.Column("error", sa.String(), nullable=True),
        sa.Column("path", JSON, nullable=False),
        sa.PrimaryKeyConstraint("call_id", "uniqueid", name="pk_ivr_sessions"),
    )
    op.create_index("ix_ivr_sessions_started_at", "ivr_sessions", ["started_at"])
    op.create_index("ix_ivr_sessions_outcome_started_at", "ivr_sessions", ["outcome", "started_at"])


def downgrade() -> None:
    op.drop_table("ivr_sessions")
