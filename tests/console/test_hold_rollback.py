"""The console's hold against a scripted PBX: a hold is only a hold once the agent's channel survived the
dual Redirect (a ``Dual Redirect successful`` reply proves nothing, pbx-traces fact 32), and a hold that
failed halfway is rolled back (bridged back, front of the queue, failsafe), audited, and reported."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, cast

import pytest

from callcenter.domain.agent_channel import agent_call_leg, is_local_dialplan_half
from callcenter.domain.audit import AuditEntry
from callcenter.domain.calls import LegRecord, LegRole
from callcenter.domain.errors import AmiActionError
from callcenter.domain.hold import HeldCall, held_from_mapping, held_to_mapping
from callcenter.services.acd import AcdService
from callcenter.services.console_hold import ConsoleOptions, HoldControl, HoldFailed
from callcenter.state.memory import MemoryHoldStore

CUSTOMER = LegRecord("1.1", "1.1", "Local/8001@incoming-00000000;2", LegRole.INBOUND, 1.0, answered_at=1.0)
ONE = LegRecord(
    "1.2", "1.1", "Local/1001@agents-00000001;1", LegRole.AGENT, 2.0, agent="1001", answered_at=3.0
)
TWO = LegRecord(
    "1.3", "1.1", "Local/1001@agents-00000001;2", LegRole.AGENT, 2.0, agent="1001", answered_at=3.0
)

Handler = Callable[[str, dict[str, str]], Mapping[str, str] | None]


class ScriptedPbx:
    """Answers Success to everything unless ``script`` says otherwise (returns a reply or raises)."""

    connected = True

    def __init__(self, script: Handler | None = None) -> None:
        self.sent: list[tuple[str, dict[str, str]]] = []
        self.script = script

    async def send_action(self, action: str, fields: Any = None, *, timeout: float | None = None) -> Any:
        fields = {k: str(v) for k, v in dict(fields or {}).items()}
        self.sent.append((action, fields))
        reply = self.script(action, fields) if self.script else None
        return reply or {"Response": "Success"}

    async def hangup(self, channel: str, cause: int = 16) -> None:
        self.sent.append(("Hangup", {"Channel": channel}))

    def names(self) -> list[str]:
        return [a for a, _ in self.sent]


class FakeAcd:
    def __init__(self) -> None:
        self.holds: list[tuple[str, str, bool]] = []

    async def set_hold(self, agent: str, call_id: str, on: bool, *, by: str = "agent") -> None:
        self.holds.append((agent, call_id, on))


class Audit:
    def __init__(self) -> None:
        self.entries: list[AuditEntry] = []

    async def save_audit(self, entry: AuditEntry) -> int:
        self.entries.append(entry)
        return len(self.entries)

    async def list_audit(
        self, since: float | None = None, actor: str | None = None, limit: int = 200
    ) -> list[AuditEntry]:
        return list(self.entries)


@dataclasses.dataclass
class Rig:
    control: HoldControl
    pbx: ScriptedPbx
    acd: FakeAcd
    audit: Audit
    holds: MemoryHoldStore
    legs: list[LegRecord]


def rig(script: Handler | None = None, queue: str | None = "support") -> Rig:
    pbx = ScriptedPbx(script)
    acd = FakeAcd()
    audit = Audit()
    holds = MemoryHoldStore()
    legs = [CUSTOMER, ONE, TWO]

    async def queue_of(agent: str, call_id: str) -> str | None:
        return queue

    control = HoldControl(
        cast(AcdService, acd),
        holds,
        pbx=lambda: pbx,  # type: ignore[return-value,arg-type]
        call_legs=lambda call_id: legs,
        queue_of=queue_of,
        options=ConsoleOptions(hold_verify=0.05),
        audit=audit,
        clock=lambda: 100.0,
    )
    return Rig(control, pbx, acd, audit, holds, legs)


def no_such_channel(channel: str) -> Handler:
    def script(action: str, fields: dict[str, str]) -> None:
        if action in ("Getvar", "Bridge") and channel in (fields.get("Channel"), fields.get("Channel2")):
            raise AmiActionError(action, "No such channel")

    return script


def test_the_rule_picks_the_bridged_half_never_the_dialplan_half() -> None:
    assert is_local_dialplan_half(TWO.channel) and not is_local_dialplan_half(ONE.channel)
    assert not is_local_dialplan_half("PJSIP/1001-00000002")
    # ;2 started last and is answered too: still ;1 (on hold ;1 is in no bridge at all)
    assert agent_call_leg([TWO, ONE]) == ONE
    assert agent_call_leg([ONE, TWO], lambda leg: [CUSTOMER] if leg is TWO else []) == ONE
    pjsip = dataclasses.replace(ONE, uniqueid="1.9", channel="PJSIP/1001-0000000a", started_at=9.0)
    assert agent_call_leg([pjsip]) == pjsip
    # a leg bridged with the customer beats a later one (an attended transfer's second call)
    later = dataclasses.replace(pjsip, uniqueid="1.10", started_at=10.0)
    assert agent_call_leg([pjsip, later], lambda leg: [CUSTOMER] if leg is pjsip else []) == pjsip
    # [agents] dialing the PJSIP phone behind a Local pair: the phone is bridged with the agent's own ;2
    # only; ;1 is the half with the customer
    behind = dataclasses.replace(pjsip, started_at=4.0)
    bridges = {ONE.uniqueid: [CUSTOMER], TWO.uniqueid: [behind], behind.uniqueid: [TWO]}
    assert agent_call_leg([ONE, TWO, behind], lambda leg: bridges[leg.uniqueid]) == ONE
    # only the ;2 left (the pair is ending): a hang-up on it still works
    assert agent_call_leg([TWO, dataclasses.replace(ONE, ended_at=5.0)]) == TWO
    assert agent_call_leg([dataclasses.replace(ONE, ended_at=5.0)]) is None


def test_a_pending_hold_record_round_trips() -> None:
    held = HeldCall("1001", "1.1", CUSTOMER.channel, "1.1", ONE.channel, "1.2", 5.0, confirmed=False)
    assert held_from_mapping(held_to_mapping(held)) == held
    old = held_to_mapping(held)
    del old["confirmed"]  # a record stored before the field existed is a confirmed hold
    assert held_from_mapping(old).confirmed is True


async def test_a_verified_hold_is_confirmed() -> None:
    r = rig()
    out = await r.control.hold("1001", ONE, CUSTOMER)
    assert out == {"call_id": "1.1", "held": True, "since": 100.0}
    assert r.pbx.names() == ["Setvar", "Redirect", "Getvar"]
    assert r.pbx.sent[1][1]["ExtraChannel"] == ONE.channel
    assert r.pbx.sent[2][1] == {"Channel": ONE.channel, "Variable": "CHANNEL(state)"}
    held = await r.holds.get("1001")
    assert held is not None and held.confirmed
    assert r.acd.holds == [("1001", "1.1", True)] and r.audit.entries == []


async def test_dual_redirect_successful_but_the_agent_is_gone_requeues_at_the_front() -> None:
    """Fact 32: the reply says success, the agent pair was hung up: the customer must not stay alone
    with the music. No agent → back into the ACD at the front of the call's queue."""
    r = rig(no_such_channel(ONE.channel))
    with pytest.raises(HoldFailed) as err:
        await r.control.hold("1001", ONE, CUSTOMER)
    assert err.value.outcome == "requeued" and "front of the queue" in err.value.message
    assert isinstance(err.value, AmiActionError)  # the web layer answers 502 with that message
    after = r.pbx.sent[3:]
    assert ("Setvar", {"Channel": CUSTOMER.channel, "Variable": "CC_HOLD", "Value": ""}) in after
    assert after[-2:] == [
        ("Setvar", {"Channel": CUSTOMER.channel, "Variable": "CC_QUEUE_PRIORITY", "Value": "100"}),
        (
            "Redirect",
            {"Channel": CUSTOMER.channel, "Context": "cc-queue", "Exten": "support", "Priority": "1"},
        ),
    ]
    assert await r.holds.get("1001") is None and r.acd.holds == []
    (entry,) = r.audit.entries
    assert (entry.action, entry.ok, entry.target) == ("console.hold", False, "1001")
    assert entry.detail["outcome"] == "requeued" and entry.detail["call_id"] == "1.1"


