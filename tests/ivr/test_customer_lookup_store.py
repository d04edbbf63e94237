"""The per-call customer lookup's SQL (``store/customer_lookup.py``) gives the CRM's own answer, on SQLite
and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from callcenter.domain.customers import CustomerDraft, Segment
from callcenter.store.crm import SqlCrmStore, create_store
from callcenter.store.crm_records import SqlCrmRecords
from callcenter.store.customer_lookup import SqlCustomerLookup
from tests.store.conftest import db_url, pg, sqlite_template  # noqa: F401 - fixtures

T0 = 1_780_000_000.0


@pytest.fixture
async def sql_store(db_url: str) -> AsyncIterator[SqlCrmStore]:  # noqa: F811 - the imported fixture
    store = create_store(db_url)
    try:
        yield store
    finally:
        await store.close()


async def test_lookup_by_phone_and_id_equals_the_crm_records(sql_store: SqlCrmStore) -> None:
    records = SqlCrmRecords(sql_store.engine)
    drafts = [
        CustomerDraft(
            "Ann Archer",
            "Acme",
            "ann@acme.example",
            Segment.VIP,
            90,
            ("+15552010001", "+442079460958", "+15552010003"),
            ("key-account", "gold", "alpha"),
        ),
        CustomerDraft("Chloé Chen", "", "", Segment.NEW, 5, ("+15552010002",)),
        CustomerDraft("No Phone", tags=("gold",)),
    ]
    ids = [(await records.create_customer(d, author="t", now=T0 + i)).id for i, d in enumerate(drafts)]
    lookup = SqlCustomerLookup(sql_store.engine)
    for number in ("+442079460958", "5552010001", "(555) 201-0003", "+15552010002"):
        assert await lookup.by_phone(number) == await records.customer_by_phone(number), number
    for customer_id in [*ids, 999_999]:
        assert await lookup.find(customer_id) == await records.get_customer(customer_id), customer_id
    ann = await lookup.by_phone("+15552010003")
    assert ann is not None and ann.phones[0] == "+15552010001"
    assert ann.tags == ("alpha", "gold", "key-account")
    assert await lookup.by_phone("+15550000000") is None
    assert await lookup.by_phone("not a number") is None
