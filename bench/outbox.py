"""The outbox (issue 16): what a stage change costs the request, and delivery throughput.

    .venv/bin/python bench/outbox.py [--cases 200] [--webhooks 1000]

1. A case stage change with notifications on (one e-mail row + one webhook row written to the outbox,
   the status token stored) against notifications off, on a SQLite file: ms per change (what the
   request waits; nothing is sent in it).
2. Webhooks delivered by the worker to a local aiohttp receiver (signed, SQLite outbox): messages/s.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from aiohttp import web  # noqa: E402

from callcenter.domain.customers import CustomerDraft  # noqa: E402
from callcenter.domain.notify import WEBHOOK, OutboxItem  # noqa: E402
from callcenter.domain.users import Role, User  # noqa: E402
from callcenter.notify.webhook import WebhookSender  # noqa: E402
from callcenter.services.cases import CaseService  # noqa: E402
from callcenter.services.crm import CrmService  # noqa: E402
from callcenter.services.notify import Notifier, NotifyOptions  # noqa: E402
from callcenter.services.outbox import OutboxService  # noqa: E402
from callcenter.store.cases import SqlCaseStore  # noqa: E402
from callcenter.store.crm import create_store  # noqa: E402
from callcenter.store.crm_records import SqlCrmRecords  # noqa: E402
from callcenter.store.migrate import migrate  # noqa: E402
from callcenter.store.outbox import SqlOutboxStore  # noqa: E402

USER = User(1, "bench", Role.SUPERVISOR, "Bench")


async def stage_changes(url: str, n: int, notify: bool) -> float:
    store = create_store(url)
    try:
        crm = CrmService(SqlCrmRecords(store.engine))
        cases = CaseService(SqlCaseStore(store.engine), crm)
        if notify:
            box = SqlOutboxStore(store.engine)
            options = NotifyOptions(email=True, webhook_urls=("http://127.0.0.1:9/hook",))
            cases.listeners.append(Notifier(OutboxService(box, {}), crm, box, options).on_case_changed)
        draft = CustomerDraft("Bench", email="b@example.test", phones=(f"+1555{int(notify)}000000",))
        cid = (await crm.records.create_customer(draft, author="b", now=time.time())).id
        ids = []
        for i in range(n):
            body = {"customer_id": cid, "product": "P", "serial": f"S{i}", "fault": "f"}
            ids.append((await cases.create(USER, body)).id)
        started = time.perf_counter()
        for case_id in ids:
            await cases.move(USER, case_id, "warranty_checked")
        return (time.perf_counter() - started) / n * 1000
    finally:
        await store.close()


async def delivery(url: str, n: int) -> float:
    got = 0
    done = asyncio.Event()

    async def hook(request: web.Request) -> web.Response:
        nonlocal got
        await request.read()
        got += 1
        if got >= n:
            done.set()
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    store = create_store(url)
    sender = WebhookSender("secret")
    box = SqlOutboxStore(store.engine)
    outbox = OutboxService(box, {WEBHOOK: sender}, batch=50)
    try:
        now = time.time()
        target = f"http://127.0.0.1:{port}/hook"
        await outbox.enqueue(
            [
                OutboxItem(0, WEBHOOK, "call.ended", target, {"i": i}, next_at=now, created_at=now)
                for i in range(n)
            ]
        )
        started = time.perf_counter()
        while await outbox.run_once():
            pass
        await asyncio.wait_for(done.wait(), 60)
        return n / (time.perf_counter() - started)
    finally:
        await sender.close()
        await store.close()
        await runner.cleanup()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=200)
    parser.add_argument("--webhooks", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        await migrate(url)
        off = await stage_changes(url, args.cases, notify=False)
        on = await stage_changes(url, args.cases, notify=True)
        print(
            f"stage change, notifications off: {off:.2f} ms; on (e-mail + webhook rows, token): {on:.2f} ms"
        )
        url2 = f"sqlite+aiosqlite:///{tmp}/bench2.db"
        await migrate(url2)
        rate = await delivery(url2, args.webhooks)
        print(f"webhooks delivered (SQLite outbox, local receiver): {rate:.0f}/s over {args.webhooks}")


if __name__ == "__main__":
    asyncio.run(main())
