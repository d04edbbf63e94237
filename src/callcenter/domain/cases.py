"""Service cases (RMA): a customer's repair request, its stages, warranty and per-stage SLA (issue 16).

Pure: no I/O. Stage rules (``TRANSITIONS``)::

    received ─▶ warranty_checked ─▶ in_repair ⇄ awaiting_parts
                     │                  │            │
                     ▼                  ▼            ▼
                 rejected ─(quote   repaired ◀───────┘
                     │   accepted)─▶ in_repair
                     ▼              repaired ─▶ shipped ─▶ confirmed ─▶ closed
                   closed                                              │
                     └────────────── reopen: closed → received ◀───────┘

- no stage may be skipped (``received → repaired`` is refused, naming the allowed next stages);
- ``rejected`` is for a device out of warranty: it carries a quote; the customer may accept it
  (``rejected → in_repair``) or the case is closed;
- a reopen (``closed → received``) starts the flow again; the history keeps every step.

Each stage has an SLA in *working days* (``SlaPolicy``): a working day is a weekday on which the
center is open in the IVR's business-hours ``Schedule`` and that is not one of its holidays. A case whose
current stage started more than its SLA ago (``stage_due`` in the past) is *overdue*.

Warranty: ``purchase_date`` plus the product's warranty months (``WarrantyPolicy``, a default for the
others); the case is in warranty when it was received on or before the last day of warranty.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from callcenter.domain.customers import MAX_NOTE, ValidationError
from callcenter.domain.ivr import HoursNode, Schedule
from callcenter.domain.tickets import InvalidTransition

MAX_TEXT = 200
MAX_FAULT = 4000
#: RMA numbers are 7 digits (what the IVR collects): ``RMA_BASE + id``.
RMA_BASE = 1_000_000
RMA_DIGITS = 7


class CaseStage(StrEnum):
    RECEIVED = "received"
    WARRANTY_CHECKED = "warranty_checked"
    IN_REPAIR = "in_repair"
    AWAITING_PARTS = "awaiting_parts"
    REPAIRED = "repaired"
    SHIPPED = "shipped"
    CONFIRMED = "confirmed"
    CLOSED = "closed"
    REJECTED = "rejected"


class RepairMode(StrEnum):
    IN_HOUSE = "in_house"
    OUTSOURCED = "outsourced"


S = CaseStage
TRANSITIONS: dict[CaseStage, frozenset[CaseStage]] = {
    S.RECEIVED: frozenset({S.WARRANTY_CHECKED}),
    S.WARRANTY_CHECKED: frozenset({S.IN_REPAIR, S.REJECTED}),
    S.IN_REPAIR: frozenset({S.AWAITING_PARTS, S.REPAIRED}),
    S.AWAITING_PARTS: frozenset({S.IN_REPAIR, S.REPAIRED}),
    S.REPAIRED: frozenset({S.SHIPPED}),
    S.SHIPPED: frozenset({S.CONFIRMED}),
    S.CONFIRMED: frozenset({S.CLOSED}),
    S.REJECTED: frozenset({S.IN_REPAIR, S.CLOSED}),
    S.CLOSED: frozenset({S.RECEIVED}),  # reopen
}
#: Stages in which the case is finished (no SLA, not "open" for the customer).
DONE: frozenset[CaseStage] = frozenset({S.CLOSED})
STAGE_ORDER: tuple[CaseStage, ...] = tuple(CaseStage)

#: Default SLA per stage, in working days (a stage not listed has none).
DEFAULT_SLA_DAYS: Mapping[CaseStage, int] = {
    S.RECEIVED: 1,
    S.WARRANTY_CHECKED: 2,
    S.IN_REPAIR: 5,
    S.AWAITING_PARTS: 10,
    S.REPAIRED: 1,
    S.SHIPPED: 5,
    S.CONFIRMED: 2,
    S.REJECTED: 10,
}


class InvalidStage(InvalidTransition):
    """A stage change the rules refuse (a ``ValidationError`` on the field ``stage``; HTTP 409)."""

    def __init__(self, current: CaseStage, wanted: CaseStage) -> None:
        choices = ", ".join(s.value for s in allowed_next(current)) or "none"
        ValidationError.__init__(
            self, {"stage": f"cannot move a case from {current.value} to {wanted.value}; allowed: {choices}"}
        )
        self.current_stage = current
        self.wanted_stage = wanted


def allowed_next(stage: CaseStage) -> tuple[CaseStage, ...]:
    targets = TRANSITIONS[stage]
    return tuple(s for s in STAGE_ORDER if s in targets)


def check_stage(current: CaseStage, wanted: CaseStage) -> None:
    """Raise ``InvalidStage`` unless ``current → wanted`` is allowed (staying put is refused too)."""
    if wanted not in TRANSITIONS[current]:
        raise InvalidStage(current, wanted)


# ----------------------------------------------------------------------------------------- warranty


def add_months(day: date, months: int) -> date:
    """``day`` plus ``months`` calendar months (the 31st becomes the month's last day)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    for last in (31, 30, 29, 28):
        try:
            return date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise ValueError("unreachable")  # pragma: no cover


@dataclass(frozen=True, slots=True)
class WarrantyPolicy:
    default_months: int = 24
    per_product: Mapping[str, int] = field(default_factory=dict)  # product (lower case) → months

    def months_for(self, product: str) -> int:
        return self.per_product.get(product.strip().lower(), self.default_months)

    def warranty_until(self, product: str, purchase: date) -> date:
        """The last day of warranty."""
        return add_months(purchase, self.months_for(product)) - timedelta(days=1)


def parse_warranty_months(raw: str) -> dict[str, int]:
    """``"phone-x=12,router=36"`` → ``{"phone-x": 12, "router": 36}`` (ValueError on bad input)."""
    out: dict[str, int] = {}
    for part in raw.split(","):
        if not part.strip():
            continue
        name, sep, months = part.partition("=")
        if not sep or not name.strip() or not months.strip().isdigit():
            raise ValueError(f"expected product=months, got {part.strip()!r}")
        out[name.strip().lower()] = int(months)
    return out


# ----------------------------------------------------------------------------------------- SLA


def parse_sla_days(raw: str) -> dict[CaseStage, int]:
    """The default SLA with ``"in_repair=5,shipped=3"`` applied (working days; ValueError on bad input)."""
    days = dict(DEFAULT_SLA_DAYS)
    for part in raw.split(","):
        if not part.strip():
            continue
        name, sep, value = part.partition("=")
        try:
            stage = CaseStage(name.strip().lower())
        except ValueError:
            raise ValueError(f"unknown stage {name.strip()!r}") from None
        if not sep or not value.strip().isdigit() or stage in DONE:
            raise ValueError(f"expected stage=working days, got {part.strip()!r}")
        days[stage] = int(value)
    return days


def is_working_day(day: date, schedule: Schedule) -> bool:
    """Open at some hour that weekday, and not a holiday."""
    if any(h.matches(day) for h in schedule.holidays):
        return False
    return bool(schedule.weekly[day.weekday()])


def add_working_days(start: float, days: int, schedule: Schedule) -> float:
    """The moment ``days`` working days after ``start`` (epoch seconds): the same local time of day on
    the ``days``-th working day after the start's local date (non-working days are skipped)."""
    zone = ZoneInfo(schedule.timezone)
    local = datetime.fromtimestamp(start, UTC).astimezone(zone)
    day = local.date()
    if not any(schedule.weekly):  # a calendar with no open day: count calendar days
        return start + days * 86400.0
    left = days
    guard = 0
    while left > 0:
        day += timedelta(days=1)
        guard += 1
        if guard > 3660:  # ten years of holidays: a broken calendar
            raise ValueError("no working day in ten years")
        if is_working_day(day, schedule):
            left -= 1
    due = datetime.combine(day, local.time().replace(tzinfo=None)).replace(tzinfo=zone)
    return due.timestamp()


def office_schedule() -> Schedule:
    """Monday to Friday, no holidays, UTC: the calendar when no IVR flow defines business hours."""
    day = ((time(8, 0), time(18, 0)),)
    return Schedule("UTC", (day,) * 5 + ((), ()))


def schedule_of_flows(flows: Iterable[object]) -> Schedule | None:
    """The business-hours calendar of the IVR: the first ``hours`` node's schedule of ``flows``
    (``domain.ivr.Flow`` objects, the default flow first)."""
    for flow in flows:
        for node in getattr(flow, "nodes", {}).values():
            if isinstance(node, HoursNode):
                return node.schedule
    return None


@dataclass(frozen=True, slots=True)
class SlaPolicy:
    schedule: Schedule = field(default_factory=office_schedule)
    days: Mapping[CaseStage, int] = field(default_factory=lambda: dict(DEFAULT_SLA_DAYS))

    def due(self, stage: CaseStage, since: float) -> float | None:
        days = self.days.get(stage)
        if days is None or stage in DONE:
            return None
        return add_working_days(since, days, self.schedule)


# ----------------------------------------------------------------------------------------- the case


@dataclass(frozen=True, slots=True)
class RmaCase:
    id: int
    customer_id: int
    product: str
    serial: str
    purchase_date: date | None
    warranty_until: date | None
    in_warranty: bool
    fault: str
    stage: CaseStage = S.RECEIVED
    stage_since: float = 0.0
    stage_due: float | None = None
    technician: str | None = None
    repair_mode: RepairMode = RepairMode.IN_HOUSE
    carrier: str = ""
    tracking: str = ""
    quote: str = ""
    language: str = "en"
    created_by: str = ""
    created_at: float = 0.0
    updated_at: float = 0.0
    version: int = 1

    @property
    def number(self) -> str:
        return rma_number(self.id)

    def is_overdue(self, now: float) -> bool:
        return self.stage_due is not None and self.stage_due < now and self.stage not in DONE

    @property
    def is_open(self) -> bool:
        return self.stage not in DONE


def rma_number(case_id: int) -> str:
    return str(RMA_BASE + case_id)


def case_id_of(number: str) -> int | None:
    """The case id of a 7-digit RMA number, or None."""
    text = number.strip()
    if len(text) != RMA_DIGITS or not text.isdigit():
        return None
    value = int(text) - RMA_BASE
    return value if value > 0 else None


@dataclass(frozen=True, slots=True)
class CaseDraft:
    customer_id: int
    product: str
    serial: str
    fault: str
    purchase_date: date | None = None
    technician: str | None = None
    repair_mode: RepairMode = RepairMode.IN_HOUSE
    language: str = "en"


@dataclass(frozen=True, slots=True)
class CaseChanges:
    """Details edited without a stage change. ``None`` keeps a field; ``technician=""`` unassigns."""

    technician: str | None = None
    repair_mode: RepairMode | None = None
    carrier: str | None = None
    tracking: str | None = None
    quote: str | None = None
    fault: str | None = None

    def is_empty(self) -> bool:
        return all(getattr(self, f.name) is None for f in dataclasses.fields(self))


@dataclass(frozen=True, slots=True)
class CaseEvent:
    """One history entry: ``field`` went from ``old`` to ``new`` (``stage`` entries are the stage history;
    ``created``: new is the first stage)."""

    case_id: int
    at: float
    actor: str
    field: str
    old: str | None
    new: str | None
    note: str = ""


@dataclass(frozen=True, slots=True)
class CaseLink:
    case_id: int
    kind: str  # "call" (a Linkedid) | "ticket" (a ticket id)
    ref: str
    at: float = 0.0


LINK_KINDS = ("call", "ticket")


@dataclass(frozen=True, slots=True)
class CaseQuery:
    stages: tuple[CaseStage, ...] = ()
    customer_id: int | None = None
    technician: str | None = None
    open_only: bool = False
    overdue: bool | None = None
    now: float = 0.0
    limit: int = 50
    offset: int = 0


@dataclass(frozen=True, slots=True)
class CasePage:
    cases: tuple[RmaCase, ...]
    total: int
    limit: int
    offset: int


def new_case(
    draft: CaseDraft, *, actor: str, now: float, warranty: WarrantyPolicy, sla: SlaPolicy
) -> RmaCase:
    """The case as received (id 0 until stored)."""
    until = (
        None if draft.purchase_date is None else warranty.warranty_until(draft.product, draft.purchase_date)
    )
    received = datetime.fromtimestamp(now, UTC).date()
    return RmaCase(
        id=0,
        customer_id=draft.customer_id,
        product=draft.product,
        serial=draft.serial,
        purchase_date=draft.purchase_date,
        warranty_until=until,
        in_warranty=until is not None and received <= until,
        fault=draft.fault,
        stage=S.RECEIVED,
        stage_since=now,
        stage_due=sla.due(S.RECEIVED, now),
        technician=draft.technician,
        repair_mode=draft.repair_mode,
        language=draft.language,
        created_by=actor,
        created_at=now,
        updated_at=now,
    )


def change_stage(
    case: RmaCase,
    wanted: CaseStage,
    *,
    actor: str,
    now: float,
    sla: SlaPolicy,
    note: str = "",
    quote: str = "",
) -> tuple[RmaCase, CaseEvent]:
    """The case in stage ``wanted`` and its history entry. Raises ``InvalidStage``; moving to
    ``rejected`` needs a quote (``ValidationError`` on ``quote``)."""
    check_stage(case.stage, wanted)
    quote = quote.strip()[:MAX_TEXT]
    if wanted is S.REJECTED and not (quote or case.quote):
        raise ValidationError({"quote": "a rejected (out of warranty) case needs a quote"})
    new = dataclasses.replace(
        case,
        stage=wanted,
        stage_since=now,
        stage_due=sla.due(wanted, now),
        quote=quote or case.quote,
        updated_at=now,
        version=case.version + 1,
    )
    event = CaseEvent(case.id, now, actor, "stage", case.stage.value, wanted.value, note.strip()[:MAX_NOTE])
    return new, event


def apply_changes(
    case: RmaCase, changes: CaseChanges, *, actor: str, now: float
) -> tuple[RmaCase, list[CaseEvent]]:
    events: list[CaseEvent] = []
    values: dict[str, object] = {}
    for name in ("technician", "repair_mode", "carrier", "tracking", "quote", "fault"):
        wanted = getattr(changes, name)
        if wanted is None:
            continue
        if name == "technician":
            wanted = wanted or None
        old = getattr(case, name)
        if wanted != old:
            values[name] = wanted
            events.append(CaseEvent(case.id, now, actor, name, _text(old), _text(wanted)))
    if not events:
        return case, []
    return dataclasses.replace(case, **values, updated_at=now, version=case.version + 1), events  # type: ignore[arg-type]


def _text(value: object) -> str | None:
    if value is None:
        return None
    return str(value.value) if isinstance(value, StrEnum) else str(value)


def created_event(case: RmaCase) -> CaseEvent:
    return CaseEvent(case.id, case.created_at, case.created_by, "created", None, case.stage.value)


def clean_text(raw: str, what: str, *, limit: int = MAX_TEXT, required: bool = False) -> str:
    text = " ".join(str(raw).split())
    if required and not text:
        raise ValidationError({what: "required"})
    if len(text) > limit:
        raise ValidationError({what: f"at most {limit} characters"})
    return text


def parse_day(raw: str, what: str = "purchase_date") -> date:
    try:
        return date.fromisoformat(str(raw).strip())
    except ValueError:
        raise ValidationError({what: "a date YYYY-MM-DD"}) from None


def parse_stage(raw: str) -> CaseStage:
    try:
        return CaseStage(str(raw).strip().lower())
    except ValueError:
        choices = ", ".join(s.value for s in CaseStage)
        raise ValidationError({"stage": f"unknown stage {str(raw)[:40]!r}; one of {choices}"}) from None


# ----------------------------------------------------------------------------------------- report


@dataclass(frozen=True, slots=True)
class StageCount:
    stage: CaseStage
    open: int
    overdue: int


@dataclass(frozen=True, slots=True)
class CaseReport:
    at: float
    stages: tuple[StageCount, ...]
    overdue_cases: tuple[RmaCase, ...]

    @property
    def open(self) -> int:
        return sum(s.open for s in self.stages)

    @property
    def overdue(self) -> int:
        return sum(s.overdue for s in self.stages)


def case_report(cases: list[RmaCase], now: float) -> CaseReport:
    """Open and overdue cases per stage (``cases``: the open cases)."""
    counts = {stage: [0, 0] for stage in STAGE_ORDER if stage not in DONE}
    overdue: list[RmaCase] = []
    for case in cases:
        if case.stage in DONE:
            continue
        counts[case.stage][0] += 1
        if case.is_overdue(now):
            counts[case.stage][1] += 1
            overdue.append(case)
    overdue.sort(key=lambda c: (c.stage_due or 0.0, c.id))
    return CaseReport(
        now, tuple(StageCount(stage, n, late) for stage, (n, late) in counts.items()), tuple(overdue)
    )
