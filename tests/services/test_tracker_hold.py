"""The console's hold (music in ``[cc-hold]`` after a dual Redirect, resume by the Bridge action) and the
transfer to a queue (``[cc-queue]``), as the tracker sees them: hold time, talk time, no transfer for a
hold, no made-up "redirect" transfer when the queue later dials the next agent."""

from __future__ import annotations

import pytest

from callcenter.domain import events as ev
from callcenter.domain.calls import CallOutcome, CallRecord, HangupSide, LegRecord
from callcenter.domain.events import ChannelSnapshot, ChannelState
from callcenter.services.tracker import CallTracker

CALL = "1800.1"
CUSTOMER = ChannelSnapshot("Local/8002@incoming-00000001;1", "1800.1", CALL, ChannelState.UP, "5550100")
INBOUND = ChannelSnapshot(
    "Local/8002@incoming-00000001;2",
    "1800.2",
    CALL,
    ChannelState.UP,
    "5550100",
    context="incoming",
    exten="8002",
)
AGENT = ChannelSnapshot("PJSIP/1001-00000003", "1800.3", CALL, ChannelState.UP, context="agents")
AGENT2 = ChannelSnapshot("PJSIP/1002-00000004", "1800.4", CALL, ChannelState.UP, context="agents")


def at(snap: ChannelSnapshot, context: str, exten: str = "s") -> ChannelSnapshot:
    return ChannelSnapshot(
        snap.channel, snap.uniqueid, snap.linkedid, snap.state, snap.caller_num, context=context, exten=exten
    )


class Run:
    def __init__(self) -> None:
        self.tracker = CallTracker()
        self.finished: list[CallRecord] = []
        self.legs_ended: list[LegRecord] = []
        self.tracker.on_finished(self.finished.append)
        self.tracker.on_leg_ended(self.legs_ended.append)

    def __call__(self, event: ev.PbxEvent) -> None:
        self.tracker.handle(event)

    def answered(self, agent: ChannelSnapshot = AGENT, t: float = 2.0, bridge: str = "b1") -> None:
        self(ev.DialBegan(at=t, caller=INBOUND, dest=agent))
        self(ev.DialEnded(at=t + 1, caller=INBOUND, dest=agent, status=ev.DialStatus.ANSWER))
        self(ev.BridgeEntered(at=t + 1, chan=agent, bridge_id=bridge))
        self(ev.BridgeEntered(at=t + 1, chan=INBOUND, bridge_id=bridge))

    def hang_up(self, t: float, *snaps: ChannelSnapshot) -> None:
        for snap in snaps:
            self(ev.ChannelHungUp(at=t, chan=snap, cause=16))


def start() -> Run:
    run = Run()
    run(ev.ChannelCreated(at=0.0, chan=CUSTOMER))
    run(ev.ChannelCreated(at=0.0, chan=INBOUND))
    return run


def test_console_hold_counts_hold_not_talk_and_is_no_transfer() -> None:
    run = start()
    run.answered()  # bridged at 3
    assert [leg.channel for leg in run.tracker.bridge_peers(AGENT.uniqueid)] == [INBOUND.channel]
    # hold at 10: both leave the bridge (dual Redirect), the customer hears music in cc-hold
    run(ev.BridgeLeft(at=10.0, chan=INBOUND, bridge_id="b1"))
    run(ev.BridgeLeft(at=10.0, chan=AGENT, bridge_id="b1"))
    run(ev.MusicStarted(at=10.0, chan=at(INBOUND, "cc-hold"), music_class="default"))
    assert run.tracker.bridge_peers(AGENT.uniqueid) == []
    # resume at 14: the Bridge action (music stops, both enter a new bridge)
    run(ev.MusicStopped(at=14.0, chan=at(INBOUND, "cc-hold")))
    run(ev.BridgeEntered(at=14.0, chan=at(INBOUND, "cc-hold"), bridge_id="b2"))
    run(ev.BridgeEntered(at=14.0, chan=at(AGENT, "cc-hold-agent"), bridge_id="b2"))
    # a second hold from 16 to the customer's hang-up at 19 (the service then hangs up the agent)
    run(ev.BridgeLeft(at=16.0, chan=INBOUND, bridge_id="b2"))
    run(ev.BridgeLeft(at=16.0, chan=AGENT, bridge_id="b2"))
    run(ev.MusicStarted(at=16.0, chan=at(INBOUND, "cc-hold")))
    run(ev.HangupRequested(at=19.0, chan=CUSTOMER, cause=16))
    run.hang_up(19.0, CUSTOMER, INBOUND)
    run.hang_up(19.2, AGENT)
    (call,) = run.finished
    assert call.hold_seconds == pytest.approx(4.0 + 3.0)
    assert call.talk_seconds == pytest.approx(7.0 + 2.0)  # 3→10 and 14→16: bridged time only
    assert call.transfers == ()
    assert call.outcome is CallOutcome.ANSWERED and call.agent == "1001"
    assert call.hangup_by is HangupSide.CALLER  # the hold's bridge leave does not decide who hung up
    assert [leg.uniqueid for leg in run.legs_ended] == [CUSTOMER.uniqueid, INBOUND.uniqueid, AGENT.uniqueid]


