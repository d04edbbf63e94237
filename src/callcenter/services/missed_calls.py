"""The missed-call worklist (issue 17, part 6): every caller who abandoned a queue with a known number
becomes a work item of the campaign named by ``CALLCENTER_MISSED_CALLS_CAMPAIGN`` (create it as a
``preview`` campaign of the queue whose agents call back: they dial the items from the console's preview
card, the outcome is required), due at once. A number already on the list waiting to be called is not
added twice; one whose item was closed is reopened (attempts reset). The campaign's page and report count
the items (contacts by status).

The ACD's bus event ``call.abandoned`` (with ``caller_num``) feeds it: the listener only queues (it runs
on the event loop and must not block); one worker task writes the items.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from callcenter.domain.errors import CallcenterError
from callcenter.domain.outbound import CampaignStatus, ContactDraft
from callcenter.domain.phones import normalize_phone
from callcenter.ports import OutboundStore

log = logging.getLogger(__name__)
MAX_PENDING = 10_000


class MissedCallWorklist:
    def __init__(
        self,
        store: OutboundStore,
        campaign_name: str,
        *,
        default_country: str = "1",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.campaign_name = campaign_name
        self._cc = default_country
        self._clock = clock
        self._queue: asyncio.Queue[tuple[str, int | None, str, float]] = asyncio.Queue(MAX_PENDING)
        self._task: asyncio.Task[None] | None = None
        self.stats = {"added": 0, "ignored": 0, "dropped": 0, "errors": 0}

    def on_bus(self, topic: str, event: Mapping[str, Any]) -> None:
        if not self.campaign_name or event.get("type") != "call.abandoned":
            return
        number = normalize_phone(str(event.get("caller_num") or ""), self._cc)
        if number is None or not number.startswith("+"):
            self.stats["ignored"] += 1  # anonymous, an extension, garbage
            return
        customer = event.get("customer_id")
        try:
            self._queue.put_nowait(
                (
                    number,
                    customer if isinstance(customer, int) else None,
                    str(event.get("queue", "")),
                    self._clock(),
                )
            )
        except asyncio.QueueFull:
            self.stats["dropped"] += 1

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="missed-calls")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            item = await self._queue.get()
            try:
                await self.add(*item)
            except CallcenterError as exc:
                self.stats["errors"] += 1
                log.warning("missed call not added to the worklist", extra={"error": str(exc)})

    async def add(self, number: str, customer_id: int | None, queue: str, at: float) -> bool:
        campaigns = [c for c in await self.store.list_campaigns() if c.name == self.campaign_name]
        if not campaigns or campaigns[0].status is CampaignStatus.STOPPED:
            self.stats["ignored"] += 1
            return False
        when = datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M UTC")
        reason = f"missed call in {queue or 'a queue'} at {when}"
        await self.store.upsert_contact(
            campaigns[0].id, ContactDraft(number, customer_id=customer_id, reason=reason), at
        )
        self.stats["added"] += 1
        log.info("missed call on the worklist", extra={"campaign": campaigns[0].id, "queue": queue})
        return True
