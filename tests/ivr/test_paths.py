"""Scripted callers walk every path of the sample flows (ivr_flows/main.yaml + after_hours.yaml) through the
PBX simulator and our FastAGI server on loopback TCP."""

from __future__ import annotations

import asyncio

import pytest

from callcenter.domain.ivr import IvrOutcome
from callcenter.domain.queueing import QueueRequest, RouteOutcome, RouteResult
from callcenter.ports import AgiChannel
from tests.ivr.harness import (
    CHRISTMAS,
    EARLY,
    KNOWN_NUMBER,
    SUNDAY,
    VIP_NUMBER,
    FakeRouter,
    Harness,
    start_harness,
    stop_harness,
)

OPENING = ["greeting", "choose_language", "identify", "vip_check", "opening_hours"]


async def test_sales_without_acd_falls_back_to_callback(ivr: Harness) -> None:
    rec = await ivr.call("1;1;1")
    assert ivr.nodes(rec) == [*OPENING, "main_menu", "sales", "no_agents", "callback", "goodbye"]
    assert rec.outcome is IvrOutcome.CALLBACK
    assert rec.queue == "support"  # the callback node's queue
    assert rec.route_outcome == RouteOutcome.NO_AGENTS
    assert rec.variables["callback_number"] == "0555000001"
    assert ivr.step(rec, "choose_language")["digits"] == ["1"]
    assert ivr.step(rec, "main_menu")["digits"] == ["1"]
    assert ivr.step(rec, "sales")["prompts"] == ["cc-transfer-sales"]
    assert ivr.step(rec, "goodbye")["prompts"] == ["cc-goodbye"]
    assert (
        rec.call_id and rec.call_id != rec.uniqueid
    )  # the Linkedid (CHANNEL(linkedid)), not the AGI channel
    assert ivr.ivr.stats.no_router == 1
    assert all(step["duration"] >= 0 for step in rec.path)
    assert rec.ended_at >= rec.started_at


async def test_french_support_with_customer_number_then_voicemail(ivr: Harness) -> None:
    rec = await ivr.call("2;2;8#;2")
    assert ivr.nodes(rec) == [
        *OPENING,
        "main_menu",
        "support_customer_number",
        "support_identify",
        "support",
        "no_agents",
        "voicemail",
    ]
    assert rec.language == "fr"
    assert rec.customer_id == 8
    assert ivr.directory.lookups == ["0555000001", "id:8"]
    assert rec.outcome is IvrOutcome.VOICEMAIL
    assert ivr.step(rec, "voicemail")["prompts"] == ["cc-leave-message"]


async def test_language_timeout_keeps_the_default(ivr: Harness) -> None:
    rec = await ivr.call("-;4;2")
    step = ivr.step(rec, "choose_language")
    assert step["timeouts"] == 1 and step["result"] == "default en"
    assert rec.language == "en"
    assert ivr.nodes(rec)[5:] == ["main_menu", "complaints", "no_agents", "voicemail"]


async def test_invalid_digit_then_valid_choice(ivr: Harness) -> None:
    rec = await ivr.call("1;9;4;-;-")
    menu = ivr.step(rec, "main_menu")
    assert menu["invalid"] == 1 and menu["digits"] == ["9", "4"]
    assert menu["prompts"] == ["cc-main-menu", "cc-invalid", "cc-main-menu"]
    # no_agents: two timeouts -> fallback voicemail
    no_agents = ivr.step(rec, "no_agents")
    assert no_agents["timeouts"] == 2 and no_agents["result"] == "fallback"
    assert rec.outcome is IvrOutcome.VOICEMAIL


async def test_menu_max_retries_goes_to_the_operator(ivr: Harness) -> None:
    rec = await ivr.call("1;-;-;-", talk=0.5)
    menu = ivr.step(rec, "main_menu")
    assert menu["timeouts"] == 3 and menu["result"] == "fallback"
    assert menu["prompts"] == ["cc-main-menu", "cc-no-input"] * 3
    assert ivr.nodes(rec)[-1] == "operator"
    assert rec.outcome is IvrOutcome.TRANSFERRED and rec.transfer_to == "1001"
    assert ivr.step(rec, "operator")["result"] == "1001: ANSWER"


async def test_invalid_digits_max_retries(ivr: Harness) -> None:
    rec = await ivr.call("1;7;8;9", talk=0.5)
    menu = ivr.step(rec, "main_menu")
    assert menu["invalid"] == 3 and menu["digits"] == ["7", "8", "9"]
    assert rec.outcome is IvrOutcome.TRANSFERRED


