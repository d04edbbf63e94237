"""QA and recordings (issue #8): legal holds, playback audit, QA forms and evaluations, search indexes.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23

New tables plus indexes on ``calls`` (search by duration) and ``call_transfers`` (outcome "transferred").
Nothing altered: it can be re-chained after any other revision.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "recording_holds",
        sa.Column("recording_id", sa.Integer(), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("by", sa.String(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(
            ["recording_id"],
            ["recordings.id"],
            name="fk_recording_holds_recording_id_recordings",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("recording_id", name="pk_recording_holds"),
    )
    op.create_table(
        "recording_playbacks",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("at", TS, nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("role", sa.String(), nullable=False),
        sa.Column("recording_id", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.String(), nullable=False),
        sa.Column("remote", sa.String(), nullable=False),
        sa.Column("byte_range", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_recording_playbacks"),
    )
    op.create_index("ix_recording_playbacks_at", "recording_playbacks", ["at"])
    op.create_index("ix_recording_playbacks_recording_id", "recording_playbacks", ["recording_id"])
    op.create_table(
        "qa_forms",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("sections", JSON, nullable=False),
        sa.Column("created_by", sa.String(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_qa_forms"),
    )
    op.create_table(
        "qa_evaluations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("call_id", sa.String(), nullable=False),
        sa.Column("form_id", sa.Integer(), nullable=False),
        sa.Column("evaluator", sa.String(), nullable=False),
        sa.Column("agent", sa.String(), nullable=True),
        sa.Column("at", TS, nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("failed", sa.Boolean(), nullable=False),
        sa.Column("answers", JSON, nullable=False),
        sa.Column("comment", sa.String(), nullable=False),
        sa.Column("acknowledged_at", TS, nullable=True),
        sa.Column("acknowledged_by", sa.String(), nullable=True),
        sa.ForeignKeyConstraint(
            ["form_id"], ["qa_forms.id"], name="fk_qa_evaluations_form_id_qa_forms", ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_qa_evaluations"),
    )
    op.create_index("ix_qa_evaluations_call_id", "qa_evaluations", ["call_id"])
    op.create_index("ix_qa_evaluations_agent_at", "qa_evaluations", ["agent", "at"])
    op.create_index("ix_qa_evaluations_score", "qa_evaluations", ["score"])
    op.create_index("ix_calls_talk_seconds", "calls", ["talk_seconds"])
    op.create_index("ix_call_transfers_call_id", "call_transfers", ["call_id"])


def downgrade() -> None:
    op.drop_index("ix_call_transfers_call_id", table_name="call_transfers")
    op.drop_index("ix_calls_talk_seconds", table_name="calls")
    op.drop_index("ix_qa_evaluations_score", table_name="qa_evaluations")
    op.drop_index("ix_qa_evaluations_agent_at", table_name="qa_evaluations")
    op.drop_index("ix_qa_evaluations_call_id", table_name="qa_evaluations")
    op.drop_table("qa_evaluations")
    op.drop_table("qa_forms")
    op.drop_index("ix_recording_playbacks_recording_id", table_name="recording_playbacks")
    op.drop_index("ix_recording_playbacks_at", table_name="recording_playbacks")
    op.drop_table("recording_playbacks")
    op.drop_table("recording_holds")
