"""The one agent-channel rule on the real Asterisk 22.10.1 trace of a Local agent (``local-agent-halves.ami``,
fact 30): while the call is up, both the console and the supervisor pick the ``;1`` half, the one in the
customer's bridge, and never the ``;2`` that runs the agent's dialplan."""

from __future__ import annotations

from callcenter.domain.agent_channel import agent_call_leg
from callcenter.domain.agents import AgentDirectory
from callcenter.pbx.translate import Translator
from callcenter.services.supervisor import agent_channel_finder
from callcenter.services.tracker import CallTracker
from tests.support.trace_messages import trace_messages


def test_console_and_supervisor_pick_the_bridged_half() -> None:
    translate = Translator()
    tracker = CallTracker(AgentDirectory(agent_contexts=("agents", "agent-sim")))
    finder = agent_channel_finder(tracker)
    picked: set[str] = set()
    both_halves_seen = False
    for at, _conn, msg in trace_messages("local-agent-halves.ami"):
        event = translate(msg, at=at)
        if event is None:
            continue
        tracker.handle(event)
        legs = [leg.record() for leg in tracker.legs.values() if leg.agent == "1001"]
        live = [leg for leg in legs if leg.ended_at is None]
        if len(live) == 2 and any(tracker.bridge_peers(leg.uniqueid) for leg in live):
            both_halves_seen = True
            console_leg = agent_call_leg(legs, lambda leg: tracker.bridge_peers(leg.uniqueid))
            assert console_leg is not None
            assert finder("1001") == console_leg.channel
            picked.add(console_leg.channel)
    assert both_halves_seen
    assert len(picked) == 1 and next(iter(picked)).endswith(";1"), picked
    (channel,) = picked
    assert channel.startswith("Local/1001@agent-sim-")


def test_the_spy_prefix_of_a_local_agent_has_no_dial_options() -> None:
    from callcenter.services.supervisor import spy_prefix

    assert spy_prefix("PJSIP/1001") == "PJSIP/1001-"
    assert spy_prefix("Local/1001@agents/n") == "Local/1001@agents-"
    assert spy_prefix("Local/1001@agent-sim") == "Local/1001@agent-sim-"