async def test_operator_choice_and_transfer(ivr: Harness) -> None:
    rec = await ivr.call("1;0", talk=0.5)
    assert ivr.nodes(rec)[-1] == "operator"
    assert ivr.step(rec, "operator")["prompts"] == ["cc-please-hold"]
    assert rec.outcome is IvrOutcome.TRANSFERRED


async def test_rma_status_without_case_service_then_goodbye(ivr: Harness) -> None:
    rec = await ivr.call("1;3;cc-case-ask:1234567;cc-case-ask:-")
    step = ivr.step(rec, "rma_status")
    assert step["prompts"] == ["cc-case-none", "cc-case-ask", "cc-case-unknown", "cc-case-ask"]
    assert step["invalid"] == 1 and step["timeouts"] == 1
    assert ivr.nodes(rec)[-2:] == ["rma_status", "goodbye"] and rec.outcome is IvrOutcome.SELF_SERVED


async def test_rma_status_zero_goes_to_the_rma_queue_without_a_case(ivr_acd: Harness) -> None:
    rec = await ivr_acd.call("1;3;cc-case-ask:0")
    assert ivr_acd.step(rec, "rma_status")["result"] == "agent"
    assert ivr_acd.router is not None
    request = ivr_acd.router.requests[-1]
    assert request.queue == "rma" and "case_id" not in request.variables


async def test_queue_answered_with_acd(ivr_acd: Harness) -> None:
    rec = await ivr_acd.call("1;3;cc-case-ask:0")
    assert rec.outcome is IvrOutcome.QUEUED and rec.route_outcome == RouteOutcome.ANSWERED
    assert ivr_acd.router is not None
    request = ivr_acd.router.requests[-1]
    assert request.queue == "rma" and request.priority == 2 and request.skills == ("rma",)
    assert request.ivr_choices == ("3",)
    assert request.call_id == rec.call_id and request.uniqueid == rec.uniqueid
    assert not request.vip


async def test_vip_caller_is_recognised_and_jumps_ahead(ivr_acd: Harness) -> None:
    rec = await ivr_acd.call("1;1", number=VIP_NUMBER)
    assert ivr_acd.nodes(rec) == [
        "greeting",
        "choose_language",
        "identify",
        "vip_check",
        "vip_welcome",
        "mark_vip",
        "opening_hours",
        "main_menu",
        "sales",
    ]
    assert rec.vip and rec.customer_id == 7
    assert ivr_acd.router is not None
    request = ivr_acd.router.requests[-1]
    assert request.vip and request.priority == 10 and request.segment == "vip" and request.customer_id == 7


async def test_known_regular_caller_keeps_normal_priority(ivr_acd: Harness) -> None:
    rec = await ivr_acd.call("1;4", number=KNOWN_NUMBER)
    assert rec.customer_id == 8 and not rec.vip
    assert ivr_acd.router is not None
    assert ivr_acd.router.requests[-1].priority == 3


async def test_unknown_caller(ivr_acd: Harness) -> None:
    rec = await ivr_acd.call("1;1", number="0700000000")
    assert rec.customer_id is None and ivr_acd.step(rec, "identify")["result"] == "not found"


async def test_route_outcomes_drive_the_flow(ivr_acd: Harness) -> None:
    router = ivr_acd.router
    assert router is not None
    # overflow of support: the node's on_overflow
    router.results["support"] = RouteResult(RouteOutcome.OVERFLOW, target="sales")
    rec = await ivr_acd.call("1;2;#;1", number="0555000010")
    assert ivr_acd.nodes(rec)[-3:] == ["no_agents", "callback", "goodbye"]
    # overflow of sales to another queue: routed again there
    router.results["sales"] = RouteResult(RouteOutcome.OVERFLOW, target="complaints")
    rec = await ivr_acd.call("1;1", number="0555000011")
    assert [r.queue for r in router.requests[-2:]] == ["sales", "complaints"]
    assert rec.outcome is IvrOutcome.QUEUED and rec.queue == "complaints"
    # the ACD took a callback / voicemail
    router.results["rma"] = RouteResult(RouteOutcome.CALLBACK)
    rec = await ivr_acd.call("1;3;cc-case-ask:0", number="0555000012")
    assert rec.outcome is IvrOutcome.CALLBACK
    router.results["complaints"] = RouteResult(RouteOutcome.VOICEMAIL, target="200@callcenter")
    rec = await ivr_acd.call("1;4", number="0555000013")
    assert (
        rec.outcome is IvrOutcome.VOICEMAIL
        and "voicemail 200@callcenter" in ivr_acd.step(rec, "complaints")["result"]
    )
    # the ACD failed: the no-agents fallback
    router.results["complaints"] = RouteResult(RouteOutcome.ERROR)
    rec = await ivr_acd.call("1;4;2", number="0555000014")
    assert ivr_acd.nodes(rec)[-2:] == ["no_agents", "voicemail"]


