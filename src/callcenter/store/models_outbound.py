"""SQLAlchemy models of outbound campaigns (issue 17): campaigns, their contacts, every dial attempt
(kept for audit), and the do-not-call list.

Imported by ``store/models.py`` so that they share ``Base.metadata`` (the migrations compare test sees
them). Times are epoch seconds (``Float``): the dialer compares them with its clock on every tick.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from callcenter.store.models import Base


class CampaignRow(Base):
    __tablename__ = "outbound_campaigns"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String, unique=True)
    queue: Mapped[str] = mapped_column(String)
    mode: Mapped[str] = mapped_column(String)
    kind: Mapped[str] = mapped_column(String)
    status: Mapped[str] = mapped_column(String)
    settings: Mapped[dict[str, Any]]
    created_by: Mapped[str] = mapped_column(String, default="")
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)


class ContactRow(Base):
    __tablename__ = "outbound_contacts"
    __table_args__ = (
        UniqueConstraint("campaign_id", "number"),
        Index("ix_outbound_contacts_campaign_id_status_due_at", "campaign_id", "status", "due_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("outbound_campaigns.id", ondelete="CASCADE"))
    number: Mapped[str] = mapped_column(String)
    name: Mapped[str] = mapped_column(String, default="")
    customer_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    timezone: Mapped[str] = mapped_column(String, default="")
    reason: Mapped[str] = mapped_column(String, default="")
    status: Mapped[str] = mapped_column(String)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    due_at: Mapped[float] = mapped_column(Float)
    last_result: Mapped[str] = mapped_column(String, default="")
    outcome: Mapped[str] = mapped_column(String, default="")
    agent: Mapped[str] = mapped_column(String, default="")
    no_marketing: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[float] = mapped_column(Float)


class AttemptRow(Base):
    __tablename__ = "outbound_attempts"
    __table_args__ = (
        Index("ix_outbound_attempts_campaign_id_started_at", "campaign_id", "started_at"),
        Index("ix_outbound_attempts_contact_id", "contact_id"),
        Index("ix_outbound_attempts_call_id", "call_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("outbound_campaigns.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(Integer)
    number: Mapped[str] = mapped_column(String)
    agent: Mapped[str] = mapped_column(String, default="")
    call_id: Mapped[str] = mapped_column(String, default="")
    result: Mapped[str] = mapped_column(String)
    outcome: Mapped[str] = mapped_column(String, default="")
    reason: Mapped[int | None] = mapped_column(Integer, nullable=True)
    detail: Mapped[str] = mapped_column(String, default="")
    started_at: Mapped[float] = mapped_column(Float)
    answered_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    connected_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    ended_at: Mapped[float | None] = mapped_column(Float, nullable=True)


class DncRow(Base):
    __tablename__ = "dnc_numbers"

    number: Mapped[str] = mapped_column(String, primary_key=True)
    source: Mapped[str] = mapped_column(String)
    added_by: Mapped[str] = mapped_column(String)
    added_at: Mapped[float] = mapped_column(Float)
    note: Mapped[str] = mapped_column(String, default="")
