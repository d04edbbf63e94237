"""Initial schema: customers, agents, calls with legs/offers/transfers, recordings, users, API tokens.

Revision ID: 0001
Revises:
Create Date: 2025-11-23

"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "customers",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("company", sa.String(), nullable=False),
        sa.Column("email", sa.String(), nullable=False),
        sa.Column("segment", sa.String(), nullable=False),
        sa.Column("vip", sa.Boolean(), nullable=False),
        sa.Column("value_score", sa.Float(), nullable=False),
        sa.Column("notes", sa.String(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_customers"),
    )
    op.create_table(
        "customer_phones",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("number_e164", sa.String(), nullable=False),
        sa.Column("raw", sa.String(), nullable=False),
        sa.Column("label", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name="fk_customer_phones_customer_id_customers",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_customer_phones"),
    )
    op.create_index("ix_customer_phones_number_e164", "customer_phones", ["number_e164"], unique=True)
    op.create_index("ix_customer_phones_customer_id", "customer_phones", ["customer_id"])

    op.create_table(
        "agents",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("endpoint", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_agents"),
    )

    op.create_table(
        "calls",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("direction", sa.String(), nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("ivr_at", TS, nullable=True),
        sa.Column("queued_at", TS, nullable=True),
        sa.Column("offered_at", TS, nullable=True),
        sa.Column("answered_at", TS, nullable=True),
        sa.Column("ended_at", TS, nullable=True),
        sa.Column("caller_num", sa.String(), nullable=False),
        sa.Column("caller_name", sa.String(), nullable=False),
        sa.Column("dnis", sa.String(), nullable=False),
        sa.Column("queue", sa.String(), nullable=True),
        sa.Column("agent_id", sa.String(), nullable=True),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("wait_seconds", sa.Float(), nullable=True),
        sa.Column("talk_seconds", sa.Float(), nullable=False),
        sa.Column("hold_seconds", sa.Float(), nullable=False),
        sa.Column("outcome", sa.String(), nullable=False),
        sa.Column("hangup_cause", sa.Integer(), nullable=True),
        sa.Column("hangup_by", sa.String(), nullable=True),
        sa.Column("recording_file", sa.String(), nullable=True),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("extra", JSON, nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name="fk_calls_customer_id_customers", ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_calls"),
    )
    op.create_index("ix_calls_started_at", "calls", ["started_at"])
    op.create_index("ix_calls_agent_id_started_at", "calls", ["agent_id", "started_at"])
    op.create_index("ix_calls_queue_started_at", "calls", ["queue", "started_at"])
    op.create_index("ix_calls_caller_num", "calls", ["caller_num"])
    op.create_index("ix_calls_outcome_started_at", "calls", ["outcome", "started_at"])
    op.create_index("ix_calls_customer_id", "calls", ["customer_id"])

    op.create_table(
        "call_legs",
        sa.Column("uniqueid", sa.String(), nullable=False),
        sa.Column("call_id", sa.String(), nullable=False),
        sa.Column("channel", sa.String(), nullable=False),
        sa.Column("role", sa.String(), nullable=False),
        sa.Column("agent_id", sa.String(), nullable=True),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("answered_at", TS, nullable=True),
        sa.Column("ended_at", TS, nullable=True),
        sa.Column("hangup_cause", sa.Integer(), nullable=True),
        sa.Column("dial_status", sa.String(), nullable=True),
        sa.ForeignKeyConstraint(
            ["call_id"], ["calls.id"], name="fk_call_legs_call_id_calls", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("uniqueid", name="pk_call_legs"),
    )
    op.create_index("ix_call_legs_call_id", "call_legs", ["call_id"])

    op.create_table(
        "call_offers",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("call_id", sa.String(), nullable=False),
        sa.Column("uniqueid", sa.String(), nullable=False),
        sa.Column("agent_id", sa.String(), nullable=False),
        sa.Column("rang_at", TS, nullable=False),
        sa.Column("ended_at", TS, nullable=True),
        sa.Column("answered", sa.Boolean(), nullable=False),
        sa.Column("dial_status", sa.String(), nullable=True),
        sa.ForeignKeyConstraint(
            ["call_id"], ["calls.id"], name="fk_call_offers_call_id_calls", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_call_offers"),
        sa.UniqueConstraint("call_id", "uniqueid", name="uq_call_offers_call_id_uniqueid"),
    )

    op.create_table(
        "call_transfers",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("call_id", sa.String(), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("target", sa.String(), nullable=False),
        sa.Column("from_agent", sa.String(), nullable=True),
        sa.ForeignKeyConstraint(
            ["call_id"], ["calls.id"], name="fk_call_transfers_call_id_calls", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_call_transfers"),
        sa.UniqueConstraint(
            "call_id", "at", "kind", "target", name="uq_call_transfers_call_id_at_kind_target"
        ),
    )

    op.create_table(
        "recordings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("call_id", sa.String(), nullable=False),
        sa.Column("uniqueid", sa.String(), nullable=True),
        sa.Column("path", sa.String(), nullable=False),
        sa.Column("started_at", TS, nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("duration_seconds", sa.Float(), nullable=True),
        sa.Column("sha256", sa.String(), nullable=True),
        sa.ForeignKeyConstraint(
            ["call_id"], ["calls.id"], name="fk_recordings_call_id_calls", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_recordings"),
        sa.UniqueConstraint("path", name="uq_recordings_path"),
    )
    op.create_index("ix_recordings_call_id", "recordings", ["call_id"])

    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("username", sa.String(), nullable=False),
        sa.Column("password_hash", sa.String(), nullable=False),
        sa.Column("role", sa.String(), nullable=False),
        sa.Column("display_name", sa.String(), nullable=False),
        sa.Column("agent_id", sa.String(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("username", name="uq_users_username"),
    )

    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(), nullable=False),
        sa.Column("label", sa.String(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("last_used_at", TS, nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_api_tokens_user_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_api_tokens"),
        sa.UniqueConstraint("token_hash", name="uq_api_tokens_token_hash"),
    )
    op.create_index("ix_api_tokens_user_id", "api_tokens", ["user_id"])


def downgrade() -> None:
    for table in (
        "api_tokens",
        "users",
        "recordings",
        "call_transfers",
        "call_offers",
        "call_legs",
        "calls",
        "agents",
        "customer_phones",
        "customers",
    ):
        op.drop_table(table)
