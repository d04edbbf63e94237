"""Preview dialing end to end over real AMI + FastAGI: the agent gets the next contact's card, Call rings
the agent's phone first and then the customer's, the outcome is required before the next card; Skip
needs a reason; a busy customer reschedules the contact."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from callcenter.domain.acd import AgentState
from callcenter.domain.customers import ValidationError
from callcenter.domain.outbound import AttemptResult, CampaignStatus, ContactStatus
from callcenter.domain.users import Role
from callcenter.services.campaigns import Actor
from tests.dialer.conftest import ALL_DAY, BUSY, HUMAN, NO_RETRY_SOON, SUPERVISOR, sim_config
from tests.support.sim_agents import AgentTech

AGENT = Actor("alice", Role.AGENT, "1001")


async def until(check: Callable[[], Awaitable[bool]], what: str, within: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


async def test_preview_call_skip_and_outcome(make_env: Callable[..., Any], agent_tech: AgentTech) -> None:
    async with make_env(sim_config(agent_tech)) as env:
        svc = env.service
        preview = svc.preview
        await svc.acd.login("1001")
        campaign = await svc.campaigns.create(
            {
                "name": "Preview",
                "queue": "support",
                "mode": "preview",
                "script": "Greet, then ask",
                "ring_timeout": 10,
                "retry": NO_RETRY_SOON,
                **ALL_DAY,
            },
            SUPERVISOR,
        )
        data = f"phone,name,reason\n{HUMAN},Hana,repair done\n{BUSY},Bert,refund\n+12025550177,Sid,survey\n"
        assert (await svc.campaigns.import_contacts(campaign.id, data.encode(), SUPERVISOR)).added == 3
        assert await preview.next_card("1001") is None  # not running yet
        await svc.campaigns.set_status(campaign.id, CampaignStatus.RUNNING, SUPERVISOR)

        card = await preview.next_card("1001")
        assert card is not None and card["state"] == "ready" and card["contact"]["number"] == HUMAN
        assert card["contact"]["reason"] == "repair done" and card["campaign"]["script"] == "Greet, then ask"
        assert (await preview.next_card("1001"))["contact"]["id"] == card["contact"]["id"]  # the same card
        await preview.call("1001", card["contact"]["id"])
        # the agent's phone rings first, then the customer is dialled from the agent's channel
        await until(lambda: _state(svc, "1001", AgentState.ON_CALL), "the agent on the call")
        assert env.sim.pbx is not None

        async def customer_dialled() -> bool:
            return env.sim.pbx is not None and HUMAN in env.sim.pbx.outbound_counts

        await until(customer_dialled, "the customer dialled")

        async def needs_outcome() -> bool:
            c = await preview.next_card("1001")
            return c is not None and c["state"] == "needs_outcome"

        await until(needs_outcome, "the call to end", within=30)
        card = await preview.next_card("1001")
        assert card is not None and card["contact"]["number"] == HUMAN  # no next contact before the outcome
        with pytest.raises(ValidationError):
            await preview.call("1001", card["contact"]["id"])
        await svc.campaigns.set_outcome(card["attempt_id"], "done", AGENT)

        card = await preview.next_card("1001")
        assert card is not None and card["contact"]["number"] == BUSY
        with pytest.raises(ValidationError):
            await preview.skip("1001", card["contact"]["id"], "   ")
        await until(lambda: _state(svc, "1001", AgentState.AVAILABLE), "the agent available")
        await preview.call("1001", card["contact"]["id"])

        async def busy_done() -> bool:
            c = await svc.outbound_store.get_contact(card["contact"]["id"])
            return c is not None and c.status is ContactStatus.PENDING

        await until(busy_done, "the busy dial to end")
        card = await preview.next_card("1001")
        assert card is not None and card["contact"]["name"] == "Sid"
        await preview.skip("1001", card["contact"]["id"], "customer asked for e-mail")
        assert await preview.next_card("1001") is None
        results = {
            a.number: (a.result, a.detail) for a in await svc.outbound_store.list_attempts(campaign.id)
        }
        assert results[HUMAN][0] is AttemptResult.CONNECTED
        assert results[BUSY][0] is AttemptResult.BUSY
        assert results["+12025550177"] == (AttemptResult.SKIPPED, "customer asked for e-mail")


async def _state(svc: Any, agent: str, state: AgentState) -> bool:
    status = await svc.acd.state.get_agent(agent)
    return status is not None and status.state is state
