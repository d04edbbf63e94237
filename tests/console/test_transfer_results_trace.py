"""The real Asterisk 22.10.1 trace of blind transfers (``blind-transfer-results.ami``, fact 33) through the
translator and the tracker: a refused BlindTransfer (``Result: Invalid`` on the agent's ``;2``) is no
transfer of the stored call; the accepted ones are (a missing context is not checked by Asterisk)."""

from __future__ import annotations

from callcenter.domain.agents import AgentDirectory
from callcenter.pbx.translate import Translator
from callcenter.services.tracker import CallTracker
from tests.support.trace_messages import trace_messages


def test_only_accepted_blind_transfers_are_stored() -> None:
    translate = Translator()
    tracker = CallTracker(AgentDirectory(agent_contexts=("agents", "agent-sim")))
    for at, _conn, msg in trace_messages("blind-transfer-results.ami"):
        event = translate(msg, at=at)
        if event is not None:
            tracker.handle(event)
    calls = {c.dnis: c for c in tracker.take_changes() if c.ended_at is not None}
    # 8031: BlindTransfer on ;2 (Invalid), on a missing channel (no event), on ;1 to cc-queue (Success)
    assert [(t.kind, t.target, t.from_agent) for t in calls["8031"].transfers] == [
        ("blind", "support@cc-queue", "1001")
    ]
    assert [(t.kind, t.target) for t in calls["8032"].transfers] == [("blind", "support@no-such-context")]
