"""The live call model fed with the real traces (translated with the trace's own clock)."""

from __future__ import annotations

import dataclasses

import pytest
from tests.support.trace_messages import trace_messages

from callcenter.domain import events as ev
from callcenter.domain.calls import CallOutcome, CallRecord, HangupSide, LegRole
from callcenter.domain.events import ChannelSnapshot, ChannelState
from callcenter.pbx.translate import Translator
from callcenter.services.tracker import CallTracker


def replay(name: str, tracker: CallTracker | None = None) -> tuple[CallTracker, dict[str, CallRecord]]:
    tracker = tracker or CallTracker()
    tr = Translator()
    finished: dict[str, CallRecord] = {}
    tracker.on_finished(lambda r: finished.__setitem__(r.call_id, r))
    for t, _, msg in trace_messages(name):
        event = tr(msg, at=t)
        if event is not None:
            tracker.handle(event)
    return tracker, finished


def inbound(calls: dict[str, CallRecord]) -> list[CallRecord]:
    return sorted((c for c in calls.values() if c.direction == "inbound"), key=lambda c: c.started_at)


def test_ivr_to_agent(traces_dir: object) -> None:
    tracker, calls = replay("ivr-to-agent.ami")
    assert tracker.live_calls == 0
    (call,) = inbound(calls)
    assert call.call_id == "1795439030.2"
    assert call.outcome is CallOutcome.ANSWERED
    assert call.agent == "1001"
    assert (call.caller_num, call.caller_name, call.dnis) == ("5551234", "Customer One", "8002")
    # trace clock: Dial at 3.21, agent answers at 5.21 (rings 2 s), customer hangs up at 8.46
    assert call.wait_seconds == pytest.approx(2.0, abs=1.0)
    assert call.talk_seconds == pytest.approx(3.25, abs=1.0)
    assert call.ivr_at is not None and call.ivr_at < call.offered_at  # type: ignore[operator]
    assert call.hangup_by is HangupSide.CALLER
    assert call.recording_file == "/var/spool/asterisk/monitor/1795439030.3-1795439033.4.wav"
    roles = sorted(leg.role for leg in call.legs)
    assert roles == sorted([LegRole.CUSTOMER, LegRole.INBOUND, LegRole.AGENT, LegRole.AGENT])


def test_agent_no_answer_then_answer_and_agent_hangs_up(traces_dir: object) -> None:
    _, calls = replay("agent-no-answer.ami")
    (call,) = inbound(calls)
    assert [(o.agent, o.answered, o.dial_status) for o in call.offers] == [
        ("1003", False, "NOANSWER"),
        ("1004", True, "ANSWER"),
    ]
    assert call.agent == "1004"
    assert call.outcome is CallOutcome.ANSWERED
    assert call.hangup_by is HangupSide.AGENT
    assert call.talk_seconds == pytest.approx(3.9, abs=1.0)


def test_caller_abandons_in_ivr_and_delayed_agi_hangup_does_not_stretch_the_call(traces_dir: object) -> None:
    _, calls = replay("caller-abandons.ami")
    a, b = inbound(calls)
    assert a.outcome is b.outcome is CallOutcome.ABANDONED_IN_IVR
    assert a.hangup_by is b.hangup_by is HangupSide.CALLER
    # call B: the customer hangs up at 11.13, the AGI channel's Hangup only at 15.18 (fact 27)
    assert b.ended_at == pytest.approx(11.13, abs=0.05)
    assert b.dnis == "8010"


def test_app_queue_round_robin_abandon_and_ring_no_answer(traces_dir: object) -> None:
    _, calls = replay("app-queue.ami")
    c1, c2, c3, c4 = inbound(calls)
    assert (c1.agent, c2.agent) == ("1001", "1002")
    assert c1.queue == c2.queue == c3.queue == "support"
    assert c3.outcome is CallOutcome.ABANDONED
    assert c3.wait_seconds == pytest.approx(4.0, abs=1.0)
    assert [(o.agent, o.answered) for o in c4.offers] == [("1003", False), ("1001", True)]


def test_redirect_blind_and_attended_transfers_recorded(traces_dir: object) -> None:
    tracker, calls = replay("redirect-transfer.ami")
    assert tracker.live_calls == 0
    a, b, c = inbound(calls)
    assert [(t.kind, t.target, t.from_agent) for t in a.transfers] == [("redirect", "1002", "1001")]
    assert [(t.kind, t.from_agent) for t in b.transfers] == [("blind", "1001")]
    assert [(t.kind, t.target, t.from_agent) for t in c.transfers] == [("attended", "1002", "1001")]
    assert a.agent == b.agent == c.agent == "1002"
    assert c.hold_seconds > 0  # Atxfer puts the caller on hold (fact 20)
    for call in (a, b, c):
        assert call.hangup_by is HangupSide.SYSTEM  # each was ended with AMI Hangup
        assert call.outcome is CallOutcome.ANSWERED


def test_late_events_after_hangup_do_not_revive_a_leg(traces_dir: object) -> None:
    tracker, _ = replay("redirect-transfer.ami")
    assert tracker.late_events >= 1  # NewCallerid after Hangup in the atxfer part
    assert tracker.live_calls == 0 and not tracker.legs


