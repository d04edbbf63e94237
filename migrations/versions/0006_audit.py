"""Supervisor audit log: every monitoring and agent-state action of a supervisor (issue #7).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24

Only a new table, nothing altered: it can be re-chained after any other revision.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "supervisor_audit",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("at", TS, nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("role", sa.String(), nullable=False),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("target", sa.String(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("detail", JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_supervisor_audit"),
    )
    op.create_index("ix_supervisor_audit_at", "supervisor_audit", ["at"])
    op.create_index("ix_supervisor_audit_actor_at", "supervisor_audit", ["actor", "at"])


def downgrade() -> None:
    op.drop_index("ix_supervisor_audit_actor_at", table_name="supervisor_audit")
    op.drop_index("ix_supervisor_audit_at", table_name="supervisor_audit")
    op.drop_table("supervisor_audit")
