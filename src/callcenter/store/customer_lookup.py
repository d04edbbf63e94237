"""The per-call customer lookup (``services/customer_lookup.py``'s ``CustomerRecords``) on the CRM tables.

It runs for every inbound call (the IVR's lookup node, the screen pop's card), so it is one SQLAlchemy
Core statement per key, built once (its compiled form is cached by the engine from the first call on):
the customer row by phone number or id joined with its phones and tags (a ``UNION ALL``), one round
trip. The result is the same ``domain.customers.Customer`` as ``SqlCrmRecords.get_customer`` /
``customer_by_phone`` give.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Integer, Select, Table, bindparam, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncEngine

from callcenter.domain.customers import Customer, Segment
from callcenter.domain.phones import normalize_phone
from callcenter.store.engine import translate_errors
from callcenter.store.models import Customer as CustomerRow
from callcenter.store.models import CustomerPhone, CustomerTag

_CUSTOMERS: Table = CustomerRow.__table__  # type: ignore[assignment]
_PHONES: Table = CustomerPhone.__table__  # type: ignore[assignment]
_TAGS: Table = CustomerTag.__table__  # type: ignore[assignment]


def _customer_with_extras(customer_id: ColumnElement[Any]) -> Select[Any]:
    """The customer row joined with its phones and tags (one row each, phones first in insertion order,
    then tags in order; one row of NULLs when it has neither): a customer in one statement."""
    extras = union_all(
        select(
            _PHONES.c.customer_id.label("x_customer"),
            literal(0, Integer).label("x_kind"),
            _PHONES.c.id.label("x_position"),
            _PHONES.c.number_e164.label("x_value"),
        ).where(_PHONES.c.customer_id == customer_id),
        select(_TAGS.c.customer_id, literal(1, Integer), literal(0, Integer), _TAGS.c.tag).where(
            _TAGS.c.customer_id == customer_id
        ),
    ).subquery("x")
    return (
        select(_CUSTOMERS, extras.c.x_kind, extras.c.x_value)
        .select_from(_CUSTOMERS.outerjoin(extras, extras.c.x_customer == _CUSTOMERS.c.id))
        .where(_CUSTOMERS.c.id == customer_id)
        .order_by(extras.c.x_kind, extras.c.x_position, extras.c.x_value)
    )


_BY_ID = _customer_with_extras(bindparam("customer_id", type_=Integer))
_BY_PHONE = _customer_with_extras(
    select(_PHONES.c.customer_id).where(_PHONES.c.number_e164 == bindparam("e164")).scalar_subquery()
)


class SqlCustomerLookup:
    """Customers by phone number (any format ``normalize_phone`` understands) or by id."""

    def __init__(self, engine: AsyncEngine, *, default_country_code: str = "1") -> None:
        self._engine = engine
        self._cc = default_country_code

    async def by_phone(self, number: str) -> Customer | None:
        e164 = normalize_phone(number, self._cc)
        if e164 is None or not e164.startswith("+"):
            return None
        with translate_errors("customer lookup by phone"):
            async with self._engine.connect() as conn:
                rows = (await conn.execute(_BY_PHONE, {"e164": e164})).mappings().all()
        return _customer(rows)

    async def find(self, customer_id: int) -> Customer | None:
        with translate_errors("customer lookup by id"):
            async with self._engine.connect() as conn:
                rows = (await conn.execute(_BY_ID, {"customer_id": customer_id})).mappings().all()
        return _customer(rows)


def _customer(rows: Sequence[Any]) -> Customer | None:
    if not rows:
        return None
    phones = [r["x_value"] for r in rows if r["x_kind"] == 0]
    tags = [r["x_value"] for r in rows if r["x_kind"] == 1]
    row = rows[0]
    return Customer(
        id=row["id"],
        name=row["name"],
        company=row["company"],
        email=row["email"],
        segment=Segment(row["segment"]),
        vip=bool(row["vip"]),
        value_score=row["value_score"],
        notes=row["notes"],
        phones=tuple(phones),
        tags=tuple(tags),
        created_at=row["created_at"].timestamp(),
        updated_at=row["updated_at"].timestamp(),
    )
