"""SQLAlchemy declarative models of the CRM database.

The schema itself is owned by the Alembic migrations in ``migrations/versions``; these models must
match them (``tests/store/test_store_migrations.py`` checks it with Alembic's autogenerate compare).

Times are ``DateTime(timezone=True)`` holding UTC. PostgreSQL keeps them as ``timestamptz``;
SQLite has no time zone type, so :class:`UtcDateTime` stores naive UTC text there and gives back
aware UTC datetimes on both backends. The domain uses epoch floats: ``crm.py`` converts.

Free text columns are unbounded ``String`` (``varchar`` without a length on PostgreSQL) on purpose:
one over-long caller name must never fail a whole batch of call records.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    UniqueConstraint,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend (naive UTC text on SQLite).

    Binding is on the hot write path (a call record carries about 20 timestamps), so the bind
    processor is a single small function per dialect: on SQLite it writes SQLAlchemy's own text
    format (``YYYY-MM-DD HH:MM:SS.ffffff``, which sorts like time) straight from the datetime.
    Naive datetimes are refused: their time zone would be a guess.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def bind_processor(self, dialect: Dialect) -> Callable[[datetime | None], Any]:
        if dialect.name == "sqlite":
            return _sqlite_bind
        return _aware_bind

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        processor = self.bind_processor(dialect)
        return processor(value)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _aware_bind(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValueError("naive datetime given to a UtcDateTime column; use an aware UTC datetime")
    return value


def _sqlite_bind(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is not UTC:
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UtcDateTime column; use an aware UTC datetime")
        value = value.astimezone(UTC)
    return value.isoformat(" ", "microseconds")[:26]


JsonDict = JSON().with_variant(postgresql.JSONB(), "postgresql")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UtcDateTime(), dict[str, Any]: JsonDict}  # noqa: RUF012


# --------------------------------------------------------------------------------------------- CRM


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String)
    company: Mapped[str] = mapped_column(String, default="")
    email: Mapped[str] = mapped_column(String, default="")
    segment: Mapped[str] = mapped_column(String, default="new")  # vip | regular | new
    vip: Mapped[bool] = mapped_column(Boolean, default=False)
    value_score: Mapped[float] = mapped_column(Float, default=0.0)
    notes: Mapped[str] = mapped_column(String, default="")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # pinyin of a Chinese name, full and initials (domain/name_search.py): "zhangwei zw"
    name_search: Mapped[str] = mapped_column(String, default="", server_default="")


class CustomerPhone(Base):
    __tablename__ = "customer_phones"
    __table_args__ = (Index("ix_customer_phones_number_e164", "number_e164", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    number_e164: Mapped[str] = mapped_column(String)
    raw: Mapped[str] = mapped_column(String, default="")
    label: Mapped[str] = mapped_column(String, default="")


class Agent(Base):
    __tablename__ = "agents"

    id: Mapped[str] = mapped_column(String, primary_key=True)  # agent id = extension, e.g. "1001"
    name: Mapped[str] = mapped_column(String, default="")
    endpoint: Mapped[str] = mapped_column(String, default="")  # e.g. "PJSIP/1001"


# ------------------------------------------------------------------------------------------- calls


class Call(Base):
    __tablename__ = "calls"
    __table_args__ = (
        Index("ix_calls_started_at", "started_at"),
        Index("ix_calls_agent_id_started_at", "agent_id", "started_at"),
        Index("ix_calls_queue_started_at", "queue", "started_at"),
        Index("ix_calls_caller_num", "caller_num"),
        Index("ix_calls_outcome_started_at", "outcome", "started_at"),
        Index("ix_calls_customer_id", "customer_id"),
        Index("ix_calls_talk_seconds", "talk_seconds"),  # QA search by duration (migration 0007)
    )

    id: Mapped[str] = mapped_column(String, primary_key=True)  # Asterisk Linkedid
    direction: Mapped[str] = mapped_column(String, default="inbound")
    started_at: Mapped[datetime]
    ivr_at: Mapped[datetime | None]
    queued_at: Mapped[datetime | None]
    offered_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    caller_num: Mapped[str] = mapped_column(String, default="")
    caller_name: Mapped[str] = mapped_column(String, default="")
    dnis: Mapped[str] = mapped_column(String, default="")
    queue: Mapped[str | None] = mapped_column(String)
    # no foreign key to agents: the tracker may see an agent before anybody configured it
    agent_id: Mapped[str | None] = mapped_column(String)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"))
    wait_seconds: Mapped[float | None] = mapped_column(Float)
    talk_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    hold_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    outcome: Mapped[str] = mapped_column(String)
    hangup_cause: Mapped[int | None] = mapped_column(Integer)
    hangup_by: Mapped[str | None] = mapped_column(String)
    recording_file: Mapped[str | None] = mapped_column(String)
    version: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime]
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)


class CallLeg(Base):
    __tablename__ = "call_legs"
    __table_args__ = (Index("ix_call_legs_call_id", "call_id"),)

    uniqueid: Mapped[str] = mapped_column(String, primary_key=True)
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String)
    role: Mapped[str] = mapped_column(String)
    agent_id: Mapped[str | None] = mapped_column(String)
    started_at: Mapped[datetime]
    answered_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    hangup_cause: Mapped[int | None] = mapped_column(Integer)
    dial_status: Mapped[str | None] = mapped_column(String)


class CallOffer(Base):
    __tablename__ = "call_offers"
    __table_args__ = (UniqueConstraint("call_id", "uniqueid"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"))
    uniqueid: Mapped[str] = mapped_column(String)
    agent_id: Mapped[str] = mapped_column(String)
    rang_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    answered: Mapped[bool] = mapped_column(Boolean, default=False)
    dial_status: Mapped[str | None] = mapped_column(String)


class CallTransfer(Base):
    __tablename__ = "call_transfers"
    __table_args__ = (
        UniqueConstraint("call_id", "at", "kind", "target"),
        Index("ix_call_transfers_call_id", "call_id"),  # QA search: outcome "transferred" (0007)
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"))
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String)
    target: Mapped[str] = mapped_column(String)
    from_agent: Mapped[str | None] = mapped_column(String)


class Recording(Base):
    __tablename__ = "recordings"
    __table_args__ = (Index("ix_recordings_call_id", "call_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"))
    uniqueid: Mapped[str | None] = mapped_column(String)
    path: Mapped[str] = mapped_column(String, unique=True)
    started_at: Mapped[datetime | None]
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    duration_seconds: Mapped[float | None] = mapped_column(Float)
    sha256: Mapped[str | None] = mapped_column(String)


# ------------------------------------------------------------------------------------------- users


class UserRow(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String, unique=True)
    password_hash: Mapped[str] = mapped_column(String)
    role: Mapped[str] = mapped_column(String)
    display_name: Mapped[str] = mapped_column(String, default="")
    agent_id: Mapped[str | None] = mapped_column(String)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    language: Mapped[str] = mapped_column(String, default="", server_default="")


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String, unique=True)
    label: Mapped[str] = mapped_column(String, default="")
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]


# --------------------------------------------------------------------------------------------- IVR


class IvrSession(Base):
    """One FastAGI IVR session of a call: its path through the flow and how it ended.

    No foreign key to ``calls``: the IVR writes its record when the caller leaves the IVR, the tracker
    writes the call when AMI events say so, in either order.
    """

    __tablename__ = "ivr_sessions"
    __table_args__ = (
        Index("ix_ivr_sessions_started_at", "started_at"),
        Index("ix_ivr_sessions_outcome_started_at", "outcome", "started_at"),
    )

    call_id: Mapped[str] = mapped_column(String, primary_key=True)  # Asterisk Linkedid
    uniqueid: Mapped[str] = mapped_column(String, primary_key=True)  # the channel in AGI
    flow: Mapped[str] = mapped_column(String)
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime]
    outcome: Mapped[str] = mapped_column(String)
    caller_num: Mapped[str] = mapped_column(String, default="")
    language: Mapped[str] = mapped_column(String, default="")
    queue: Mapped[str | None] = mapped_column(String)
    customer_id: Mapped[int | None] = mapped_column(Integer)
    vip: Mapped[bool] = mapped_column(Boolean, default=False)
    route_outcome: Mapped[str | None] = mapped_column(String)
    transfer_to: Mapped[str | None] = mapped_column(String)
    error: Mapped[str | None] = mapped_column(String)
    path: Mapped[dict[str, Any]] = mapped_column(default=dict)  # {"steps": [...], "variables": {...}}


# ---------------------------------------------------------------------------- CRM: tags, notes, tickets


class CustomerTag(Base):
    __tablename__ = "customer_tags"
    __table_args__ = (Index("ix_customer_tags_tag", "tag"),)

    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(String, primary_key=True)  # lower-case word


class CustomerNoteRow(Base):
    __tablename__ = "customer_notes"
    __table_args__ = (Index("ix_customer_notes_customer_id_at", "customer_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    at: Mapped[datetime]
    author: Mapped[str] = mapped_column(String)
    text: Mapped[str] = mapped_column(String)


class TicketRow(Base):
    __tablename__ = "tickets"
    __table_args__ = (
        Index("ix_tickets_customer_id", "customer_id"),
        Index("ix_tickets_status", "status"),
        Index("ix_tickets_assignee_due_at", "assignee", "due_at"),
        Index("ix_tickets_due_at", "due_at"),
        Index("ix_tickets_call_id", "call_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    # no foreign key to calls: a ticket is often opened during the call, before its record is written
    call_id: Mapped[str | None] = mapped_column(String)
    subject: Mapped[str] = mapped_column(String)
    description: Mapped[str] = mapped_column(String, default="")
    category: Mapped[str] = mapped_column(String)  # inquiry | complaint | after_sales | follow_up
    priority: Mapped[str] = mapped_column(String)  # low | normal | high | urgent
    status: Mapped[str] = mapped_column(String)  # new | open | pending | resolved | closed
    assignee: Mapped[str | None] = mapped_column(String)  # username or agent id
    due_at: Mapped[datetime | None]
    created_by: Mapped[str] = mapped_column(String, default="")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    version: Mapped[int] = mapped_column(Integer, default=1)  # optimistic concurrency


class TicketEventRow(Base):
    __tablename__ = "ticket_events"
    __table_args__ = (Index("ix_ticket_events_ticket_id", "ticket_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String)
    field: Mapped[str] = mapped_column(String)
    old_value: Mapped[str | None] = mapped_column(String)
    new_value: Mapped[str | None] = mapped_column(String)
    comment: Mapped[str] = mapped_column(String, default="")


# ----------------------------------------------------------------------------- ACD: agent state log


class AgentStateRow(Base):
    """One agent state transition (``domain.acd.AgentTransition``); ``duration`` is how long the
    previous state lasted, so reports sum durations per state without pairing rows."""

    __tablename__ = "agent_state_log"
    __table_args__ = (
        Index("ix_agent_state_log_agent_at", "agent", "at"),
        Index("ix_agent_state_log_at", "at"),
        # reports: wrap-up exits and pause rows of a period (migration 0009)
        Index("ix_agent_state_log_from_state_at", "from_state", "at"),
        Index("ix_agent_state_log_to_state_at", "to_state", "at"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    agent: Mapped[str] = mapped_column(String)
    from_state: Mapped[str] = mapped_column(String)
    to_state: Mapped[str] = mapped_column(String)
    at: Mapped[datetime]
    duration: Mapped[float] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(String, default="")
    call_id: Mapped[str] = mapped_column(String, default="")
    queue: Mapped[str] = mapped_column(String, default="")
    by: Mapped[str] = mapped_column(String, default="")


# ------------------------------------------------------------------ agent console: call dispositions


class CallDispositionRow(Base):
    """The wrap-up code and notes an agent set for a call (``domain.calls.CallDisposition``).
    No foreign key to ``calls``: it is usually set before the call's record is written."""

    __tablename__ = "call_dispositions"
    __table_args__ = (
        Index("ix_call_dispositions_agent_at", "agent", "at"),
        Index("ix_call_dispositions_at", "at"),  # reports (migration 0008)
        Index("ix_call_dispositions_customer_id", "customer_id"),
    )

    call_id: Mapped[str] = mapped_column(String, primary_key=True)
    agent: Mapped[str] = mapped_column(String, primary_key=True)
    code: Mapped[str] = mapped_column(String)
    note: Mapped[str] = mapped_column(String, default="")
    queue: Mapped[str | None] = mapped_column(String)
    customer_id: Mapped[int | None] = mapped_column(Integer)
    at: Mapped[datetime]
    author: Mapped[str] = mapped_column(String, default="")


