"""The ``admin_settings`` table (migration 0016) on SQLite and PostgreSQL: insert, replace, delete."""

from __future__ import annotations

from callcenter.store.admin_settings import SqlAdminSettings
from callcenter.store.engine import make_engine

KEY = "test.admin_settings_store"


async def test_save_replace_load_delete(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        store = SqlAdminSettings(engine)
        await store.delete_setting(KEY)  # the PostgreSQL database is shared by the session
        assert KEY not in await store.load_settings()
        value = {"nodes": {"main/hours": {"timezone": "Asia/Shanghai", "holidays": [{"date": "10-01"}]}}}
        await store.save_setting(KEY, value, "admin:ada")
        assert (await store.load_settings())[KEY] == value
        await store.save_setting(KEY, {"phones": {"sam": "PJSIP/2001"}, "default": ""}, "admin:bob")
        loaded = await store.load_settings()
        assert loaded[KEY] == {"phones": {"sam": "PJSIP/2001"}, "default": ""}  # replaced, one row
        assert await store.delete_setting(KEY)
        assert not await store.delete_setting(KEY)
        assert KEY not in await store.load_settings()
    finally:
        await engine.dispose()
