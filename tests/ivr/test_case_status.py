"""The ``case_status`` node on the simulator over real FastAGI (issue 16): the caller's repair cases read
out with SAY DIGITS / SAY DATE, an RMA number typed on the keypad, 0 for an agent with the case for the
screen pop; an unknown number; a wrong RMA number three times; another customer's case never read out."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from callcenter.domain.agi import AgiReply
from callcenter.domain.cases import SlaPolicy
from callcenter.domain.customers import CustomerDraft
from callcenter.domain.ivr import IvrOutcome
from callcenter.domain.users import Role, User
from callcenter.pbx.fastagi import AgiHandler
from callcenter.ports import AgiChannel
from callcenter.services.cases import CaseService, flows_calendar
from callcenter.services.crm import CrmService
from callcenter.store.cases import SqlCaseStore
from callcenter.store.crm import SqlCrmStore, create_store
from callcenter.store.crm_records import SqlCrmRecords
from tests.ivr.harness import OPEN, Clock, FakeRouter, Harness, start_harness, stop_harness
from tests.store.conftest import sqlite_template  # noqa: F401 - fixture

ANN, BOB, NOBODY = "5552010001", "5552010002", "5559999999"
AGENT = User(1, "alice", Role.AGENT, "Alice", agent="1001")


@pytest.fixture
async def store(tmp_path: Path, sqlite_template: Path) -> AsyncIterator[SqlCrmStore]:  # noqa: F811
    path = tmp_path / "cases.db"
    shutil.copyfile(sqlite_template, path)
    crm_store = create_store(f"sqlite+aiosqlite:///{path}")
    try:
        yield crm_store
    finally:
        await crm_store.close()


@pytest.fixture
async def world(store: SqlCrmStore) -> AsyncIterator[tuple[Harness, CaseService, dict[str, Any]]]:
    clock = Clock(OPEN)
    crm = CrmService(SqlCrmRecords(store.engine), clock=clock)
    router = FakeRouter()
    holder: list[Harness] = []
    cases = CaseService(
        SqlCaseStore(store.engine),
        crm,
        sla=SlaPolicy(),
        calendar=flows_calendar(lambda: holder[0].library.current if holder else None),
        clock=clock,
    )
    h = await start_harness(router=router, clock=clock, cases=cases)
    holder.append(h)
    ann = await crm.records.create_customer(
        CustomerDraft("Ann", phones=("+15552010001",)), author="t", now=OPEN
    )
    bob = await crm.records.create_customer(
        CustomerDraft("Bob", phones=("+15552010002",)), author="t", now=OPEN
    )
    body = {"product": "Router X", "serial": "SN1", "fault": "no power", "purchase_date": "2026-01-10"}
    a1 = await cases.create(AGENT, {"customer_id": ann.id, **body})
    for stage in ("warranty_checked", "in_repair"):
        a1 = await cases.move(AGENT, a1.id, stage)
    a2 = await cases.create(AGENT, {"customer_id": ann.id, **body, "serial": "SN2"})
    b1 = await cases.create(AGENT, {"customer_id": bob.id, **body, "serial": "SN3"})
    try:
        yield h, cases, {"a1": a1, "a2": a2, "b1": b1}
    finally:
        await stop_harness(h)


def _said(h: Harness, rec: Any) -> list[str]:
    return h.step(rec, "rma_status")["prompts"]  # type: ignore[no-any-return]


async def test_known_caller_hears_each_open_case(world: tuple[Harness, CaseService, dict[str, Any]]) -> None:
    h, _, c = world
    rec = await h.call("1;3;cc-case-ask:-", ANN)
    a1, a2 = c["a1"], c["a2"]
    assert a1.stage_due is not None and a2.stage_due is not None
    # newest first; in repair: 5 working days of the IVR's calendar
    assert _said(h, rec) == [
        "cc-case-number",
        f"say digits {a2.number}",
        "cc-case-received",
        "cc-case-expected",
        f"say date {int(a2.stage_due)}",
        "cc-case-number",
        f"say digits {a1.number}",
        "cc-case-in-repair",
        "cc-case-expected",
        f"say date {int(a1.stage_due)}",
        "cc-case-ask",
    ]
    assert a1.stage_due - a1.stage_since == 5 * 86400  # Mon 10:00 → Sat 10:00 (Saturday is open in main.yaml)
    assert h.step(rec, "rma_status")["result"] == "read 2 case(s)"
    assert h.nodes(rec)[-2:] == ["rma_status", "goodbye"] and rec.outcome is IvrOutcome.SELF_SERVED


async def test_unknown_number_hears_none(world: tuple[Harness, CaseService, dict[str, Any]]) -> None:
    h, _, c = world
    rec = await h.call("1;3;cc-case-ask:-", NOBODY)
    said = _said(h, rec)
    assert said == ["cc-case-none", "cc-case-ask"]
    # typing a real RMA number from an unknown phone reveals nothing either
    rec = await h.call(f"1;3;cc-case-ask:{c['a1'].number};cc-case-ask:-", NOBODY)
    assert not any(p.startswith("say") for p in _said(h, rec))
    assert h.step(rec, "rma_status")["invalid"] == 1


async def test_wrong_rma_three_times_goes_to_an_agent(
    world: tuple[Harness, CaseService, dict[str, Any]],
) -> None:
    h, _, c = world
    script = "1;3;cc-case-number:#;cc-case-ask:1999999;cc-case-ask:12;cc-case-ask:1888888"
    rec = await h.call(script, ANN)
    step = h.step(rec, "rma_status")
    assert (
        step["invalid"] == 3
        and step["result"] == f"fallback: agent case {c['a2'].id}"
        and step["digits"] == ["1999999", "12", "1888888"]
    )
    assert (
        step["prompts"] == ["cc-case-number"] + ["cc-case-ask", "cc-case-unknown"] * 3
    )  # '#' skipped the reading
    assert h.nodes(rec)[-1] == "rma" and rec.outcome is IvrOutcome.QUEUED
    assert h.router is not None
    request = h.router.requests[-1]
    assert request.queue == "rma" and request.variables["case_id"] == str(c["a2"].id)


async def test_another_customers_case_is_never_read(
    world: tuple[Harness, CaseService, dict[str, Any]],
) -> None:
    h, _, c = world
    b1 = c["b1"]
    rec = await h.call(
        f"1;3;cc-case-number:#;cc-case-ask:{b1.number};cc-case-ask:{c['a1'].number};cc-case-ask:0", ANN
    )
    said = _said(h, rec)
    assert f"say digits {b1.number}" not in said and all(
        str(b1.id) not in p for p in said if p.startswith("say")
    )
    assert said.count("cc-case-unknown") == 1
    assert f"say digits {c['a1'].number}" in said  # their own case, typed: read
    assert h.router is not None
    request = h.router.requests[-1]  # 0: the agent, with the case last heard for the screen pop
    assert (
        request.variables["case_id"] == str(c["a1"].id) and request.variables["case_number"] == c["a1"].number
    )
    assert request.variables["case_stage"] == "in_repair"


async def test_zero_during_say_digits_interrupts_to_an_agent(
    world: tuple[Harness, CaseService, dict[str, Any]],
) -> None:
    h, _, c = world
    rec = await h.call("1;3;say digits:0", ANN)
    step = h.step(rec, "rma_status")
    assert step["result"] == f"agent case {c['a2'].id}"
    assert step["prompts"] == ["cc-case-number", f"say digits {c['a2'].number}"]
    assert h.router is not None and h.router.requests[-1].variables["case_id"] == str(c["a2"].id)
    assert rec.outcome is IvrOutcome.QUEUED


async def test_simulator_answers_say_like_asterisk() -> None:
    """res_agi: SAY DATE takes epoch seconds (else 520 usage), answers 200 result=0 when it played to the
    end, and the ASCII code of an escape digit pressed during it (here 0 during SAY DIGITS: 48)."""
    replies: dict[str, AgiReply] = {}
    lines = ('SAY DATE 1796634000 "0#"', 'SAY DATE tomorrow ""', "SAY DATE", 'SAY DIGITS 1000042 "0#"')

    def wrap(_handler: AgiHandler) -> AgiHandler:
        async def probe(channel: AgiChannel) -> None:
            for line in lines:
                replies[line] = await channel.command(line)
            await channel.hangup()

        return probe

    h = await start_harness(handler_wrap=wrap)
    try:
        h.place("say digits:0", "5550000000")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 20
        while len(replies) < len(lines) and loop.time() < deadline:
            await asyncio.sleep(0.05)
    finally:
        await stop_harness(h)
    assert [(replies[x].code, replies[x].result) for x in lines] == [
        (200, "0"),
        (520, ""),
        (520, ""),
        (200, "48"),
    ]
