"""The outbox on both backends against real receivers: e-mails to a local SMTP server (aiosmtpd on a free
port, on this loop), signed webhooks to a local aiohttp server; retries with backoff, the delivery log, a
restart in between, giving up, an admin's retry."""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import text

from callcenter.domain.customers import CustomerDraft
from callcenter.domain.notify import Backoff, OutboxStatus, hash_token, verify
from callcenter.domain.tickets import TicketDraft
from callcenter.domain.users import Role, User
from callcenter.notify.smtp import SmtpSender
from callcenter.notify.webhook import WebhookSender
from callcenter.services.cases import CaseService
from callcenter.services.crm import CrmService
from callcenter.services.notify import Notifier, NotifyOptions
from callcenter.services.outbox import OutboxService
from callcenter.store.crm import SqlCrmStore
from callcenter.store.outbox import SqlOutboxStore
from tests.cases.conftest import MONDAY, Clock

AGENT = User(1, "alice", Role.AGENT, "Alice", agent="1001")
SECRET = "s3cret"


@dataclass
class Mailbox:
    messages: list[email.message.EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append(msg)  # type: ignore[arg-type]
        self.envelopes.append((str(envelope.mail_from), list(envelope.rcpt_tos)))
        return "250 OK"


@pytest.fixture
async def smtp() -> AsyncIterator[tuple[Mailbox, int]]:
    box = Mailbox()
    server = await asyncio.get_running_loop().create_server(lambda: SMTP(box), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield box, port
    finally:
        server.close()
        await server.wait_closed()


@dataclass
class Receiver:
    hits: list[dict[str, Any]] = field(default_factory=list)
    fail_first: int = 0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.hits.append({"headers": dict(request.headers), "body": body})
        if len(self.hits) <= self.fail_first:
            return web.Response(status=500, text="not now")
        return web.Response(status=204)


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/hook", rec.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield rec, str(server.make_url("/hook"))
    finally:
        await server.close()


@pytest.fixture
async def outbox_store(sql_store: SqlCrmStore) -> SqlOutboxStore:
    async with sql_store.engine.begin() as conn:  # PostgreSQL keeps the table between tests
        await conn.execute(text("DELETE FROM outbox"))
    return SqlOutboxStore(sql_store.engine)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _setup(
    cases: CaseService, crm: CrmService, store: SqlOutboxStore, clock: Clock, smtp_port: int, hook: str
) -> tuple[OutboxService, Notifier, WebhookSender]:
    webhook = WebhookSender(SECRET)
    smtp_sender = SmtpSender("127.0.0.1", smtp_port, sender="service@example.test", timeout=5)
    outbox = OutboxService(
        store, {"email": smtp_sender, "webhook": webhook}, clock=clock, backoff=Backoff(10, 600, 4)
    )
    notifier = Notifier(
        outbox,
        crm,
        store,
        NotifyOptions(email=True, webhook_urls=(hook,), public_url="https://help.example.test"),
        clock=clock,
    )
    cases.listeners.append(notifier.on_case_changed)
    crm.ticket_listeners.append(notifier.on_ticket_changed)
    return outbox, notifier, webhook


async def _customer(crm: CrmService, email_addr: str) -> int:
    draft = CustomerDraft("Wang Fang", email=email_addr, phones=("+15552010001",))
    return (await crm.records.create_customer(draft, author="t", now=MONDAY)).id


BODY = {"product": "Router X", "serial": "SN-9", "fault": "no power", "purchase_date": "2026-01-10"}


async def test_stage_change_mails_the_customer_in_chinese_and_calls_the_webhook(
    cases: CaseService,
    crm: CrmService,
    outbox_store: SqlOutboxStore,
    clock: Clock,
    smtp: tuple[Mailbox, int],
    receiver: tuple[Receiver, str],
) -> None:
    box, port = smtp
    rec, url = receiver
    outbox, notifier, webhook = await _setup(cases, crm, outbox_store, clock, port, url)
    try:
        cid = await _customer(crm, "wang@example.test")
        case = await cases.create(AGENT, {"customer_id": cid, **BODY, "language": "zh-CN"})
        await cases.move(AGENT, case.id, "warranty_checked", "ok")
        assert box.messages == [] and rec.hits == []  # the request only wrote rows
        assert await outbox.run_once() == 2
        (msg,) = box.messages
        assert msg["To"] == "wang@example.test" and msg["Subject"] == f"您的维修单 {case.number}:已核实保修"
        content = msg.get_content()
        assert "Wang Fang 您好" in content and "https://help.example.test/status/" in content
        token = content.split("/status/")[1].split()[0]
        assert await notifier.case_for_token(token) == case.id
        assert await outbox_store.case_for_token(token, clock.now) is None  # only the hash is stored
        assert await outbox_store.case_for_token(hash_token(token), clock.now + 31 * 86400) is None  # expires
        (hit,) = rec.hits
        headers, body = hit["headers"], hit["body"]
        assert headers["X-Callcenter-Event"] == "case.changed"
        assert verify(SECRET, headers["X-Callcenter-Timestamp"], body, headers["X-Callcenter-Signature"])
        assert not verify("wrong", headers["X-Callcenter-Timestamp"], body, headers["X-Callcenter-Signature"])
        data = json.loads(body)
        assert data["event"] == "case.changed" and data["data"]["stage"] == "warranty_checked"
        assert data["data"]["previous_stage"] == "received"
        sent = await outbox_store.items(status="sent")
        assert {i.kind for i in sent} == {"email", "webhook"} and outbox.stats.sent == 2
        # a ticket's status change: an English mail and a webhook
        ticket = await crm.records.create_ticket(TicketDraft(cid, "Noise"), actor="t", now=MONDAY)
        await crm.update_ticket(ticket.id, {"status": "open"}, actor="alice")
        assert await outbox.run_once() == 2
        assert box.messages[-1]["Subject"] == f"Your request #{ticket.id}: being worked on"
        assert json.loads(rec.hits[-1]["body"])["event"] == "ticket.changed"
    finally:
        await webhook.close()


async def test_failures_retry_with_backoff_survive_a_restart_give_up_and_admin_retry(
    cases: CaseService,
    crm: CrmService,
    outbox_store: SqlOutboxStore,
    clock: Clock,
    receiver: tuple[Receiver, str],
) -> None:
    rec, url = receiver
    rec.fail_first = 1
    dead_smtp = _free_port()  # nothing listens: connection refused
    outbox, _, webhook = await _setup(cases, crm, outbox_store, clock, dead_smtp, url)
    try:
        cid = await _customer(crm, "ann@example.test")
        case = await cases.create(AGENT, {"customer_id": cid, **BODY})
        await cases.move(AGENT, case.id, "warranty_checked")
        assert await outbox.run_once() == 2
        pending = await outbox_store.items(status="pending")
        assert len(pending) == 2 and all(i.attempts == 1 for i in pending)
        assert all(i.next_at == clock.now + 10 for i in pending)  # backoff: 10 s first
        hook_item = next(i for i in pending if i.kind == "webhook")
        mail_item = next(i for i in pending if i.kind == "email")
        assert "HTTP 500" in hook_item.last_error and "SMTP" in mail_item.last_error
        assert await outbox.run_once() == 0  # not due yet
    finally:
        await webhook.close()

    # "restart": a new worker on the same table delivers what is due
    clock.now += 10
    webhook2 = WebhookSender(SECRET)
    smtp_sender = SmtpSender("127.0.0.1", dead_smtp, sender="s@example.test", timeout=2)
    again = OutboxService(
        outbox_store, {"email": smtp_sender, "webhook": webhook2}, clock=clock, backoff=Backoff(10, 600, 3)
    )
    try:
        assert await again.run_once() == 2
        hook_after = await outbox_store.get(hook_item.id)
        assert hook_after is not None and hook_after.status is OutboxStatus.SENT
        log = await outbox_store.attempts(hook_item.id)
        assert [(a.ok, a.status_code) for a in log] == [(False, 500), (True, 204)]
        mail_after = await outbox_store.get(mail_item.id)
        assert mail_after is not None and mail_after.next_at == clock.now + 20  # 10, 20, ...
        clock.now += 20
        assert await again.run_once() == 1
        failed = await outbox_store.get(mail_item.id)
        assert failed is not None and failed.status is OutboxStatus.FAILED and failed.attempts == 3
        assert again.stats.failed == 1
        # an admin retries it (the SMTP server is still down: it fails again, logged)
        assert await again.retry(mail_item.id)
        assert await again.run_once() == 1
        assert len(await outbox_store.attempts(mail_item.id)) == 4
    finally:
        await webhook2.close()


async def test_call_ended_webhook_from_the_sync_hook(
    cases: CaseService,
    crm: CrmService,
    outbox_store: SqlOutboxStore,
    clock: Clock,
    receiver: tuple[Receiver, str],
) -> None:
    from callcenter.domain.calls import CallOutcome, CallRecord

    rec, url = receiver
    outbox, notifier, webhook = await _setup(cases, crm, outbox_store, clock, _free_port(), url)
    try:
        notifier.on_call_finished(
            CallRecord(
                "1796634000.7",
                MONDAY,
                caller_num="5552010001",
                outcome=CallOutcome.ANSWERED,
                ended_at=MONDAY + 60,
            )
        )
        assert rec.hits == []
        assert await outbox.run_once() == 1
        data = json.loads(rec.hits[0]["body"])
        assert data["event"] == "call.ended" and data["data"]["call_id"] == "1796634000.7"
    finally:
        await webhook.close()
