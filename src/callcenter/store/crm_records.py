"""``SqlCrmRecords``: the ``ports.CrmRecords`` port (customers, tags, notes, tickets) on SQLAlchemy Core.

Tables: ``customers`` and ``customer_phones`` (migration 0001) plus ``customer_tags``,
``customer_notes``, ``tickets`` and ``ticket_events`` (migration 0004).

- Phone numbers are stored in E.164 (``customer_phones.number_e164``, unique): a number already owned by
  another customer is refused with a ``ValidationError`` on ``phones`` naming the owner; the unique index
  still guards concurrent writers (``DuplicateError``).
- Search: ``text`` is a case-insensitive substring of name, company or email (``ILIKE`` on PostgreSQL,
  ``lower() LIKE`` on SQLite: ASCII case only there), ``phone`` the exact normalised number, ``tag``
  and ``segment`` exact.
- Tickets are written with optimistic concurrency: ``save_ticket_update`` updates the row only if its
  ``version`` is still the one that was read (``ConcurrentUpdate`` otherwise), and inserts the history
  entries in the same transaction.
- ``customer_import()`` is one transaction for a whole CSV import: the importer adds batches through it
  and raises to roll everything back.

Times: epoch floats in the domain, aware UTC datetimes in the database. Errors: SQLAlchemy/driver errors
become the ``StoreError`` tree (``translate_errors``).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Table, delete, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from callcenter.domain.calls import CallRecord
from callcenter.domain.customers import (
    Customer,
    CustomerChanges,
    CustomerDraft,
    CustomerNote,
    CustomerPage,
    CustomerQuery,
    Segment,
    ValidationError,
)
from callcenter.domain.errors import NotFound
from callcenter.domain.name_search import query_key, search_key
from callcenter.domain.phones import normalize_phone
from callcenter.domain.tickets import (
    ConcurrentUpdate,
    Ticket,
    TicketDraft,
    TicketEvent,
    TicketPage,
    TicketQuery,
    TicketStatus,
    created_event,
)
from callcenter.store.crm_rows import (
    call_summary_from_row,
    customer_calls_stmt,
    note_from_row,
    notes_stmt,
    ticket_from_row,
    tickets_stmts,
)
from callcenter.store.engine import translate_errors
from callcenter.store.models import (
    Call,
    CustomerNoteRow,
    CustomerPhone,
    CustomerTag,
    TicketEventRow,
    TicketRow,
)
from callcenter.store.models import Customer as CustomerRow

__all__ = ["SqlCrmRecords", "SqlCustomerImport"]

_CUSTOMERS: Table = CustomerRow.__table__  # type: ignore[assignment]
_PHONES: Table = CustomerPhone.__table__  # type: ignore[assignment]
_TAGS: Table = CustomerTag.__table__  # type: ignore[assignment]
_NOTES: Table = CustomerNoteRow.__table__  # type: ignore[assignment]
_TICKETS: Table = TicketRow.__table__  # type: ignore[assignment]
_EVENTS: Table = TicketEventRow.__table__  # type: ignore[assignment]
_CALLS: Table = Call.__table__  # type: ignore[assignment]

_ticket = ticket_from_row  # the name store/qa.py imports

#: Rows per ``IN (...)`` list, well under SQLite's bound-parameter limit.
_IN_CHUNK = 900


def _dt(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _dt_opt(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


def _ep(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def _chunks(items: Sequence[Any], size: int = _IN_CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _customer_values(draft: CustomerDraft, now: datetime) -> dict[str, Any]:
    return {
        "name": draft.name,
        "name_search": search_key(draft.name),
        "company": draft.company,
        "email": draft.email,
        "segment": draft.segment.value,
        "vip": draft.segment is Segment.VIP,
        "value_score": draft.value_score,
        "notes": "",
        "created_at": now,
        "updated_at": now,
    }


def _event_row(event: TicketEvent) -> dict[str, Any]:
    return {
        "ticket_id": event.ticket_id,
        "at": _dt(event.at),
        "actor": event.actor,
        "field": event.field,
        "old_value": event.old,
        "new_value": event.new,
        "comment": event.comment,
    }


async def _taken(conn: AsyncConnection, numbers: Sequence[str]) -> dict[str, int]:
    """Owners of the numbers that are stored: ``{e164: customer_id}``."""
    out: dict[str, int] = {}
    for chunk in _chunks(sorted(set(numbers))):
        result = await conn.execute(
            select(_PHONES.c.number_e164, _PHONES.c.customer_id).where(_PHONES.c.number_e164.in_(chunk))
        )
        out.update((row[0], row[1]) for row in result)
    return out


async def _insert_customers(
    conn: AsyncConnection, drafts: Sequence[CustomerDraft], author: str, now: float
) -> list[int]:
    """Insert customers with phones, tags and first notes (executemany per table); their new ids."""
    if not drafts:
        return []
    at = _dt(now)
    result = await conn.execute(
        _CUSTOMERS.insert().returning(_CUSTOMERS.c.id, sort_by_parameter_order=True),
        [_customer_values(d, at) for d in drafts],
    )
    ids = [int(row[0]) for row in result]
    phones = [
        {"customer_id": cid, "number_e164": number, "raw": number, "label": ""}
        for cid, draft in zip(ids, drafts, strict=True)
        for number in draft.phones
    ]
    tags = [{"customer_id": cid, "tag": tag} for cid, d in zip(ids, drafts, strict=True) for tag in d.tags]
    notes = [
        {"customer_id": cid, "at": at, "author": author, "text": d.notes}
        for cid, d in zip(ids, drafts, strict=True)
        if d.notes
    ]
    if phones:
        await conn.execute(_PHONES.insert(), phones)
    if tags:
        await conn.execute(_TAGS.insert(), tags)
    if notes:
        await conn.execute(_NOTES.insert(), notes)
    return ids


def _phones_taken_error(taken: dict[str, int], own_id: int | None = None) -> ValidationError | None:
    others = {number: owner for number, owner in taken.items() if owner != own_id}
    if not others:
        return None
    text = ", ".join(f"{number} belongs to customer #{owner}" for number, owner in sorted(others.items()))
    return ValidationError({"phones": text})


class SqlCustomerImport:
    """One import transaction (see ``SqlCrmRecords.customer_import``)."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def taken_phones(self, numbers: Sequence[str]) -> dict[str, int]:
        with translate_errors("import: taken_phones"):
            return await _taken(self._conn, numbers)

    async def add_customers(self, drafts: Sequence[CustomerDraft], *, author: str, now: float) -> int:
        with translate_errors("import: add_customers"):
            return len(await _insert_customers(self._conn, drafts, author, now))


