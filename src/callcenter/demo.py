"""``callcenter demo``: the service and the built-in PBX simulator together on embedded defaults.

One process, one event loop: the simulator serves AMI on a free loopback port and generates customer
calls; the service (SQLite file under ``var/``, in-process state) connects to it exactly as it would to
Asterisk. The demo seeds eight agents, a few hundred customers (some VIPs), and demo logins, printed
at start. Ctrl-C stops the traffic, lets the service flush its records, then stops the simulator.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import signal
from pathlib import Path

from aiohttp import web

from callcenter.app import Service
from callcenter.config import Secret, Settings
from callcenter.demo_cases import seed_demo_cases
from callcenter.demo_center import (
    DEMO_AGENTS,
    DemoCenter,
    DemoTraffic,
    forecast,
    open_around_the_clock,
)
from callcenter.demo_names_zh import demo_customers_zh
from callcenter.domain.errors import StoreError
from callcenter.domain.tickets import TicketQuery
from callcenter.domain.users import Role

log = logging.getLogger(__name__)

DEMO_PASSWORDS = {
    "admin": ("admin-demo-pw", Role.ADMIN, None),
    "supervisor": ("supervisor-demo-pw", Role.SUPERVISOR, None),
    "qa": ("qa-demo-pw", Role.QA, None),
    **{f"agent{a}": (f"agent{a}-demo-pw", Role.AGENT, a) for a in DEMO_AGENTS},
}
_FIRST = (
    "Ana",
    "Ben",
    "Chloé",
    "Dmitri",
    "Eva",
    "Farid",
    "Grete",
    "Hiro",
    "Inès",
    "José",
    "Kofi",
    "Lena",
    "Mateo",
    "Nora",
    "Olek",
    "Priya",
    "Quentin",
    "Rosa",
    "Sven",
    "Tomás",
    "Uma",
    "Viktor",
    "Wen",
    "Yara",
)
_LAST = (
    "Almeida",
    "Bauer",
    "Chen",
    "Dupont",
    "Eriksen",
    "Fischer",
    "García",
    "Haddad",
    "Ivanova",
    "Jensen",
    "Kowalczyk",
    "López",
    "Müller",
    "Nakamura",
    "Okafor",
    "Petrov",
    "Rossi",
    "Schmidt",
    "Tanaka",
    "Weber",
)
_COMPANIES = ("Acme Logistics", "Blue Harbor Foods", "Cobalt Systems", "Delta Clinics", "", "", "")


def demo_customer_numbers(
    count: int = 300, seed: int = 7, *, chinese: int = 120
) -> list[tuple[str, str, str, bool]]:
    """(raw number, name, company, vip) for the seeded customers; same seed, same list. After the
    international customers come ``chinese`` ones with +86 numbers (``demo_names_zh``)."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        number = f"20255{i:05d}"
        name = f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
        out.append((number, name, rng.choice(_COMPANIES), i % 12 == 0))
    return out + demo_customers_zh(chinese)


async def seed_demo(service: Service) -> None:
    """Idempotent: users, agents and customers are only added when missing."""
    store = service.store
    await store.upsert_agents([(a, f"Agent {a}", f"PJSIP/{a}") for a in DEMO_AGENTS])
    for username, (password, role, agent) in DEMO_PASSWORDS.items():
        if await store.get_credentials(username) is None:
            await service.accounts.create_user(
                username, password, role, display_name=username.title(), agent=agent
            )
    customers = demo_customer_numbers()
    if await store.find_customer_by_phone(customers[-1][0]) is None:
        for number, name, company, vip in customers:
            with contextlib.suppress(StoreError, ValueError):
                await store.add_customer(
                    name,
                    [(number, "mobile")],
                    company=company,
                    segment="vip" if vip else "regular",
                    value_score=round(random.Random(number).uniform(0, 100), 1),
                )
    await seed_demo_tickets(service, customers)
    await seed_demo_cases(service, customers)  # RMA cases at every stage, a local SMTP sink (issue 16)