def test_restart_closes_the_live_call(traces_dir: object) -> None:
    tracker, calls = replay("restart.ami")
    assert tracker.live_calls == 0
    assert len(calls) == 2


def test_every_call_in_every_trace_ends(traces_dir: object) -> None:
    for name in ("chanspy.ami", "originate-variants.ami", "login-and-actions.ami"):
        tracker, calls = replay(name)
        assert tracker.live_calls == 0, name
        assert all(c.outcome is not CallOutcome.IN_PROGRESS for c in calls.values())


# --- disorder and resync, with hand-made events -------------------------------------------------


def snap(
    uniqueid: str, linkedid: str, channel: str, state: ChannelState = ChannelState.UP
) -> ChannelSnapshot:
    return ChannelSnapshot(
        channel=channel,
        uniqueid=uniqueid,
        linkedid=linkedid,
        state=state,
        caller_num="5550100",
        context="incoming",
        exten="8000",
    )


def test_events_for_unseen_channels_create_the_call() -> None:
    tracker = CallTracker()
    tracker.handle(ev.ChannelStateChanged(at=1.0, chan=snap("9.1", "9.1", "PJSIP/trunk-00000001")))
    assert tracker.live_calls == 1
    tracker.handle(ev.ChannelHungUp(at=2.0, chan=snap("9.1", "9.1", "PJSIP/trunk-00000001"), cause=16))
    (record,) = tracker.take_changes()
    assert record.ended_at == 2.0 and record.caller_num == "5550100" and record.dnis == "8000"


def test_duplicate_dial_end_keeps_the_first_status() -> None:
    tracker = CallTracker()
    cust = snap("9.1", "9.1", "PJSIP/trunk-00000001")
    agent = snap("9.2", "9.1", "PJSIP/1001-00000002", ChannelState.RINGING)
    tracker.handle(ev.ChannelCreated(at=0.0, chan=cust))
    tracker.handle(ev.DialBegan(at=1.0, caller=cust, dest=agent))
    tracker.handle(ev.DialEnded(at=3.0, caller=cust, dest=agent, status=ev.DialStatus.NOANSWER))
    tracker.handle(ev.DialEnded(at=3.1, caller=cust, dest=agent, status=ev.DialStatus.CANCEL))
    record = tracker.snapshot("9.1")
    assert record is not None
    assert [(o.dial_status, o.ended_at) for o in record.offers] == [("NOANSWER", 3.0)]


def test_resync_closes_calls_that_vanished_while_the_link_was_down() -> None:
    tracker = CallTracker()
    gone = snap("9.1", "9.1", "PJSIP/trunk-00000001")
    alive = snap("9.5", "9.5", "PJSIP/trunk-00000005")
    tracker.handle(ev.ChannelCreated(at=0.0, chan=gone))
    tracker.handle(ev.ChannelCreated(at=0.0, chan=alive))
    tracker.handle(ev.ChannelListed(at=10.0, chan=alive, duration_seconds=10))
    tracker.handle(ev.ResyncComplete(at=10.0, live_uniqueids=frozenset({"9.5"})))
    records = {r.call_id: r for r in tracker.take_changes()}
    assert records["9.1"].outcome is CallOutcome.LOST
    assert records["9.1"].hangup_by is HangupSide.SYSTEM
    assert records["9.5"].ended_at is None
    assert tracker.live_calls == 1


def test_channel_listed_after_service_restart_resumes_the_call() -> None:
    tracker = CallTracker()
    cust = snap("9.1", "9.1", "PJSIP/trunk-00000001")
    tracker.handle(ev.ChannelListed(at=100.0, chan=cust, duration_seconds=40, application="AGI"))
    record = tracker.snapshot("9.1")
    assert record is not None
    assert record.started_at == 60.0 and record.ivr_at == 60.0
    assert record.extra.get("resumed") == "1"


def test_versions_increase_across_snapshots() -> None:
    tracker = CallTracker()
    cust = snap("9.1", "9.1", "PJSIP/trunk-00000001")
    tracker.handle(ev.ChannelCreated(at=0.0, chan=cust))
    first = tracker.take_changes()[0].version
    tracker.handle(ev.ChannelHungUp(at=1.0, chan=cust, cause=16))
    assert tracker.take_changes()[0].version > first


# --- endings caused by the PBX, callbacks (issue 12, issue 13) ---------------------------------------


def local_customer(uid: str, linkedid: str, half: str, **kw: object) -> ChannelSnapshot:
    """The simulator's customers are Local channels: ``;1`` originated, ``;2`` runs [incoming]."""
    return ChannelSnapshot(
        channel=f"Local/8002@incoming-00000001;{half}",
        uniqueid=uid,
        linkedid=linkedid,
        state=ChannelState.UP,
        caller_num="5550100",
        context="incoming",
        exten="8002",
        **kw,  # type: ignore[arg-type]
    )