async def test_a_hangup_of_the_agent_leg_seen_by_the_tracker_fails_the_hold_early() -> None:
    r = rig()
    r.legs[1] = dataclasses.replace(ONE, ended_at=4.0)  # the tracker saw the Hangup of ;1
    with pytest.raises(HoldFailed) as err:
        await r.control.hold("1001", ONE, CUSTOMER)
    assert err.value.outcome == "requeued"
    assert "Bridge" not in r.pbx.names()


async def test_secondary_redirect_failed_with_the_agent_alive_bridges_back() -> None:
    """``Secondary redirect failed`` is an error *after* the customer was moved: bridge them back."""

    def script(action: str, fields: dict[str, str]) -> None:
        if action == "Redirect":
            raise AmiActionError("Redirect", "Secondary redirect failed")

    r = rig(script)
    with pytest.raises(HoldFailed) as err:
        await r.control.hold("1001", ONE, CUSTOMER)
    assert err.value.outcome == "bridged_back" and "back with you" in err.value.message
    assert r.pbx.sent[-1] == (
        "Bridge",
        {"Channel1": CUSTOMER.channel, "Channel2": ONE.channel, "Tone": "no"},
    )
    assert await r.holds.get("1001") is None
    assert [e.detail["outcome"] for e in r.audit.entries] == ["bridged_back"]


