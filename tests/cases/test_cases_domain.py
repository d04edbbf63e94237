"""The RMA case rules (pure): stage machine, warranty, working-day SLA on the IVR's calendar, report."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from callcenter.domain.cases import (
    TRANSITIONS,
    CaseChanges,
    CaseDraft,
    CaseStage,
    InvalidStage,
    SlaPolicy,
    WarrantyPolicy,
    add_months,
    add_working_days,
    apply_changes,
    case_id_of,
    case_report,
    change_stage,
    new_case,
    parse_warranty_months,
    rma_number,
    schedule_of_flows,
)
from callcenter.domain.customers import ValidationError
from callcenter.services.ivr_flows import check_paths
from tests.cases.conftest import CALENDAR, MONDAY

S = CaseStage
SLA = SlaPolicy(schedule=CALENDAR)
HAPPY = [
    S.WARRANTY_CHECKED,
    S.IN_REPAIR,
    S.AWAITING_PARTS,
    S.IN_REPAIR,
    S.REPAIRED,
    S.SHIPPED,
    S.CONFIRMED,
    S.CLOSED,
]


def _case(purchase: date | None = date(2026, 1, 10), product: str = "Router X") -> object:
    draft = CaseDraft(customer_id=1, product=product, serial="SN1", fault="no power", purchase_date=purchase)
    return new_case(draft, actor="alice", now=MONDAY, warranty=WarrantyPolicy(24, {"phone": 12}), sla=SLA)


def test_happy_path_then_reopen() -> None:
    case = _case()
    assert case.stage is S.RECEIVED and case.in_warranty
    t = MONDAY
    for stage in HAPPY:
        t += 3600
        case, event = change_stage(case, stage, actor="bob", now=t, sla=SLA, note="ok")
        assert (event.old, event.new, event.note) == (event.old, stage.value, "ok")
    assert case.stage is S.CLOSED and case.stage_due is None and not case.is_open
    case, _ = change_stage(case, S.RECEIVED, actor="bob", now=t + 1, sla=SLA)  # reopen
    assert case.is_open and case.version == len(HAPPY) + 2


@pytest.mark.parametrize(
    ("start", "wanted"),
    [
        (S.RECEIVED, S.IN_REPAIR),  # skips the warranty check
        (S.RECEIVED, S.REPAIRED),
        (S.WARRANTY_CHECKED, S.SHIPPED),
        (S.IN_REPAIR, S.SHIPPED),
        (S.REPAIRED, S.CONFIRMED),
        (S.SHIPPED, S.CLOSED),
        (S.CLOSED, S.IN_REPAIR),
        (S.RECEIVED, S.RECEIVED),  # staying put is no change
    ],
)
def test_no_skipping(start: CaseStage, wanted: CaseStage) -> None:
    import dataclasses

    case = dataclasses.replace(_case(), stage=start)
    with pytest.raises(InvalidStage) as info:
        change_stage(case, wanted, actor="a", now=MONDAY, sla=SLA)
    assert "allowed:" in info.value.fields["stage"]


def test_every_stage_is_reachable_and_can_end_closed() -> None:
    seen = {S.RECEIVED}
    todo = [S.RECEIVED]
    while todo:
        for nxt in TRANSITIONS[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    assert seen == set(CaseStage)


def test_rejected_needs_a_quote_and_can_be_accepted() -> None:
    case = _case(purchase=date(2020, 1, 1))
    assert not case.in_warranty
    case, _ = change_stage(case, S.WARRANTY_CHECKED, actor="a", now=MONDAY, sla=SLA)
    with pytest.raises(ValidationError) as info:
        change_stage(case, S.REJECTED, actor="a", now=MONDAY, sla=SLA)
    assert "quote" in info.value.fields
    case, _ = change_stage(case, S.REJECTED, actor="a", now=MONDAY, sla=SLA, quote="EUR 80")
    assert case.quote == "EUR 80"
    case, _ = change_stage(case, S.IN_REPAIR, actor="a", now=MONDAY, sla=SLA)  # quote accepted
    assert case.stage is S.IN_REPAIR


def test_warranty_per_product_and_default() -> None:
    policy = WarrantyPolicy(24, parse_warranty_months("Phone=12, router=36"))
    assert policy.warranty_until("phone", date(2025, 12, 8)) == date(2026, 12, 7)
    assert policy.warranty_until("ROUTER", date(2024, 1, 31)) == date(2027, 1, 30)
    assert policy.warranty_until("other", date(2024, 2, 29)) == date(2026, 2, 27)
    assert add_months(date(2025, 1, 31), 1) == date(2025, 2, 28)
    # bought 2025-12-08 with 12 months: the last day is 2026-12-07 (MONDAY): still in warranty
    draft = CaseDraft(1, "phone", "s", "f", purchase_date=date(2025, 12, 8))
    assert new_case(draft, actor="a", now=MONDAY, warranty=policy, sla=SLA).in_warranty
    draft = CaseDraft(1, "phone", "s", "f", purchase_date=date(2025, 12, 7))
    assert not new_case(draft, actor="a", now=MONDAY, warranty=policy, sla=SLA).in_warranty
    with pytest.raises(ValueError):
        parse_warranty_months("phone:12")


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def test_working_days_skip_sunday_and_holidays() -> None:
    # Monday 2026-12-07 09:00 + 5 working days (Saturday is open in the IVR's hours, Sunday not)
    assert _utc(add_working_days(MONDAY, 5, CALENDAR)) == datetime(2026, 12, 12, 9, 0, tzinfo=UTC)
    # Monday 2026-12-21 + 5: Tue 22, Wed 23, Thu 24, (Fri 25 Christmas), Sat 26, (Sun 27), Mon 28
    start = MONDAY + 14 * 86400
    assert _utc(add_working_days(start, 5, CALENDAR)) == datetime(2026, 12, 28, 9, 0, tzinfo=UTC)


def test_sla_of_the_sample_flows_calendar() -> None:
    flows, problems, _ = check_paths(["ivr_flows"])
    assert flows is not None, problems
    schedule = schedule_of_flows([flows.flows[flows.default]])
    assert schedule is not None and schedule.timezone == "Europe/Paris"
    # 2026-12-23 (Wed) 10:00 UTC in repair (5 working days): 24 (closed this year), 25 Christmas, 27 Sunday,
    # 2027-01-01 New Year are skipped: Sat 26, Mon 28, Tue 29, Wed 30, Thu 31
    start = datetime(2026, 12, 23, 10, 0, tzinfo=UTC).timestamp()
    due = SlaPolicy(schedule=schedule).due(S.IN_REPAIR, start)
    assert due is not None and _utc(due) == datetime(2026, 12, 31, 10, 0, tzinfo=UTC)


def test_overdue_and_report() -> None:
    case = _case()
    assert case.stage_due is not None and not case.is_overdue(MONDAY + 3600)
    assert case.is_overdue(case.stage_due + 1)
    case, _ = change_stage(case, S.WARRANTY_CHECKED, actor="a", now=MONDAY, sla=SLA)
    import dataclasses

    other = dataclasses.replace(_case(), id=2)
    report = case_report([case, other], MONDAY + 86400 * 1.5)  # received: 1 day SLA, checked: 2 days
    by_stage = {s.stage: (s.open, s.overdue) for s in report.stages}
    assert by_stage[S.RECEIVED] == (1, 1) and by_stage[S.WARRANTY_CHECKED] == (1, 0)
    assert report.open == 2 and report.overdue == 1 and [c.id for c in report.overdue_cases] == [2]


def test_rma_numbers_round_trip() -> None:
    assert rma_number(42) == "1000042" and case_id_of("1000042") == 42
    assert case_id_of("1000000") is None and case_id_of("12345") is None and case_id_of("12a4567") is None


def test_detail_changes_are_history() -> None:
    case = _case()
    new, events = apply_changes(
        case, CaseChanges(technician="tom", carrier="DHL", tracking="JD0001"), actor="a", now=1
    )
    assert [e.field for e in events] == ["technician", "carrier", "tracking"] and new.version == 2
    same, none = apply_changes(new, CaseChanges(technician="tom"), actor="a", now=2)
    assert none == [] and same is new


def test_sla_days_from_settings() -> None:
    from callcenter.domain.cases import DEFAULT_SLA_DAYS, parse_sla_days

    days = parse_sla_days("in_repair=3, shipped=7")
    assert (
        days[S.IN_REPAIR] == 3 and days[S.SHIPPED] == 7 and days[S.RECEIVED] == DEFAULT_SLA_DAYS[S.RECEIVED]
    )
    for bad in ("in_repair", "nowhere=3", "closed=2", "in_repair=x"):
        with pytest.raises(ValueError):
            parse_sla_days(bad)
