"""The missed-call worklist: an abandoned caller with a known number becomes a due work item of the
configured campaign (once while waiting; reopened once closed); anonymous callers and extensions are not."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from callcenter.app import Service
from callcenter.config import Secret
from callcenter.domain.outbound import CampaignStatus, ContactStatus
from tests.dialer.conftest import SUPERVISOR
from tests.support.ami_server import FakeAmiServer


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[Service]:
    async with FakeAmiServer() as pbx:
        settings = dataclasses.replace(
            pbx.settings(),
            database_url=f"sqlite+aiosqlite:///{tmp_path / 'missed.db'}",
            session_secret=Secret("missed-calls-secret-0123456789"),
            missed_calls_campaign="Missed calls",
        )
        svc = Service(settings)
        async with TestClient(TestServer(svc.web_app())):
            yield svc


async def abandoned(svc: Service, number: str, customer_id: int | None = None) -> None:
    event = {
        "type": "call.abandoned",
        "call_id": f"c-{number}",
        "queue": "support",
        "wait": 42.0,
        "caller_num": number,
        "customer_id": customer_id,
    }
    await svc.acd_bus.publish("acd", event)


async def settle(svc: Service, added: int) -> None:
    async with asyncio.timeout(5):
        while svc.missed_calls.stats["added"] + svc.missed_calls.stats["ignored"] < added:
            await asyncio.sleep(0.02)


async def test_abandoned_callers_become_work_items(service: Service) -> None:
    svc = service
    await abandoned(svc, "2025550142")  # no campaign yet: ignored
    await settle(svc, 1)
    queue = sorted(svc.acd.queues)[0]
    campaign = await svc.campaigns.create(
        {"name": "Missed calls", "queue": queue, "mode": "preview"}, SUPERVISOR
    )
    await svc.campaigns.set_status(campaign.id, CampaignStatus.RUNNING, SUPERVISOR)
    await abandoned(svc, "2025550142", 7)
    await abandoned(svc, "(202) 555-0142")  # the same number again: one item
    await abandoned(svc, "anonymous")
    await abandoned(svc, "1001")  # an extension
    await settle(svc, 5)
    (item,) = await svc.outbound_store.list_contacts(campaign.id)
    assert item.number == "+12025550142" and item.status is ContactStatus.PENDING and item.customer_id == 7
    assert item.reason.startswith("missed call in support at ")
    await svc.outbound_store.save_contact(dataclasses.replace(item, status=ContactStatus.DONE, attempts=2))
    await abandoned(svc, "+12025550142")  # closed: reopened
    await settle(svc, 6)
    (again,) = await svc.outbound_store.list_contacts(campaign.id)
    assert again.status is ContactStatus.PENDING and again.attempts == 0
    report = await svc.campaigns.report(campaign.id)
    assert report["contacts"] == {"pending": 1}
