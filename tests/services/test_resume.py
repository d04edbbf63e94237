"""Resume after a service restart: the tracker merges the stored record of calls a resync found alive,
and closes the stored open calls that no live channel shows (``services/resume``), against a fake store."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from callcenter.domain import events as ev
from callcenter.domain.calls import CallOutcome, CallRecord, HangupSide, LegRecord, LegRole, OfferRecord
from callcenter.domain.errors import StoreUnavailable
from callcenter.domain.events import ChannelSnapshot, ChannelState
from callcenter.services.resume import CallResumer
from callcenter.services.tracker import CallTracker

CALL = "9.1"
CUSTOMER = "PJSIP/trunk-00000001"
AGENT = "PJSIP/1001-00000002"


class FakeStore:
    def __init__(self, *calls: CallRecord) -> None:
        self.calls = {c.call_id: c for c in calls}
        self.down = False
        self.gate: asyncio.Event | None = None  # hold get_call until set
        self.reads: list[str] = []

    async def get_call(self, call_id: str) -> CallRecord | None:
        self.reads.append(call_id)
        if self.gate is not None:
            await self.gate.wait()
        if self.down:
            raise StoreUnavailable("down")
        return self.calls.get(call_id)

    async def open_call_ids(self) -> Sequence[str]:
        if self.down:
            raise StoreUnavailable("down")
        return sorted(c.call_id for c in self.calls.values() if c.outcome is CallOutcome.IN_PROGRESS)


def snap(uniqueid: str, channel: str, context: str = "incoming") -> ChannelSnapshot:
    return ChannelSnapshot(
        channel=channel,
        uniqueid=uniqueid,
        linkedid=CALL,
        state=ChannelState.UP,
        caller_num="5550100",
        context=context,
        exten="8000",
    )


def stored_call(call_id: str = CALL, *, answered: bool = True) -> CallRecord:
    """What the first process wrote: rang at 110, answered by 1001 at 112, 3 s of hold so far."""
    return CallRecord(
        call_id=call_id,
        started_at=100.0,
        caller_num="5550100",
        dnis="8000",
        queue="support",
        agent="1001" if answered else None,
        ivr_at=101.0,
        queued_at=105.0,
        offered_at=110.0,
        answered_at=112.0 if answered else None,
        wait_seconds=7.0 if answered else None,
        talk_seconds=20.0 if answered else 0.0,
        hold_seconds=3.0 if answered else 0.0,
        recording_file="/rec/9.1.wav" if answered else None,
        legs=(
            LegRecord(uniqueid=call_id, call_id=call_id, channel=CUSTOMER, role=LegRole.CUSTOMER,
                      started_at=100.0, answered_at=100.5),
            LegRecord(uniqueid="9.2", call_id=call_id, channel=AGENT, role=LegRole.AGENT, started_at=110.0,
                      agent="1001", answered_at=112.0 if answered else None),
        ),
        offers=(OfferRecord(agent="1001", uniqueid="9.2", rang_at=110.0, answered=answered,
                            ended_at=112.0 if answered else None),),
        version=5,
        extra={"ivr_choice": "2"},
    )  # fmt: skip


def resync(tracker: CallTracker, at: float, *, alive: bool = True) -> None:
    listed = []
    if alive:
        listed = [
            ev.ChannelListed(
                at=at, chan=snap(CALL, CUSTOMER), duration_seconds=int(at - 100.0), bridge_id="b1"
            ),
            ev.ChannelListed(
                at=at, chan=snap("9.2", AGENT, "agents"), duration_seconds=int(at - 110.0), bridge_id="b1"
            ),
        ]
    for e in listed:
        tracker.handle(e)
    tracker.handle(ev.ResyncComplete(at=at, live_uniqueids=frozenset(e.chan.uniqueid for e in listed)))


def hang_up(tracker: CallTracker, at: float) -> None:
    tracker.handle(ev.BridgeLeft(at=at, chan=snap("9.2", AGENT, "agents"), bridge_id="b1"))
    tracker.handle(ev.ChannelHungUp(at=at, chan=snap("9.2", AGENT, "agents"), cause=16))
    tracker.handle(ev.ChannelHungUp(at=at, chan=snap(CALL, CUSTOMER), cause=16))


def finished(tracker: CallTracker) -> list[CallRecord]:
    return [r for r in tracker.take_changes() if r.ended_at is not None]


async def settle(resumer: CallResumer, passes: int = 1) -> None:
    for _ in range(200):
        if resumer.passes >= passes and not resumer._wanted.is_set():
            await asyncio.sleep(0)
            return
        await asyncio.sleep(0.005)
    raise AssertionError(resumer.stats())


async def test_resumed_call_gets_its_stored_history_and_full_talk() -> None:
    tracker = CallTracker()
    resumer = CallResumer(tracker, FakeStore(stored_call()))
    resync(tracker, 150.0)
    await settle(resumer)
    live = tracker.snapshot(CALL)
    assert live is not None
    assert (live.answered_at, live.agent, live.queue, live.recording_file) == (
        112.0,
        "1001",
        "support",
        "/rec/9.1.wav",
    )
    assert (live.started_at, live.ivr_at, live.queued_at, live.offered_at) == (100.0, 101.0, 105.0, 110.0)
    assert live.extra == {"ivr_choice": "2", "resumed": "1"}
    assert {leg.uniqueid: leg.answered_at for leg in live.legs} == {CALL: 100.5, "9.2": 112.0}
    assert live.version > 5
    hang_up(tracker, 170.0)
    (call,) = finished(tracker)
    assert call.outcome is CallOutcome.ANSWERED and call.answered_at == 112.0
    # talk = stored answer .. real end (58 s) minus the hold stored before the restart (3 s)
    assert call.talk_seconds == pytest.approx(55.0)
    assert call.hold_seconds == pytest.approx(3.0)
    assert call.wait_seconds == pytest.approx(7.0)
    assert tracker.stats()["calls_restored"] == 1
    await resumer.close()


async def test_a_call_that_ends_before_its_stored_state_arrives_waits_for_it() -> None:
    tracker = CallTracker()
    store = FakeStore(stored_call())
    store.gate = asyncio.Event()
    seen: list[CallRecord] = []
    tracker.on_finished(seen.append)
    resumer = CallResumer(tracker, store)
    resync(tracker, 150.0)
    await asyncio.sleep(0.01)
    hang_up(tracker, 160.0)  # the store is slow: the call ended first
    assert finished(tracker) == [] and seen == [] and tracker.live_calls == 1
    store.gate.set()
    await settle(resumer)
    (call,) = finished(tracker)
    assert seen == [call]
    assert call.answered_at == 112.0 and call.talk_seconds == pytest.approx(160.0 - 112.0 - 3.0)
    assert tracker.live_calls == 0
    await resumer.close()


async def test_store_down_at_resume_goes_on_with_the_snapshot() -> None:
    tracker = CallTracker()
    store = FakeStore(stored_call())
    store.down = True
    resumer = CallResumer(tracker, store)
    resync(tracker, 150.0)
    await settle(resumer)
    assert resumer.stats()["store_failures"] == 2 and tracker.stats()["restores_failed"] == 1
    hang_up(tracker, 170.0)
    (call,) = finished(tracker)  # not held back: snapshot-only record
    assert call.answered_at == 150.0  # the snapshot's bound: bridged with agent 1001 by then
    assert call.agent == "1001" and call.outcome is CallOutcome.ANSWERED
    assert call.talk_seconds == pytest.approx(20.0)
    await resumer.close()


async def test_open_calls_absent_from_the_snapshot_are_closed() -> None:
    tracker = CallTracker()
    unanswered = stored_call("8.1", answered=False)
    store = FakeStore(stored_call(), unanswered)
    resumer = CallResumer(tracker, store)
    resync(tracker, 150.0, alive=False)
    await settle(resumer)
    calls = {c.call_id: c for c in finished(tracker)}
    answered, lost = calls[CALL], calls["8.1"]
    assert answered.outcome is CallOutcome.ANSWERED and lost.outcome is CallOutcome.LOST
    for call in (answered, lost):
        assert call.extra["closed_by"] == "resume" and call.hangup_by is HangupSide.SYSTEM
        assert call.version > 5
        assert all(leg.ended_at is not None for leg in call.legs)
    # ended: the last time the store saw the call (the agent's answer at 112 / the offer at 110)
    assert answered.ended_at == 112.0 and lost.ended_at == 110.0
    assert answered.talk_seconds == 0.0  # never past the bound
    assert lost.wait_seconds == pytest.approx(5.0)
    assert tracker.stats()["calls_closed_on_resume"] == 2
    # a second resync does not close them again
    resync(tracker, 160.0, alive=False)
    await settle(resumer, passes=2)
    assert finished(tracker) == [] and tracker.stats()["calls_closed_on_resume"] == 2
    await resumer.close()


async def test_calls_this_process_follows_are_neither_restored_nor_closed() -> None:
    tracker = CallTracker()
    store = FakeStore(stored_call())
    resumer = CallResumer(tracker, store)
    tracker.handle(ev.ChannelCreated(at=100.0, chan=snap(CALL, CUSTOMER)))
    resync(tracker, 150.0)  # a reconnect, not a restart: the call was already known
    await settle(resumer)
    assert store.reads == [] and tracker.stats()["calls_restored"] == 0
    assert tracker.live_calls == 1
    await resumer.close()


def test_close_stale_keeps_talk_within_the_bound() -> None:
    tracker = CallTracker()
    stored = stored_call()
    record = tracker.close_stale(stored, upper_bound=111.0)  # restarted before the stored answer?!
    assert record is not None and record.ended_at == 111.0 and record.talk_seconds == 0.0
    assert tracker.close_stale(stored, upper_bound=200.0) is None  # closed once
