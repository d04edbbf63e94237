"""Console hold against each kind of agent endpoint (facts 31/32): a dual Redirect whose ExtraChannel is
the agent's un-bridged ``;2`` half moves the customer to [cc-hold] and tears the agent pair down (the
reply as recorded, or ``Secondary redirect failed`` as a live run answered: SimConfig
``dual_redirect_unbridged``); with the bridged ``;1`` or a PJSIP leg the agent waits in
[cc-hold-agent]."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from callcenter.sim import AgentPhoneProfile, SimConfig, Simulator

from .amiclient import AmiClient, first

PHONES = AgentPhoneProfile(
    ring_min=0.5, ring_max=0.5, no_answer_prob=0, busy_prob=0, talk_min=600, talk_max=600
)


async def bridged_call(**kw: object) -> AsyncIterator[tuple[AmiClient, str, str]]:
    cfg = SimConfig(ami_port=0, agents=1, speed=10.0, dialplan_events=False, phones=PHONES, **kw)  # type: ignore[arg-type]
    async with Simulator(cfg) as sim:
        client = await AmiClient.connect(sim.ami_port)
        try:
            await client.login()
            await client.action(
                "Originate",
                ("Channel", "Local/8006@incoming/n"),
                ("Context", "customer-sim"),
                ("Exten", "caller"),
                ("Async", "true"),
                ("Variable", "CUST_WAIT=0"),
                ("Variable", "CUST_HOLD=600"),
            )
            names: list[str] = []
            while len(names) < 2:
                m = await client.wait_for(
                    lambda m: first(m, "Event") == "BridgeEnter" and first(m, "Channel") not in names
                )
                names.append(first(m, "Channel") or "")
            (customer,) = [n for n in names if "@incoming" in n]
            (agent,) = [n for n in names if "@incoming" not in n]
            yield client, customer, agent
        finally:
            await client.close()


async def hold(client: AmiClient, customer: str, extra: str) -> tuple[str | None, str | None]:
    reply = await client.action(
        "Redirect",
        ("Channel", customer),
        ("Context", "cc-hold"),
        ("Exten", "s"),
        ("Priority", "1"),
        ("ExtraChannel", extra),
        ("ExtraContext", "cc-hold-agent"),
        ("ExtraExten", "s"),
        ("ExtraPriority", "1"),
    )
    return first(reply, "Response"), first(reply, "Message")


@pytest.mark.parametrize(
    ("mode", "reply"),
    [
        ("success", ("Success", "Dual Redirect successful")),
        ("secondary-failed", ("Error", "Secondary redirect failed")),
    ],
)
async def test_hold_with_the_unbridged_half(mode: str, reply: tuple[str, str]) -> None:
    calls = bridged_call(agent_tech="Local", dual_redirect_unbridged=mode)
    client, customer, agent = await anext(calls)
    try:
        half2 = agent[:-1] + "2"
        assert await hold(client, customer, half2) == reply
        moh = await client.event("MusicOnHoldStart", Channel=customer)
        assert first(moh, "Context") == "cc-hold"
        for name in (agent, half2):
            gone = await client.event("Hangup", Channel=name)
            assert first(gone, "Cause") == "16"
        bridge = await client.action("Bridge", ("Channel1", customer), ("Channel2", agent), ("Tone", "no"))
        assert (first(bridge, "Response"), first(bridge, "Message")) == (
            "Error",
            f"Channel2 does not exist: {agent}",
        )
    finally:
        await calls.aclose()


@pytest.mark.parametrize("tech", ["Local", "PJSIP"])
async def test_hold_with_the_bridged_leg(tech: str) -> None:
    calls = bridged_call(agent_tech=tech)
    client, customer, agent = await anext(calls)
    try:
        assert await hold(client, customer, agent) == ("Success", "Dual Redirect successful")
        await client.event("MusicOnHoldStart", Channel=customer)
        listing = await client.action("CoreShowChannels")
        mark = client.msgs.index(listing)
        await client.wait_for(lambda m: first(m, "Event") == "CoreShowChannelsComplete", start=mark)
        shown = {first(m, "Channel"): m for m in client.msgs[mark:] if first(m, "Event") == "CoreShowChannel"}
        assert (first(shown[agent], "Context"), first(shown[agent], "Application")) == (
            "cc-hold-agent",
            "Wait",
        )
        bridge = await client.action("Bridge", ("Channel1", customer), ("Channel2", agent), ("Tone", "no"))
        assert first(bridge, "Message") == "Channels have been bridged"
    finally:
        await calls.aclose()