async def test_a_redirect_refused_before_anything_moved_is_only_undone() -> None:
    def script(action: str, fields: dict[str, str]) -> None:
        if action == "Redirect":
            raise AmiActionError("Redirect", "ExtraChannel does not exist: " + ONE.channel)

    r = rig(script)
    with pytest.raises(AmiActionError) as err:
        await r.control.hold("1001", ONE, CUSTOMER)
    assert not isinstance(err.value, HoldFailed)
    assert r.pbx.names() == ["Setvar", "Redirect", "Setvar"] and r.audit.entries == []
    assert await r.holds.get("1001") is None


async def test_no_queue_to_go_back_to_sends_the_customer_to_the_failsafe() -> None:
    r = rig(no_such_channel(ONE.channel), queue=None)
    with pytest.raises(HoldFailed) as err:
        await r.control.hold("1001", ONE, CUSTOMER)
    assert err.value.outcome == "failsafe"
    assert r.pbx.sent[-1] == (
        "Redirect",
        {"Channel": CUSTOMER.channel, "Context": "cc-failsafe", "Exten": "s", "Priority": "1"},
    )


async def test_the_customer_gone_meanwhile_ends_the_agents_side() -> None:
    def script(action: str, fields: dict[str, str]) -> None:
        if action == "Getvar" and fields["Channel"] == CUSTOMER.channel:
            raise AmiActionError("Getvar", "No such channel")
        if action == "Redirect":
            raise AmiActionError("Redirect", "Secondary redirect failed")

    r = rig(script)
    with pytest.raises(HoldFailed) as err:
        await r.control.hold("1001", ONE, CUSTOMER)
    assert err.value.outcome == "ended"
    assert r.pbx.sent[-1] == ("Hangup", {"Channel": ONE.channel})


async def test_nothing_moves_the_customer_any_more_is_logged_as_stranded() -> None:
    def script(action: str, fields: dict[str, str]) -> None:
        if action == "Getvar" and fields["Channel"] == ONE.channel:
            raise AmiActionError("Getvar", "No such channel")
        if action == "Redirect" and fields.get("Context") != "cc-hold":
            raise AmiActionError("Redirect", "Redirect failed")

    r = rig(script)
    with pytest.raises(HoldFailed) as err:
        await r.control.hold("1001", ONE, CUSTOMER)
    assert err.value.outcome == "stranded" and r.audit.entries[0].detail["outcome"] == "stranded"
