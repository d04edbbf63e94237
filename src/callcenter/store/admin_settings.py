"""``services.admin_settings.SettingsStore`` on SQLAlchemy: the ``admin_settings`` table (key → JSON)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, delete, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from callcenter.store.engine import translate_errors
from callcenter.store.models_admin import AdminSettingRow

_SETTINGS: Table = AdminSettingRow.__table__  # type: ignore[assignment]


class SqlAdminSettings:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def load_settings(self) -> dict[str, dict[str, Any]]:
        with translate_errors("load admin settings"):
            async with self._engine.connect() as conn:
                rows = (await conn.execute(select(_SETTINGS.c.key, _SETTINGS.c.value))).all()
        return {str(r[0]): dict(r[1] or {}) for r in rows}

    async def save_setting(self, key: str, value: dict[str, Any], by: str) -> None:
        """Insert or replace one setting (one transaction; the last writer wins)."""
        values = {"value": value, "updated_at": datetime.now(UTC), "updated_by": by}
        with translate_errors("save admin setting"):
            async with self._engine.begin() as conn:
                result = await conn.execute(update(_SETTINGS).where(_SETTINGS.c.key == key).values(values))
                if not result.rowcount:
                    await conn.execute(_SETTINGS.insert().values(key=key, **values))

    async def delete_setting(self, key: str) -> bool:
        with translate_errors("delete admin setting"):
            async with self._engine.begin() as conn:
                result = await conn.execute(delete(_SETTINGS).where(_SETTINGS.c.key == key))
        return bool(result.rowcount)
