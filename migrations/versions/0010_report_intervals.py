"""Reports: settled 15-minute intervals rolled up (issue #8).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03

``report_intervals`` holds the KPI engine's counters per queue and per agent for each 15-minute interval
whose calls have all ended, ``report_pauses`` the agents' pause seconds by reason, ``report_rollup_state``
how far that goes; a month's report reads a few thousand rows instead of half a million calls. Filled by
``services/report_rollup.py`` (in the service, and ``callcenter reports rollup``).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COUNTS = ("offered", "answered", "answered_within", "abandoned", "abandoned_within", "abandoned_short")
_SECONDS = ("wait_answered", "talk", "hold", "wrapup", "max_wait", "staffed", "handling")


def upgrade() -> None:
    op.create_table(
        "report_intervals",
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("queue", sa.String(), nullable=False),
        sa.Column("interval_no", sa.Integer(), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in _COUNTS),
        *(sa.Column(name, sa.Float(), nullable=False) for name in _SECONDS),
        sa.Column("missed_offers", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "key", "queue", "interval_no", name=op.f("pk_report_intervals")),
    )
    op.create_table(
        "report_pauses",
        sa.Column("agent", sa.String(), nullable=False),
        sa.Column("interval_no", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("agent", "interval_no", "reason", name=op.f("pk_report_pauses")),
    )
    op.create_index(
        "ix_report_intervals_kind_queue_interval_no", "report_intervals", ["kind", "queue", "interval_no"]
    )
    op.create_index("ix_report_pauses_interval_no", "report_pauses", ["interval_no"])
    op.create_table(
        "report_rollup_state",
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("settled_until", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_report_rollup_state")),
    )


def downgrade() -> None:
    op.drop_table("report_rollup_state")
    op.drop_table("report_pauses")
    op.drop_table("report_intervals")
