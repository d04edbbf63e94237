"""IVR adapters on the CRM database: ``ports.IvrSessionStore`` (table ``ivr_sessions``, migration 0002)
and ``ports.CustomerDirectory`` (the lookup node's view of the customers)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from callcenter.domain.ivr import CustomerInfo, IvrOutcome, IvrSessionRecord
from callcenter.store.crm import SqlCrmStore
from callcenter.store.engine import translate_errors
from callcenter.store.models import Customer, IvrSession

_SESSIONS: Table = IvrSession.__table__  # type: ignore[assignment]
_CUSTOMERS: Table = Customer.__table__  # type: ignore[assignment]
_UPDATE = [c.name for c in _SESSIONS.columns if c.name not in ("call_id", "uniqueid")]


def _dt(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _row(r: IvrSessionRecord) -> dict[str, Any]:
    return {
        "call_id": r.call_id,
        "uniqueid": r.uniqueid,
        "flow": r.flow,
        "started_at": _dt(r.started_at),
        "ended_at": _dt(r.ended_at),
        "outcome": r.outcome.value,
        "caller_num": r.caller_num,
        "language": r.language,
        "queue": r.queue,
        "customer_id": r.customer_id,
        "vip": r.vip,
        "route_outcome": r.route_outcome,
        "transfer_to": r.transfer_to,
        "error": r.error,
        "path": {"steps": [dict(s) for s in r.path], "variables": dict(r.variables)},
    }


class SqlIvrSessionStore:
    """``ports.IvrSessionStore``: batched, idempotent upserts keyed by (call id, uniqueid)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        dialect = engine.dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        stmt = insert(_SESSIONS)
        self._upsert = stmt.on_conflict_do_update(
            index_elements=[_SESSIONS.c.call_id, _SESSIONS.c.uniqueid],
            set_={name: stmt.excluded[name] for name in _UPDATE},
        )

    async def save_ivr_sessions(self, sessions: Sequence[IvrSessionRecord]) -> None:
        if not sessions:
            return
        latest = {(s.call_id, s.uniqueid): s for s in sessions}
        with translate_errors("save_ivr_sessions"):
            async with self._engine.begin() as conn:
                await conn.execute(self._upsert, [_row(s) for s in latest.values()])

    async def get_ivr_sessions(self, call_id: str) -> list[IvrSessionRecord]:
        query = select(_SESSIONS).where(_SESSIONS.c.call_id == call_id).order_by(_SESSIONS.c.started_at)
        with translate_errors("get_ivr_sessions"):
            async with self._engine.connect() as conn:
                rows = (await conn.execute(query)).mappings().all()
        out: list[IvrSessionRecord] = []
        for row in rows:
            path = row["path"] or {}
            out.append(
                IvrSessionRecord(
                    call_id=row["call_id"],
                    uniqueid=row["uniqueid"],
                    flow=row["flow"],
                    started_at=row["started_at"].timestamp(),
                    ended_at=row["ended_at"].timestamp(),
                    outcome=IvrOutcome(row["outcome"]),
                    caller_num=row["caller_num"],
                    language=row["language"],
                    queue=row["queue"],
                    customer_id=row["customer_id"],
                    vip=bool(row["vip"]),
                    route_outcome=row["route_outcome"],
                    transfer_to=row["transfer_to"],
                    error=row["error"],
                    path=tuple(path.get("steps", ())),
                    variables=dict(path.get("variables", {})),
                )
            )
        return out


class SqlCustomerDirectory:
    """``ports.CustomerDirectory`` over the CRM store's customers."""

    def __init__(self, store: SqlCrmStore) -> None:
        self._store = store

    async def find_by_phone(self, number: str) -> CustomerInfo | None:
        customer = await self._store.find_customer_by_phone(number)
        if customer is None:
            return None
        return CustomerInfo(customer.id, customer.name, customer.segment.value, customer.vip)

    async def find_by_id(self, customer_id: int) -> CustomerInfo | None:
        query = select(_CUSTOMERS.c.id, _CUSTOMERS.c.name, _CUSTOMERS.c.segment, _CUSTOMERS.c.vip).where(
            _CUSTOMERS.c.id == customer_id
        )
        with translate_errors("find_customer_by_id"):
            async with self._store.engine.connect() as conn:
                row = (await conn.execute(query)).mappings().one_or_none()
        if row is None:
            return None
        return CustomerInfo(row["id"], row["name"], row["segment"], bool(row["vip"]))
