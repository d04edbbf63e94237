"""Service cases (RMA, issue 16): create, change stage, edit, link calls and tickets, report overdue.

Rules live in ``domain/cases.py``; this module validates request data, checks that the customer and a
linked ticket exist (through ``CrmService``), writes through the ``CaseStore`` port with an optimistic
retry, records every change in the audit log (``case.create``, ``case.stage``, ``case.update``,
``case.link``) and tells listeners (notifications, webhooks) about stage changes.

Roles (checked by the web layer, see ``webapp/views_cases.py``): agents, supervisors and admins work
on cases; QA reads them.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from callcenter.domain.audit import AuditEntry
from callcenter.domain.cases import (
    LINK_KINDS,
    MAX_FAULT,
    CaseChanges,
    CaseDraft,
    CaseEvent,
    CaseLink,
    CasePage,
    CaseQuery,
    CaseReport,
    CaseStage,
    RepairMode,
    RmaCase,
    SlaPolicy,
    WarrantyPolicy,
    apply_changes,
    case_id_of,
    case_report,
    change_stage,
    clean_text,
    created_event,
    new_case,
    parse_day,
    parse_stage,
    schedule_of_flows,
)
from callcenter.domain.customers import ValidationError
from callcenter.domain.errors import NotFound
from callcenter.domain.ivr import FlowSet, Schedule
from callcenter.domain.tickets import ConcurrentUpdate
from callcenter.domain.users import User
from callcenter.ports import AuditLog
from callcenter.services.crm import CrmService

log = logging.getLogger(__name__)

UPDATE_ATTEMPTS = 3
LANGUAGES = ("en", "zh-CN")


class CaseStore(Protocol):
    async def add_case(self, case: RmaCase, events: Sequence[CaseEvent]) -> RmaCase: ...
    async def get_case(self, case_id: int) -> RmaCase | None: ...
    async def save_case(self, old: RmaCase, new: RmaCase, events: Sequence[CaseEvent]) -> None: ...
    async def list_cases(self, q: CaseQuery) -> CasePage: ...
    async def open_cases(self) -> list[RmaCase]: ...
    async def history(self, case_id: int) -> list[CaseEvent]: ...
    async def add_link(self, link: CaseLink) -> bool: ...
    async def links(self, case_id: int) -> list[CaseLink]: ...
    async def cases_linked(self, kind: str, ref: str) -> list[int]: ...


@dataclass(frozen=True, slots=True)
class CaseChanged:
    """A case moved to another stage (``event`` is the history entry)."""

    case: RmaCase
    event: CaseEvent


CaseListener = Callable[[CaseChanged], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class CaseDetail:
    case: RmaCase
    history: tuple[CaseEvent, ...]
    links: tuple[CaseLink, ...]


def _str(data: Mapping[str, Any], name: str) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise ValidationError({name: "must be text"})
    return str(value)


def draft_from(data: Mapping[str, Any]) -> CaseDraft:
    """A ``CaseDraft`` from request data (``ValidationError`` naming every bad field)."""
    errors: dict[str, str] = {}
    customer_id = data.get("customer_id")
    if not isinstance(customer_id, int) or isinstance(customer_id, bool) or not 0 < customer_id < 2**31:
        errors["customer_id"] = "a customer id"
    values: dict[str, Any] = {}
    for name, limit, required in (("product", 200, True), ("serial", 100, True), ("fault", MAX_FAULT, True)):
        try:
            values[name] = clean_text(_str(data, name) or "", name, limit=limit, required=required)
        except ValidationError as exc:
            errors.update(exc.fields)
    purchase = None
    if data.get("purchase_date"):
        try:
            purchase = parse_day(str(data["purchase_date"]))
        except ValidationError as exc:
            errors.update(exc.fields)
    mode = RepairMode.IN_HOUSE
    if data.get("repair_mode"):
        try:
            mode = RepairMode(str(data["repair_mode"]))
        except ValueError:
            errors["repair_mode"] = "in_house or outsourced"
    language = str(data.get("language") or "en")
    if language not in LANGUAGES:
        errors["language"] = f"one of {', '.join(LANGUAGES)}"
    technician = _str(data, "technician")
    if errors:
        raise ValidationError(errors)
    return CaseDraft(
        customer_id=int(customer_id),  # type: ignore[arg-type]
        product=values["product"],
        serial=values["serial"],
        fault=values["fault"],
        purchase_date=purchase,
        technician=(technician or "").strip() or None,
        repair_mode=mode,
        language=language,
    )


def changes_from(data: Mapping[str, Any]) -> CaseChanges:
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    for name in ("technician", "carrier", "tracking", "quote", "fault"):
        if name in data:
            try:
                limit = MAX_FAULT if name == "fault" else 200
                values[name] = clean_text(_str(data, name) or "", name, limit=limit, required=name == "fault")
            except ValidationError as exc:
                errors.update(exc.fields)
    if "repair_mode" in data:
        try:
            values["repair_mode"] = RepairMode(str(data["repair_mode"]))
        except ValueError:
            errors["repair_mode"] = "in_house or outsourced"
    unknown = set(data) - {"technician", "carrier", "tracking", "quote", "fault", "repair_mode"}
    for name in sorted(unknown):
        errors[name] = "unknown field (a stage changes with POST /api/cases/{id}/stage)"
    if errors:
        raise ValidationError(errors)
    return CaseChanges(**values)


def flows_calendar(current: Callable[[], FlowSet | None]) -> Callable[[], Schedule | None]:
    """The business-hours calendar of the IVR flows in use (the default flow's ``hours`` node first)."""

    def calendar() -> Schedule | None:
        flows = current()
        if flows is None:
            return None
        first = flows.flows.get(flows.default)
        ordered = [first] if first is not None else []
        ordered += [f for name, f in sorted(flows.flows.items()) if name != flows.default]
        return schedule_of_flows(ordered)

    return calendar


class CaseService:
    def __init__(
        self,
        store: CaseStore,
        crm: CrmService,
        *,
        audit: AuditLog | None = None,
        warranty: WarrantyPolicy | None = None,
        sla: SlaPolicy | None = None,
        calendar: Callable[[], Schedule | None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``calendar`` gives the current business-hours calendar (the IVR's, which may be reloaded);
        when it gives None, ``sla``'s own schedule counts the working days."""
        self.store = store
        self.crm = crm
        self.audit = audit
        self.warranty = warranty or WarrantyPolicy()
        self._sla = sla or SlaPolicy()
        self._calendar = calendar
        self.clock = clock
        self.listeners: list[CaseListener] = []

    @property
    def sla(self) -> SlaPolicy:
        schedule = self._calendar() if self._calendar is not None else None
        return self._sla if schedule is None else dataclasses.replace(self._sla, schedule=schedule)

    async def _audit(self, user: User, action: str, case_id: int, **detail: Any) -> None:
        if self.audit is None:
            return
        entry = AuditEntry(
            self.clock(), user.username, user.role.value, action, target=f"case:{case_id}", detail=detail
        )
        await self.audit.save_audit(entry)

    async def create(self, user: User, data: Mapping[str, Any]) -> RmaCase:
        draft = draft_from(data)
        await self.crm.get_customer(draft.customer_id)  # NotFound → 404
        case = new_case(draft, actor=user.username, now=self.clock(), warranty=self.warranty, sla=self.sla)
        stored = await self.store.add_case(case, [created_event(case)])  # the store sets the case id
        call_id = data.get("call_id")
        if isinstance(call_id, str) and call_id.strip():
            await self.store.add_link(CaseLink(stored.id, "call", call_id.strip()[:128], self.clock()))
        await self._audit(user, "case.create", stored.id, customer_id=stored.customer_id)
        log.info("case created", extra={"case_id": stored.id, "actor": user.username})
        return stored

    async def get(self, case_id: int) -> RmaCase:
        case = await self.store.get_case(case_id)
        if case is None:
            raise NotFound(f"case {case_id} not found")
        return case

    async def detail(self, case_id: int) -> CaseDetail:
        case = await self.get(case_id)
        history = await self.store.history(case_id)
        links = await self.store.links(case_id)
        return CaseDetail(case, tuple(history), tuple(links))

    async def search(self, q: CaseQuery) -> CasePage:
        return await self.store.list_cases(q)

    async def move(self, user: User, case_id: int, stage: Any, note: Any = "", quote: Any = "") -> RmaCase:
        """Move the case to ``stage`` (rules of ``domain.cases``; retried on a concurrent write)."""
        wanted = parse_stage(str(stage or ""))
        note_text = str(note or "") if isinstance(note, str | int | float) else ""
        quote_text = str(quote or "") if isinstance(quote, str | int | float) else ""
        for attempt in range(UPDATE_ATTEMPTS):
            case = await self.get(case_id)
            new, event = change_stage(
                case,
                wanted,
                actor=user.username,
                now=self.clock(),
                sla=self.sla,
                note=note_text,
                quote=quote_text,
            )
            try:
                await self.store.save_case(case, new, [event])
            except ConcurrentUpdate:
                if attempt + 1 == UPDATE_ATTEMPTS:
                    raise
                continue
            await self._audit(user, "case.stage", case_id, old=event.old, new=event.new, note=event.note)
            log.info("case stage", extra={"case_id": case_id, "actor": user.username, "stage": wanted.value})
            await self._tell(CaseChanged(new, event))
            return new
        raise AssertionError("unreachable")  # pragma: no cover

    async def _tell(self, change: CaseChanged) -> None:
        for listener in self.listeners:
            try:
                await listener(change)
            except Exception:  # a notification problem never fails the stage change itself
                log.exception("case listener failed", extra={"case_id": change.case.id})

    async def update(self, user: User, case_id: int, data: Mapping[str, Any]) -> RmaCase:
        changes = changes_from(data)
        for attempt in range(UPDATE_ATTEMPTS):
            case = await self.get(case_id)
            new, events = apply_changes(case, changes, actor=user.username, now=self.clock())
            if not events:
                return case
            try:
                await self.store.save_case(case, new, events)
            except ConcurrentUpdate:
                if attempt + 1 == UPDATE_ATTEMPTS:
                    raise
                continue
            await self._audit(user, "case.update", case_id, fields=[e.field for e in events])
            return new
        raise AssertionError("unreachable")  # pragma: no cover

    async def link(self, user: User, case_id: int, kind: Any, ref: Any) -> CaseLink:
        if kind not in LINK_KINDS:
            raise ValidationError({"kind": "call or ticket"})
        text = str(ref or "").strip() if isinstance(ref, str | int) and not isinstance(ref, bool) else ""
        if not text or len(text) > 128 or any(ch.isspace() for ch in text):
            raise ValidationError({"ref": "a call id (Linkedid) or a ticket id"})
        case = await self.get(case_id)
        if kind == "ticket":
            if not text.isdigit() or len(text) > 9:
                raise ValidationError({"ref": "a ticket id"})
            ticket = await self.crm.get_ticket(int(text))  # NotFound → 404
            if ticket.customer_id != case.customer_id:
                raise ValidationError({"ref": "the ticket belongs to another customer"})
        link = CaseLink(case_id, str(kind), text, self.clock())
        if await self.store.add_link(link):
            await self._audit(user, "case.link", case_id, kind=kind, ref=text)
        return link

    async def report(self) -> CaseReport:
        return case_report(await self.store.open_cases(), self.clock())

    # -- self-service by phone (IVR node ``case_status``) -----------------------------------------

    async def open_cases_for_caller(self, number: str) -> list[RmaCase]:
        """Open cases of the customer owning the caller number (none for an unknown number)."""
        customer = await self.crm.by_phone(number)
        if customer is None:
            return []
        page = await self.store.list_cases(CaseQuery(customer_id=customer.id, open_only=True, limit=20))
        return list(page.cases)

    async def case_for_caller(self, number: str, rma: str) -> RmaCase | None:
        """The open case with RMA number ``rma`` if it belongs to the caller's customer, else None (a case
        of another customer is never revealed)."""
        case_id = case_id_of(rma)
        if case_id is None:
            return None
        customer = await self.crm.by_phone(number)
        case = await self.store.get_case(case_id)
        if case is None or customer is None or case.customer_id != customer.id or not case.is_open:
            return None
        return case

    @staticmethod
    def stage_of(raw: str) -> CaseStage:
        return parse_stage(raw)
