"""One wrap-up rule: a timed wrap-up waits for a required disposition, then ends when it is set; with
the rule off (``timed_wrapup_waits: false``) or the code not required, the timer ends it as before."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from callcenter.domain.acd import AcdConfig, AgentState, AgentStatus
from callcenter.domain.queueing import RouteOutcome
from callcenter.services.console import DispositionRules, QueueDispositions
from callcenter.services.wrapup_rule import CALL_LOST_REASON, WAITING_REASON, WrapupRule
from tests.acd.conftest import MakeRig
from tests.acd.fakes import FakeChannel, agents, login_all, queue, request
from tests.acd.test_acd_service import eventually, state_of


@dataclass
class Codes:
    stored: set[tuple[str, str]] = field(default_factory=set)

    async def get_disposition(self, call_id: str, agent: str) -> object | None:
        return True if (call_id, agent) in self.stored else None


async def test_timed_wrapup_waits_for_the_required_code(make_rig: MakeRig) -> None:
    rig = await make_rig(
        AcdConfig(
            queues=(queue(wrapup=0.1), queue("free", wrapup=0.1)),
            agents=tuple(agents(1)) + tuple(agents(1, "free", first=2001)),
        )
    )
    rules = DispositionRules(QueueDispositions(required=True), {"free": QueueDispositions(required=False)})
    codes = Codes()
    rule = WrapupRule(lambda: rules, codes, rig.acd)
    rig.acd.wrapup_gate = rule.may_end
    await login_all(rig.acd)
    assert (
        await rig.acd.route(FakeChannel(rig.phones, "c1"), request("c1"))
    ).outcome is RouteOutcome.ANSWERED
    assert (
        await rig.acd.route(FakeChannel(rig.phones, "c2"), request("c2", "free"))
    ).outcome is RouteOutcome.ANSWERED

    # the timer passes: 1001 (code required, none set) stays in wrap-up, saying why; 2001 is free
    await eventually(lambda: _reason(rig, "1001", WAITING_REASON))
    await eventually(lambda: _state(rig, "2001", AgentState.AVAILABLE))
    await asyncio.sleep(0.15)  # several more ticks: still waiting, never ended by the timer
    status = await rig.acd.state.get_agent("1001")
    assert status is not None and status.state is AgentState.WRAPUP and status.until == 0.0
    said = [e for e in rig.events.of("agent.state") if e["agent"] == "1001" and e["reason"] == WAITING_REASON]
    assert len(said) == 1  # published once, for the console and the wallboard
    # the code is set: the wrap-up ends at once
    codes.stored.add(("c1", "1001"))
    await rule.disposition_set(status)
    assert await state_of(rig, "1001") is AgentState.AVAILABLE


async def test_the_wait_can_be_turned_off(make_rig: MakeRig) -> None:
    rig = await make_rig(AcdConfig(queues=(queue(wrapup=0.1),), agents=tuple(agents(1))))
    rules = DispositionRules(QueueDispositions(required=True), {}, timed_wrapup_waits=False)
    rig.acd.wrapup_gate = WrapupRule(lambda: rules, Codes(), rig.acd).may_end
    await login_all(rig.acd)
    await rig.acd.route(FakeChannel(rig.phones, "c1"), request("c1"))
    await eventually(lambda: _state(rig, "1001", AgentState.AVAILABLE))


async def _state(rig: object, agent: str, state: AgentState) -> bool:
    return await state_of(rig, agent) is state  # type: ignore[arg-type]


async def _reason(rig: object, agent: str, reason: str) -> bool:
    status = await rig.acd.state.get_agent(agent)  # type: ignore[attr-defined]
    return status is not None and status.state is AgentState.WRAPUP and status.reason == reason


async def test_a_wrapup_for_a_call_the_pbx_lost_is_never_held(make_rig: MakeRig) -> None:
    """The reconciler's release (reason ``call_lost``) ends on its timer: a PBX crash leaves no agent
    waiting for a code of a call that was cut (issue 13: routable within 10 s of the PBX's return)."""
    rig = await make_rig(AcdConfig(queues=(queue(wrapup=0.1),), agents=tuple(agents(1))))
    rules = DispositionRules(QueueDispositions(required=True), {})
    rule = WrapupRule(lambda: rules, Codes(), rig.acd)
    status = await _in_wrapup(rig, rule)
    assert await rule.may_end(status) is False  # a finished call: the code is waited for
    assert await rule.may_end(status.with_(reason=CALL_LOST_REASON)) is True


async def _in_wrapup(rig: object, rule: WrapupRule) -> AgentStatus:
    acd = rig.acd  # type: ignore[attr-defined]
    acd.wrapup_gate = rule.may_end  # holds the wrap-up while the test looks at it
    await login_all(acd)
    await acd.route(FakeChannel(rig.phones, "c1"), request("c1"))  # type: ignore[attr-defined]
    await eventually(lambda: _in_state(acd, "1001", AgentState.WRAPUP))
    status = await acd.state.get_agent("1001")
    assert status is not None and status.call_id == "c1"
    return status  # type: ignore[no-any-return]


async def _in_state(acd: object, agent: str, state: AgentState) -> bool:
    status = await acd.state.get_agent(agent)  # type: ignore[attr-defined]
    return status is not None and status.state is state