async def test_caller_hangs_up_while_queued(ivr_acd: Harness) -> None:
    assert ivr_acd.router is not None
    ivr_acd.router.hold = "default,30"
    rec = await ivr_acd.call("1;1;musiconhold:h")
    assert rec.outcome is IvrOutcome.QUEUED and rec.route_outcome == RouteOutcome.ABANDONED


async def test_after_hours_callback_to_another_number(ivr: Harness) -> None:
    ivr.clock.now = SUNDAY
    rec = await ivr.call("1;1;0611223344#")
    assert ivr.nodes(rec) == [
        *OPENING,
        "after_hours",
        "closed",
        "closed_menu",
        "callback_number",
        "callback_other",
        "done",
        "goodbye",
    ]
    assert ivr.step(rec, "opening_hours")["result"] == "closed"
    assert ivr.step(rec, "closed")["flow"] == "after_hours"
    assert rec.outcome is IvrOutcome.CALLBACK and rec.variables["callback_number"] == "0611223344"


async def test_after_hours_callback_to_the_caller(ivr: Harness) -> None:
    ivr.clock.now = EARLY  # Monday 07:59
    rec = await ivr.call("1;1;#")
    assert ivr.nodes(rec)[-3:] == ["callback_caller", "done", "goodbye"]
    assert rec.variables["callback_number"] == "0555000001"


async def test_after_hours_nothing_chosen(ivr: Harness) -> None:
    ivr.clock.now = SUNDAY
    rec = await ivr.call("1;-;5")
    menu = ivr.step(rec, "closed_menu")
    assert menu["timeouts"] == 1 and menu["invalid"] == 1 and menu["result"] == "fallback"
    assert rec.outcome is IvrOutcome.SELF_SERVED and ivr.nodes(rec)[-2:] == ["done", "goodbye"]


async def test_holiday_message_then_voicemail_through_goto(ivr: Harness) -> None:
    ivr.clock.now = CHRISTMAS
    rec = await ivr.call("1;2")
    assert ivr.step(rec, "opening_hours")["result"] == "holiday"
    assert ivr.nodes(rec)[5:] == [
        "holiday",
        "after_hours",
        "closed",
        "closed_menu",
        "leave_message",
        "voicemail",
    ]
    assert rec.outcome is IvrOutcome.VOICEMAIL


async def test_many_callers_at_once(ivr_acd: Harness) -> None:
    scripts = ["1;1", "2;4", "1;3;cc-case-ask:0", "-;2;#", "1;9;4"]
    numbers = [f"05550001{i:02d}" for i in range(25)]
    records = await asyncio.gather(
        *(ivr_acd.call(scripts[i % len(scripts)], number) for i, number in enumerate(numbers))
    )
    assert all(r.outcome is IvrOutcome.QUEUED for r in records)
    assert len({r.call_id for r in records}) == 25
    assert ivr_acd.server.stats.max_active >= 10
    assert ivr_acd.server.stats.failsafe == 0 and ivr_acd.server.stats.handler_errors == 0


# --- hang-up in every node -----------------------------------------------------------------------
HANGUPS = [
    # (script, clock, number, last node, outcome)
    ("cc-welcome:h", None, None, "greeting", IvrOutcome.ABANDONED),
    ("cc-choose-language:h", None, None, "choose_language", IvrOutcome.ABANDONED),
    ("1;cc-vip-welcome:h", None, VIP_NUMBER, "vip_welcome", IvrOutcome.ABANDONED),
    ("1;cc-holiday:h", CHRISTMAS, None, "holiday", IvrOutcome.ABANDONED),
    ("1;cc-closed:h", SUNDAY, None, "closed", IvrOutcome.ABANDONED),
    ("1;cc-closed-options:h", SUNDAY, None, "closed_menu", IvrOutcome.ABANDONED),
    ("1;1;cc-enter-phone:h", SUNDAY, None, "callback_number", IvrOutcome.ABANDONED),
    ("1;1;0611223344#;cc-callback-confirmed:h", SUNDAY, None, "callback_other", IvrOutcome.CALLBACK),
    ("1;cc-main-menu:h", None, None, "main_menu", IvrOutcome.ABANDONED),
    ("1;9;cc-invalid:h", None, None, "main_menu", IvrOutcome.ABANDONED),
    ("1;-;cc-no-input:h", None, None, "main_menu", IvrOutcome.ABANDONED),
    ("1;1;cc-transfer-sales:h", None, None, "sales", IvrOutcome.ABANDONED),
    ("1;2;cc-enter-customer-number:h", None, None, "support_customer_number", IvrOutcome.ABANDONED),
    ("1;3;cc-case-none:h", None, None, "rma_status", IvrOutcome.ABANDONED),
    ("1;3;cc-case-ask:h", None, None, "rma_status", IvrOutcome.ABANDONED),
    ("1;3;cc-case-ask:12;cc-case-unknown:h", None, None, "rma_status", IvrOutcome.ABANDONED),
    ("1;0;cc-please-hold:h", None, None, "operator", IvrOutcome.ABANDONED),
    ("1;0;dial:h", None, None, "operator", IvrOutcome.ABANDONED),
    ("1;4;cc-no-agents:h", None, None, "no_agents", IvrOutcome.ABANDONED),
    ("1;4;1;cc-callback-confirmed:h", None, None, "callback", IvrOutcome.CALLBACK),
    ("1;4;2;cc-leave-message:h", None, None, "voicemail", IvrOutcome.ABANDONED),
    ("1;4;1;cc-goodbye:h", None, None, "goodbye", IvrOutcome.CALLBACK),
]


