"""The per-call customer lookup (``services/customer_lookup.py``'s ``CustomerRecords``) on the CRM tables.

It runs for every inbound call (the IVR's lookup node, the screen pop's card), so it is two SQLAlchemy
Core statements built once (their compiled form is cached by the engine from the first call on): the
customer row by phone number or id, then its phones and tags in one ``UNION ALL``, both on one
connection. The result is the same ``domain.customers.Customer`` as ``SqlCrmRecords.get_customer`` /
``customer_by_phone`` give.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Integer, Table, bindparam, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from callcenter.domain.customers import Customer, Segment
from callcenter.domain.phones import normalize_phone
from callcenter.store.engine import translate_errors
from callcenter.store.models import Customer as CustomerRow
from callcenter.store.models import CustomerPhone, CustomerTag

_CUSTOMERS: Table = CustomerRow.__table__  # type: ignore[assignment]
_PHONES: Table = CustomerPhone.__table__  # type: ignore[assignment]
_TAGS: Table = CustomerTag.__table__  # type: ignore[assignment]

_BY_ID = select(_CUSTOMERS).where(_CUSTOMERS.c.id == bindparam("customer_id"))
_BY_PHONE = select(_CUSTOMERS).where(
    _CUSTOMERS.c.id
    == select(_PHONES.c.customer_id).where(_PHONES.c.number_e164 == bindparam("e164")).scalar_subquery()
)
_phones = select(
    literal(0, Integer).label("kind"), _PHONES.c.id.label("position"), _PHONES.c.number_e164.label("value")
).where(_PHONES.c.customer_id == bindparam("customer_id"))
_tags = select(literal(1, Integer), literal(0, Integer), _TAGS.c.tag).where(
    _TAGS.c.customer_id == bindparam("customer_id")
)
_EXTRAS = union_all(_phones, _tags)
_EXTRAS_ORDERED = select(_EXTRAS.subquery()).order_by("kind", "position", "value")


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
                row = (await conn.execute(_BY_PHONE, {"e164": e164})).mappings().one_or_none()
                return None if row is None else await _complete(conn, row)

    async def find(self, customer_id: int) -> Customer | None:
        with translate_errors("customer lookup by id"):
            async with self._engine.connect() as conn:
                row = (await conn.execute(_BY_ID, {"customer_id": customer_id})).mappings().one_or_none()
                return None if row is None else await _complete(conn, row)


async def _complete(conn: AsyncConnection, row: Any) -> Customer:
    phones: list[str] = []
    tags: list[str] = []
    for kind, _, value in await conn.execute(_EXTRAS_ORDERED, {"customer_id": row["id"]}):
        (phones if kind == 0 else tags).append(value)
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
