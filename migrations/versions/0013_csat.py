"""Post-call surveys (CSAT, issue 16): one row per call offered a survey, with its agent, queue, the
1-5 score and the optional "solved" answer (NULL until answered).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "call_surveys",
        sa.Column("call_id", sa.String(), nullable=False),
        sa.Column("agent_id", sa.String(), nullable=True),
        sa.Column("queue", sa.String(), nullable=True),
        sa.Column("flow", sa.String(), nullable=False),
        sa.Column("offered_at", TS, nullable=False),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("solved", sa.Boolean(), nullable=True),
        sa.Column("answered_at", TS, nullable=True),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "score IS NULL OR (score >= 1 AND score <= 5)", name=op.f("ck_call_surveys_score_range")
        ),
        sa.PrimaryKeyConstraint("call_id", name=op.f("pk_call_surveys")),
    )
    op.create_index("ix_call_surveys_offered_at", "call_surveys", ["offered_at"])
    op.create_index("ix_call_surveys_agent_id_offered_at", "call_surveys", ["agent_id", "offered_at"])
    op.create_index("ix_call_surveys_queue_offered_at", "call_surveys", ["queue", "offered_at"])


def downgrade() -> None:
    op.drop_table("call_surveys")
