"""The demo's service cases (issue 16): RMA cases at every stage, some overdue, and a local SMTP sink.

``seed_demo_cases(service)`` (called once by ``demo.py`` after its own seeding) gives a few demo customers
an e-mail address, opens cases and walks them to every stage (two of them started weeks ago, so they
are overdue on the wallboard card and in ``/api/cases/report``). It starts a local SMTP server
(aiosmtpd, loopback, a free port) and points the service's e-mail sender at it, so the stage changes'
e-mails are really sent; a supervisor sees them under ``GET /api/admin/outbox?kind=email``. Idempotent:
nothing is added when cases exist.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Callable
from typing import Any

from callcenter.app import Service
from callcenter.domain.cases import CaseQuery
from callcenter.domain.errors import CallcenterError
from callcenter.domain.users import Role, User
from callcenter.notify.smtp import SmtpSender

log = logging.getLogger(__name__)

DEMO_USER = User(0, "supervisor", Role.SUPERVISOR, "Supervisor")
_PATHS = {
    "received": [],
    "warranty_checked": ["warranty_checked"],
    "in_repair": ["warranty_checked", "in_repair"],
    "awaiting_parts": ["warranty_checked", "in_repair", "awaiting_parts"],
    "repaired": ["warranty_checked", "in_repair", "repaired"],
    "shipped": ["warranty_checked", "in_repair", "repaired", "shipped"],
    "confirmed": ["warranty_checked", "in_repair", "repaired", "shipped", "confirmed"],
    "closed": ["warranty_checked", "in_repair", "repaired", "shipped", "confirmed", "closed"],
    "rejected": ["warranty_checked", "rejected"],
}
#: (customer index, product, purchase date, final stage, days ago the last stage started, language)
_CASES = [
    (0, "Blender Pro 900", "2025-11-02", "received", 0, "en"),
    (1, "Router AX3000", "2026-02-14", "warranty_checked", 0, "zh-CN"),
    (2, "Phone X2", "2025-06-30", "in_repair", 12, "en"),
    (3, "Phone X2", "2026-03-01", "awaiting_parts", 0, "en"),
    (4, "Router AX3000", "2025-09-09", "repaired", 0, "zh-CN"),
    (5, "Blender Pro 900", "2026-01-20", "shipped", 9, "en"),
    (6, "Headset H1", "2025-12-12", "confirmed", 0, "en"),
    (7, "Headset H1", "2025-10-10", "closed", 0, "en"),
    (8, "Phone X1", "2022-05-05", "rejected", 0, "en"),
]


def _fixed(at: float) -> Callable[[], float]:
    return lambda: at


class MailSink:
    """Keeps what it receives (the demo's "customers' mailbox")."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = envelope.content if isinstance(envelope.content, bytes) else b""
        self.messages.append((str(envelope.mail_from), list(envelope.rcpt_tos), content))
        log.info("demo mail sink: message received", extra={"to": list(envelope.rcpt_tos)})
        return "250 OK"


#: the running sink of each demo service (by ``id``): started once, closed by ``close_mail_sink``
_SINKS: dict[int, asyncio.Server] = {}


async def close_mail_sink(service: Service) -> None:
    server = _SINKS.pop(id(service), None)
    if server is not None:
        server.close()
        await server.wait_closed()


async def start_mail_sink(service: Service) -> asyncio.Server | None:
    if id(service) in _SINKS:
        return _SINKS[id(service)]
    try:
        from aiosmtpd.smtp import SMTP  # a dev extra: without it the demo sends no e-mails
    except ImportError:
        log.warning("aiosmtpd is not installed: the demo's case e-mails stay pending in the outbox")
        return None
    sink = MailSink()
    server = await asyncio.get_running_loop().create_server(lambda: SMTP(sink), "127.0.0.1", 0)
    port = int(server.sockets[0].getsockname()[1])
    service.outbox.senders["email"] = SmtpSender("127.0.0.1", port, sender="service@demo.invalid")
    service.notifier.options = dataclasses.replace(service.notifier.options, email=True)
    log.info("demo mail sink listening", extra={"port": port})
    _SINKS[id(service)] = server
    return server


async def seed_demo_cases(
    service: Service, customers: list[tuple[str, str, str, bool]]
) -> asyncio.Server | None:
    """Seed the cases (once) and start the demo's SMTP sink; the sink (closed with the event loop)."""
    server = None
    if not service.settings.smtp_host:
        server = await start_mail_sink(service)
    cases = service.cases
    if (await cases.search(CaseQuery(limit=1))).total:
        return server
    real_clock = cases.clock
    try:
        for index, product, bought, final, days_ago, language in _CASES:
            customer = await service.crm.by_phone(customers[index][0])
            if customer is None:
                continue
            with contextlib.suppress(CallcenterError, ValueError):
                if not customer.email:
                    address = f"customer{customer.id}@demo.invalid"
                    await service.crm.update_customer(customer.id, {"email": address}, actor="demo")
                now = real_clock()
                data: dict[str, Any] = {
                    "customer_id": customer.id,
                    "product": product,
                    "serial": f"SN{customer.id:05d}{index}",
                    "fault": "Stopped working after a few weeks",
                    "purchase_date": bought,
                    "technician": "tom" if index % 2 else "lin",
                    "repair_mode": "outsourced" if index == 4 else "in_house",
                    "language": language,
                }
                cases.clock = _fixed(now - days_ago * 86400)
                case = await cases.create(DEMO_USER, data)
                for stage in _PATHS[final]:
                    if stage == "shipped":
                        await cases.update(
                            DEMO_USER, case.id, {"carrier": "DHL", "tracking": f"JD{case.id:08d}"}
                        )
                    quote = "EUR 79 (screen and battery)" if stage == "rejected" else ""
                    await cases.move(DEMO_USER, case.id, stage, "demo", quote)
    finally:
        cases.clock = real_clock
    return server
