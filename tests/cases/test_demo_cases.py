"""The demo's cases: every stage seeded (two overdue), and their e-mails really sent to the demo's SMTP
sink once the outbox runs; seeding twice adds nothing."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from callcenter.app import Service
from callcenter.config import Secret, Settings
from callcenter.demo import seed_demo
from callcenter.demo_cases import close_mail_sink
from callcenter.domain.cases import CaseQuery, CaseStage
from callcenter.domain.notify import OutboxStatus
from callcenter.store.migrate import migrate


async def test_demo_seeds_every_stage_and_sends_the_mails(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}"
    await migrate(url)
    settings = dataclasses.replace(Settings(), database_url=url, session_secret=Secret("x" * 32))
    service = Service(settings)
    try:
        await seed_demo(service)
        page = await service.cases.search(CaseQuery(limit=50))
        assert {c.stage for c in page.cases} == set(CaseStage)
        report = await service.cases.report()
        assert report.overdue >= 2
        while await service.outbox.run_once():
            pass
        mails = await service.outbox_store.items(kind="email", limit=500)
        assert mails and all(m.status is OutboxStatus.SENT for m in mails)
        assert any("您的维修单" in str(m.payload.get("subject")) for m in mails)
        await seed_demo(service)  # idempotent
        assert (await service.cases.search(CaseQuery(limit=50))).total == page.total
    finally:
        await close_mail_sink(service)
        await service.webhook_sender.close()
        await service.store.close()
