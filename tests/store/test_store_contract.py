"""The CrmStore contract, run on SQLite and PostgreSQL (``db_url`` is parametrized over both)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from callcenter.domain.calls import (
    CallOutcome,
    CallQuery,
    CallRecord,
    HangupSide,
    LegRecord,
    LegRole,
    OfferRecord,
    TransferRecord,
)
from callcenter.domain.customers import Segment
from callcenter.domain.errors import StoreError
from callcenter.domain.users import Role
from callcenter.ports import CrmStore
from callcenter.store.crm import DuplicateError, SqlCrmStore

T0 = 1_700_000_000.25


def make_call(
    call_id: str = "1700000000.1",
    *,
    version: int = 1,
    started_at: float = T0,
    caller: str = "+15551230001",
    agent: str | None = "1001",
    queue: str | None = "sales",
    outcome: CallOutcome = CallOutcome.ANSWERED,
    ended: bool = True,
    legs: int = 3,
    recording: str | None = None,
) -> CallRecord:
    all_legs = (
        LegRecord(
            call_id, call_id, "PJSIP/trunk-00000001", LegRole.CUSTOMER, started_at, None, started_at + 1.5
        ),
        LegRecord(f"{call_id}.1", call_id, "Local/s@ivr-00000001;2", LegRole.INBOUND, started_at + 0.1),
        LegRecord(
            f"{call_id}.2",
            call_id,
            f"PJSIP/{agent}-00000002",
            LegRole.AGENT,
            started_at + 20.0,
            agent,
            started_at + 24.5,
            started_at + 90.0 if ended else None,
            16 if ended else None,
            "ANSWER",
        ),
    )[:legs]
    return CallRecord(
        call_id=call_id,
        started_at=started_at,
        caller_num=caller,
        caller_name="Ann Caller",
        dnis="8005550100",
        queue=queue,
        agent=agent,
        ivr_at=started_at + 1.0,
        queued_at=started_at + 10.0,
        offered_at=started_at + 20.0,
        answered_at=started_at + 24.5 if outcome is CallOutcome.ANSWERED else None,
        ended_at=started_at + 90.0 if ended else None,
        wait_seconds=14.5,
        talk_seconds=65.5 if ended else 0.0,
        hold_seconds=3.25,
        outcome=outcome if ended else CallOutcome.IN_PROGRESS,
        hangup_cause=16 if ended else None,
        hangup_by=HangupSide.CALLER if ended else None,
        recording_file=recording,
        legs=all_legs,
        offers=(
            OfferRecord(
                agent or "1002", f"{call_id}.2", started_at + 20.0, started_at + 24.5, True, "ANSWER"
            ),
        ),
        transfers=(TransferRecord(started_at + 60.0, "blind", "2001", agent),) if ended else (),
        version=version,
        extra={"lang": "en", "ivr": "main"},
    )


async def count(store: SqlCrmStore, table: str) -> int:
    async with store.engine.connect() as conn:
        return int((await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())


async def counts(store: SqlCrmStore) -> dict[str, int]:
    tables = ("calls", "call_legs", "call_offers", "call_transfers", "recordings")
    return {table: await count(store, table) for table in tables}


def assert_same_call(got: CallRecord | None, want: CallRecord) -> None:
    assert got is not None
    times = ("started_at", "ivr_at", "queued_at", "offered_at", "answered_at", "ended_at")
    for name in times:
        a, b = getattr(got, name), getattr(want, name)
        assert (a is None) == (b is None), name
        if a is not None:
            assert a == pytest.approx(b, abs=1e-6), name
    plain = {f.name for f in dataclasses.fields(CallRecord)} - set(times) - {"legs", "offers", "transfers"}
    for name in plain:
        assert getattr(got, name) == getattr(want, name), name
    assert [leg.uniqueid for leg in got.legs] == [leg.uniqueid for leg in want.legs]
    for a_leg, b_leg in zip(got.legs, want.legs, strict=True):
        assert dataclasses.replace(
            a_leg, started_at=0, answered_at=None, ended_at=None
        ) == dataclasses.replace(b_leg, started_at=0, answered_at=None, ended_at=None)
        assert a_leg.started_at == pytest.approx(b_leg.started_at, abs=1e-6)
        assert (a_leg.ended_at is None) == (b_leg.ended_at is None)
    assert len(got.offers) == len(want.offers)
    for a_offer, b_offer in zip(got.offers, want.offers, strict=True):
        assert (a_offer.agent, a_offer.uniqueid, a_offer.answered, a_offer.dial_status) == (
            b_offer.agent,
            b_offer.uniqueid,
            b_offer.answered,
            b_offer.dial_status,
        )
        assert a_offer.rang_at == pytest.approx(b_offer.rang_at, abs=1e-6)
    assert [(t.kind, t.target, t.from_agent) for t in got.transfers] == [
        (t.kind, t.target, t.from_agent) for t in want.transfers
    ]


# -- protocol and health -------------------------------------------------------------------------------


async def test_implements_the_port(store: SqlCrmStore) -> None:
    port: CrmStore = store  # mypy checks the structural match; this checks it at run time too
    await port.ping()


# -- save_calls ----------------------------------------------------------------------------------------


async def test_round_trip(store: SqlCrmStore) -> None:
    call = make_call(recording="2023/11/14/1700000000.1.wav")
    await store.save_calls([call])
    assert_same_call(await store.get_call(call.call_id), call)
    assert await store.get_call("nope") is None


async def test_times_are_utc_timestamps(store: SqlCrmStore) -> None:
    await store.save_calls([make_call()])
    async with store.engine.connect() as conn:
        row = (await conn.execute(text("SELECT started_at FROM calls"))).one()
    started = row[0]
    if isinstance(started, str):  # SQLite keeps naive UTC text
        started = datetime.fromisoformat(started).replace(tzinfo=UTC)
    assert started == datetime.fromtimestamp(T0, UTC)


async def test_same_batch_twice_is_idempotent(store: SqlCrmStore) -> None:
    batch = [make_call(f"1700000000.{i}", recording=f"r/{i}.wav" if i % 2 else None) for i in range(10)]
    await store.save_calls(batch)
    first = await counts(store)
    assert first == {"calls": 10, "call_legs": 30, "call_offers": 10, "call_transfers": 10, "recordings": 5}
    await store.save_calls(batch)
    await store.save_calls(list(reversed(batch)))
    assert await counts(store) == first


async def test_lower_or_equal_version_is_ignored(store: SqlCrmStore) -> None:
    v5 = make_call(version=5, agent="1005")
    await store.save_calls([v5])
    stale = make_call(version=4, agent="1004", outcome=CallOutcome.ABANDONED)
    same = make_call(version=5, agent="1099", queue="other")
    await store.save_calls([stale])
    await store.save_calls([same])
    got = await store.get_call(v5.call_id)
    assert got is not None
    assert (got.version, got.agent, got.queue, got.outcome) == (5, "1005", "sales", CallOutcome.ANSWERED)
    # the stale record's legs and offers did not overwrite the stored ones either
    assert got.legs[2].agent == "1005"
    assert got.offers[0].agent == "1005"


async def test_higher_version_updates_and_adds_children(store: SqlCrmStore) -> None:
    live = make_call(version=1, ended=False, legs=2)
    await store.save_calls([live])
    assert await store.open_call_ids() == [live.call_id]
    done = make_call(version=7, ended=True, legs=3, recording="r/x.wav")
    await store.save_calls([done])
    assert_same_call(await store.get_call(done.call_id), done)
    assert await counts(store) == {
        "calls": 1,
        "call_legs": 3,
        "call_offers": 1,
        "call_transfers": 1,
        "recordings": 1,
    }
    assert await store.open_call_ids() == []


async def test_duplicates_within_a_batch_keep_the_highest_version(store: SqlCrmStore) -> None:
    await store.save_calls([make_call(version=3, agent="1003"), make_call(version=9, agent="1009"),
                            make_call(version=2, agent="1002")])  # fmt: skip
    got = await store.get_call("1700000000.1")
    assert got is not None
    assert (got.version, got.agent) == (9, "1009")
    assert await count(store, "call_legs") == 3


async def test_empty_batch(store: SqlCrmStore) -> None:
    await store.save_calls([])
    assert await count(store, "calls") == 0


async def test_large_batch_in_one_call(store: SqlCrmStore) -> None:
    batch = [make_call(f"1700000001.{i}", started_at=T0 + i) for i in range(1200)]  # > one IN chunk
    await store.save_calls(batch)
    await store.save_calls(batch)
    assert await count(store, "calls") == 1200
    assert await count(store, "call_legs") == 3600


async def test_recording_metadata(store: SqlCrmStore) -> None:
    call = make_call(recording="r/a.wav")
    await store.save_calls([call])
    await store.save_recording(
        call.call_id, "r/a.wav", size_bytes=1234, duration_seconds=65.5, sha256="ab" * 32
    )
    await store.save_calls([dataclasses.replace(call, version=2)])  # replay does not clear the metadata
    async with store.engine.connect() as conn:
        row = (
            await conn.execute(text("SELECT size_bytes, duration_seconds, sha256, call_id FROM recordings"))
        ).one()
    assert tuple(row) == (1234, 65.5, "ab" * 32, call.call_id)
    with pytest.raises(StoreError):  # no such call
        await store.save_recording("missing", "r/b.wav")


def resumed_snapshot(stored: CallRecord, *, version: int, outcome: CallOutcome) -> CallRecord:
    """What the tracker writes for ``stored`` after a service restart mid-call: the call rebuilt from a
    resync (CoreShowChannels), so later or unknown start times, no queue, agent, recording or IVR data."""
    t = stored.started_at
    resumed_at = t + 60.0
    legs = tuple(
        dataclasses.replace(
            leg,
            started_at=leg.started_at + 0.75,  # the channel age is whole seconds
            answered_at=resumed_at if leg.answered_at is not None else None,
            agent=None,
            dial_status=None,
            ended_at=t + 120.0,
            hangup_cause=16,
        )
        for leg in stored.legs
    )
    return CallRecord(
        call_id=stored.call_id,
        started_at=t + 0.75,
        direction="internal",
        caller_num=stored.caller_num,
        ivr_at=t + 0.75,
        answered_at=resumed_at if outcome is CallOutcome.ANSWERED else None,
        ended_at=t + 120.0,
        wait_seconds=None,
        talk_seconds=60.0,
        hold_seconds=0.0,
        outcome=outcome,
        hangup_cause=16,
        hangup_by=HangupSide.AGENT,
        legs=legs,
        version=version,
        extra={"resumed": "1"},
    )


@pytest.mark.parametrize("resumed_outcome", [CallOutcome.ANSWERED, CallOutcome.UNANSWERED])
async def test_resumed_snapshot_keeps_the_earliest_start_times(
    store: SqlCrmStore, resumed_outcome: CallOutcome
) -> None:
    before = make_call(version=1, ended=False, recording="r/live.wav")  # written before the restart
    await store.save_calls([before])
    after = resumed_snapshot(before, version=2, outcome=resumed_outcome)
    await store.save_calls([after])
    got = await store.get_call(before.call_id)
    assert got is not None
    # first known wins: every start time stored before the restart is kept
    for name in ("started_at", "ivr_at", "queued_at", "offered_at", "answered_at"):
        assert getattr(got, name) == pytest.approx(getattr(before, name), abs=1e-6), name
    # latest wins: the facts of the end of the call
    assert got.ended_at == pytest.approx(before.started_at + 120.0, abs=1e-6)
    assert got.version == 2
    assert (got.talk_seconds, got.hold_seconds, got.hangup_cause, got.hangup_by) == (
        60.0,
        0.0,
        16,
        HangupSide.AGENT,
    )
    # derived from the merged times: answered (an agent did answer), wait = answered - queued
    assert got.outcome is CallOutcome.ANSWERED
    assert got.wait_seconds == pytest.approx(14.5, abs=1e-6)
    # what the resumed snapshot does not know keeps the stored value
    assert (got.direction, got.queue, got.agent, got.caller_name, got.dnis) == (
        "inbound",
        "sales",
        "1001",
        "Ann Caller",
        "8005550100",
    )
    assert got.recording_file == "r/live.wav"
    assert got.extra == {"lang": "en", "ivr": "main", "resumed": "1"}
    # legs: the same rules
    legs = {leg.uniqueid: leg for leg in got.legs}
    for old in before.legs:
        leg = legs[old.uniqueid]
        assert leg.started_at == pytest.approx(old.started_at, abs=1e-6)
        assert (leg.answered_at is None) == (old.answered_at is None)
        if old.answered_at is not None:
            assert leg.answered_at == pytest.approx(old.answered_at, abs=1e-6)
        assert leg.ended_at == pytest.approx(before.started_at + 120.0, abs=1e-6)
        assert (leg.agent, leg.dial_status) == (old.agent, old.dial_status)
    assert await store.open_call_ids() == []


async def test_later_snapshots_still_fill_and_replace(store: SqlCrmStore) -> None:
    live = dataclasses.replace(
        make_call(version=1, ended=False, agent=None),
        answered_at=None,
        offered_at=None,
        wait_seconds=None,
        direction="internal",
        caller_name="",
    )
    await store.save_calls([live])
    done = make_call(version=2, outcome=CallOutcome.ANSWERED, agent="1002")  # normal progress
    await store.save_calls([done])
    assert_same_call(await store.get_call(done.call_id), done)
    # started_at: the earliest wins (a later one never replaces it, an earlier one does);
    # queued_at and the other start times: the first known wins (wait_seconds follows them)
    later = dataclasses.replace(done, version=3, started_at=T0 + 5, queued_at=T0 + 12, wait_seconds=12.5)
    await store.save_calls([later])
    got = await store.get_call(done.call_id)
    assert got is not None
    assert (got.started_at, got.queued_at, got.wait_seconds) == (T0, T0 + 10.0, 14.5)
    earlier = dataclasses.replace(done, version=4, started_at=T0 - 2, queued_at=T0 + 4.5, wait_seconds=20.0)
    await store.save_calls([earlier])
    got = await store.get_call(done.call_id)
    assert got is not None
    assert (got.started_at, got.queued_at, got.wait_seconds) == (T0 - 2, T0 + 10.0, 14.5)


# -- list_calls ----------------------------------------------------------------------------------------


@pytest.fixture
async def many_calls(store: SqlCrmStore) -> list[CallRecord]:
    calls = []
    for i in range(30):
        calls.append(
            make_call(
                f"17000000{i:02d}.5",
                started_at=T0 + i * 60,
                caller=f"+1555000{i:04d}",
                agent=("1001", "1002", "1003")[i % 3],
                queue=("sales", "support")[i % 2],
                outcome=(CallOutcome.ANSWERED, CallOutcome.ABANDONED)[i % 5 == 0],
                ended=i != 29,
            )
        )
    await store.save_calls(calls)
    return calls


async def test_list_all_newest_first(store: SqlCrmStore, many_calls: list[CallRecord]) -> None:
    page = await store.list_calls(CallQuery(limit=10))
    assert page.total == 30
    assert (page.limit, page.offset) == (10, 0)
    assert [c.call_id for c in page.calls] == [c.call_id for c in reversed(many_calls)][:10]
    assert all(len(c.legs) == 3 for c in page.calls)


async def test_list_pagination(store: SqlCrmStore, many_calls: list[CallRecord]) -> None:
    seen: list[str] = []
    for offset in range(0, 40, 7):
        page = await store.list_calls(CallQuery(limit=7, offset=offset))
        assert page.total == 30
        seen.extend(c.call_id for c in page.calls)
    assert seen == [c.call_id for c in reversed(many_calls)]
    beyond = await store.list_calls(CallQuery(limit=7, offset=100))
    assert (beyond.calls, beyond.total) == ((), 30)


async def test_list_ties_ordered_by_id(store: SqlCrmStore) -> None:
    await store.save_calls([make_call(f"c{i}", started_at=T0) for i in (3, 1, 2)])
    page = await store.list_calls(CallQuery())
    assert [c.call_id for c in page.calls] == ["c1", "c2", "c3"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (CallQuery(since=T0 + 10 * 60, until=T0 + 20 * 60), set(range(10, 20))),
        (CallQuery(since=T0 + 25 * 60), set(range(25, 30))),
        (CallQuery(until=T0 + 60), {0}),
        (CallQuery(caller="0001"), {1, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19}),
        (CallQuery(caller="00002"), {2, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29}),
        (CallQuery(caller="%"), set()),
        (CallQuery(caller="_"), set()),
        (CallQuery(agent="1002"), set(range(1, 30, 3))),
        (CallQuery(queue="support"), set(range(1, 30, 2))),
        (CallQuery(outcome=CallOutcome.ABANDONED), {0, 5, 10, 15, 20, 25}),
        (CallQuery(outcome=CallOutcome.IN_PROGRESS), {29}),
        (CallQuery(agent="1001", queue="sales", since=T0 + 60 * 6), {6, 12, 18, 24}),
    ],
)
async def test_list_filters(
    store: SqlCrmStore, many_calls: list[CallRecord], query: CallQuery, expected: set[int]
) -> None:
    page = await store.list_calls(dataclasses.replace(query, limit=100))
    assert page.total == len(expected)
    assert {c.call_id for c in page.calls} == {many_calls[i].call_id for i in expected}


# -- users and API tokens --------------------------------------------------------------------------------


async def test_users(store: SqlCrmStore) -> None:
    ann = await store.add_user("ann", "hash-a", Role.AGENT, display_name="Ann", agent="1001")
    bob = await store.add_user("bob", "hash-b", Role.SUPERVISOR)
    assert ann.id != bob.id
    assert (ann.username, ann.role, ann.agent, ann.display_name, ann.active) == (
        "ann",
        Role.AGENT,
        "1001",
        "Ann",
        True,
    )
    creds = await store.get_credentials("ann")
    assert creds is not None
    assert (creds.user, creds.password_hash) == (ann, "hash-a")
    assert await store.get_credentials("nobody") is None
    assert await store.get_user(bob.id) == bob
    assert await store.get_user(9999) is None
    with pytest.raises(DuplicateError) as info:
        await store.add_user("ann", "other", Role.ADMIN)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, StoreError)
    assert "ann" in str(info.value)


async def test_api_tokens(store: SqlCrmStore) -> None:
    ann = await store.add_user("ann", "hash-a", Role.QA)
    await store.add_api_token(ann.id, "digest-1", "ci")
    assert await store.user_for_token("digest-1") == ann
    assert await store.user_for_token("digest-2") is None
    async with store.engine.connect() as conn:
        used = (await conn.execute(text("SELECT last_used_at FROM api_tokens"))).scalar_one()
    assert used is not None
    assert await store.user_for_token("digest-1") == ann  # within the touch interval: read only
    with pytest.raises(DuplicateError):
        await store.add_api_token(ann.id, "digest-1")
    with pytest.raises(StoreError):
        await store.add_api_token(424242, "digest-3")  # no such user
    await store.set_user_active(ann.id, False)
    assert await store.user_for_token("digest-1") is None


# -- agents and customers ---------------------------------------------------------------------------------


async def test_agents_upsert(store: SqlCrmStore) -> None:
    await store.upsert_agents([("1001", "Ann", "PJSIP/1001"), ("1002", "Bob", "PJSIP/1002")])
    await store.upsert_agents([("1002", "Robert", "PJSIP/1002"), ("1003", "Cy", "SIP/1003")])
    await store.upsert_agents([])
    assert await store.list_agents() == [
        ("1001", "Ann", "PJSIP/1001"),
        ("1002", "Robert", "PJSIP/1002"),
        ("1003", "Cy", "SIP/1003"),
    ]


async def test_customers_and_phone_lookup(store: SqlCrmStore) -> None:
    acme = await store.add_customer(
        "Ann Smith",
        ["(555) 123-0001", ("+44 20 7946 0958", "office")],
        company="Acme",
        segment="vip",
        value_score=9.5,
    )
    assert acme.vip and acme.segment is Segment.VIP
    assert acme.phones == ("+15551230001", "+442079460958")
    found = await store.find_customer_by_phone("+15551230001")
    assert found == acme
    assert await store.find_customer_by_phone("0044 20 7946 0958") == acme
    assert await store.find_customer_by_phone("+15559999999") is None
    assert await store.find_customer_by_phone("garbage") is None
    with pytest.raises(ValueError, match="not a phone number"):
        await store.add_customer("Bad", ["call me"])
    with pytest.raises(DuplicateError):
        await store.add_customer("Other", ["555-123-0001"])
    # the failed insert left nothing behind
    assert await count(store, "customers") == 1

    # calls from a known number are linked to the customer
    await store.save_calls(
        [make_call("known", caller="555.123.0001"), make_call("unknown", caller="+15550000000")]
    )
    assert await store.call_customer_id("known") == acme.id
    assert await store.call_customer_id("unknown") is None
