"""SQLAlchemy models of service cases (RMA, issue 16): cases, their history and their links.

Imported by ``store/models.py`` so that they share ``Base.metadata`` (the migrations compare test sees
them). Dates of purchase and end of warranty are ``YYYY-MM-DD`` text (a calendar day, no time zone).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from callcenter.store.models import Base


class RmaCaseRow(Base):
    __tablename__ = "rma_cases"
    __table_args__ = (
        Index("ix_rma_cases_customer_id", "customer_id"),
        Index("ix_rma_cases_stage_stage_due", "stage", "stage_due"),
        Index("ix_rma_cases_serial", "serial"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    product: Mapped[str] = mapped_column(String)
    serial: Mapped[str] = mapped_column(String)
    purchase_date: Mapped[str | None] = mapped_column(String)
    warranty_until: Mapped[str | None] = mapped_column(String)
    in_warranty: Mapped[bool] = mapped_column(Boolean, default=False)
    fault: Mapped[str] = mapped_column(String, default="")
    stage: Mapped[str] = mapped_column(String)
    stage_since: Mapped[datetime]
    stage_due: Mapped[datetime | None]
    technician: Mapped[str | None] = mapped_column(String)
    repair_mode: Mapped[str] = mapped_column(String)  # in_house | outsourced
    carrier: Mapped[str] = mapped_column(String, default="")
    tracking: Mapped[str] = mapped_column(String, default="")
    quote: Mapped[str] = mapped_column(String, default="")
    language: Mapped[str] = mapped_column(String, default="en")
    created_by: Mapped[str] = mapped_column(String, default="")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    version: Mapped[int] = mapped_column(Integer, default=1)


class RmaCaseEventRow(Base):
    __tablename__ = "rma_case_events"
    __table_args__ = (Index("ix_rma_case_events_case_id", "case_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("rma_cases.id", ondelete="CASCADE"))
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String)
    field: Mapped[str] = mapped_column(String)
    old_value: Mapped[str | None] = mapped_column(String)
    new_value: Mapped[str | None] = mapped_column(String)
    note: Mapped[str] = mapped_column(String, default="")


class RmaCaseLinkRow(Base):
    """A case's call (kind ``call``, ref = Linkedid) or ticket (kind ``ticket``, ref = ticket id)."""

    __tablename__ = "rma_case_links"
    __table_args__ = (Index("ix_rma_case_links_kind_ref", "kind", "ref"),)

    case_id: Mapped[int] = mapped_column(ForeignKey("rma_cases.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String, primary_key=True)
    ref: Mapped[str] = mapped_column(String, primary_key=True)
    at: Mapped[datetime]


class OutboxRow(Base):
    """A message to deliver (an e-mail or a signed webhook), retried with backoff until sent or given up.

    ``status``: ``pending`` (due at ``next_at``), ``sent``, ``failed`` (gave up after the attempts). A
    worker claims a due row by moving ``next_at`` forward (a lease) in a guarded UPDATE."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status_next_at", "status", "next_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String)  # email | webhook
    event: Mapped[str] = mapped_column(String)  # case.changed | ticket.changed | call.ended
    target: Mapped[str] = mapped_column(String)  # an address or a URL
    payload: Mapped[dict[str, Any]]
    ref: Mapped[str] = mapped_column(String, default="")  # case:5, ticket:7, call:<linkedid>
    status: Mapped[str] = mapped_column(String)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_at: Mapped[datetime]
    last_error: Mapped[str] = mapped_column(String, default="")
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]


class OutboxAttemptRow(Base):
    """One delivery attempt of an outbox message (the delivery log)."""

    __tablename__ = "outbox_attempts"
    __table_args__ = (Index("ix_outbox_attempts_outbox_id", "outbox_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox.id", ondelete="CASCADE"))
    at: Mapped[datetime]
    ok: Mapped[bool] = mapped_column(Boolean)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str] = mapped_column(String, default="")
    seconds: Mapped[float] = mapped_column(Float, default=0.0)


class CaseStatusTokenRow(Base):
    """A customer's link to their case's status page: only the SHA-256 of the token is stored."""

    __tablename__ = "case_status_tokens"
    __table_args__ = (Index("ix_case_status_tokens_case_id", "case_id"),)

    token_hash: Mapped[str] = mapped_column(String, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("rma_cases.id", ondelete="CASCADE"))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
