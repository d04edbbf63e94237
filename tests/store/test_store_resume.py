"""Resume after a service restart against the real store (SQLite and PostgreSQL): a second tracker merges
what the first one stored, closes the stored open call that is gone, and the store keeps the result."""

from __future__ import annotations

import asyncio

import pytest

from callcenter.domain import events as ev
from callcenter.domain.calls import CallOutcome
from callcenter.domain.events import ChannelSnapshot, ChannelState, DialStatus
from callcenter.services.resume import CallResumer
from callcenter.services.tracker import CallTracker
from callcenter.store.crm import SqlCrmStore

T0 = 1_800_000_000.0


def snap(uniqueid: str, linkedid: str, channel: str, context: str = "incoming") -> ChannelSnapshot:
    return ChannelSnapshot(
        channel=channel,
        uniqueid=uniqueid,
        linkedid=linkedid,
        state=ChannelState.UP,
        caller_num="5550100",
        context=context,
        exten="8000",
    )


def answered_call(tracker: CallTracker, call_id: str, agent_uid: str) -> None:
    """A customer call queued at +5, rung to agent 1001 at +10, answered and bridged at +12."""
    cust = snap(call_id, call_id, f"PJSIP/trunk-{call_id}")
    agent = snap(agent_uid, call_id, f"PJSIP/1001-{agent_uid}", "agents")
    tracker.handle(ev.ChannelCreated(at=T0, chan=cust))
    tracker.handle(ev.VariableSet(at=T0 + 5, chan=cust, variable="CC_QUEUE", value="support"))
    tracker.handle(ev.DialBegan(at=T0 + 10, caller=cust, dest=agent))
    tracker.handle(ev.DialEnded(at=T0 + 12, caller=cust, dest=agent, status=DialStatus.ANSWER))
    tracker.handle(ev.BridgeEntered(at=T0 + 12, chan=cust, bridge_id=f"b-{call_id}"))
    tracker.handle(ev.BridgeEntered(at=T0 + 12, chan=agent, bridge_id=f"b-{call_id}"))


async def test_restart_restores_the_live_call_and_closes_the_gone_one(store: SqlCrmStore) -> None:
    first = CallTracker()
    answered_call(first, "1.1", "1.2")  # still up after the restart
    answered_call(first, "2.1", "2.2")  # ended while the service was down
    await store.save_calls(first.take_changes())
    assert sorted(await store.open_call_ids()) == ["1.1", "2.1"]

    second = CallTracker()  # the restarted service
    resumer = CallResumer(second, store)
    restart = T0 + 60
    cust = snap("1.1", "1.1", "PJSIP/trunk-1.1")
    agent = snap("1.2", "1.1", "PJSIP/1001-1.2", "agents")
    for chan, age in ((cust, 60), (agent, 50)):
        second.handle(ev.ChannelListed(at=restart, chan=chan, duration_seconds=age, bridge_id="b-1.1"))
    second.handle(ev.ResyncComplete(at=restart, live_uniqueids=frozenset({"1.1", "1.2"})))
    for _ in range(400):
        if second.stats()["calls_closed_on_resume"] == 1 and second.stats()["calls_restored"] == 1:
            break
        await asyncio.sleep(0.01)
    assert second.stats()["calls_restored"] == 1 and second.stats()["calls_closed_on_resume"] == 1
    second.handle(ev.ChannelHungUp(at=T0 + 90, chan=agent, cause=16))
    second.handle(ev.ChannelHungUp(at=T0 + 90, chan=cust, cause=16))
    await store.save_calls(second.take_changes())
    await resumer.close()

    assert await store.open_call_ids() == []
    live = await store.get_call("1.1")
    assert live is not None and live.outcome is CallOutcome.ANSWERED
    assert (live.queue, live.agent, live.answered_at, live.queued_at) == ("support", "1001", T0 + 12, T0 + 5)
    assert live.talk_seconds == pytest.approx(78.0)  # stored answer (+12) to the real end (+90)
    gone = await store.get_call("2.1")
    assert gone is not None and gone.outcome is CallOutcome.ANSWERED
    assert gone.extra.get("closed_by") == "resume"
    assert gone.ended_at == pytest.approx(T0 + 12)  # the last time the store saw it
    assert gone.talk_seconds == 0.0
