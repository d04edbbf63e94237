"""``ports.OutboundStore`` on SQLAlchemy (issue 17): campaigns, contacts, attempts, do-not-call.

Claiming a contact is an ``UPDATE ... WHERE id = ? AND status = 'pending'``: of two dialers (two service
instances) that read the same due contact, only the one whose UPDATE matched dials it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import Table, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from callcenter.domain.errors import NotFound
from callcenter.domain.outbound import (
    Attempt,
    AttemptResult,
    Campaign,
    CampaignKind,
    CampaignStatus,
    Contact,
    ContactDraft,
    ContactStatus,
    DialMode,
    DncEntry,
    campaign_from_settings,
    settings_of,
)
from callcenter.store.engine import DEFAULT_CONNECT_TIMEOUT, translate_errors
from callcenter.store.models_outbound import AttemptRow, CampaignRow, ContactRow, DncRow

_CAMPAIGNS: Table = CampaignRow.__table__  # type: ignore[assignment]
_CONTACTS: Table = ContactRow.__table__  # type: ignore[assignment]
_ATTEMPTS: Table = AttemptRow.__table__  # type: ignore[assignment]
_DNC: Table = DncRow.__table__  # type: ignore[assignment]
_CLAIM_SCAN = 4  # rows read per contact wanted (some are outside calling hours or blocked)


def _campaign(r: Any) -> Campaign:
    base = Campaign(
        id=int(r["id"]),
        name=r["name"],
        queue=r["queue"],
        mode=DialMode(r["mode"]),
        kind=CampaignKind(r["kind"]),
        status=CampaignStatus(r["status"]),
        created_by=r["created_by"],
        created_at=float(r["created_at"]),
        updated_at=float(r["updated_at"]),
    )
    return campaign_from_settings(base, dict(r["settings"] or {}))


def _campaign_row(c: Campaign) -> dict[str, Any]:
    return {
        "name": c.name,
        "queue": c.queue,
        "mode": c.mode.value,
        "kind": c.kind.value,
        "status": c.status.value,
        "settings": settings_of(c),
        "created_by": c.created_by,
        "created_at": c.created_at,
        "updated_at": c.updated_at,
    }


def _contact(r: Any) -> Contact:
    return Contact(
        id=int(r["id"]),
        campaign_id=int(r["campaign_id"]),
        number=r["number"],
        name=r["name"],
        customer_id=r["customer_id"],
        timezone=r["timezone"],
        reason=r["reason"],
        status=ContactStatus(r["status"]),
        attempts=int(r["attempts"]),
        due_at=float(r["due_at"]),
        last_result=r["last_result"],
        outcome=r["outcome"],
        agent=r["agent"],
        no_marketing=bool(r["no_marketing"]),
        updated_at=float(r["updated_at"]),
    )


def _contact_changes(c: Contact) -> dict[str, Any]:
    return {
        "status": c.status.value,
        "attempts": c.attempts,
        "due_at": c.due_at,
        "last_result": c.last_result,
        "outcome": c.outcome,
        "agent": c.agent,
        "updated_at": c.updated_at,
    }


def _attempt(r: Any) -> Attempt:
    return Attempt(
        id=int(r["id"]),
        campaign_id=int(r["campaign_id"]),
        contact_id=int(r["contact_id"]),
        number=r["number"],
        started_at=float(r["started_at"]),
        result=AttemptResult(r["result"]),
        agent=r["agent"],
        call_id=r["call_id"],
        ended_at=r["ended_at"],
        answered_at=r["answered_at"],
        connected_at=r["connected_at"],
        outcome=r["outcome"],
        reason=r["reason"],
        detail=r["detail"],
    )


def _attempt_row(a: Attempt) -> dict[str, Any]:
    return {
        "campaign_id": a.campaign_id,
        "contact_id": a.contact_id,
        "number": a.number,
        "agent": a.agent,
        "call_id": a.call_id,
        "result": a.result.value,
        "outcome": a.outcome,
        "reason": a.reason,
        "detail": a.detail[:500],
        "started_at": a.started_at,
        "answered_at": a.answered_at,
        "connected_at": a.connected_at,
        "ended_at": a.ended_at,
    }


class SqlOutboundStore:
    def __init__(self, engine: AsyncEngine, *, timeout: float = DEFAULT_CONNECT_TIMEOUT * 4) -> None:
        self._engine = engine
        self._timeout = timeout

    # --- campaigns --------------------------------------------------------------------------------
    async def create_campaign(self, campaign: Campaign) -> Campaign:
        with translate_errors(f"create campaign {campaign.name!r}"):
            async with asyncio.timeout(self._timeout), self._engine.begin() as conn:
                stmt = insert(_CAMPAIGNS).returning(_CAMPAIGNS.c.id)
                new_id = int((await conn.execute(stmt, _campaign_row(campaign))).scalar_one())
        return await self._campaign_or_raise(new_id)

    async def save_campaign(self, campaign: Campaign) -> None:
        with translate_errors(f"save campaign {campaign.id}"):
            async with asyncio.timeout(self._timeout), self._engine.begin() as conn:
                stmt = (
                    update(_CAMPAIGNS).where(_CAMPAIGNS.c.id == campaign.id).values(**_campaign_row(campaign))
                )
                if (await conn.execute(stmt)).rowcount == 0:
                    raise NotFound(f"no campaign {campaign.id}")

    async def _campaign_or_raise(self, campaign_id: int) -> Campaign:
        found = await self.get_campaign(campaign_id)
        if found is None:
            raise NotFound(f"no campaign {campaign_id}")
        return found

    async def get_campaign(self, campaign_id: int) -> Campaign | None:
        with translate_errors("get campaign"):
            async with asyncio.timeout(self._timeout), self._engine.connect() as conn:
                row = (
                    (await conn.execute(select(_CAMPAIGNS).where(_CAMPAIGNS.c.id == campaign_id)))
                    .mappings()
                    .first()
                )
        return None if row is None else _campaign(row)

    async def list_campaigns(self) -> list[Campaign]:
        with translate_errors("list campaigns"):
            async with asyncio.timeout(self._timeout), self._engine.connect() as conn:
                rows = (await conn.execute(select(_CAMPAIGNS).order_by(_CAMPAIGNS.c.id))).mappings().all()
        return [_campaign(r) for r in rows]

    # --- contacts ---------------------------------------------------------------------------------
    async def add_contacts(self, campaign_id: int, drafts: Sequence[ContactDraft], now: float) -> int:
        if not drafts:
            return 0
        with translate_errors("add contacts"):
            async with asyncio.timeout(self._timeout * 4), self._engine.begin() as conn:
                taken = set(
                    (
                        await conn.execute(
                            select(_CONTACTS.c.number).where(
                                _CONTACTS.c.campaign_id == campaign_id,
                                _CONTACTS.c.number.in_([d.number for d in drafts]),
                            )
                        )
                    ).scalars()
                )
                rows: list[dict[str, Any]] = []
                for d in drafts:
                    if d.number in taken:
                        continue
                    taken.add(d.number)
                    rows.append(
                        {
                            "campaign_id": campaign_id,
                            "number": d.number,
                            "name": d.name,
                            "customer_id": d.customer_id,
                            "timezone": d.timezone,
                            "reason": d.reason,
                            "status": ContactStatus.PENDING.value,
                            "attempts": 0,
                            "due_at": now,
                            "last_result": "",
                            "outcome": "",
                            "agent": "",
                            "no_marketing": d.no_marketing,
                            "updated_at": now,
                        }
                    )
                if rows:
                    await conn.execute(insert(_CONTACTS), rows)
        return len(rows)

    async def upsert_contact(self, campaign_id: int, draft: ContactDraft, now: float) -> Contact:
        c = _CONTACTS.c
        with translate_errors("upsert contact"):
            async with asyncio.timeout(self._timeout), self._engine.begin() as conn:
                where = (c.campaign_id == campaign_id, c.number == draft.number)
                row = (await conn.execute(select(_CONTACTS).where(*where))).mappings().first()
                if row is None:
                    await conn.execute(
                        insert(_CONTACTS),
                        {
                            "campaign_id": campaign_id,
                            "number": draft.number,
                            "name": draft.name,
                            "customer_id": draft.customer_id,
                            "timezone": draft.timezone,
                            "reason": draft.reason,
                            "status": ContactStatus.PENDING.value,
                            "attempts": 0,
                            "due_at": now,
                            "last_result": "",
                            "outcome": "",
                            "agent": "",
                            "no_marketing": draft.no_marketing,
                            "updated_at": now,
                        },
                    )
                elif row["status"] not in (ContactStatus.PENDING.value, ContactStatus.DIALING.value):
                    await conn.execute(
                        update(_CONTACTS)
                        .where(*where)
                        .values(
                            status=ContactStatus.PENDING.value,
                            attempts=0,
                            due_at=now,
                            reason=draft.reason,
                            outcome="",
                            agent="",
                            updated_at=now,
                        )
                    )
                found = (await conn.execute(select(_CONTACTS).where(*where))).mappings().one()
        return _contact(found)

    async def claim_contacts(
        self, campaign_id: int, now: float, limit: int, accept: Callable[[Contact], bool], agent: str = ""
    ) -> list[Contact]:
        if limit <= 0:
            return []
        c = _CONTACTS.c
        claimed: list[Contact] = []
        with translate_errors("claim contacts"):
            async with asyncio.timeout(self._timeout), self._engine.begin() as conn:
                rows = (
                    (
                        await conn.execute(
                            select(_CONTACTS)
                            .where(
                                c.campaign_id == campaign_id,
                                c.status == ContactStatus.PENDING.value,
                                c.due_at <= now,
                            )
                            .order_by(c.due_at, c.id)
                            .limit(limit * _CLAIM_SCAN)
                        )
                    )
                    .mappings()
                    .all()
                )
                for row in rows:
                    contact = _contact(row)
                    if not accept(contact):
                        continue
                    stmt = (
                        update(_CONTACTS)
                        .where(c.id == contact.id, c.status == ContactStatus.PENDING.value)
                        .values(status=ContactStatus.DIALING.value, agent=agent, updated_at=now)
                    )
                    if (await conn.execute(stmt)).rowcount == 1:
                        claimed.append(
                            replace(contact, status=ContactStatus.DIALING, agent=agent, updated_at=now)
                        )
                        if len(claimed) >= limit:
                            break
        return claimed

    async def save_contact(self, contact: Contact) -> None:
        with translate_errors(f"save contact {contact.id}"):
            async with asyncio.timeout(self._timeout), self._engine.begin() as conn:
                stmt = (
                    update(_CONTACTS).where(_CONTACTS.c.id == contact.id).values(**_contact_changes(contact))
                )
                if (await conn.execute(stmt)).rowcount == 0:
                    raise NotFound(f"no contact {contact.id}")

    async def get_contact(self, contact_id: int) -> Contact | None:
        with translate_errors("get contact"):
            async with asyncio.timeout(self._timeout), self._engine.connect() as conn:
                row = (
                    (await conn.execute(select(_CONTACTS).where(_CONTACTS.c.id == contact_id)))
                    .mappings()
                    .first()
                )
        return None if row is None else _contact(row)

    async def contact_for_agent(self, campaign_id: int, agent: str) -> Contact | None:
        c = _CONTACTS.c
        with translate_errors("contact for agent"):
            async with asyncio.timeout(self._timeout), self._engine.connect() as conn:
                row = (
                    (
                        await conn.execute(
                            select(_CONTACTS)
                            .where(
                                c.campaign_id == campaign_id,
                                c.agent == agent,
                                c.status == ContactStatus.DIALING.value,
                            )
                            .order_by(c.updated_at.desc())
                            .limit(1)
                        )
                    )
                    .mappings()
                    .first()
                )
        return None if row is None else _contact(row)

    async def list_contacts(self, campaign_id: int, limit: int = 200) -> list[Contact]:
        c = _CONTACTS.c
        with translate_errors("list contacts"):
            async with asyncio.timeout(self._timeout), self._engine.connect() as conn:
                rows = (
                    (
                        await conn.execute(
                            select(_CONTACTS).where(c.campaign_id == campaign_id).order_by(c.id).limit(limit)
                        )
                    )
                    .mappings()
                    .all()
                )
        return [_contact(r) for r in rows]

    # --- attempts ---------------------------------------------------------------------------------
    async def add_attempt(self, attempt: Attempt) -> Attempt:
        with translate_errors("add attempt"):
            async with asyncio.timeout(self._timeout), self._engine.begin() as conn:
                stmt = insert(_ATTEMPTS).returning(_ATTEMPTS.c.id)
                new_id = int((await conn.execute(stmt, _attempt_row(attempt))).scalar_one())
        return replace(attempt, id=new_id)

    async def record_attempt(self, attempt: Attempt, contact: Contact) -> Attempt:
        with translate_errors(f"record attempt of contact {contact.id}"):
            async with asyncio.timeout(self._timeout), self._engine.begin() as conn:
                if attempt.id == 0:
                    stmt = insert(_ATTEMPTS).returning(_ATTEMPTS.c.id)
                    attempt = replace(
                        attempt, id=int((await conn.execute(stmt, _attempt_row(attempt))).scalar_one())
                    )
                else:
                    await conn.execute(
                        update(_ATTEMPTS).where(_ATTEMPTS.c.id == attempt.id).values(**_attempt_row(attempt))
                    )
                await conn.execute(
                    update(_CONTACTS).where(_CONTACTS.c.id == contact.id).values(**_contact_changes(contact))
                )
        return attempt

    async def save_attempt(self, attempt: Attempt) -> None:
        with translate_errors(f"save attempt {attempt.id}"):
            async with asyncio.timeout(self._timeout), self._engine.begin() as conn:
                stmt = update(_ATTEMPTS).where(_ATTEMPTS.c.id == attempt.id).values(**_attempt_row(attempt))
                if (await conn.execute(stmt)).rowcount == 0:
                    raise NotFound(f"no attempt {attempt.id}")

    async def get_attempt(self, attempt_id: int) -> Attempt | None:
        with translate_errors("get attempt"):
            async with asyncio.timeout(self._timeout), self._engine.connect() as conn:
                row = (
                    (await conn.execute(select(_ATTEMPTS).where(_ATTEMPTS.c.id == attempt_id)))
                    .mappings()
                    .first()
                )
        return None if row is None else _attempt(row)

    async def list_attempts(self, campaign_id: int, limit: int = 200) -> list[Attempt]:
        a = _ATTEMPTS.c
        with translate_errors("list attempts"):
            async with asyncio.timeout(self._timeout), self._engine.connect() as conn:
                rows = (
                    (
                        await conn.execute(
                            select(_ATTEMPTS)
                            .where(a.campaign_id == campaign_id)
                            .order_by(a.id.desc())
                            .limit(limit)
                        )
                    )
                    .mappings()
                    .all()
                )
        return [_attempt(r) for r in rows]

    async def campaign_counts(self, campaign_id: int) -> dict[str, dict[str, int]]:
        c, a = _CONTACTS.c, _ATTEMPTS.c
        with translate_errors("campaign counts"):
            async with asyncio.timeout(self._timeout), self._engine.connect() as conn:
                contacts = (
                    await conn.execute(
                        select(c.status, func.count()).where(c.campaign_id == campaign_id).group_by(c.status)
                    )
                ).all()
                results = (
                    await conn.execute(
                        select(a.result, func.count()).where(a.campaign_id == campaign_id).group_by(a.result)
                    )
                ).all()
                outcomes = (
                    await conn.execute(
                        select(a.outcome, func.count())
                        .where(a.campaign_id == campaign_id, a.outcome != "")
                        .group_by(a.outcome)
                    )
                ).all()
        return {
            "contacts": {str(k): int(n) for k, n in contacts},
            "results": {str(k): int(n) for k, n in results},
            "outcomes": {str(k): int(n) for k, n in outcomes},
        }

    # --- do not call ------------------------------------------------------------------------------
    async def add_dnc(self, entry: DncEntry) -> bool:
        with translate_errors("add dnc"):
            async with asyncio.timeout(self._timeout), self._engine.begin() as conn:
                found = (
                    await conn.execute(select(_DNC.c.number).where(_DNC.c.number == entry.number))
                ).first()
                if found is not None:
                    return False
                await conn.execute(
                    insert(_DNC),
                    {
                        "number": entry.number,
                        "source": entry.source,
                        "added_by": entry.added_by,
                        "added_at": entry.added_at,
                        "note": entry.note[:500],
                    },
                )
        return True

    async def remove_dnc(self, number: str) -> bool:
        with translate_errors("remove dnc"):
            async with asyncio.timeout(self._timeout), self._engine.begin() as conn:
                return bool((await conn.execute(delete(_DNC).where(_DNC.c.number == number))).rowcount)

    async def dnc_numbers(self, numbers: Sequence[str]) -> set[str]:
        if not numbers:
            return set()
        with translate_errors("dnc lookup"):
            async with asyncio.timeout(self._timeout), self._engine.connect() as conn:
                rows = await conn.execute(select(_DNC.c.number).where(_DNC.c.number.in_(list(numbers))))
                return {str(n) for n in rows.scalars()}

    async def list_dnc(self, limit: int = 500) -> list[DncEntry]:
        with translate_errors("list dnc"):
            async with asyncio.timeout(self._timeout), self._engine.connect() as conn:
                rows = (
                    (await conn.execute(select(_DNC).order_by(_DNC.c.added_at.desc()).limit(limit)))
                    .mappings()
                    .all()
                )
        return [
            DncEntry(r["number"], r["source"], r["added_by"], float(r["added_at"]), r["note"]) for r in rows
        ]
