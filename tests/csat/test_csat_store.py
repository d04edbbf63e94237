"""CSAT on SQLite and PostgreSQL: the survey rows, the report sums (checked against the domain's reference
sum), the agent and queue report columns (the same with no, half or full rollup), the QA search filter,
and the low-score rule against the real CRM store."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text

from callcenter.domain.customers import ValidationError
from callcenter.domain.qa_recordings import CallSearch
from callcenter.domain.reports import Granularity, period
from callcenter.domain.surveys import CallSurvey, LowScoreKind, tally
from callcenter.domain.tickets import TicketPriority, TicketStatus
from callcenter.services.crm import CrmService
from callcenter.services.reports import SETTLE, ReportRequest
from callcenter.services.surveys import SurveyService
from callcenter.store.audit import SqlAuditLog
from callcenter.store.crm import SqlCrmStore, create_store
from callcenter.store.crm_records import SqlCrmRecords
from callcenter.store.qa import SqlQaStore
from callcenter.store.surveys import SqlSurveyStore
from tests.reports.seed import DAY, DAY_START, TZ, seed_day
from tests.reports.test_report_rollup import _all_reports, _assert_same, _reset_rollup
from tests.reports.test_reports_crosscheck import _load
from tests.webapp.helpers import make_call

H = 3600.0


@pytest.fixture
async def crm(csat_db_url: str) -> AsyncIterator[SqlCrmStore]:
    store = create_store(csat_db_url)
    try:
        yield store
    finally:
        await store.close()


def _surveys() -> list[CallSurvey]:
    """Ten surveys of the seeded day: agents 1002/1003, queues sales/support, some unanswered."""
    out = []
    plan = [
        ("1002", "sales", 9.1, 5, True),
        ("1002", "sales", 9.3, 4, None),
        ("1002", "support", 10.2, None, None),
        ("1003", "support", 10.25, 2, False),
        ("1003", "support", 11.0, 1, False),
        ("1003", "sales", 11.9, None, None),
        ("1002", "support", 14.5, 3, True),
        ("1003", "support", 15.75, 5, True),
        ("1003", "sales", 16.0, None, None),
        ("1002", "sales", 20.4, 4, True),
    ]
    for i, (agent, queue, hour, score, solved) in enumerate(plan):
        at = DAY_START + hour * H
        answered = at + 20 if score is not None else None
        out.append(CallSurvey(f"sv{i}", agent, queue, "survey", at, score, solved, answered))
    return out


async def _store_surveys(store: SqlSurveyStore, surveys: list[CallSurvey]) -> None:
    for s in surveys:
        assert await store.add_offer(s)
        if s.score is not None:
            assert s.answered_at is not None
            assert await store.set_score(s.call_id, s.score, s.answered_at)
        if s.solved is not None:
            assert await store.set_solved(s.call_id, s.solved)


async def test_survey_rows_round_trip_and_sums_match_the_reference(crm: SqlCrmStore) -> None:
    store = SqlSurveyStore(crm.engine)
    surveys = _surveys()
    await _store_surveys(store, surveys)
    assert not await store.add_offer(surveys[0])  # one survey per call
    assert await store.get_survey("sv0") == surveys[0]
    assert await store.get_survey("sv2") == surveys[2]
    assert await store.get_survey("nope") is None
    day = period("day", DAY, TZ)
    by_agent = await store.csat_tallies(day.since, day.until, "agent")
    for agent in ("1002", "1003"):
        assert by_agent[agent] == tally(s for s in surveys if s.agent == agent)
    by_queue = await store.csat_tallies(day.since, day.until, "queue", agent="1003")
    assert by_queue["support"] == tally(s for s in surveys if s.agent == "1003" and s.queue == "support")
    intervals = await store.csat_tallies(day.since, day.until, "interval", queue="support")
    expected: dict[int, list[CallSurvey]] = {}
    for s in surveys:
        if s.queue == "support":
            expected.setdefault(int(s.offered_at // 900), []).append(s)
    assert intervals == {k: tally(v) for k, v in expected.items()}
    t = by_agent["1002"]
    assert (t.offered, t.answered, t.average, t.response_rate) == (5, 4, 4.0, 0.8)


async def test_a_score_out_of_range_is_refused_and_nothing_is_stored(crm: SqlCrmStore) -> None:
    svc = SurveyService(SqlSurveyStore(crm.engine))
    await svc.offered("c-bad", "1001", "support", "survey")
    for bad in (9, 0, -1, True, 2.5, "3"):
        with pytest.raises(ValidationError):
            await svc.answered("c-bad", bad, None)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        await svc.answered("c-bad", 3, "yes")  # type: ignore[arg-type]
    survey = await svc.for_call("c-bad")
    assert survey is not None and survey.score is None
    assert await svc.for_call("x" * 500) is None
    await svc.answered("never-offered", 4, None)  # nothing to update: logged, no row
    assert await svc.for_call("never-offered") is None


async def test_agent_and_queue_reports_show_csat_with_any_rollup(crm: SqlCrmStore) -> None:
    seed = seed_day()
    svc = await _load(crm, seed)
    svc.csat = SqlSurveyStore(crm.engine)
    surveys = _surveys()
    await _store_surveys(svc.csat, surveys)
    day = period("day", DAY, TZ)
    agents = await svc.run("agents", ReportRequest(day))
    rows = {r["agent"]: r for r in agents.rows}
    assert (rows["1002"]["surveys"], rows["1002"]["csat"], rows["1002"]["csat_rate"]) == (5, 4.0, 0.8)
    assert (rows["1003"]["surveys"], rows["1003"]["csat"], rows["1003"]["csat_rate"]) == (5, 2.67, 0.6)
    assert [c.key for c in agents.columns][-3:] == ["surveys", "csat", "csat_rate"]
    support = await svc.run("agents", ReportRequest(day, queue="support"))
    assert {r["agent"]: r["surveys"] for r in support.rows if r["surveys"]} == {"1002": 2, "1003": 3}
    queue = await svc.run("queue", ReportRequest(day, queue="support", granularity=Granularity.HOUR))
    assert queue.totals is not None
    assert (queue.totals["surveys"], queue.totals["csat"], queue.totals["csat_rate"]) == (5, 2.75, 0.8)
    by_hour = {r["interval"][-5:]: r for r in queue.rows if r["surveys"]}
    assert (by_hour["10:00"]["surveys"], by_hour["10:00"]["csat"]) == (2, 2.0)  # 10:12 unanswered, 10:15 a 2
    # the same with no, half and full rollup (CSAT is read from call_surveys, never from the rollup)
    await _reset_rollup(crm)
    live = await _all_reports(svc)
    assert await svc.rollup(DAY_START + 14 * H + SETTLE, window=5 * H) >= 2
    _assert_same(await _all_reports(svc), live, "half settled")
    await svc.rollup(DAY_START + 3 * 86_400)
    _assert_same(await _all_reports(svc), live, "settled")
    assert live["agents"][0] and any(r["surveys"] for r in live["agents"][0])


async def test_qa_search_filters_on_the_survey_score(crm: SqlCrmStore) -> None:
    for i in range(4):
        call = make_call(f"q{i}", agent="1001", queue="support", started_at=1_700_000_000 + i)
        await crm.save_calls([call])
    store = SqlSurveyStore(crm.engine)
    for i, score in enumerate((5, 2, None)):
        await store.add_offer(CallSurvey(f"q{i}", "1001", "support", "survey", 1_700_000_100.0 + i))
        if score is not None:
            await store.set_score(f"q{i}", score, 1_700_000_200.0)
    qa = SqlQaStore(crm.engine)
    hits = await qa.search_calls(CallSearch())
    assert {h.call_id: h.csat for h in hits.hits} == {"q0": 5, "q1": 2, "q2": None, "q3": None}
    low = await qa.search_calls(CallSearch(max_csat=2))
    assert [h.call_id for h in low.hits] == ["q1"]
    high = await qa.search_calls(CallSearch(min_csat=4, max_csat=5))
    assert [h.call_id for h in high.hits] == ["q0"]


async def test_low_score_reopens_a_resolved_complaint_ticket(crm: SqlCrmStore) -> None:
    crm_svc = CrmService(SqlCrmRecords(crm.engine))
    audit = SqlAuditLog(crm.engine)
    svc = SurveyService(SqlSurveyStore(crm.engine), tickets=crm_svc, audit=audit)
    customer = await crm_svc.create_customer({"name": "Rita Returns"}, actor="t")
    ticket = await crm_svc.create_ticket(
        {"customer_id": customer.id, "subject": "Broken", "category": "complaint", "call_id": "r1"},
        actor="t",
    )
    for status in ("open", "resolved"):
        ticket = await crm_svc.update_ticket(ticket.id, {"status": status}, actor="t")
    # a support call (not the complaints queue) is a complaint through its ticket
    await svc.offered("r1", "1001", "support", "survey")
    await svc.answered("r1", 2, None)
    again = await crm_svc.get_ticket(ticket.id)
    assert (again.status, again.priority) == (TicketStatus.OPEN, TicketPriority.HIGH)
    history = await crm_svc.history(ticket.id)
    assert any(e.field == "status" and e.new == "open" and e.actor == "csat" for e in history)
    entries = [e for e in await audit.list_audit(actor="csat") if e.action == "csat.low_score"]
    assert entries[0].detail["result"] == "reopen" and entries[0].detail["ticket_id"] == ticket.id
    # still open: a second low score on the same ticket changes nothing
    await svc.offered("r2", "1001", "support", "survey")
    async with crm.engine.begin() as conn:
        await conn.execute(text("UPDATE tickets SET call_id = 'r2' WHERE id = :id"), {"id": ticket.id})
    await svc.answered("r2", 1, False)
    survey = await svc.for_call("r2")
    assert survey is not None
    assert (await svc.apply_low_score(survey)).kind is LowScoreKind.ALREADY_OPEN
    # a 3 is not low; a low score outside a complaint does nothing
    await svc.offered("r3", "1001", "support", "survey", customer.id)
    await svc.answered("r3", 1, None)
    survey = await svc.for_call("r3")
    assert survey is not None and (await svc.apply_low_score(survey)).kind is LowScoreKind.NONE
