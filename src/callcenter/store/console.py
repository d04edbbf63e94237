"""Agent console adapter: ``ports.DispositionStore`` on the table ``call_dispositions`` (migration 0005)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from callcenter.domain.calls import CallDisposition
from callcenter.store.engine import translate_errors
from callcenter.store.models import CallDispositionRow

_T: Table = CallDispositionRow.__table__  # type: ignore[assignment]
_MAX_IDS = 500


def _row(d: CallDisposition) -> dict[str, Any]:
    return {
        "call_id": d.call_id,
        "agent": d.agent,
        "code": d.code,
        "note": d.note,
        "queue": d.queue,
        "customer_id": d.customer_id,
        "at": datetime.fromtimestamp(d.at, UTC),
        "author": d.author,
    }


def _disposition(r: Any) -> CallDisposition:
    return CallDisposition(
        call_id=r["call_id"],
        agent=r["agent"],
        code=r["code"],
        note=r["note"],
        queue=r["queue"],
        customer_id=r["customer_id"],
        at=r["at"].timestamp(),
        author=r["author"],
    )


class SqlDispositionStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
        stmt = insert(_T)
        self._upsert = stmt.on_conflict_do_update(
            index_elements=[_T.c.call_id, _T.c.agent],
            set_={c.name: stmt.excluded[c.name] for c in _T.columns if c.name not in ("call_id", "agent")},
        )

    async def save_disposition(self, disposition: CallDisposition) -> None:
        with translate_errors("save_disposition"):
            async with self._engine.begin() as conn:
                await conn.execute(self._upsert, [_row(disposition)])

    async def get_disposition(self, call_id: str, agent: str) -> CallDisposition | None:
        query = select(_T).where(_T.c.call_id == call_id, _T.c.agent == agent)
        with translate_errors("get_disposition"):
            async with self._engine.connect() as conn:
                row = (await conn.execute(query)).mappings().one_or_none()
        return None if row is None else _disposition(row)

    async def dispositions_for_calls(self, call_ids: Sequence[str]) -> list[CallDisposition]:
        ids = list(dict.fromkeys(call_ids))[:_MAX_IDS]
        if not ids:
            return []
        query = select(_T).where(_T.c.call_id.in_(ids)).order_by(_T.c.at)
        with translate_errors("dispositions_for_calls"):
            async with self._engine.connect() as conn:
                rows = (await conn.execute(query)).mappings().all()
        return [_disposition(r) for r in rows]