def test_music_while_queued_or_ringing_is_not_hold() -> None:
    run = start()
    run(ev.MusicStarted(at=1.0, chan=INBOUND, music_class="default"))  # queue wait, Context incoming
    run(ev.MusicStopped(at=2.0, chan=INBOUND))
    run.answered()
    run.hang_up(6.0, CUSTOMER, INBOUND, AGENT)
    (call,) = run.finished
    assert call.hold_seconds == 0.0


def test_a_hold_redirect_that_dials_again_is_not_a_redirect_transfer() -> None:
    """A dial made from a hold context (a dialplan that rings the agent back) is still no transfer."""
    run = start()
    run.answered()
    run(ev.BridgeLeft(at=10.0, chan=INBOUND, bridge_id="b1"))
    run(ev.DialBegan(at=20.0, caller=at(INBOUND, "cc-hold"), dest=AGENT2))
    run.hang_up(21.0, CUSTOMER, INBOUND, AGENT, AGENT2)
    (call,) = run.finished
    assert call.transfers == ()


def test_queue_transfer_then_a_later_agent_is_one_blind_transfer() -> None:
    run = start()
    run.answered()
    run(
        ev.BlindTransferred(
            at=8.0,
            transferer=AGENT,
            transferee=INBOUND,
            extension="sales",
            context="cc-queue",
            result="Success",
        )
    )
    run(ev.BridgeLeft(at=8.0, chan=INBOUND, bridge_id="b1"))
    run.hang_up(8.1, AGENT)
    # the caller waits in the sales queue 20 s (far past the 3 s transfer window) before 1002 rings
    run.answered(AGENT2, t=28.0, bridge="b3")
    run.hang_up(40.0, CUSTOMER, INBOUND, AGENT2)
    (call,) = run.finished
    assert [(t.kind, t.target, t.from_agent) for t in call.transfers] == [("blind", "sales@cc-queue", "1001")]
    assert call.agent == "1002"
    assert [(o.agent, o.answered) for o in call.offers] == [("1001", True), ("1002", True)]
    assert call.hold_seconds == 0.0


def test_translator_turns_music_on_hold_into_events(traces_dir: object) -> None:
    from tests.support.trace_messages import trace_messages

    from callcenter.pbx.translate import Translator

    tr = Translator()
    out = [tr(m, at=t) for t, _, m in trace_messages("caller-abandons.ami") if m.event == "MusicOnHoldStart"]
    assert out and all(isinstance(e, ev.MusicStarted) for e in out)
    first = out[0]
    assert isinstance(first, ev.MusicStarted)
    assert (first.music_class, first.chan.context) == ("default", "incoming")
    stops = [tr(m, at=t) for t, _, m in trace_messages("caller-abandons.ami") if m.event == "MusicOnHoldStop"]
    assert stops and all(isinstance(e, ev.MusicStopped) for e in stops)