class SqlCrmRecords:
    """``ports.CrmRecords`` on SQLite or PostgreSQL (shares the engine of ``SqlCrmStore``)."""

    def __init__(self, engine: AsyncEngine, *, default_country_code: str = "1") -> None:
        self._engine = engine
        self._cc = default_country_code
        self._pg = engine.dialect.name == "postgresql"

    # -- customers -----------------------------------------------------------------------------------

    async def create_customer(self, draft: CustomerDraft, *, author: str, now: float) -> Customer:
        """Store a customer. A phone number owned by another customer raises ``ValidationError``."""
        with translate_errors("create_customer"):
            async with self._engine.begin() as conn:
                error = _phones_taken_error(await _taken(conn, draft.phones))
                if error is not None:
                    raise error
                (customer_id,) = await _insert_customers(conn, [draft], author, now)
                return await self._load_customer(conn, customer_id)  # type: ignore[return-value]

    async def get_customer(self, customer_id: int) -> Customer | None:
        with translate_errors("get_customer"):
            async with self._engine.connect() as conn:
                return await self._load_customer(conn, customer_id)

    async def customer_by_phone(self, number: str) -> Customer | None:
        """The customer owning ``number`` in any format ``normalize_phone`` understands."""
        e164 = normalize_phone(number, self._cc)
        if e164 is None or not e164.startswith("+"):
            return None
        with translate_errors("customer_by_phone"):
            async with self._engine.connect() as conn:
                owner = (
                    await conn.execute(select(_PHONES.c.customer_id).where(_PHONES.c.number_e164 == e164))
                ).scalar_one_or_none()
                return None if owner is None else await self._load_customer(conn, owner)

    async def update_customer(self, customer_id: int, changes: CustomerChanges, *, now: float) -> Customer:
        """Apply ``changes`` (phones and tags replace the stored sets). ``NotFound`` if missing."""
        with translate_errors("update_customer"):
            async with self._engine.begin() as conn:
                found = await conn.execute(select(_CUSTOMERS.c.id).where(_CUSTOMERS.c.id == customer_id))
                if found.scalar_one_or_none() is None:
                    raise NotFound(f"customer {customer_id} not found")
                values: dict[str, Any] = {"updated_at": _dt(now)}
                for name in ("name", "company", "email", "value_score"):
                    value = getattr(changes, name)
                    if value is not None:
                        values[name] = value
                if changes.name is not None:
                    values["name_search"] = search_key(changes.name)
                if changes.segment is not None:
                    values["segment"] = changes.segment.value
                    values["vip"] = changes.segment is Segment.VIP
                if changes.phones is not None:
                    error = _phones_taken_error(await _taken(conn, changes.phones), customer_id)
                    if error is not None:
                        raise error
                    await conn.execute(delete(_PHONES).where(_PHONES.c.customer_id == customer_id))
                    if changes.phones:
                        await conn.execute(
                            _PHONES.insert(),
                            [
                                {"customer_id": customer_id, "number_e164": n, "raw": n, "label": ""}
                                for n in changes.phones
                            ],
                        )
                if changes.tags is not None:
                    await conn.execute(delete(_TAGS).where(_TAGS.c.customer_id == customer_id))
                    if changes.tags:
                        await conn.execute(
                            _TAGS.insert(), [{"customer_id": customer_id, "tag": t} for t in changes.tags]
                        )
                await conn.execute(update(_CUSTOMERS).where(_CUSTOMERS.c.id == customer_id).values(values))
                return await self._load_customer(conn, customer_id)  # type: ignore[return-value]

    async def search_customers(self, query: CustomerQuery) -> CustomerPage:
        """Customers matching every criterion of ``query``, by name then id, with the total count."""
        conditions: list[ColumnElement[bool]] = []
        if query.text:
            pattern = "%" + _escape_like(query.text.strip()) + "%"
            matches = [
                _CUSTOMERS.c[name].ilike(pattern, escape="\\") for name in ("name", "company", "email")
            ]
            pinyin = query_key(query.text)
            if pinyin.isalpha():  # Chinese names by their pinyin or initials ("zhangwei", "zhang wei", "zw")
                matches.append(_CUSTOMERS.c.name_search.like("%" + pinyin + "%"))
            conditions.append(or_(*matches))
        if query.phone:
            e164 = normalize_phone(query.phone, self._cc)
            if e164 is None or not e164.startswith("+"):
                return CustomerPage((), 0, query.limit, query.offset)
            conditions.append(
                exists().where(_PHONES.c.customer_id == _CUSTOMERS.c.id, _PHONES.c.number_e164 == e164)
            )
        if query.tag:
            conditions.append(
                exists().where(_TAGS.c.customer_id == _CUSTOMERS.c.id, _TAGS.c.tag == query.tag.lower())
            )
        if query.segment is not None:
            conditions.append(_CUSTOMERS.c.segment == query.segment.value)
        limit, offset = max(0, query.limit), max(0, query.offset)
        count = select(func.count()).select_from(_CUSTOMERS).where(*conditions)
        page = (
            select(_CUSTOMERS)
            .where(*conditions)
            .order_by(func.lower(_CUSTOMERS.c.name), _CUSTOMERS.c.id)
            .limit(limit)
            .offset(offset)
        )
        with translate_errors("search_customers"):
            async with self._engine.connect() as conn:
                total = int((await conn.execute(count)).scalar_one())
                rows = (await conn.execute(page)).mappings().all() if limit and offset < total else []
                customers = await self._customers(conn, rows)
        return CustomerPage(tuple(customers), total, limit, offset)

    async def add_note(self, customer_id: int, *, author: str, text: str, now: float) -> CustomerNote:
        with translate_errors("add_note"):
            async with self._engine.begin() as conn:
                found = await conn.execute(select(_CUSTOMERS.c.id).where(_CUSTOMERS.c.id == customer_id))
                if found.scalar_one_or_none() is None:
                    raise NotFound(f"customer {customer_id} not found")
                values = {"customer_id": customer_id, "at": _dt(now), "author": author, "text": text}
                result = await conn.execute(_NOTES.insert().values(values).returning(_NOTES.c.id))
                note_id = int(result.scalar_one())
                await conn.execute(
                    update(_CUSTOMERS).where(_CUSTOMERS.c.id == customer_id).values(updated_at=_dt(now))
                )
        return CustomerNote(note_id, customer_id, now, author, text)

    async def list_notes(self, customer_id: int, *, limit: int = 100) -> list[CustomerNote]:
        """The customer's notes, newest first."""
        with translate_errors("list_notes"):
            async with self._engine.connect() as conn:
                rows = (await conn.execute(notes_stmt(customer_id, limit))).mappings().all()
        return [note_from_row(r) for r in rows]

    async def customer_calls(
        self, customer_id: int, *, limit: int = 20, agent: str | None = None
    ) -> list[CallRecord]:
        """The customer's most recent calls (summaries without legs), newest first; ``agent``
        restricts them to one agent's calls."""
        with translate_errors("customer_calls"):
            async with self._engine.connect() as conn:
                rows = (await conn.execute(customer_calls_stmt(customer_id, limit, agent))).mappings().all()
        return [call_summary_from_row(r) for r in rows]

    @contextlib.asynccontextmanager
    async def customer_import(self) -> AsyncIterator[SqlCustomerImport]:
        """One transaction for a whole import: committed when the block ends normally, rolled back
        when it raises (the importer raises when any row was rejected)."""
        with translate_errors("customer_import"):
            async with self._engine.begin() as conn:
                yield SqlCustomerImport(conn)

    async def _load_customer(self, conn: AsyncConnection, customer_id: int) -> Customer | None:
        rows = (await conn.execute(select(_CUSTOMERS).where(_CUSTOMERS.c.id == customer_id))).mappings().all()
        customers = await self._customers(conn, rows)
        return customers[0] if customers else None

    async def _customers(self, conn: AsyncConnection, rows: Sequence[Any]) -> list[Customer]:
        if not rows:
            return []
        ids = [row["id"] for row in rows]
        phones: dict[int, list[str]] = {}
        tags: dict[int, list[str]] = {}
        for chunk in _chunks(ids):
            result = await conn.execute(
                select(_PHONES.c.customer_id, _PHONES.c.number_e164)
                .where(_PHONES.c.customer_id.in_(chunk))
                .order_by(_PHONES.c.id)
            )
            for cid, number in result:
                phones.setdefault(cid, []).append(number)
            result = await conn.execute(
                select(_TAGS.c.customer_id, _TAGS.c.tag)
                .where(_TAGS.c.customer_id.in_(chunk))
                .order_by(_TAGS.c.tag)
            )
            for cid, tag in result:
                tags.setdefault(cid, []).append(tag)
        return [
            Customer(
                id=row["id"],
                name=row["name"],
                company=row["company"],
                email=row["email"],
                segment=Segment(row["segment"]),
                vip=bool(row["vip"]),
                value_score=row["value_score"],
                notes=row["notes"],
                phones=tuple(phones.get(row["id"], ())),
                tags=tuple(tags.get(row["id"], ())),
                created_at=row["created_at"].timestamp(),
                updated_at=row["updated_at"].timestamp(),
            )
            for row in rows
        ]

    # -- tickets -------------------------------------------------------------------------------------

    async def create_ticket(self, draft: TicketDraft, *, actor: str, now: float) -> Ticket:
        """Store a new ticket (status ``new``) and its ``created`` history entry. ``NotFound`` when the
        customer does not exist."""
        at = _dt(now)
        values = {
            "customer_id": draft.customer_id,
            "call_id": draft.call_id,
            "subject": draft.subject,
            "description": draft.description,
            "category": draft.category.value,
            "priority": draft.priority.value,
            "status": TicketStatus.NEW.value,
            "assignee": draft.assignee,
            "due_at": _dt_opt(draft.due_at),
            "created_by": actor,
            "created_at": at,
            "updated_at": at,
            "version": 1,
        }
        with translate_errors("create_ticket"):
            async with self._engine.begin() as conn:
                found = await conn.execute(
                    select(_CUSTOMERS.c.id).where(_CUSTOMERS.c.id == draft.customer_id)
                )
                if found.scalar_one_or_none() is None:
                    raise NotFound(f"customer {draft.customer_id} not found")
                result = await conn.execute(_TICKETS.insert().values(values).returning(_TICKETS.c.id))
                ticket_id = int(result.scalar_one())
                ticket = Ticket(
                    id=ticket_id,
                    customer_id=draft.customer_id,
                    subject=draft.subject,
                    category=draft.category,
                    priority=draft.priority,
                    status=TicketStatus.NEW,
                    description=draft.description,
                    call_id=draft.call_id,
                    assignee=draft.assignee,
                    due_at=draft.due_at,
                    created_by=actor,
                    created_at=now,
                    updated_at=now,
                    version=1,
                )
                await conn.execute(_EVENTS.insert().values(_event_row(created_event(ticket))))
        return ticket

    async def get_ticket(self, ticket_id: int) -> Ticket | None:
        with translate_errors("get_ticket"):
            async with self._engine.connect() as conn:
                row = (
                    (await conn.execute(select(_TICKETS).where(_TICKETS.c.id == ticket_id)))
                    .mappings()
                    .one_or_none()
                )
        return None if row is None else ticket_from_row(row)

    async def list_tickets(self, query: TicketQuery) -> TicketPage:
        """Tickets matching ``query``. Order: by due date (earliest first) when ``due_before`` is given,
        else newest first."""
        count, page = tickets_stmts(query)
        limit, offset = max(0, query.limit), max(0, query.offset)
        with translate_errors("list_tickets"):
            async with self._engine.connect() as conn:
                total = int((await conn.execute(count)).scalar_one())
                rows = (await conn.execute(page)).mappings().all() if limit and offset < total else []
        return TicketPage(tuple(ticket_from_row(r) for r in rows), total, limit, offset)

    async def save_ticket_update(
        self, ticket: Ticket, *, expected_version: int, events: Sequence[TicketEvent]
    ) -> None:
        """Write ``ticket`` if the stored version is still ``expected_version`` (else
        ``ConcurrentUpdate``; ``NotFound`` when it is gone), with its history entries."""
        values = {
            "subject": ticket.subject,
            "category": ticket.category.value,
            "priority": ticket.priority.value,
            "status": ticket.status.value,
            "assignee": ticket.assignee,
            "due_at": _dt_opt(ticket.due_at),
            "updated_at": _dt(ticket.updated_at),
            "version": ticket.version,
        }
        with translate_errors("save_ticket_update"):
            async with self._engine.begin() as conn:
                result = await conn.execute(
                    update(_TICKETS)
                    .where(_TICKETS.c.id == ticket.id, _TICKETS.c.version == expected_version)
                    .values(values)
                )
                if result.rowcount != 1:
                    found = await conn.execute(select(_TICKETS.c.id).where(_TICKETS.c.id == ticket.id))
                    if found.scalar_one_or_none() is None:
                        raise NotFound(f"ticket {ticket.id} not found")
                    raise ConcurrentUpdate(f"ticket {ticket.id} was changed by someone else")
                if events:
                    await conn.execute(_EVENTS.insert(), [_event_row(e) for e in events])

    async def ticket_history(self, ticket_id: int) -> list[TicketEvent]:
        """The ticket's history, oldest first."""
        stmt = select(_EVENTS).where(_EVENTS.c.ticket_id == ticket_id).order_by(_EVENTS.c.at, _EVENTS.c.id)
        with translate_errors("ticket_history"):
            async with self._engine.connect() as conn:
                rows = (await conn.execute(stmt)).mappings().all()
        return [
            TicketEvent(
                ticket_id=r["ticket_id"],
                at=r["at"].timestamp(),
                actor=r["actor"],
                field=r["field"],
                old=r["old_value"],
                new=r["new_value"],
                comment=r["comment"],
            )
            for r in rows
        ]
