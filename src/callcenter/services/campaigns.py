"""Campaign administration and the agents' side of outbound (issue 17): create, edit, start, pause and
stop campaigns, import contacts, the do-not-call list, the agent's outcome codes, and per-campaign
reports. Every admin change is audited (``AuditLog``); the dialer (``services/dialer``) is told to
reload when a campaign changes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from callcenter.domain.acd import AgentState
from callcenter.domain.audit import AuditEntry
from callcenter.domain.customers import ValidationError
from callcenter.domain.errors import NotFound, PermissionDenied
from callcenter.domain.outbound import (
    DNC_SOURCES,
    AttemptResult,
    Campaign,
    CampaignStatus,
    DncEntry,
    after_outcome,
    campaign_from_mapping,
)
from callcenter.domain.outbound_csv import CsvError, parse_contacts
from callcenter.domain.phones import normalize_phone
from callcenter.domain.users import Role
from callcenter.ports import AgentStateLog, AuditLog, OutboundStore
from callcenter.services.dialer import DialerService

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Actor:
    username: str
    role: Role
    agent: str | None = None


@dataclass(frozen=True, slots=True)
class ContactImport:
    rows: int
    added: int
    errors: tuple[CsvError, ...] = ()


class CampaignService:
    def __init__(
        self,
        store: OutboundStore,
        dialer: DialerService,
        *,
        audit: AuditLog | None = None,
        queues: Callable[[], frozenset[str]] | None = None,
        transitions: AgentStateLog | None = None,
        default_country: str = "1",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.dialer = dialer
        self.audit = audit
        self._queues = queues
        self.transitions = transitions
        self._cc = default_country
        self._clock = clock

    async def _audit(self, actor: Actor, action: str, target: str, detail: Mapping[str, Any]) -> None:
        if self.audit is not None:
            await self.audit.save_audit(
                AuditEntry(
                    self._clock(), actor.username, actor.role.value, action, target, True, dict(detail)
                )
            )

    def queue_names(self) -> list[str]:
        return sorted(self._queues()) if self._queues is not None else []

    # --- campaigns -------------------------------------------------------------------------------
    async def get(self, campaign_id: int) -> Campaign:
        found = await self.store.get_campaign(campaign_id)
        if found is None:
            raise NotFound(f"no campaign {campaign_id}")
        return found

    async def create(self, data: Mapping[str, Any], actor: Actor) -> Campaign:
        queues = self._queues() if self._queues is not None else None
        now = self._clock()
        draft = campaign_from_mapping(data, queues=queues)
        created = await self.store.create_campaign(
            replace(
                draft, status=CampaignStatus.DRAFT, created_by=actor.username, created_at=now, updated_at=now
            )
        )
        await self._audit(
            actor, "campaign.create", created.name, {"id": created.id, "mode": created.mode.value}
        )
        return created

    async def update(self, campaign_id: int, data: Mapping[str, Any], actor: Actor) -> Campaign:
        current = await self.get(campaign_id)
        queues = self._queues() if self._queues is not None else None
        changed = replace(campaign_from_mapping(data, base=current, queues=queues), updated_at=self._clock())
        await self.store.save_campaign(changed)
        self.dialer.reload()
        await self._audit(actor, "campaign.update", changed.name, {"id": campaign_id, "fields": sorted(data)})
        return changed

    async def set_status(self, campaign_id: int, status: CampaignStatus, actor: Actor) -> Campaign:
        current = await self.get(campaign_id)
        changed = current.with_status(status, self._clock())
        await self.store.save_campaign(changed)
        self.dialer.reload()
        await self._audit(
            actor, f"campaign.{status.value}", current.name, {"id": campaign_id, "from": current.status.value}
        )
        log.info(
            "campaign status", extra={"campaign": campaign_id, "status": status.value, "by": actor.username}
        )
        return changed

    async def list(self) -> list[Campaign]:
        return await self.store.list_campaigns()

    # --- contacts --------------------------------------------------------------------------------
    async def import_contacts(self, campaign_id: int, data: bytes, actor: Actor) -> ContactImport:
        """A CSV file of contacts, all or nothing (``domain/outbound_csv``); parsed in a worker thread."""
        campaign = await self.get(campaign_id)
        drafts, errors = await asyncio.to_thread(parse_contacts, data, self._cc)
        if errors:
            return ContactImport(len(drafts) + len(errors), 0, tuple(errors))
        added = await self.store.add_contacts(campaign.id, drafts, self._clock())
        await self._audit(
            actor, "campaign.import", campaign.name, {"id": campaign_id, "rows": len(drafts), "added": added}
        )
        return ContactImport(len(drafts), added)

    # --- do not call -----------------------------------------------------------------------------
    def _number(self, raw: str) -> str:
        number = normalize_phone(raw, self._cc)
        if number is None or not number.startswith("+"):
            raise ValidationError({"number": "not a phone number"})
        return number

    async def add_dnc(self, raw: str, source: str, actor: Actor, note: str = "") -> tuple[str, bool]:
        if source not in DNC_SOURCES:
            raise ValidationError({"source": f"one of {', '.join(DNC_SOURCES)}"})
        number = self._number(raw)
        added = await self.store.add_dnc(DncEntry(number, source, actor.username, self._clock(), note[:500]))
        await self._audit(actor, "dnc.add", number, {"source": source, "added": added})
        return number, added

    async def remove_dnc(self, raw: str, actor: Actor) -> bool:
        if actor.role is not Role.ADMIN:
            raise PermissionDenied("only admins take numbers off the do-not-call list")
        number = self._number(raw)
        removed = await self.store.remove_dnc(number)
        await self._audit(actor, "dnc.remove", number, {"removed": removed})
        return removed

    # --- the agent's outcome ---------------------------------------------------------------------
    async def set_outcome(self, attempt_id: int, code: str, actor: Actor) -> dict[str, Any]:
        """The outcome code of a connected attempt: closes or reschedules the contact; a code marked
        ``dnc`` puts the number on the do-not-call list. Agents set it on their own attempts only."""
        attempt = await self.store.get_attempt(attempt_id)
        if attempt is None:
            raise NotFound(f"no attempt {attempt_id}")
        if actor.role is Role.AGENT and attempt.agent != (actor.agent or ""):
            raise NotFound(f"no attempt {attempt_id}")  # not theirs: as if it did not exist
        if attempt.result is not AttemptResult.CONNECTED:
            raise ValidationError({"attempt": "only a connected call takes an outcome"})
        campaign = await self.get(attempt.campaign_id)
        outcome = campaign.outcome(code)
        if outcome is None:
            raise ValidationError({"code": f"one of {', '.join(o.code for o in campaign.outcomes)}"})
        contact = await self.store.get_contact(attempt.contact_id)
        if contact is None:
            raise NotFound(f"no contact {attempt.contact_id}")
        now = self._clock()
        await self.store.save_attempt(replace(attempt, outcome=code))
        updated = after_outcome(campaign, contact, outcome, now)
        await self.store.save_contact(updated)
        if outcome.dnc:
            await self.store.add_dnc(DncEntry(contact.number, "outcome", actor.username, now, campaign.name))
        return {"attempt": attempt_id, "outcome": code, "contact_status": updated.status.value}

    # --- reports ---------------------------------------------------------------------------------
    async def _idle(self, campaign: Campaign) -> dict[str, float]:
        """Seconds each agent of the campaign's queue spent available (waiting for a call) since the
        campaign was created, from the ACD's state log (the last 50,000 changes at most)."""
        if self.transitions is None:
            return {}
        members = set(self.dialer.acd.agents_of(campaign.queue))
        idle: dict[str, float] = {}
        for t in await self.transitions.list_transitions(since=campaign.created_at, limit=50_000):
            if t.agent in members and t.from_state is AgentState.AVAILABLE:
                idle[t.agent] = idle.get(t.agent, 0.0) + t.duration
        return {k: round(v, 1) for k, v in sorted(idle.items())}

    async def report(self, campaign_id: int) -> dict[str, Any]:
        """Per campaign: attempts, contacts reached, outcomes, abandon rate, agents' talk time."""
        campaign = await self.get(campaign_id)
        counts = await self.store.campaign_counts(campaign_id)
        results = counts["results"]
        attempts = sum(n for r, n in results.items() if r != AttemptResult.DNC_BLOCKED.value)
        reached = results.get(AttemptResult.CONNECTED.value, 0)
        abandoned = results.get(AttemptResult.ABANDONED.value, 0)
        people = reached + abandoned + results.get(AttemptResult.HUNG_UP.value, 0)
        talk: dict[str, float] = {}
        for a in await self.store.list_attempts(campaign_id, limit=5000):
            if a.result is AttemptResult.CONNECTED and a.connected_at is not None and a.ended_at is not None:
                talk[a.agent] = talk.get(a.agent, 0.0) + max(0.0, a.ended_at - a.connected_at)
        return {
            "agent_idle_seconds": await self._idle(campaign),
            "campaign": campaign_id,
            "name": campaign.name,
            "status": campaign.status.value,
            "mode": campaign.mode.value,
            "attempts": attempts,
            "reached": reached,
            "results": results,
            "contacts": counts["contacts"],
            "outcomes": counts["outcomes"],
            "abandon_rate": (abandoned / people) if people else None,
            "agent_talk_seconds": {k: round(v, 1) for k, v in sorted(talk.items())},
            "live": self.dialer.live_view(campaign_id),
        }
