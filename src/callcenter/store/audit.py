"""``ports.AuditLog`` on SQLAlchemy: the supervisor audit log (``supervisor_audit``)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy import Table, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from callcenter.domain.audit import AuditEntry
from callcenter.store.engine import DEFAULT_CONNECT_TIMEOUT, translate_errors
from callcenter.store.models import SupervisorAuditRow

_AUDIT: Table = SupervisorAuditRow.__table__  # type: ignore[assignment]


class SqlAuditLog:
    def __init__(self, engine: AsyncEngine, *, timeout: float = DEFAULT_CONNECT_TIMEOUT * 4) -> None:
        self._engine = engine
        self._timeout = timeout

    async def save_audit(self, entry: AuditEntry) -> int:
        row = {
            "at": datetime.fromtimestamp(entry.at, UTC),
            "actor": entry.actor,
            "role": entry.role,
            "action": entry.action,
            "target": entry.target,
            "ok": entry.ok,
            "detail": dict(entry.detail),
        }
        with translate_errors("save audit entry"):
            async with asyncio.timeout(self._timeout), self._engine.begin() as conn:
                result = await conn.execute(insert(_AUDIT).returning(_AUDIT.c.id), row)
                return int(result.scalar_one())

    async def list_audit(
        self, since: float | None = None, actor: str | None = None, limit: int = 200
    ) -> list[AuditEntry]:
        stmt = select(_AUDIT).order_by(_AUDIT.c.at.desc(), _AUDIT.c.id.desc()).limit(max(1, min(limit, 1000)))
        if since is not None:
            stmt = stmt.where(_AUDIT.c.at >= datetime.fromtimestamp(since, UTC))
        if actor is not None:
            stmt = stmt.where(_AUDIT.c.actor == actor)
        with translate_errors("list audit entries"):
            async with asyncio.timeout(self._timeout), self._engine.connect() as conn:
                rows = (await conn.execute(stmt)).mappings().all()
        return [
            AuditEntry(
                id=r["id"],
                at=r["at"].timestamp(),
                actor=r["actor"],
                role=r["role"],
                action=r["action"],
                target=r["target"],
                ok=bool(r["ok"]),
                detail=dict(r["detail"] or {}),
            )
            for r in rows
        ]
