"""``store/outbound.py`` on SQLite and PostgreSQL (migrated with 0015): campaigns, contacts (claims are
guarded: a contact is dialled by one dialer), attempts, the do-not-call list, counts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace

import asyncpg
import pytest

from callcenter.domain.errors import DuplicateError, NotFound
from callcenter.domain.outbound import (
    Attempt,
    AttemptResult,
    Campaign,
    CampaignStatus,
    ContactDraft,
    ContactStatus,
    DialMode,
    DncEntry,
    OutcomeCode,
)
from callcenter.store.crm import SqlCrmStore, create_store
from callcenter.store.outbound import SqlOutboundStore
from tests.store.conftest import db_url, pg, sqlite_template  # noqa: F401 - fixtures

TABLES = "outbound_attempts, outbound_contacts, outbound_campaigns, dnc_numbers"


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[SqlOutboundStore]:  # noqa: F811
    if db_url.startswith("postgresql"):
        server, name = db_url.replace("postgresql+asyncpg://", "postgresql://").rsplit("/", 1)
        conn = await asyncpg.connect(f"{server}/{name}", timeout=3)
        try:
            await conn.execute(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE")
        finally:
            await conn.close()
    crm: SqlCrmStore = create_store(db_url)
    try:
        yield SqlOutboundStore(crm.engine)
    finally:
        await crm.close()


def campaign(name: str = "Win back") -> Campaign:
    return Campaign(
        id=0,
        name=name,
        queue="sales",
        mode=DialMode.PREDICTIVE,
        outcomes=(OutcomeCode("sale", "Sale"), OutcomeCode("later", closes=False, retry_after=60)),
        created_by="sam",
        created_at=100.0,
        updated_at=100.0,
    )


async def test_campaigns(store: SqlOutboundStore) -> None:
    created = await store.create_campaign(campaign())
    assert created.id > 0 and created.name == "Win back" and created.mode is DialMode.PREDICTIVE
    assert created.outcome("later") == OutcomeCode("later", "", False, 60.0)
    with pytest.raises(DuplicateError):
        await store.create_campaign(campaign())
    running = replace(created, status=CampaignStatus.RUNNING, script="Hello <b>")
    await store.save_campaign(running)
    assert await store.get_campaign(created.id) == running
    assert [c.id for c in await store.list_campaigns()] == [created.id]
    assert await store.get_campaign(999) is None
    with pytest.raises(NotFound):
        await store.save_campaign(replace(running, id=999))


async def test_contacts_claims_and_attempts(store: SqlOutboundStore) -> None:
    c = await store.create_campaign(campaign())
    drafts = [ContactDraft(f"+1202555{i:04d}", name=f"N{i}") for i in range(6)]
    assert await store.add_contacts(c.id, drafts, 10.0) == 6
    assert await store.add_contacts(c.id, drafts[:2], 11.0) == 0  # already in the campaign
    # two dialers claim at once: every contact goes to exactly one of them
    a, b = await asyncio.gather(
        store.claim_contacts(c.id, 20.0, 4, lambda ct: True),
        store.claim_contacts(c.id, 20.0, 4, lambda ct: True),
    )
    ids = [x.id for x in a + b]
    assert len(ids) == len(set(ids)) == 6
    assert all(x.status is ContactStatus.DIALING for x in a + b)
    assert await store.claim_contacts(c.id, 20.0, 4, lambda ct: True) == []
    first = (a + b)[0]
    await store.save_contact(replace(first, status=ContactStatus.PENDING, due_at=500.0, attempts=1))
    assert await store.claim_contacts(c.id, 499.0, 1, lambda ct: True) == []  # not due yet
    assert await store.claim_contacts(c.id, 501.0, 1, lambda ct: ct.number != first.number) == []
    (again,) = await store.claim_contacts(c.id, 501.0, 1, lambda ct: True, agent="1001")
    assert again.id == first.id and again.agent == "1001"
    assert await store.contact_for_agent(c.id, "1001") == again
    attempt = await store.add_attempt(
        Attempt(
            id=0, campaign_id=c.id, contact_id=again.id, number=again.number, started_at=501.0, call_id="ob-1"
        )
    )
    done = replace(
        attempt, result=AttemptResult.CONNECTED, ended_at=560.0, connected_at=505.0, outcome="sale"
    )
    await store.save_attempt(done)
    assert await store.get_attempt(attempt.id) == done
    await store.add_attempt(
        Attempt(0, c.id, again.id, again.number, 600.0, AttemptResult.BUSY, reason=5, ended_at=601.0)
    )
    counts = await store.campaign_counts(c.id)
    assert counts["results"] == {"connected": 1, "busy": 1}
    assert counts["outcomes"] == {"sale": 1}
    assert counts["contacts"] == {"dialing": 6}
    assert [x.result for x in await store.list_attempts(c.id)] == [
        AttemptResult.BUSY,
        AttemptResult.CONNECTED,
    ]


async def test_do_not_call(store: SqlOutboundStore) -> None:
    entry = DncEntry("+12025550109", "ivr", "caller", 5.0, "pressed 9")
    assert await store.add_dnc(entry) is True
    assert await store.add_dnc(replace(entry, source="admin")) is False
    assert await store.dnc_numbers(["+12025550109", "+12025550110"]) == {"+12025550109"}
    assert await store.list_dnc() == [entry]
    assert await store.remove_dnc("+12025550109") is True
    assert await store.remove_dnc("+12025550109") is False
    assert await store.dnc_numbers(["+12025550109"]) == set()
