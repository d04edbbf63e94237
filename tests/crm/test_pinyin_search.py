"""Chinese names are found by their pinyin, with or without spaces, and by their initials (on SQLite and
PostgreSQL); the key follows a renamed customer; migration 0014 back-fills the key of existing rows."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from callcenter.domain.customers import CustomerChanges, CustomerDraft, CustomerQuery
from callcenter.domain.name_search import query_key, search_key
from callcenter.store.crm import SqlCrmStore
from callcenter.store.crm_records import SqlCrmRecords
from callcenter.store.engine import make_engine
from callcenter.store.migrate import migrate

T0 = 1_700_000_000.0


def test_search_key() -> None:
    assert search_key("张伟") == "zhangwei zw"
    assert search_key("Ann Able") == ""  # no Chinese: the name itself is searched
    assert "zengxiaoxian" in search_key("曾小贤").split()  # a surname's other reading
    assert "zxx" in search_key("曾小贤").split() and "cengxiaoxian" in search_key("曾小贤").split()
    assert search_key("王芳 Fiona") == "wangfangfiona wffiona"
    assert query_key(" Zhang  Wei ") == "zhangwei" and query_key("%_") == ""


async def _ids(records: SqlCrmRecords, text: str) -> list[int]:
    page = await records.search_customers(CustomerQuery(text=text))
    return [c.id for c in page.customers]


async def test_pinyin_and_initials_find_chinese_names(records: SqlCrmRecords) -> None:
    zhang = (await records.create_customer(CustomerDraft(name="张伟"), author="t", now=T0)).id
    wang = (
        await records.create_customer(CustomerDraft(name="王芳", company="上海贸易"), author="t", now=T0)
    ).id
    ann = (await records.create_customer(CustomerDraft(name="Ann Able"), author="t", now=T0)).id
    await records.create_customer(CustomerDraft(name="李娜"), author="t", now=T0)
    assert await _ids(records, "zhangwei") == [zhang]
    assert await _ids(records, "Zhang Wei") == [zhang]
    assert await _ids(records, "zw") == [zhang]
    assert await _ids(records, "wf") == [wang]
    assert await _ids(records, "张") == [zhang]  # the characters themselves still match
    assert await _ids(records, "上海") == [wang]
    assert await _ids(records, "ann") == [ann]
    assert len(await _ids(records, "lina")) == 1
    assert await _ids(records, "zhou") == []
    await records.update_customer(zhang, CustomerChanges(name="周杰"), now=T0 + 1)
    assert await _ids(records, "zhangwei") == [] and await _ids(records, "zj") == [zhang]


async def test_add_customer_fills_the_key(sql_store: SqlCrmStore, records: SqlCrmRecords) -> None:
    record = await sql_store.add_customer("陈静", ["+86 138 0013 8000"])
    assert await _ids(records, "chenjing") == [record.id]


async def test_migration_backfills_the_key(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/old.db"
    await migrate(url, revision="0013")  # the revision before 0014_i18n
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            for name in ("刘洋", "Bob Baker"):
                await conn.execute(
                    sa.text(
                        "INSERT INTO customers (name, company, email, segment, vip, value_score, notes,"
                        " created_at, updated_at) VALUES (:n, '', '', 'new', 0, 0, '', :t, :t)"
                    ),
                    {"n": name, "t": "2026-12-07 00:00:00"},
                )
        await migrate(url)
        async with engine.connect() as conn:
            rows = (await conn.execute(sa.text("SELECT name, name_search FROM customers ORDER BY id"))).all()
            langs = (await conn.execute(sa.text("SELECT count(*) FROM users WHERE language = ''"))).scalar()
    finally:
        await engine.dispose()
    assert [tuple(r) for r in rows] == [("刘洋", "liuyang ly"), ("Bob Baker", "")]
    assert langs == 0  # no users yet, but the column exists


@pytest.mark.parametrize("text", ["", "   "])
async def test_blank_search_is_everyone(records: SqlCrmRecords, text: str) -> None:
    await records.create_customer(CustomerDraft(name="张伟"), author="t", now=T0)
    assert len(await _ids(records, text)) == 1
