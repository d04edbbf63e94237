"""``services.cases.CaseStore`` on SQLAlchemy: RMA cases, their history and links (issue 16).

A change writes the case row and its history entries in one transaction, guarded by ``version``
(optimistic concurrency: ``ConcurrentUpdate`` when somebody else changed the case meanwhile).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Table, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from callcenter.domain.cases import (
    DONE,
    CaseEvent,
    CaseLink,
    CasePage,
    CaseQuery,
    CaseStage,
    RepairMode,
    RmaCase,
)
from callcenter.domain.tickets import ConcurrentUpdate
from callcenter.store.engine import DEFAULT_CONNECT_TIMEOUT, translate_errors
from callcenter.store.models_cases import RmaCaseEventRow, RmaCaseLinkRow, RmaCaseRow

_CASES: Table = RmaCaseRow.__table__  # type: ignore[assignment]
_EVENTS: Table = RmaCaseEventRow.__table__  # type: ignore[assignment]
_LINKS: Table = RmaCaseLinkRow.__table__  # type: ignore[assignment]
_DONE = [s.value for s in DONE]


def _dt(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _opt_dt(epoch: float | None) -> datetime | None:
    return None if epoch is None else _dt(epoch)


def _ep(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def _day(text: str | None) -> date | None:
    return None if not text else date.fromisoformat(text)


def _row(case: RmaCase) -> dict[str, Any]:
    return {
        "customer_id": case.customer_id,
        "product": case.product,
        "serial": case.serial,
        "purchase_date": None if case.purchase_date is None else case.purchase_date.isoformat(),
        "warranty_until": None if case.warranty_until is None else case.warranty_until.isoformat(),
        "in_warranty": case.in_warranty,
        "fault": case.fault,
        "stage": case.stage.value,
        "stage_since": _dt(case.stage_since),
        "stage_due": _opt_dt(case.stage_due),
        "technician": case.technician,
        "repair_mode": case.repair_mode.value,
        "carrier": case.carrier,
        "tracking": case.tracking,
        "quote": case.quote,
        "language": case.language,
        "created_by": case.created_by,
        "created_at": _dt(case.created_at),
        "updated_at": _dt(case.updated_at),
        "version": case.version,
    }


def _case(r: Any) -> RmaCase:
    return RmaCase(
        id=int(r["id"]),
        customer_id=int(r["customer_id"]),
        product=r["product"],
        serial=r["serial"],
        purchase_date=_day(r["purchase_date"]),
        warranty_until=_day(r["warranty_until"]),
        in_warranty=bool(r["in_warranty"]),
        fault=r["fault"],
        stage=CaseStage(r["stage"]),
        stage_since=r["stage_since"].timestamp(),
        stage_due=_ep(r["stage_due"]),
        technician=r["technician"],
        repair_mode=RepairMode(r["repair_mode"]),
        carrier=r["carrier"],
        tracking=r["tracking"],
        quote=r["quote"],
        language=r["language"],
        created_by=r["created_by"],
        created_at=r["created_at"].timestamp(),
        updated_at=r["updated_at"].timestamp(),
        version=int(r["version"]),
    )


def _event_row(e: CaseEvent, case_id: int) -> dict[str, Any]:
    return {
        "case_id": case_id,
        "at": _dt(e.at),
        "actor": e.actor,
        "field": e.field,
        "old_value": e.old,
        "new_value": e.new,
        "note": e.note,
    }


class SqlCaseStore:
    def __init__(self, engine: AsyncEngine, *, timeout: float = DEFAULT_CONNECT_TIMEOUT * 4) -> None:
        self._engine = engine
        self._timeout = timeout

    async def add_case(self, case: RmaCase, events: Sequence[CaseEvent]) -> RmaCase:
        with translate_errors("add case"):
            async with asyncio.timeout(self._timeout), self._engine.begin() as conn:
                new_id = int(
                    (await conn.execute(insert(_CASES).returning(_CASES.c.id), _row(case))).scalar_one()
                )
                if events:
                    await conn.execute(insert(_EVENTS), [_event_row(e, new_id) for e in events])
        found = await self.get_case(new_id)
        assert found is not None
        return found

    async def get_case(self, case_id: int) -> RmaCase | None:
        with translate_errors("get case"):
            async with asyncio.timeout(self._timeout), self._engine.connect() as conn:
                row = (await conn.execute(select(_CASES).where(_CASES.c.id == case_id))).mappings().first()
        return None if row is None else _case(row)

    async def save_case(self, old: RmaCase, new: RmaCase, events: Sequence[CaseEvent]) -> None:
        """Write ``new`` if the stored case is still at ``old.version`` (else ``ConcurrentUpdate``)."""
        values = _row(new)
        values.pop("created_at")
        values.pop("created_by")
        with translate_errors("save case"):
            async with asyncio.timeout(self._timeout), self._engine.begin() as conn:
                result = await conn.execute(
                    update(_CASES)
                    .where(_CASES.c.id == old.id, _CASES.c.version == old.version)
                    .values(**values)
                )
                if not result.rowcount:
                    raise ConcurrentUpdate(f"case {old.id} was changed by somebody else")
                if events:
                    await conn.execute(insert(_EVENTS), [_event_row(e, old.id) for e in events])

    async def list_cases(self, q: CaseQuery) -> CasePage:
        c = _CASES.c
        conditions: list[Any] = []
        if q.stages:
            conditions.append(c.stage.in_([s.value for s in q.stages]))
        if q.customer_id is not None:
            conditions.append(c.customer_id == q.customer_id)
        if q.technician:
            conditions.append(c.technician == q.technician)
        if q.open_only:
            conditions.append(c.stage.not_in(_DONE))
        if q.overdue is True:
            conditions.extend([c.stage.not_in(_DONE), c.stage_due.is_not(None), c.stage_due < _dt(q.now)])
        elif q.overdue is False:
            conditions.append((c.stage_due.is_(None)) | (c.stage_due >= _dt(q.now)) | c.stage.in_(_DONE))
        stmt = select(_CASES).where(*conditions).order_by(c.id.desc()).limit(q.limit).offset(q.offset)
        count = select(func.count()).select_from(_CASES).where(*conditions)
        with translate_errors("list cases"):
            async with asyncio.timeout(self._timeout), self._engine.connect() as conn:
                rows = (await conn.execute(stmt)).mappings().all()
                total = int((await conn.execute(count)).scalar_one())
        return CasePage(tuple(_case(r) for r in rows), total, q.limit, q.offset)

    async def open_cases(self) -> list[RmaCase]:
        stmt = select(_CASES).where(_CASES.c.stage.not_in(_DONE)).order_by(_CASES.c.id)
        with translate_errors("open cases"):
            async with asyncio.timeout(self._timeout), self._engine.connect() as conn:
                rows = (await conn.execute(stmt)).mappings().all()
        return [_case(r) for r in rows]

    async def history(self, case_id: int) -> list[CaseEvent]:
        stmt = select(_EVENTS).where(_EVENTS.c.case_id == case_id).order_by(_EVENTS.c.at, _EVENTS.c.id)
        with translate_errors("case history"):
            async with asyncio.timeout(self._timeout), self._engine.connect() as conn:
                rows = (await conn.execute(stmt)).mappings().all()
        return [
            CaseEvent(
                r["case_id"],
                r["at"].timestamp(),
                r["actor"],
                r["field"],
                r["old_value"],
                r["new_value"],
                r["note"],
            )
            for r in rows
        ]

    async def add_link(self, link: CaseLink) -> bool:
        """Link a call or a ticket (False when it already was)."""
        exists = select(_LINKS.c.case_id).where(
            _LINKS.c.case_id == link.case_id, _LINKS.c.kind == link.kind, _LINKS.c.ref == link.ref
        )
        with translate_errors("add case link"):
            async with asyncio.timeout(self._timeout), self._engine.begin() as conn:
                if (await conn.execute(exists)).first() is not None:
                    return False
                await conn.execute(
                    insert(_LINKS),
                    {"case_id": link.case_id, "kind": link.kind, "ref": link.ref, "at": _dt(link.at)},
                )
        return True

    async def links(self, case_id: int) -> list[CaseLink]:
        stmt = select(_LINKS).where(_LINKS.c.case_id == case_id).order_by(_LINKS.c.at, _LINKS.c.kind)
        with translate_errors("case links"):
            async with asyncio.timeout(self._timeout), self._engine.connect() as conn:
                rows = (await conn.execute(stmt)).mappings().all()
        return [CaseLink(r["case_id"], r["kind"], r["ref"], r["at"].timestamp()) for r in rows]

    async def cases_linked(self, kind: str, ref: str) -> list[int]:
        stmt = (
            select(_LINKS.c.case_id)
            .where(_LINKS.c.kind == kind, _LINKS.c.ref == ref)
            .order_by(_LINKS.c.case_id)
        )
        with translate_errors("cases linked"):
            async with asyncio.timeout(self._timeout), self._engine.connect() as conn:
                return [int(r[0]) for r in (await conn.execute(stmt)).all()]
