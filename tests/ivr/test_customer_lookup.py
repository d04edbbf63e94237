"""One customer lookup per call: the IVR's lookup node leaves the customer for the screen pop's card."""

from __future__ import annotations

from typing import Any

from callcenter.domain.customers import Customer, Segment
from callcenter.domain.tickets import TicketPage
from callcenter.services.customer_lookup import CustomerLookup
from callcenter.services.screenpop import ScreenPopService

KARL = Customer(id=7, name="Karl Known", segment=Segment.VIP, vip=True, phones=("+12025550142",))


class FakeRecords:
    """The CRM reads, counted."""

    def __init__(self) -> None:
        self.reads: list[str] = []
        self.customers = {KARL.id: KARL}

    async def by_phone(self, number: str) -> Customer | None:
        self.reads.append(f"phone:{number}")
        return KARL if number == "2025550142" else None

    async def find(self, customer_id: int) -> Customer | None:
        self.reads.append(f"id:{customer_id}")
        return self.customers.get(customer_id)

    # what the pop's card reads besides the customer (CrmService's and its records' names)
    async def get_customer(self, customer_id: int) -> Customer | None:
        return await self.find(customer_id)

    async def notes(self, customer_id: int, limit: int = 100) -> list[Any]:
        return []

    async def list_tickets(self, query: Any) -> TicketPage:
        return TicketPage(tickets=(), total=0, limit=10, offset=0)

    async def recent_calls(self, customer_id: int, *, limit: int = 20) -> list[Any]:
        return []

    @property
    def records(self) -> FakeRecords:
        return self


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def pop_with(records: FakeRecords, lookup: CustomerLookup) -> ScreenPopService:
    return ScreenPopService(records, lookup=lookup)  # type: ignore[arg-type]  # duck-typed CrmService


async def test_the_ivr_lookup_by_number_is_handed_to_the_pop_once() -> None:
    records = FakeRecords()
    lookup = CustomerLookup(records)
    info = await lookup.find_by_phone("2025550142")
    assert info is not None and (info.id, info.name, info.segment, info.vip) == (7, "Karl Known", "vip", True)
    pop = pop_with(records, lookup)
    card = await pop.load_card("id:7", handed_over=True)  # the IVR's request carries the customer id
    assert card["customer"]["name"] == "Karl Known"
    assert records.reads == ["phone:2025550142"]  # one lookup for the call
    # one use: the next load of the same key (a refresh after an edit) reads the database
    await pop.load_card("id:7", handed_over=True)
    assert records.reads == ["phone:2025550142", "id:7"]
    assert lookup.stats == {"lookups": 1, "handed_over": 1}


async def test_an_unknown_caller_is_not_looked_up_twice() -> None:
    records = FakeRecords()
    lookup = CustomerLookup(records)
    assert await lookup.find_by_phone("0611223344") is None
    pop = pop_with(records, lookup)
    card = await pop.load_card("phone:0611223344", handed_over=True)
    assert card == {"customer": None}
    assert records.reads == ["phone:0611223344"]


async def test_a_customer_number_typed_in_the_ivr_is_handed_over_too() -> None:
    records = FakeRecords()
    lookup = CustomerLookup(records)
    assert await lookup.find_by_id(7) is not None
    assert await lookup.find_by_id(99) is None
    assert lookup.take("id:99") == (True, None)
    card = await pop_with(records, lookup).load_card("id:7", handed_over=True)
    assert card["customer"]["id"] == 7
    assert records.reads == ["id:7", "id:99"]


async def test_loads_that_are_not_the_calls_prefetch_and_stale_entries_read_the_database() -> None:
    records = FakeRecords()
    clock = Clock()
    lookup = CustomerLookup(records, ttl=60, clock=clock)
    await lookup.find_by_phone("2025550142")
    pop = pop_with(records, lookup)
    await pop.load_card("id:7")  # attach / refresh: never the handed-over copy
    assert records.reads == ["phone:2025550142", "id:7"]
    clock.now += 61
    assert lookup.take("id:7") == (False, None)  # too old (and forgotten)
    assert lookup.take("phone:2025550142") == (False, None)


async def test_what_is_left_is_bounded() -> None:
    lookup = CustomerLookup(FakeRecords(), size=3)
    for n in range(10):
        await lookup.find_by_phone(f"06000000{n:02d}")
    assert [lookup.take(f"phone:06000000{n:02d}")[0] for n in range(10)] == [False] * 7 + [True] * 3


async def test_typing_the_customer_number_just_found_by_phone_reads_nothing_more() -> None:
    records = FakeRecords()
    lookup = CustomerLookup(records)
    await lookup.find_by_phone("2025550142")
    info = await lookup.find_by_id(7)
    assert info is not None and info.id == 7
    assert records.reads == ["phone:2025550142"]
    assert (await pop_with(records, lookup).load_card("id:7", handed_over=True))["customer"]["id"] == 7
    assert records.reads == ["phone:2025550142"]
