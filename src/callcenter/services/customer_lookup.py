"""One customer lookup per call, shared by the IVR and the screen pop.

The IVR's ``lookup`` node identifies the caller (by number, or by the customer number they typed) a few
seconds before the ACD offers the call; the screen pop then needs the same customer for its card. Both
go through :class:`CustomerLookup`: the IVR's lookup loads the full CRM record once and leaves it here,
keyed like the pop's cards (``phone:<number as dialled>`` / ``id:<n>``), and the pop's prefetch *takes*
it (once) instead of asking the database again. A caller the IVR did not find is remembered too, so the
pop does not look the number up a second time.

What is left is short-lived and one-use: ``ttl`` seconds (the IVR-to-queue time is seconds), at most
``size`` entries, taken by the first card load of that key. Anything else the pop loads (a refresh
after an edit, another agent attaching a customer) reads the database as before.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

from callcenter.domain.customers import Customer
from callcenter.domain.ivr import CustomerInfo


class CustomerRecords(Protocol):
    """The CRM reads the lookup needs (``CrmService`` provides them)."""

    async def by_phone(self, number: str) -> Customer | None: ...

    async def find(self, customer_id: int) -> Customer | None: ...


def phone_key(number: str) -> str:
    return f"phone:{number}"


def id_key(customer_id: int) -> str:
    return f"id:{customer_id}"


def _info(customer: Customer) -> CustomerInfo:
    return CustomerInfo(customer.id, customer.name, customer.segment.value, customer.vip)


class CustomerLookup:
    """``ports.CustomerDirectory`` for the IVR that hands what it found to the screen pop."""

    def __init__(
        self,
        records: CustomerRecords,
        *,
        ttl: float = 120.0,
        size: int = 2000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._records = records
        self._ttl = ttl
        self._size = size
        self._clock = clock
        self._found: OrderedDict[str, tuple[float, Customer | None]] = OrderedDict()
        self.stats = {"lookups": 0, "handed_over": 0}

    # --- the IVR's side (ports.CustomerDirectory) ------------------------------------------------
    async def find_by_phone(self, number: str) -> CustomerInfo | None:
        self.stats["lookups"] += 1
        customer = await self._records.by_phone(number)
        self._leave(phone_key(number), customer)
        if customer is not None:
            self._leave(id_key(customer.id), customer)
        return _info(customer) if customer is not None else None

    async def find_by_id(self, customer_id: int) -> CustomerInfo | None:
        """A caller who types the customer number the IVR just found by their phone number is not
        looked up again."""
        key = id_key(customer_id)
        entry = self._found.get(key)
        if entry is not None and entry[1] is not None and self._clock() - entry[0] <= self._ttl:
            return _info(entry[1])
        self.stats["lookups"] += 1
        customer = await self._records.find(customer_id)
        self._leave(id_key(customer_id), customer)
        return _info(customer) if customer is not None else None

    # --- the screen pop's side -------------------------------------------------------------------
    def take(self, key: str) -> tuple[bool, Customer | None]:
        """``(True, customer or None)`` when the IVR looked ``key`` up moments ago (then forgotten),
        ``(False, None)`` when the pop must read the database itself."""
        entry = self._found.pop(key, None)
        if entry is None:
            return False, None
        at, customer = entry
        if self._clock() - at > self._ttl:
            return False, None
        self.stats["handed_over"] += 1
        return True, customer

    def _leave(self, key: str, customer: Customer | None) -> None:
        found = self._found
        found[key] = (self._clock(), customer)
        found.move_to_end(key)
        while len(found) > self._size:
            found.popitem(last=False)
