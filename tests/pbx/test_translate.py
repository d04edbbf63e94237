"""pbx/translate.py against every real trace: typed events, no malformed frames, known quirks."""

from __future__ import annotations

import pytest

from callcenter.domain import events as ev
from callcenter.domain.events import ChannelState, DialStatus
from callcenter.pbx.message import parse_message
from callcenter.pbx.translate import Translator
from tests.support.trace_messages import trace_messages

TRACES = [
    "ivr-to-agent.ami",
    "agent-no-answer.ami",
    "caller-abandons.ami",
    "app-queue.ami",
    "redirect-transfer.ami",
    "chanspy.ami",
    "originate-variants.ami",
    "restart.ami",
    "login-and-actions.ami",
]


def translate_all(name: str) -> tuple[Translator, list[ev.PbxEvent]]:
    tr = Translator()
    out = [e for t, _, m in trace_messages(name) if (e := tr(m, at=t)) is not None]
    return tr, out


@pytest.mark.parametrize("name", TRACES)
def test_every_trace_translates_without_unknown_or_malformed_events(name: str, traces_dir: object) -> None:
    tr, events = translate_all(name)
    assert tr.malformed == 0
    assert dict(tr.unknown) == {}
    assert events


def test_ivr_to_agent_events_carry_ids_states_and_connected_line(traces_dir: object) -> None:
    _, events = translate_all("ivr-to-agent.ami")
    created = [e for e in events if isinstance(e, ev.ChannelCreated)]
    assert created[0].chan.uniqueid == created[0].chan.linkedid == "1795439030.2"
    assert all(e.chan.linkedid == "1795439030.2" for e in created)
    assert created[1].chan.state is ChannelState.RING
    # <unknown> is normalised to "" (fact 13/14)
    assert created[0].chan.caller_num == ""
    # ChanVariable repeated twice per event, kept in order
    assert created[0].chan.variables[0][0] == "CC_CALLID"
    assert [name for name, _ in created[0].chan.variables] == ["CC_CALLID", "IVR_CHOICE"]
    dial_ends = [e for e in events if isinstance(e, ev.DialEnded)]
    agent_end = [e for e in dial_ends if e.caller is not None]
    assert agent_end[0].status is DialStatus.ANSWER
    assert agent_end[0].dest.connected_num == "5551234"  # the customer, on the agent leg (fact 14)
    # the Originate's DialBegin has no calling channel block (fact 11)
    assert any(isinstance(e, ev.DialBegan) and e.caller is None for e in events)
    var = [e for e in events if isinstance(e, ev.VariableSet)]
    assert any(e.variable == "MIXMONITOR_FILENAME" and e.value.endswith(".wav") for e in var)


def test_cdr_uses_uniqueid_spelled_UniqueID(traces_dir: object) -> None:
    _, events = translate_all("ivr-to-agent.ami")
    cdrs = [e for e in events if isinstance(e, ev.CdrRecord)]
    assert {c.uniqueid for c in cdrs} >= {"1795439030.2", "1795439033.5"}
    assert all(c.disposition for c in cdrs)


def test_soft_hangup_cause_is_a_flag_and_hangup_cause_is_q850(traces_dir: object) -> None:
    _, events = translate_all("agent-no-answer.ami")
    soft = [e for e in events if isinstance(e, ev.HangupRequested) and e.soft]
    assert 32 in {e.cause for e in soft}  # AGI HANGUP flag (fact 15)
    hangups = [e for e in events if isinstance(e, ev.ChannelHungUp)]
    assert {h.cause for h in hangups} <= {0, 16}


def test_queue_and_agent_events(traces_dir: object) -> None:
    _, events = translate_all("app-queue.ami")
    kinds = {type(e) for e in events}
    assert {
        ev.QueueCallerJoined,
        ev.AgentCalled,
        ev.AgentConnected,
        ev.AgentCompleted,
        ev.AgentRingNoAnswer,
        ev.QueueCallerAbandoned,
        ev.QueueMemberState,
    } <= kinds
    complete = next(e for e in events if isinstance(e, ev.AgentCompleted))
    assert complete.reason == "caller" and complete.talk_time > 0
    pause = [e for e in events if isinstance(e, ev.QueueMemberState) and e.kind == "QueueMemberPause"]
    assert any(p.paused and p.paused_reason == "lunch" for p in pause)


def test_transfers_spy_originate_shutdown(traces_dir: object) -> None:
    _, xfer = translate_all("redirect-transfer.ami")
    blind = next(e for e in xfer if isinstance(e, ev.BlindTransferred))
    assert blind.extension == "1002" and blind.context == "transfer"
    assert blind.transferer is not None and blind.transferer.channel.startswith("Local/1001@agents")
    att = next(e for e in xfer if isinstance(e, ev.AttendedTransferred))
    assert att.target is not None and att.target.channel.startswith("Local/1002@transfer")
    _, spy = translate_all("chanspy.ami")
    starts = [e for e in spy if isinstance(e, ev.SpyEvent)]
    assert [s.started for s in starts] == [True, False]
    _, orig = translate_all("originate-variants.ami")
    reasons = {e.reason for e in orig if isinstance(e, ev.OriginateResult)}
    assert {0, 3, 4} <= reasons
    failed = next(e for e in orig if isinstance(e, ev.OriginateResult) and not e.success)
    assert failed.uniqueid is None  # "<unknown>" (fact 10)
    _, restart = translate_all("restart.ami")
    shut = [e for e in restart if isinstance(e, ev.PbxShutdown)]
    assert shut and all(s.restart for s in shut)
    assert any(isinstance(e, ev.PbxFullyBooted) for e in restart)


def test_core_show_channel_becomes_channel_listed(traces_dir: object) -> None:
    _, events = translate_all("login-and-actions.ami")
    listed = [e for e in events if isinstance(e, ev.ChannelListed)]
    assert len(listed) == 2
    assert listed[0].application == "Wait"


def test_unknown_event_counted_and_ignored() -> None:
    tr = Translator()
    assert tr(parse_message("Event: SomethingNew\r\nFoo: bar")) is None
    assert tr.unknown["SomethingNew"] == 1


def test_event_missing_its_channel_block_is_counted_not_raised() -> None:
    tr = Translator()
    assert tr(parse_message("Event: Hangup\r\nCause: 16")) is None
    assert tr.malformed == 1


def test_bad_numbers_do_not_raise() -> None:
    tr = Translator()
    msg = parse_message(
        "Event: Hangup\r\nChannel: PJSIP/1001-00000001\r\nChannelState: x\r\nUniqueid: 1.1\r\n"
        "Linkedid: 1.1\r\nCause: abc"
    )
    event = tr(msg, at=1.0)
    assert isinstance(event, ev.ChannelHungUp)
    assert event.cause == 0 and event.chan.state is ChannelState.DOWN


def test_varset_of_other_variables_dropped() -> None:
    tr = Translator()
    msg = parse_message(
        "Event: VarSet\r\nChannel: PJSIP/1-1\r\nUniqueid: 1.1\r\nLinkedid: 1.1\r\nVariable: FOO\r\nValue: 1"
    )
    assert tr(msg) is None
    assert tr.ignored == 1 and tr.malformed == 0