#: (customer index, subject, category, priority, assignee, due in hours (None: no due date), status)
_DEMO_TICKETS = [
    (0, "Invoice shows the wrong VAT rate", "inquiry", "normal", "1001", None, "open"),
    (1, "Courier left the parcel at the wrong address", "complaint", "high", "1002", -30.0, "open"),
    (2, "Return: blender stopped after a week (RMA)", "after_sales", "normal", "1003", 48.0, "pending"),
    (3, "Call back about the renewal offer", "follow_up", "normal", "1001", -1.0, "new"),
    (4, "Check the replacement arrived", "follow_up", "low", "1002", -0.5, "open"),
    (5, "Call back: VIP contract review", "follow_up", "urgent", "1001", 20.0, "new"),
    (12, "Damaged goods on delivery", "complaint", "urgent", "supervisor", -4.0, "open"),
]


async def seed_demo_tickets(service: Service, customers: list[tuple[str, str, str, bool]]) -> None:
    """A few open tickets and due follow-up calls, added once (when there are no tickets yet)."""
    crm = service.crm
    if (await crm.list_tickets(TicketQuery(limit=1))).total:
        return
    now = crm.now()
    for index, subject, category, priority, assignee, due_hours, status in _DEMO_TICKETS:
        customer = await crm.by_phone(customers[index][0])
        if customer is None:
            continue
        data: dict[str, object] = {
            "subject": subject,
            "category": category,
            "priority": priority,
            "assignee": assignee,
        }
        if due_hours is not None:
            data["due_at"] = now + due_hours * 3600
        with contextlib.suppress(StoreError, ValueError):
            ticket = await crm.create_ticket(data, actor="supervisor", customer_id=customer.id)
            if status in ("open", "pending"):
                await crm.update_ticket(ticket.id, {"status": "open"}, actor=assignee)
            if status == "pending":
                await crm.update_ticket(ticket.id, {"status": "pending"}, actor=assignee)


def print_banner(settings: Settings, sim_port: int) -> None:
    url = f"http://{settings.http_host}:{settings.http_port}/"
    lines = [
        "",
        "  callcenter demo is running",
        f"    web        {url}",
        f"    health     {url}healthz",
        f"    PBX (sim)  AMI on 127.0.0.1:{sim_port}, {len(DEMO_AGENTS)} simulated agent phones",
        f"    database   {settings.database_url}",
        "  demo logins (user / password):",
    ]
    lines += [
        f"    {u:<12} {p:<18} {r.value}"
        for u, (p, r, _) in DEMO_PASSWORDS.items()
        if not u.startswith("agent1")
    ]
    lines += [
        f"    agent1001..agent{DEMO_AGENTS[-1]}  agent<id>-demo-pw  agent",
        "  Ctrl-C stops the demo.",
        "",
    ]
    print("\n".join(lines), flush=True)


async def run_demo(settings: Settings, *, rate: float | None = None, seed: int = 1) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    traffic = DemoTraffic() if rate is None else DemoTraffic(rate=rate)
    flows = Path(settings.ivr_flows_dir)
    if settings.ivr_flows_dir == Settings().ivr_flows_dir and await asyncio.to_thread(flows.is_dir):
        # the demo's center is open around the clock (a copy of the flows, hours 24/7)
        opened = await asyncio.to_thread(open_around_the_clock, flows, Path("var/demo-flows"))
        settings = dataclasses.replace(settings, ivr_flows_dir=str(opened))
    async with DemoCenter(settings, traffic=traffic, seed=seed) as center:
        service, settings = center.service, center.settings
        assert service is not None
        runner = web.AppRunner(service.web_app(), access_log=None)
        await runner.setup()
        try:
            site = web.TCPSite(runner, settings.http_host, settings.http_port)
            await site.start()
            await center.start()
            print_banner(settings, center.sim.ami_port)
            for queue, f in forecast(traffic).items():
                log.info("demo staffing (Erlang C)", extra={"queue": queue, **f})
            await stop.wait()
            log.info("stopping the demo")
            await center.stop()
        finally:
            await runner.cleanup()
        print(f"simulator: {center.sim.report().format()}", flush=True)


def demo_settings(settings: Settings) -> Settings:
    """The demo's defaults on top of the user's settings: its own SQLite file unless one is chosen."""
    if settings.database_url == Settings().database_url:
        settings = dataclasses.replace(settings, database_url="sqlite+aiosqlite:///var/demo.db")
    if not settings.session_secret:
        settings = dataclasses.replace(settings, session_secret=Secret("callcenter-demo-only-not-secret"))
    return settings
