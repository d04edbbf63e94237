"""Progressive dialing end to end over real AMI + FastAGI: the service dials a campaign's contacts on
the simulator's trunk; busy, unanswered, failed and machine-answered calls never reach the agent and are
rescheduled; the person who answers is connected to the reserved agent; a number on the do-not-call
list is never dialled (the simulator never saw it) and its blocked attempt is stored."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from callcenter.domain.acd import AgentState
from callcenter.domain.errors import NotFound
from callcenter.domain.outbound import AttemptResult, CampaignStatus, ContactStatus
from callcenter.domain.users import Role
from callcenter.services.campaigns import Actor
from tests.dialer.conftest import (
    ALL_DAY,
    BUSY,
    FAILED,
    HANG_UP,
    HUMAN,
    MACHINE,
    NO_ANSWER,
    NO_RETRY_SOON,
    ON_DNC,
    SUPERVISOR,
    OutboundEnv,
    sim_config,
)
from tests.support.sim_agents import AgentTech


async def until(check: Callable[[], Awaitable[bool]], what: str, within: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


def csv_of(*numbers: str) -> bytes:
    lines = ["phone,name,reason"] + [f"{n},Customer {n[-3:]},follow-up of case {n[-3:]}" for n in numbers]
    return ("\n".join(lines) + "\n").encode()


async def test_progressive_campaign_end_to_end(make_env: Callable[..., Any], agent_tech: AgentTech) -> None:
    async with make_env(sim_config(agent_tech)) as env:
        await run_progressive(env)


async def run_progressive(env: OutboundEnv) -> None:
    svc = env.service
    campaigns = svc.campaigns
    await svc.acd.login("1001")
    campaign = await campaigns.create(
        {
            "name": "Follow-ups",
            "queue": "support",
            "mode": "progressive",
            "caller_id": "+12025550000",
            "ring_timeout": 5,
            "retry": NO_RETRY_SOON,
            **ALL_DAY,
        },
        SUPERVISOR,
    )
    await campaigns.add_dnc(ON_DNC, "admin", SUPERVISOR, "asked in the IVR")
    imported = await campaigns.import_contacts(
        campaign.id, csv_of(BUSY, NO_ANSWER, FAILED, MACHINE, ON_DNC, HUMAN), SUPERVISOR
    )
    assert imported.added == 6 and not imported.errors
    await campaigns.set_status(campaign.id, CampaignStatus.RUNNING, SUPERVISOR)
    store = svc.outbound_store

    async def settled() -> bool:
        contacts = await store.list_contacts(campaign.id)
        return all(
            c.status is not ContactStatus.DIALING and c.attempts + (c.number == ON_DNC) > 0 for c in contacts
        )

    await until(settled, "every contact tried once", within=60)
    by_number = {c.number: c for c in await store.list_contacts(campaign.id)}
    attempts = await store.list_attempts(campaign.id)
    results = {a.number: a.result for a in attempts}
    assert results == {
        BUSY: AttemptResult.BUSY,
        NO_ANSWER: AttemptResult.NO_ANSWER,
        FAILED: AttemptResult.FAILED,
        MACHINE: AttemptResult.MACHINE,
        ON_DNC: AttemptResult.DNC_BLOCKED,
        HUMAN: AttemptResult.CONNECTED,
    }
    reasons = {a.number: a.reason for a in attempts}
    assert reasons[BUSY] == 5 and reasons[FAILED] == 8 and reasons[NO_ANSWER] == 3
    # the do-not-call number never reached the PBX
    assert env.sim.pbx is not None and ON_DNC not in env.sim.pbx.outbound_counts
    assert by_number[ON_DNC].status is ContactStatus.BLOCKED
    for n in (BUSY, NO_ANSWER, FAILED, MACHINE):
        assert by_number[n].status is ContactStatus.PENDING and by_number[n].attempts == 1
    connected = next(a for a in attempts if a.number == HUMAN)
    assert connected.agent == "1001" and connected.connected_at is not None
    assert connected.ended_at is not None and connected.ended_at - connected.connected_at > 0.5
    # the agent was reserved for each dial, but their phone rang once: for the person who answered
    await svc.acd.flush_log()
    transitions = await svc.acd_log.list_transitions("1001")
    to_states = [t.to_state for t in transitions]
    assert to_states.count(AgentState.ON_CALL) == 1
    assert to_states.count(AgentState.RINGING) == 5
    assert all(t.reason == "outbound" for t in transitions if t.to_state is AgentState.RINGING)
    assert env.sim.pbx._agent_calls == {"1001": 1}
    status = await svc.acd.state.get_agent("1001")
    assert status is not None and status.state is AgentState.AVAILABLE
    # the agent's outcome closes the contact; a stranger cannot set it
    agent = Actor("alice", Role.AGENT, "1001")
    other = Actor("bob", Role.AGENT, "1002")
    with pytest.raises(NotFound):  # not theirs: as if it did not exist
        await campaigns.set_outcome(connected.id, "done", other)
    done = await campaigns.set_outcome(connected.id, "done", agent)
    assert done["contact_status"] == "done"
    report = await campaigns.report(campaign.id)
    assert report["attempts"] == 5 and report["reached"] == 1 and report["outcomes"] == {"done": 1}
    assert report["abandon_rate"] == 0.0
    assert set(report["agent_talk_seconds"]) == {"1001"}
    assert set(report["agent_idle_seconds"]) == {"1001"} and report["agent_idle_seconds"]["1001"] > 0


async def test_predictive_customer_with_no_agent_hears_the_message(
    make_env: Callable[..., Any], agent_tech: AgentTech
) -> None:
    """The agent goes on a break while the customer's phone rings: the answered customer finds no agent
    within the connect limit, hears the sorry prompt over FastAGI and is hung up (never silent); the
    attempt is stored as abandoned and counts in the abandon rate."""
    async with make_env(sim_config(agent_tech, ring_min=3.0, ring_max=3.0)) as env:
        svc = env.service
        assert env.sim.pbx is not None
        commands: list[str] = []
        env.sim.pbx.agi_hook = lambda chan, cmd, args: commands.append(" ".join([*cmd, *args]))
        await svc.acd.login("1001")
        campaign = await svc.campaigns.create(
            {
                "name": "Predictive",
                "queue": "support",
                "mode": "predictive",
                "retry": NO_RETRY_SOON,
                **ALL_DAY,
            },
            SUPERVISOR,
        )
        await svc.campaigns.import_contacts(campaign.id, csv_of(HUMAN), SUPERVISOR)
        await svc.campaigns.set_status(campaign.id, CampaignStatus.RUNNING, SUPERVISOR)

        async def dialling() -> bool:
            return bool(await svc.outbound_store.list_attempts(campaign.id))

        await until(dialling, "the dial")
        await svc.acd.pause("1001", "break")

        async def ended() -> bool:
            (a,) = await svc.outbound_store.list_attempts(campaign.id)
            return a.result is not AttemptResult.DIALING

        await until(ended, "the attempt to end")
        (attempt,) = await svc.outbound_store.list_attempts(campaign.id)
        assert attempt.result is AttemptResult.ABANDONED and attempt.detail == "no agent free"
        assert any("cc-outbound-sorry" in c for c in commands), commands
        assert env.sim.pbx._agent_calls == {}  # no agent phone rang
        report = await svc.campaigns.report(campaign.id)
        assert report["abandon_rate"] == 1.0 and report["live"]["abandoned"] == 1


async def test_answered_call_that_never_reaches_the_script_does_not_hold_the_agent(
    make_env: Callable[..., Any], agent_tech: AgentTech
) -> None:
    """Fact 37: an answer followed by an immediate hang-up is OriginateResponse Success / 4, but the call
    never reaches FastAGI. The dialer gives up on the session after ``session_grace``: the attempt is
    stored as hung up, the contact rescheduled, and the reserved agent is free again."""
    async with make_env(sim_config(agent_tech)) as env:
        svc = env.service
        svc.dialer.options = dataclasses.replace(svc.dialer.options, session_grace=1.0)
        await svc.acd.login("1001")
        campaign = await svc.campaigns.create(
            {"name": "Gone", "queue": "support", "mode": "progressive", "retry": NO_RETRY_SOON, **ALL_DAY},
            SUPERVISOR,
        )
        await svc.campaigns.import_contacts(campaign.id, csv_of(HANG_UP), SUPERVISOR)
        await svc.campaigns.set_status(campaign.id, CampaignStatus.RUNNING, SUPERVISOR)

        async def ended() -> bool:
            attempts = await svc.outbound_store.list_attempts(campaign.id)
            return bool(attempts) and attempts[0].result is not AttemptResult.DIALING

        await until(ended, "the attempt to end", within=20)
        (attempt,) = await svc.outbound_store.list_attempts(campaign.id)
        assert attempt.result is AttemptResult.HUNG_UP, attempt
        assert attempt.answered_at is not None and attempt.detail == "hung up before the script answered"
        assert svc.dialer.stats["no_session"] == 1
        assert svc.dialer.live_dials() == []
        (contact,) = await svc.outbound_store.list_contacts(campaign.id)
        assert contact.status is not ContactStatus.DIALING and contact.attempts == 1
        status = await svc.acd.state.get_agent("1001")
        assert status is not None and status.state is AgentState.AVAILABLE
        assert env.sim.pbx is not None and env.sim.pbx._agent_calls == {}  # the agent's phone never rang
