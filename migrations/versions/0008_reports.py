"""Standard reports (issue #8): indexes for reads by period.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23

Dispositions and QA evaluations are read by time for all agents (``at``); the existing indexes lead with
the agent. Nothing altered.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_call_dispositions_at", "call_dispositions", ["at"])
    op.create_index("ix_qa_evaluations_at", "qa_evaluations", ["at"])


def downgrade() -> None:
    op.drop_index("ix_qa_evaluations_at", table_name="qa_evaluations")
    op.drop_index("ix_call_dispositions_at", table_name="call_dispositions")
