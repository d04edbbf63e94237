"""SQLAlchemy model of post-call surveys (CSAT, issue 16, migration 0013).

Imported by ``store/models.py`` so that it shares ``Base.metadata``. One row per call that was offered
a survey, keyed by the call id (the Linkedid; no foreign key: the survey is written during the call,
before the call's own row may have been flushed). ``score`` stays NULL for a survey offered and not
answered (it counts against the response rate).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from callcenter.store.models import Base


class CallSurveyRow(Base):
    __tablename__ = "call_surveys"
    __table_args__ = (
        Index("ix_call_surveys_offered_at", "offered_at"),
        Index("ix_call_surveys_agent_id_offered_at", "agent_id", "offered_at"),
        Index("ix_call_surveys_queue_offered_at", "queue", "offered_at"),
        CheckConstraint("score IS NULL OR (score >= 1 AND score <= 5)", name="score_range"),
    )

    call_id: Mapped[str] = mapped_column(String, primary_key=True)
    agent_id: Mapped[str | None] = mapped_column(String)
    queue: Mapped[str | None] = mapped_column(String)
    flow: Mapped[str] = mapped_column(String)
    offered_at: Mapped[datetime]
    score: Mapped[int | None] = mapped_column(Integer)
    solved: Mapped[bool | None] = mapped_column(Boolean)
    answered_at: Mapped[datetime | None]
    customer_id: Mapped[int | None] = mapped_column(Integer)
