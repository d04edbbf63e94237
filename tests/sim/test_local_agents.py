"""Local agent endpoints are two channels (fact 30), PJSIP-like agents one: what an AMI client sees of
each kind while the call is bridged (SimConfig ``agent_tech``), with dialplan events off as the service's
end-to-end tests run the simulator."""

from __future__ import annotations

import pytest

from callcenter.sim import AgentPhoneProfile, SimConfig, Simulator

from .amiclient import AmiClient, Message, first


def items(msgs: list[Message], event: str) -> dict[str, Message]:
    return {first(m, "Channel") or "": m for m in msgs if m[:1] == [("Event", event)]}


@pytest.mark.parametrize("tech", ["Local", "PJSIP"])
async def test_agent_halves_seen_on_ami(tech: str) -> None:
    phones = AgentPhoneProfile(
        ring_min=0.5, ring_max=0.5, no_answer_prob=0, busy_prob=0, talk_min=600, talk_max=600
    )
    cfg = SimConfig(ami_port=0, agents=1, agent_tech=tech, speed=10.0, dialplan_events=False, phones=phones)
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
            enter = await client.wait_for(
                lambda m: (
                    m[:1] == [("Event", "BridgeEnter")] and "@incoming" not in (first(m, "Channel") or "")
                )
            )
            agent = first(enter, "Channel") or ""
            await client.wait_for(
                lambda m: m[:1] == [("Event", "BridgeEnter")] and "@incoming" in (first(m, "Channel") or "")
            )
            listing = await client.action("CoreShowChannels")
            mark = client.msgs.index(listing)
            await client.wait_for(lambda m: m[:1] == [("Event", "CoreShowChannelsComplete")], start=mark)
            shown = items(client.msgs[mark:], "CoreShowChannel")
            customer = next(n for n in shown if n.startswith("Local/8006@incoming-") and n.endswith(";2"))
            peer = await client.action("Getvar", ("Channel", agent), ("Variable", "BRIDGEPEER"))
            assert first(peer, "Value") == customer
            assert first(shown[agent], "Application") == "AppDial"
            assert first(shown[agent], "BridgeId") == first(shown[customer], "BridgeId") != ""
            if tech == "PJSIP":
                assert agent.startswith("PJSIP/1001-")
                assert not [n for n in shown if n.startswith("Local/1001@")]
                return
            assert agent.startswith("Local/1001@agents-") and agent.endswith(";1")
            half2 = agent[:-1] + "2"
            assert first(shown[half2], "BridgeId") == ""
            assert first(shown[half2], "Application") != "AppDial"
            for name in (agent, half2):
                assert first(shown[name], "Linkedid") == first(shown[customer], "Linkedid")
                cc = [v for k, v in shown[name] if k == "ChanVariable" and v.startswith("CC_CALLID=")]
                assert cc == [f"CC_CALLID={first(shown[customer], 'Uniqueid')}"]
            none = await client.action("Getvar", ("Channel", half2), ("Variable", "BRIDGEPEER"))
            assert first(none, "Value") == ""
            status = await client.action("Status", ("Channel", half2), ("Variables", "BRIDGEPEER"))
            mark = client.msgs.index(status)
            st = await client.wait_for(lambda m: m[:1] == [("Event", "Status")], start=mark)
            assert ("Variable", "BRIDGEPEER=(null)") in st
        finally:
            await client.close()
