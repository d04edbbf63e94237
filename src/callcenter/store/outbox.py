"""``services.outbox.OutboxStore`` on SQLAlchemy (issue 16): the durable outbox, its delivery log, and the
hashed case status tokens.

Claiming: a worker reads due ``pending`` rows and moves each one's ``next_at`` forward by a lease in an
UPDATE guarded by the ``next_at`` it read; only the worker whose UPDATE matched delivers it, so two
instances never send the same row at the same time, and a row whose worker died is due again after the
lease.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from callcenter.domain.notify import Attempt, OutboxItem, OutboxStatus
from callcenter.store.engine import DEFAULT_CONNECT_TIMEOUT, translate_errors
from callcenter.store.models_cases import CaseStatusTokenRow, OutboxAttemptRow, OutboxRow

_OUTBOX: Table = OutboxRow.__table__  # type: ignore[assignment]
_ATTEMPTS: Table = OutboxAttemptRow.__table__  # type: ignore[assignment]
_TOKENS: Table = CaseStatusTokenRow.__table__  # type: ignore[assignment]


def _dt(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _item(r: Any) -> OutboxItem:
    return OutboxItem(
        id=int(r["id"]),
        kind=r["kind"],
        event=r["event"],
        target=r["target"],
        payload=dict(r["payload"] or {}),
        ref=r["ref"],
        status=OutboxStatus(r["status"]),
        attempts=int(r["attempts"]),
        next_at=r["next_at"].timestamp(),
        last_error=r["last_error"],
        created_at=r["created_at"].timestamp(),
        sent_at=None if r["sent_at"] is None else r["sent_at"].timestamp(),
    )


class SqlOutboxStore:
    def __init__(self, engine: AsyncEngine, *, timeout: float = DEFAULT_CONNECT_TIMEOUT * 4) -> None:
        self._engine = engine
        self._timeout = timeout

    async def add(self, items: Sequence[OutboxItem]) -> list[int]:
        if not items:
            return []
        ids: list[int] = []
        with translate_errors("add outbox"):
            async with asyncio.timeout(self._timeout), self._engine.begin() as conn:
                for item in items:
                    row = {
                        "kind": item.kind,
                        "event": item.event,
                        "target": item.target,
                        "payload": dict(item.payload),
                        "ref": item.ref,
                        "status": OutboxStatus.PENDING.value,
                        "attempts": 0,
                        "next_at": _dt(item.next_at),
                        "last_error": "",
                        "created_at": _dt(item.created_at),
                        "sent_at": None,
                    }
                    ids.append(
                        int((await conn.execute(insert(_OUTBOX).returning(_OUTBOX.c.id), row)).scalar_one())
                    )
        return ids

    async def claim_due(self, now: float, lease: float, limit: int) -> list[OutboxItem]:
        c = _OUTBOX.c
        stmt = (
            select(_OUTBOX)
            .where(c.status == OutboxStatus.PENDING.value, c.next_at <= _dt(now))
            .order_by(c.next_at, c.id)
            .limit(limit)
        )
        claimed: list[OutboxItem] = []
        with translate_errors("claim outbox"):
            async with asyncio.timeout(self._timeout), self._engine.begin() as conn:
                rows = (await conn.execute(stmt)).mappings().all()
                for r in rows:
                    result = await conn.execute(
                        update(_OUTBOX)
                        .where(
                            c.id == r["id"], c.next_at == r["next_at"], c.status == OutboxStatus.PENDING.value
                        )
                        .values(next_at=_dt(now + lease))
                    )
                    if result.rowcount:
                        claimed.append(_item(r))
        return claimed

    async def record(self, item_id: int, attempt: Attempt, *, status: OutboxStatus, next_at: float) -> None:
        """Log an attempt and set the row's outcome (sent, pending again at ``next_at``, or failed)."""
        c = _OUTBOX.c
        values: dict[str, Any] = {
            "status": status.value,
            "attempts": c.attempts + 1,
            "next_at": _dt(next_at),
            "last_error": attempt.error[:500],
        }
        if status is OutboxStatus.SENT:
            values["sent_at"] = _dt(attempt.at)
        with translate_errors("record outbox attempt"):
            async with asyncio.timeout(self._timeout), self._engine.begin() as conn:
                await conn.execute(
                    insert(_ATTEMPTS),
                    {
                        "outbox_id": item_id,
                        "at": _dt(attempt.at),
                        "ok": attempt.ok,
                        "status_code": attempt.status_code,
                        "error": attempt.error[:500],
                        "seconds": attempt.seconds,
                    },
                )
                await conn.execute(update(_OUTBOX).where(c.id == item_id).values(**values))

    async def get(self, item_id: int) -> OutboxItem | None:
        with translate_errors("get outbox"):
            async with asyncio.timeout(self._timeout), self._engine.connect() as conn:
                row = (await conn.execute(select(_OUTBOX).where(_OUTBOX.c.id == item_id))).mappings().first()
        return None if row is None else _item(row)

    async def items(
        self, *, kind: str | None = None, status: str | None = None, limit: int = 100
    ) -> list[OutboxItem]:
        stmt = select(_OUTBOX).order_by(_OUTBOX.c.id.desc()).limit(max(1, min(limit, 500)))
        if kind:
            stmt = stmt.where(_OUTBOX.c.kind == kind)
        if status:
            stmt = stmt.where(_OUTBOX.c.status == status)
        with translate_errors("list outbox"):
            async with asyncio.timeout(self._timeout), self._engine.connect() as conn:
                rows = (await conn.execute(stmt)).mappings().all()
        return [_item(r) for r in rows]

    async def attempts(self, item_id: int) -> list[Attempt]:
        stmt = select(_ATTEMPTS).where(_ATTEMPTS.c.outbox_id == item_id).order_by(_ATTEMPTS.c.id)
        with translate_errors("outbox attempts"):
            async with asyncio.timeout(self._timeout), self._engine.connect() as conn:
                rows = (await conn.execute(stmt)).mappings().all()
        return [
            Attempt(r["at"].timestamp(), bool(r["ok"]), r["status_code"], r["error"], r["seconds"])
            for r in rows
        ]

    async def retry(self, item_id: int, now: float) -> bool:
        """Make a sent or failed row pending again now (an admin's retry)."""
        with translate_errors("retry outbox"):
            async with asyncio.timeout(self._timeout), self._engine.begin() as conn:
                result = await conn.execute(
                    update(_OUTBOX)
                    .where(_OUTBOX.c.id == item_id)
                    .values(status=OutboxStatus.PENDING.value, next_at=_dt(now))
                )
        return bool(result.rowcount)

    async def next_due(self) -> float | None:
        c = _OUTBOX.c
        stmt = select(c.next_at).where(c.status == OutboxStatus.PENDING.value).order_by(c.next_at).limit(1)
        with translate_errors("outbox next due"):
            async with asyncio.timeout(self._timeout), self._engine.connect() as conn:
                value = (await conn.execute(stmt)).scalar_one_or_none()
        return None if value is None else value.timestamp()

    # -- case status tokens --------------------------------------------------------------------------

    async def add_token(self, token_hash: str, case_id: int, now: float, expires_at: float) -> None:
        with translate_errors("add status token"):
            async with asyncio.timeout(self._timeout), self._engine.begin() as conn:
                await conn.execute(delete(_TOKENS).where(_TOKENS.c.expires_at < _dt(now)))
                await conn.execute(
                    insert(_TOKENS),
                    {
                        "token_hash": token_hash,
                        "case_id": case_id,
                        "created_at": _dt(now),
                        "expires_at": _dt(expires_at),
                    },
                )

    async def case_for_token(self, token_hash: str, now: float) -> int | None:
        stmt = select(_TOKENS.c.case_id).where(
            _TOKENS.c.token_hash == token_hash, _TOKENS.c.expires_at > _dt(now)
        )
        with translate_errors("status token"):
            async with asyncio.timeout(self._timeout), self._engine.connect() as conn:
                value = (await conn.execute(stmt)).scalar_one_or_none()
        return None if value is None else int(value)
