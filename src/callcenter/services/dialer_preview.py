"""Preview dialing (issue 17): the agent sees the next contact's card, then presses Call or Skip.

* ``next_card(agent)``: the contact shown to the agent and still waiting for their outcome, else the
  next due contact (calling hours, do-not-call and consent as for the dialer) of a running preview
  campaign of one of the agent's queues, claimed for them (no other agent gets it);
* ``call(agent, contact)``: the agent is reserved and their phone rings first (``Dialing.
  dial_agent_first``: Originate to the agent's endpoint into ``[cc-preview]``); once they answer, the
  FastAGI script ``preview`` (``handle_agi``) dials the customer from the agent's channel and reads
  ``DIALSTATUS``. A connected call keeps the contact on the agent's card until they set the outcome
  (required before the next contact); busy, no answer and failures reschedule it by the campaign's rules;
* ``skip(agent, contact, reason)``: a ``skipped`` attempt with the reason; the contact is rescheduled.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from dataclasses import replace
from typing import Any

from callcenter.domain.customers import ValidationError
from callcenter.domain.errors import AgiError, CallcenterError, NotFound
from callcenter.domain.outbound import (
    Attempt,
    AttemptResult,
    Campaign,
    CampaignStatus,
    Contact,
    ContactStatus,
    DialMode,
    after_result,
)
from callcenter.domain.text import N_
from callcenter.ports import AgiChannel
from callcenter.services.dialer import DialerService, _int

log = logging.getLogger(__name__)

DIAL_RESULTS = {
    "BUSY": AttemptResult.BUSY,
    "NOANSWER": AttemptResult.NO_ANSWER,
    "CONGESTION": AttemptResult.FAILED,
    "CHANUNAVAIL": AttemptResult.FAILED,
    "CANCEL": AttemptResult.HUNG_UP,  # the agent hung up while the customer's phone rang
}
AGENT_RING_MS = 20_000


class PreviewDialer:
    def __init__(self, dialer: DialerService) -> None:
        self.dialer = dialer
        self.store = dialer.store

    async def _campaigns(self, agent: str) -> list[Campaign]:
        cfg = self.dialer.acd.agents.get(agent)
        if cfg is None:
            raise NotFound(f"no agent {agent!r}")
        return [
            c
            for c in await self.store.list_campaigns()
            if c.mode is DialMode.PREVIEW
            and c.status is CampaignStatus.RUNNING
            and cfg.penalty(c.queue) is not None
        ]

    async def next_card(self, agent: str) -> dict[str, Any] | None:
        campaigns = await self._campaigns(agent)
        for c in campaigns:
            shown = await self.store.contact_for_agent(c.id, agent)
            if shown is not None:
                return await self._card(c, shown)
        now = self.dialer.clock()
        for c in campaigns:
            contact = await self.dialer.next_contact(c, now, agent=agent)
            if contact is not None:
                return await self._card(c, contact)
        return None

    async def _card(self, c: Campaign, contact: Contact) -> dict[str, Any]:
        attempts = [a for a in await self.store.list_attempts(c.id, limit=500) if a.contact_id == contact.id]
        last = attempts[0] if attempts else None
        needs_outcome = last is not None and last.result is AttemptResult.CONNECTED and not last.outcome
        in_flight = any(d.contact.id == contact.id for d in self.dialer.live_dials())
        return {
            "campaign": {"id": c.id, "name": c.name, "script": c.script},
            "contact": {
                "id": contact.id,
                "number": contact.number,
                "name": contact.name,
                "reason": contact.reason,
                "customer_id": contact.customer_id,
                "attempts": contact.attempts,
                "last_result": contact.last_result,
            },
            "state": "needs_outcome" if needs_outcome else "dialing" if in_flight else "ready",
            "attempt_id": last.id if needs_outcome and last is not None else None,
            "outcomes": [{"code": o.code, "label": o.label or o.code} for o in c.outcomes],
        }

    async def _mine(self, agent: str, contact_id: int) -> tuple[Campaign, Contact]:
        contact = await self.store.get_contact(contact_id)
        if contact is None or contact.agent != agent or contact.status is not ContactStatus.DIALING:
            raise NotFound(f"no contact {contact_id} on your card")
        campaign = await self.store.get_campaign(contact.campaign_id)
        if campaign is None:
            raise NotFound(f"no contact {contact_id} on your card")
        return campaign, contact

    async def call(self, agent: str, contact_id: int) -> dict[str, Any]:
        campaign, contact = await self._mine(agent, contact_id)
        card = await self._card(campaign, contact)
        if card["state"] != "ready":
            raise ValidationError({"contact": N_("set the outcome of the last call first")})
        dialing = self.dialer.dialing
        if dialing is None or not dialing.connected:
            raise ValidationError({"pbx": N_("the PBX is not connected")})
        call_id = f"ob-{uuid.uuid4().hex[:20]}"
        if not await self.dialer.acd.reserve_for_dialer(agent, call_id, campaign.queue):
            raise ValidationError({"agent": N_("you must be available to call")})
        now = self.dialer.clock()
        attempt = await self.store.add_attempt(
            Attempt(0, campaign.id, contact.id, contact.number, now, agent=agent, call_id=call_id)
        )
        contact = replace(contact, attempts=contact.attempts + 1, updated_at=now)
        await self.store.save_contact(contact)
        live = self.dialer.track(campaign, contact, attempt, agent, now, preview=True)
        cfg = self.dialer.acd.agents.get(agent)
        endpoint = cfg.dial_target() if cfg is not None else f"PJSIP/{agent}"
        try:
            await dialing.dial_agent_first(
                endpoint,
                call_id=call_id,
                action_id=live.action_id,
                caller_id=contact.number,
                timeout_ms=AGENT_RING_MS,
                variables={"CC_ATTEMPT": str(attempt.id), "CC_CAMPAIGN": str(campaign.id)},
            )
        except CallcenterError as exc:
            await self.dialer.finish(live, AttemptResult.FAILED, detail=str(exc))
            raise
        log.info("preview: ringing the agent first", extra={"agent": agent, "linkedid": call_id})
        return {"attempt_id": attempt.id, "call_id": call_id}

    async def skip(self, agent: str, contact_id: int, reason: str) -> dict[str, Any]:
        reason = " ".join(reason.split())[:200]
        if not reason:
            raise ValidationError({"reason": N_("required: why is this contact skipped?")})
        campaign, contact = await self._mine(agent, contact_id)
        if (await self._card(campaign, contact))["state"] != "ready":
            raise ValidationError({"contact": N_("set the outcome of the last call first")})
        now = self.dialer.clock()
        await self.store.add_attempt(
            Attempt(
                0,
                campaign.id,
                contact.id,
                contact.number,
                now,
                AttemptResult.SKIPPED,
                agent=agent,
                ended_at=now,
                detail=reason,
            )
        )
        after = after_result(campaign, replace(contact, agent=""), AttemptResult.SKIPPED, now)
        await self.store.save_contact(after)
        return {"contact_status": after.status.value}

    async def handle_agi(self, channel: AgiChannel) -> None:
        """``[cc-preview]``: the agent answered; dial the customer from their channel."""
        try:
            attempt_id = int(channel.env.get("query_attempt", ""))
        except ValueError:
            attempt_id = -1
        live = self.dialer.live_attempt(attempt_id)
        if live is None:
            with contextlib.suppress(AgiError):
                await channel.hangup()
            return
        live.session = True
        c = live.campaign
        call_id = live.attempt.call_id
        await self.dialer.acd.dialer_answered(live.agent, call_id)
        dialing = self.dialer.dialing
        assert dialing is not None
        target = dialing.customer_dialstring(live.contact.number)
        status = "CANCEL"
        talk = 0.0
        try:
            await channel.exec("Dial", f"{target},{round(c.ring_timeout)},tT")
            status = ((await channel.get_variable("DIALSTATUS")) or "").upper()
            talk = float(_int(await channel.get_variable("ANSWEREDTIME")))
        finally:
            await self.dialer.acd.dialer_ended(
                live.agent, call_id, c.queue, talk if status == "ANSWER" else 0.0
            )
            if status == "ANSWER":
                live.attempt = replace(live.attempt, connected_at=self.dialer.clock() - talk)
                await self.dialer.finish(live, AttemptResult.CONNECTED, talk=talk)
            else:
                await self.dialer.finish(live, DIAL_RESULTS.get(status, AttemptResult.FAILED), detail=status)