def test_a_waiting_caller_hung_up_by_a_pbx_shutdown_is_not_an_abandon() -> None:
    """``core restart now``: SoftHangupRequest Cause 4 on both Local halves (fact 15/28). Before the fix
    the Local customer's request counted as the caller's own hang-up: an abandon in the KPIs."""
    from callcenter.domain.kpis import FactKind, call_fact

    tracker = CallTracker()
    one, two = local_customer("9.1", "9.1", "1"), local_customer("9.2", "9.1", "2")
    tracker.handle(ev.ChannelCreated(at=0.0, chan=one))
    tracker.handle(ev.ChannelCreated(at=0.0, chan=two))
    tracker.handle(ev.VariableSet(at=1.0, chan=two, variable="CC_QUEUE", value="support"))
    for at, chan in ((5.0, two), (5.0, one)):
        tracker.handle(ev.HangupRequested(at=at, chan=chan, cause=4, soft=True))
    for chan in (two, one):
        tracker.handle(ev.ChannelHungUp(at=5.01, chan=chan, cause=0))
    (record,) = [r for r in tracker.take_changes() if r.ended]
    assert record.outcome is CallOutcome.LOST and record.hangup_by is HangupSide.SYSTEM
    assert record.extra["end_cause"] == "pbx_shutdown"
    fact = call_fact(record, lambda _q: 20.0)
    assert fact is not None and fact.kind is FactKind.OTHER


def test_shutdown_event_marks_the_calls_it_ends() -> None:
    tracker = CallTracker()
    cust = snap("9.1", "9.1", "PJSIP/trunk-00000001")
    tracker.handle(ev.ChannelCreated(at=0.0, chan=cust))
    tracker.handle(ev.PbxShutdown(at=3.0, clean=True, restart=True))
    tracker.handle(ev.ResyncComplete(at=6.0, live_uniqueids=frozenset()))
    (record,) = [r for r in tracker.take_changes() if r.ended]
    assert record.extra["end_cause"] == "pbx_shutdown" and record.outcome is CallOutcome.LOST


def test_ivr_session_start_sets_ivr_at_before_or_after_ami_shows_the_call() -> None:
    tracker = CallTracker()
    tracker.handle(ev.IvrSessionStarted(at=1.5, uniqueid="9.2", linkedid="9.1"))  # AMI is behind
    tracker.handle(ev.ChannelCreated(at=1.6, chan=snap("9.1", "9.1", "PJSIP/trunk-00000001")))
    assert tracker.snapshot("9.1").ivr_at == 1.5  # type: ignore[union-attr]
    tracker.handle(ev.ChannelCreated(at=2.0, chan=snap("8.1", "8.1", "PJSIP/trunk-00000002")))
    tracker.handle(ev.IvrSessionStarted(at=2.5, uniqueid="8.1", linkedid="8.1"))
    assert tracker.snapshot("8.1").ivr_at == 2.5  # type: ignore[union-attr]


def test_a_callback_continues_the_finished_call_from_memory() -> None:
    """The callback's agent leg is created without ``CC_CALLID`` (Newchannel), learns it from its next
    event, and the customer leg it dials shares its Linkedid: all of it is the first call's record,
    merged with that call's final record even before the store has it."""
    tracker = CallTracker()
    cust = snap("9.1", "9.1", "PJSIP/trunk-00000001")
    tracker.handle(ev.ChannelCreated(at=0.0, chan=cust))
    tracker.handle(ev.VariableSet(at=1.0, chan=cust, variable="CC_QUEUE", value="support"))
    tracker.handle(ev.ChannelHungUp(at=5.0, chan=cust, cause=16))
    first = [r for r in tracker.take_changes() if r.ended]
    assert [r.outcome for r in first] == [CallOutcome.ABANDONED]
    agent_new = ChannelSnapshot(channel="PJSIP/1001-00000002", uniqueid="20.1", linkedid="20.1")
    agent = dataclasses.replace(agent_new, variables=(("CC_CALLID", "9.1"),), state=ChannelState.UP)
    tracker.handle(ev.ChannelCreated(at=20.0, chan=agent_new))
    assert tracker.take_changes() == []  # an agent-only originate: not stored while undecided
    tracker.handle(ev.CallerIdChanged(at=20.01, chan=agent))
    tracker.handle(ev.DialBegan(at=20.02, caller=None, dest=agent))
    tracker.handle(ev.DialEnded(at=22.0, caller=None, dest=agent, status=ev.DialStatus.ANSWER))
    out = ChannelSnapshot(
        channel="PJSIP/trunk-00000003", uniqueid="20.2", linkedid="20.1", context="outbound", exten="5550100"
    )
    tracker.handle(ev.ChannelCreated(at=22.1, chan=out))
    for chan in (out, agent):
        tracker.handle(ev.ChannelHungUp(at=40.0, chan=chan, cause=16))
    records = tracker.take_changes()
    assert {r.call_id for r in records} == {"9.1"}
    final = next(r for r in records if r.ended)
    assert final.caller_num == "5550100" and final.outcome is CallOutcome.ANSWERED and final.agent == "1001"
    assert final.started_at == 0.0 and final.queue == "support" and final.direction == "inbound"
    assert final.extra["continued_in"] == "20.1"
    assert {leg.uniqueid for leg in final.legs} == {"9.1", "20.1", "20.2"}
