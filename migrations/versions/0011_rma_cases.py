"""Service cases (RMA, issue 16): cases, their stage history, their links to calls and tickets.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "rma_cases",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("product", sa.String(), nullable=False),
        sa.Column("serial", sa.String(), nullable=False),
        sa.Column("purchase_date", sa.String(), nullable=True),
        sa.Column("warranty_until", sa.String(), nullable=True),
        sa.Column("in_warranty", sa.Boolean(), nullable=False),
        sa.Column("fault", sa.String(), nullable=False),
        sa.Column("stage", sa.String(), nullable=False),
        sa.Column("stage_since", TS, nullable=False),
        sa.Column("stage_due", TS, nullable=True),
        sa.Column("technician", sa.String(), nullable=True),
        sa.Column("repair_mode", sa.String(), nullable=False),
        sa.Column("carrier", sa.String(), nullable=False),
        sa.Column("tracking", sa.String(), nullable=False),
        sa.Column("quote", sa.String(), nullable=False),
        sa.Column("language", sa.String(), nullable=False),
        sa.Column("created_by", sa.String(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_rma_cases_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rma_cases")),
    )
    op.create_index("ix_rma_cases_customer_id", "rma_cases", ["customer_id"])
    op.create_index("ix_rma_cases_stage_stage_due", "rma_cases", ["stage", "stage_due"])
    op.create_index("ix_rma_cases_serial", "rma_cases", ["serial"])
    op.create_table(
        "rma_case_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("field", sa.String(), nullable=False),
        sa.Column("old_value", sa.String(), nullable=True),
        sa.Column("new_value", sa.String(), nullable=True),
        sa.Column("note", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["rma_cases.id"],
            name=op.f("fk_rma_case_events_case_id_rma_cases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rma_case_events")),
    )
    op.create_index("ix_rma_case_events_case_id", "rma_case_events", ["case_id"])
    op.create_table(
        "rma_case_links",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("ref", sa.String(), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["rma_cases.id"],
            name=op.f("fk_rma_case_links_case_id_rma_cases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("case_id", "kind", "ref", name=op.f("pk_rma_case_links")),
    )
    op.create_index("ix_rma_case_links_kind_ref", "rma_case_links", ["kind", "ref"])


def downgrade() -> None:
    op.drop_table("rma_case_links")
    op.drop_table("rma_case_events")
    op.drop_table("rma_cases")