@pytest.mark.parametrize(
    ("script", "clock", "number", "last", "outcome"), HANGUPS, ids=[h[3] + ":" + h[0] for h in HANGUPS]
)
async def test_hang_up_in_every_node(
    script: str, clock: float | None, number: str | None, last: str, outcome: IvrOutcome
) -> None:
    h = await start_harness()
    try:
        if clock is not None:
            h.clock.now = clock
        rec = await h.call(script, number or "0555000099")
        assert h.nodes(rec)[-1] == last
        assert rec.path[-1]["result"].endswith("hangup") or rec.path[-1]["result"] == "1001: CANCEL"
        assert rec.outcome is outcome
        assert h.server.stats.failsafe == 0 and h.server.stats.handler_errors == 0
    finally:
        await stop_harness(h)


async def test_hang_up_while_queued_with_acd_in_every_queue() -> None:
    h = await start_harness(router=FakeRouter())
    try:
        assert h.router is not None
        h.router.hold = "default,30"
        scripts = [
            "1;1;musiconhold:h",
            "1;2;#;musiconhold:h",
            "1;3;cc-case-ask:0;musiconhold:h",
            "1;4;musiconhold:h",
        ]
        for i, script in enumerate(scripts):
            rec = await h.call(script, f"05550002{i:02d}")
            assert rec.route_outcome == RouteOutcome.ABANDONED
    finally:
        await stop_harness(h)


async def test_queue_variables_reach_the_pbx_channel_in_one_round_trip(ivr_acd: Harness) -> None:
    router = ivr_acd.router
    assert router is not None and ivr_acd.sim.pbx is not None
    pbx = ivr_acd.sim.pbx
    seen: dict[str, str | None] = {}
    commands: list[int] = []
    original = router.route

    async def route(channel: AgiChannel, request: QueueRequest) -> RouteResult:
        chan = next(c for c in pbx.channels.values() if c.uniqueid == request.uniqueid)
        seen.update({k: chan.vars.get(k) for k in ("CC_QUEUE", "CC_PRIORITY", "IVR_CHOICE")})
        commands.append(ivr_acd.server.stats.commands)
        return await original(channel, request)

    router.route = route  # type: ignore[method-assign]
    before = ivr_acd.server.stats.commands
    await ivr_acd.call("1;3;cc-case-ask:0")
    # the simulated Asterisk set the three from one EXEC MSet (VarSet each, as SET VARIABLE would)
    assert seen == {"CC_QUEUE": "rma", "CC_PRIORITY": "2", "IVR_CHOICE": "3"}
    # linkedid, greeting, language, CHANNEL(language), menu, case status (no case: "none" prompt, the
    # question answered 0), prompt-less queue: MSet
    assert commands[0] - before == 8


async def test_mandarin_is_the_third_language_of_the_sample_flow(ivr: Harness) -> None:
    """Issue 18: a Shanghai center's callers press 3 for Mandarin; the flow's prompts then come from
    the ``zh`` set of sounds.txt (CHANNEL(language)=zh on a real Asterisk)."""
    rec = await ivr.call("3;4;2")
    assert ivr.step(rec, "choose_language")["result"].endswith("zh")
    assert rec.language == "zh"
    assert ivr.nodes(rec)[5:] == ["main_menu", "complaints", "no_agents", "voicemail"]