# ------------------------------------------------------------------ supervisor audit log (issue #7)


class SupervisorAuditRow(Base):
    """One supervisor action (``domain.audit.AuditEntry``): monitoring, agent state changes."""

    __tablename__ = "supervisor_audit"
    __table_args__ = (
        Index("ix_supervisor_audit_at", "at"),
        Index("ix_supervisor_audit_actor_at", "actor", "at"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String)
    role: Mapped[str] = mapped_column(String)
    action: Mapped[str] = mapped_column(String)
    target: Mapped[str] = mapped_column(String, default="")
    ok: Mapped[bool] = mapped_column(Boolean, default=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JsonDict, default=dict)


# ------------------------------------------------------------------ QA and recordings (issue #8)


class RecordingHoldRow(Base):
    """A legal hold on a recording: ``callcenter recordings purge`` never removes it while held."""

    __tablename__ = "recording_holds"

    recording_id: Mapped[int] = mapped_column(
        ForeignKey("recordings.id", ondelete="CASCADE"), primary_key=True
    )
    at: Mapped[datetime]
    by: Mapped[str] = mapped_column(String)
    reason: Mapped[str] = mapped_column(String, default="")


class RecordingPlaybackRow(Base):
    """Audit log of recording playbacks: who, when, which recording, from where."""

    __tablename__ = "recording_playbacks"
    __table_args__ = (
        Index("ix_recording_playbacks_at", "at"),
        Index("ix_recording_playbacks_recording_id", "recording_id"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String)
    role: Mapped[str] = mapped_column(String)
    # no foreign key: the audit trail outlives a purged recording
    recording_id: Mapped[int] = mapped_column(Integer)
    call_id: Mapped[str] = mapped_column(String)
    remote: Mapped[str] = mapped_column(String, default="")
    byte_range: Mapped[str] = mapped_column(String, default="")


class QaFormRow(Base):
    __tablename__ = "qa_forms"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String)
    sections: Mapped[dict[str, Any]] = mapped_column(JsonDict)  # {"sections": [...]}
    created_by: Mapped[str] = mapped_column(String, default="")
    created_at: Mapped[datetime]
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class QaEvaluationRow(Base):
    __tablename__ = "qa_evaluations"
    __table_args__ = (
        Index("ix_qa_evaluations_call_id", "call_id"),
        Index("ix_qa_evaluations_agent_at", "agent", "at"),
        Index("ix_qa_evaluations_score", "score"),
        Index("ix_qa_evaluations_at", "at"),  # reports (migration 0008)
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # no foreign key to calls: evaluations are kept when a call's record is purged
    call_id: Mapped[str] = mapped_column(String)
    form_id: Mapped[int] = mapped_column(ForeignKey("qa_forms.id", ondelete="RESTRICT"))
    evaluator: Mapped[str] = mapped_column(String)
    agent: Mapped[str | None] = mapped_column(String)
    at: Mapped[datetime]
    score: Mapped[float] = mapped_column(Float)
    failed: Mapped[bool] = mapped_column(Boolean, default=False)
    answers: Mapped[dict[str, Any]] = mapped_column(JsonDict)  # {"answers": [{question_id, value, comment}]}
    comment: Mapped[str] = mapped_column(String, default="")
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String)


# ------------------------------------------------------------------ reports: settled 15-minute intervals


class ReportIntervalRow(Base):
    """The KPI engine's counters of one queue or agent over one settled 15-minute interval (``interval_no`` =
    epoch seconds // 900), rolled up once its calls have ended (``services/report_rollup.py``)."""

    __tablename__ = "report_intervals"
    __table_args__ = (Index("ix_report_intervals_kind_queue_interval_no", "kind", "queue", "interval_no"),)

    kind: Mapped[str] = mapped_column(String, primary_key=True)  # "queue" | "agent"
    key: Mapped[str] = mapped_column(String, primary_key=True)  # the queue or the agent
    # "" on every queue row and on an agent's all-queue row (calls and time); an agent's calls in one queue
    # have a row of their own (no time) for the agent report filtered by queue
    queue: Mapped[str] = mapped_column(String, primary_key=True)
    interval_no: Mapped[int] = mapped_column(Integer, primary_key=True)
    offered: Mapped[int] = mapped_column(Integer, default=0)
    answered: Mapped[int] = mapped_column(Integer, default=0)
    answered_within: Mapped[int] = mapped_column(Integer, default=0)
    abandoned: Mapped[int] = mapped_column(Integer, default=0)
    abandoned_within: Mapped[int] = mapped_column(Integer, default=0)
    abandoned_short: Mapped[int] = mapped_column(Integer, default=0)
    wait_answered: Mapped[float] = mapped_column(Float, default=0.0)
    talk: Mapped[float] = mapped_column(Float, default=0.0)
    hold: Mapped[float] = mapped_column(Float, default=0.0)
    wrapup: Mapped[float] = mapped_column(Float, default=0.0)
    max_wait: Mapped[float] = mapped_column(Float, default=0.0)
    staffed: Mapped[float] = mapped_column(Float, default=0.0)
    handling: Mapped[float] = mapped_column(Float, default=0.0)
    missed_offers: Mapped[int] = mapped_column(Integer, default=0)


class ReportPauseRow(Base):
    """Pause seconds of one agent by reason over one settled 15-minute interval."""

    __tablename__ = "report_pauses"
    __table_args__ = (Index("ix_report_pauses_interval_no", "interval_no"),)

    agent: Mapped[str] = mapped_column(String, primary_key=True)
    interval_no: Mapped[int] = mapped_column(Integer, primary_key=True)
    reason: Mapped[str] = mapped_column(String, primary_key=True)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)


class ReportRollupState(Base):
    """How far the intervals are rolled up: every interval before ``settled_until`` (epoch seconds)."""

    __tablename__ = "report_rollup_state"

    name: Mapped[str] = mapped_column(String, primary_key=True)
    settled_until: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[datetime]


# ------------------------------------------------------------------ service cases (RMA, issue 16)
# (and the settings changed in the browser, issue 18: models_admin)
from callcenter.store import models_admin as models_admin  # noqa: E402  (shares Base.metadata)
from callcenter.store import models_cases as models_cases  # noqa: E402  (shares Base.metadata)

# ---------------------------------------------------------------- outbound campaigns (issue 17)
from callcenter.store import models_outbound as models_outbound  # noqa: E402  (shares Base.metadata)

# ------------------------------------------------------------- post-call surveys (CSAT, issue 16)
from callcenter.store import models_surveys as models_surveys  # noqa: E402  (shares Base.metadata)
