"""The screen pop: what an agent's console shows the moment their phone starts ringing.

Fed by the ACD's bus events (topic ``acd``) and delivered through a ``PopSink`` (the web app binds it to
the websocket hub, one agent per message). The path is built for latency:

- ``call.queued``: the caller is waiting; the customer card (CRM record, notes, open tickets, last calls
  with their dispositions) is *prefetched* by a small pool of workers, keyed by the call's Linkedid;
- ``call.offered``: the agent's phone rings. The pop is assembled **synchronously inside the bus
  listener** from the event (caller, queue, wait, IVR choices, VIP) plus the prefetched card, and handed
  to the sink at once: no database round trip on the ring path. When the card is not ready yet (no
  queue wait, a different customer id chosen in the IVR) a first pop goes out without it and a second,
  complete one follows as soon as the workers have loaded it (the console replaces the first);
- ``agent.state``: forwarded to that agent (state, time in state) and kept as the pop's phase
  (ringing → on_call → wrapup, or missed), so a reload or a reconnect restores the call and its pop.

What the caller typed in the IVR (a customer number, an order number) is not on the bus: ``RequestTap``
sits between the IVR and the ACD and hands each ``QueueRequest`` to ``note_request``.

Every caller-controlled string is data in a JSON message; the page renders it with ``textContent``.
Nothing here blocks the event loop: the listener only touches dicts and bounded queues.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from callcenter.domain.calls import CallDisposition, CallRecord
from callcenter.domain.customers import Customer, CustomerNote
from callcenter.domain.errors import CallcenterError
from callcenter.domain.queueing import QueueRequest, RouteResult
from callcenter.domain.tickets import DONE, Ticket, TicketQuery, TicketStatus
from callcenter.ports import AgiChannel, CallRouter, DispositionStore
from callcenter.services.crm import CrmService
from callcenter.services.customer_lookup import CustomerLookup
from callcenter.services.ivr_cases import case_summary

log = logging.getLogger(__name__)

ACD_TOPIC = "acd"
#: IVR variables that are not something the caller typed (shown as "IVR input" otherwise)
SYSTEM_VARS = frozenset(
    {
        "caller",
        "caller_name",
        "dnid",
        "language",
        "uniqueid",
        "call_id",
        "flow",
        "vip",
        "customer_id",
        "customer_name",
        "segment",
        "last_choice",
    }
)
CARD_NOTES = 5
CARD_TICKETS = 10
CARD_CALLS = 5
OPEN_STATUSES = tuple(s for s in TicketStatus if s not in DONE)


class PopSink(Protocol):
    """Deliver one message to one agent's console(s); returns how many connections got it."""

    def __call__(self, agent: str, message: dict[str, Any]) -> int: ...


@dataclass(frozen=True, slots=True)
class ScreenPopOptions:
    workers: int = 4
    queue_size: int = 2000
    cache_size: int = 5000
    cache_ttl: float = 600.0
    recent_calls_per_agent: int = 50
    load_timeout: float = 5.0


# -- JSON shapes (plain dicts: the web layer sends them as they are) -------------------------------------


def customer_card(customer: Customer) -> dict[str, Any]:
    return {
        "id": customer.id,
        "name": customer.name,
        "company": customer.company,
        "email": customer.email,
        "segment": customer.segment.value,
        "vip": customer.vip,
        "value_score": customer.value_score,
        "phones": list(customer.phones),
        "tags": list(customer.tags),
    }


def note_card(note: CustomerNote) -> dict[str, Any]:
    return {"id": note.id, "at": note.at, "author": note.author, "text": note.text}


def ticket_card(ticket: Ticket, now: float) -> dict[str, Any]:
    return {
        "id": ticket.id,
        "subject": ticket.subject,
        "category": ticket.category.value,
        "priority": ticket.priority.value,
        "status": ticket.status.value,
        "assignee": ticket.assignee,
        "due_at": ticket.due_at,
        "overdue": ticket.is_overdue(now),
        "call_id": ticket.call_id,
        "version": ticket.version,
    }


def call_card(
    call: CallRecord, dispositions: Sequence[CallDisposition], recording_id: int | None = None
) -> dict[str, Any]:
    return {
        "call_id": call.call_id,
        "started_at": call.started_at,
        "queue": call.queue,
        "agent": call.agent,
        "outcome": call.outcome.value,
        "talk_seconds": round(call.talk_seconds),
        "wait_seconds": None if call.wait_seconds is None else round(call.wait_seconds),
        "has_recording": call.recording_file is not None,
        "recording_id": recording_id,
        "dispositions": [{"agent": d.agent, "code": d.code, "note": d.note} for d in dispositions],
    }


def playable(row: Mapping[str, Any], agent: str) -> dict[str, Any]:
    """A last-calls row for one agent's pop: ``audio_url`` only for a recorded call that agent handled
    (the audio route checks the same rule, ``services.recordings.may_hear``, and audits each playback)."""
    rid = row.get("recording_id")
    mine = isinstance(rid, int) and bool(agent) and row.get("agent") == agent
    return {**row, "audio_url": f"/api/recordings/{rid}/audio" if mine else None}


def ivr_inputs(variables: Mapping[str, str]) -> dict[str, str]:
    """What the caller typed in the IVR (collect nodes' variables), without the system variables."""
    return {k: str(v)[:64] for k, v in sorted(variables.items()) if k not in SYSTEM_VARS and v}


class RequestTap:
    """A ``CallRouter`` between the IVR and the ACD that shows each queue request to the screen pop."""

    def __init__(self, router: CallRouter, on_request: Callable[[QueueRequest], None]) -> None:
        self.router = router
        self._on_request = on_request

    def has_queue(self, name: str) -> bool:
        return self.router.has_queue(name)

    async def route(self, channel: AgiChannel, request: QueueRequest) -> RouteResult:
        try:
            self._on_request(request)
        except Exception:  # the pop is a nicety: never fail a call for it
            log.exception("screen pop could not note a queue request", extra={"linkedid": request.call_id})
        return await self.router.route(channel, request)


@dataclass(slots=True)
class _Card:
    """A customer card being loaded or loaded (``data`` None while loading)."""

    key: str  # "id:<n>" or "phone:<number>"
    at: float
    data: dict[str, Any] | None = None
    done: bool = False


Job = tuple[str, str]  # (call id, card key)
RecordingIds = Callable[[Sequence[str]], Awaitable[Mapping[str, int]]]
#: (customer id, notes, open tickets query, calls, with dispositions) → the card's records in one read
CardRead = Callable[
    [int, int, TicketQuery, int, bool],
    Awaitable[
        tuple[Sequence[CustomerNote], Sequence[Ticket], Sequence[CallRecord], Sequence[CallDisposition]]
    ],
]


class ScreenPopService:
    def __init__(
        self,
        crm: CrmService,
        *,
        dispositions: DispositionStore | None = None,
        options: ScreenPopOptions | None = None,
        clock: Callable[[], float] = time.time,
        queue_rules: Callable[[str | None], dict[str, Any]] | None = None,
        lookup: CustomerLookup | None = None,
    ) -> None:
        self.crm = crm
        #: the IVR's customer lookups, handed to the card loads of the same calls
        self.lookup = lookup
        self.dispositions = dispositions
        self.options = options or ScreenPopOptions()
        self._clock = clock
        self.queue_rules = queue_rules or (lambda _queue: {"codes": [], "required": False})
        #: call id → recording id (the first), for the last calls' play controls (None: no links)
        self.recording_ids: RecordingIds | None = None
        #: the card's reads in one connection (``store/pop_card``; None: four reads through ``crm``)
        self.card_read: CardRead | None = None
        self.sink: PopSink | None = None
        self._jobs: asyncio.Queue[Job] = asyncio.Queue(maxsize=self.options.queue_size)
        self._cards: OrderedDict[str, _Card] = OrderedDict()  # card key → card
        self._call_card: OrderedDict[str, str] = OrderedDict()  # call id → card key
        self._requests: OrderedDict[str, QueueRequest] = OrderedDict()  # call id → IVR request
        self._pops: dict[str, dict[str, Any]] = {}  # agent → current pop
        self._states: dict[str, dict[str, Any]] = {}  # agent → last agent.state event
        self._recent: dict[str, deque[str]] = {}  # agent → call ids offered to / dialed by them
        self._stop = asyncio.Event()
        self._idle: set[asyncio.Task[None]] = set()  # workers waiting for a job
        self._runner: asyncio.Task[None] | None = None
        self.stats: dict[str, int] = {
            "pops": 0,
            "pops_complete_at_ring": 0,
            "pops_completed_later": 0,
            "prefetched": 0,
            "loads": 0,
            "load_errors": 0,
            "jobs_dropped": 0,
            "undelivered": 0,
        }

    # --- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        self._stop.clear()
        self._runner = asyncio.create_task(self._run(), name="screenpop")

    async def close(self) -> None:
        self._stop.set()
        for worker in tuple(self._idle):  # a busy worker finishes its card, then sees the stop
            worker.cancel()
        if self._runner is not None:
            await asyncio.gather(self._runner, return_exceptions=True)
            self._runner = None

    async def _run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            for n in range(self.options.workers):
                tg.create_task(self._worker(), name=f"screenpop-worker-{n}")

    async def _worker(self) -> None:
        # waits on the job queue itself (no polling timeout): an idle center costs no wake-ups
        me = asyncio.current_task()
        assert me is not None
        while not self._stop.is_set():
            self._idle.add(me)
            try:
                call_id, key = await self._jobs.get()
            except asyncio.CancelledError:
                if self._stop.is_set():
                    return  # close() woke an idle worker
                raise
            finally:
                self._idle.discard(me)
            try:
                await self._load(call_id, key)
            except Exception:
                self.stats["load_errors"] += 1
                log.exception("screen pop card load crashed", extra={"linkedid": call_id})

    # --- inputs ---------------------------------------------------------------------------------
    def note_request(self, request: QueueRequest) -> None:
        """The IVR hands a caller to the ACD (``RequestTap``): keep what the caller typed, and start
        loading the customer's card (the IVR may have identified them by a customer number)."""
        self._remember(self._requests, request.call_id, request)
        if request.customer_id is not None:
            self._prefetch(request.call_id, f"id:{request.customer_id}")
        elif request.caller_num:
            self._prefetch(request.call_id, f"phone:{request.caller_num}")

    def on_bus(self, topic: str, event: Mapping[str, Any]) -> None:
        """``ports.BusListener``: never blocks (dicts and a bounded queue only)."""
        if topic != ACD_TOPIC:
            return
        kind = event.get("type")
        if kind == "call.offered":
            self._offered(event)
        elif kind == "agent.state":
            self._agent_state(event)
        elif kind == "call.queued":
            call_id = str(event.get("call_id") or "")
            if call_id and call_id not in self._call_card and event.get("caller_num"):
                self._prefetch(call_id, f"phone:{event.get('caller_num')}")

    # --- the ring path ----------------------------------------------------------------------------
    def _offered(self, event: Mapping[str, Any]) -> None:
        agent = str(event.get("agent") or "")
        call_id = str(event.get("call_id") or "")
        if not agent or not call_id:
            return
        request = self._requests.get(call_id)
        customer_id = event.get("customer_id")
        if customer_id is None and request is not None:
            customer_id = request.customer_id
        key = f"id:{customer_id}" if customer_id is not None else f"phone:{event.get('caller_num') or ''}"
        queue = event.get("queue")
        pop: dict[str, Any] = {
            "type": "pop",
            "pop_id": f"{call_id}/{agent}",
            "direction": "callback" if event.get("callback") else "inbound",
            "phase": "ringing",
            "call": {
                "call_id": call_id,
                "queue": queue,
                "wait": round(float(event.get("wait") or 0.0), 1),
                "caller_num": str(event.get("caller_num") or ""),
                "caller_name": str(event.get("caller_name") or ""),
                "language": event.get("language") or (request.language if request else None),
                "vip": bool(event.get("vip")),
                "segment": event.get("segment"),
                "ivr_choices": [str(c) for c in event.get("ivr_choices") or ()],
                "ivr_inputs": ivr_inputs(request.variables) if request is not None else {},
                "case": case_summary(request.variables) if request is not None else None,  # issue 16
                "offered_at": float(event.get("at") or self._clock()),
            },
            "disposition": self.queue_rules(str(queue) if queue else None),
        }
        self._remember_call(agent, call_id)
        card = self._cards.get(key)
        fresh = card is not None and self._clock() - card.at < self.options.cache_ttl
        if card is not None and fresh and card.done:
            self._fill(pop, card, agent)
            self.stats["pops_complete_at_ring"] += 1
        else:
            pop["loading"] = True
            if not (card is not None and fresh):
                self._prefetch(call_id, key, force=True)
            else:
                self._remember(self._call_card, call_id, key)
        self._pops[agent] = pop
        self.stats["pops"] += 1
        self._send(agent, pop)
        # the ACD reserves the agent (ringing) atomically in its state store without an agent.state
        # event: the offer is that event for the console
        ringing = {
            "type": "agent.state",
            "agent": agent,
            "state": "ringing",
            "from": "available",
            "reason": "",
            "call_id": call_id,
            "queue": queue,
            "since": pop["call"]["offered_at"],
            "phase": "ringing",
        }
        self._states[agent] = ringing
        self._send(agent, ringing)
        log.info(
            "screen pop sent", extra={"linkedid": call_id, "agent": agent, "complete": not pop.get("loading")}
        )

    def _fill(self, pop: dict[str, Any], card: _Card, agent: str) -> None:
        pop.pop("loading", None)
        data = card.data or {}
        pop["customer"] = data.get("customer")
        pop["notes"] = data.get("notes", [])
        pop["tickets"] = data.get("tickets", [])
        pop["recent_calls"] = [playable(row, agent) for row in data.get("recent_calls", [])]
        if data.get("error"):
            pop["card_error"] = data["error"]

    def _agent_state(self, event: Mapping[str, Any]) -> None:
        agent = str(event.get("agent") or "")
        if not agent:
            return
        state = {
            "type": "agent.state",
            "agent": agent,
            "state": event.get("state"),
            "from": event.get("from"),
            "reason": event.get("reason") or "",
            "call_id": event.get("call_id") or None,
            "queue": event.get("queue") or None,
            "since": event.get("at"),
        }
        self._states[agent] = state
        pop = self._pops.get(agent)
        if pop is not None and pop.get("call", {}).get("call_id") == event.get("call_id"):
            new = event.get("state")
            if new in ("on_call", "on_hold", "wrapup"):
                pop["phase"] = new
            elif event.get("from") == "ringing":
                pop["phase"] = "missed"
            elif new in ("available", "paused", "busy", "logged_out") and pop.get("phase") != "missed":
                pop["phase"] = "ended"
            state["phase"] = pop["phase"]
        self._send(agent, state)

    # --- cards ----------------------------------------------------------------------------------
    def _prefetch(self, call_id: str, key: str, *, force: bool = False) -> None:
        self._remember(self._call_card, call_id, key)
        card = self._cards.get(key)
        now = self._clock()
        if card is not None and now - card.at < self.options.cache_ttl and not force:
            return
        if card is not None and not card.done and now - card.at < self.options.load_timeout:
            return  # already loading
        self._cards[key] = _Card(key, now)
        self._cards.move_to_end(key)
        while len(self._cards) > self.options.cache_size:
            self._cards.popitem(last=False)
        try:
            self._jobs.put_nowait((call_id, key))
            self.stats["prefetched"] += 1
        except asyncio.QueueFull:
            self.stats["jobs_dropped"] += 1
            self._cards.pop(key, None)
            if self.stats["jobs_dropped"] in (1, 100, 10_000):
                log.error("screen pop queue full: customer card not loaded", extra={"linkedid": call_id})

    async def load_card(self, key: str, *, handed_over: bool = False) -> dict[str, Any]:
        """The customer card for ``id:<n>`` or ``phone:<number>`` (``customer`` None: unknown caller).
        ``handed_over``: take the customer the IVR looked up moments ago, if any (``CustomerLookup``)."""
        kind, _, value = key.partition(":")
        customer: Customer | None = None
        known = False
        if handed_over and self.lookup is not None:
            known, customer = self.lookup.take(key)
        if not known:
            if kind == "id" and value.isdigit():
                customer = await self.crm.records.get_customer(int(value))
            elif kind == "phone" and value:
                customer = await self.crm.by_phone(value)
        if customer is None:
            return {"customer": None}
        now = self._clock()
        open_tickets = TicketQuery(
            customer_id=customer.id, statuses=OPEN_STATUSES, now=now, limit=CARD_TICKETS
        )
        disposed: Sequence[CallDisposition] = ()
        if self.card_read is not None:
            notes, tickets, calls, disposed = await self.card_read(
                customer.id, CARD_NOTES, open_tickets, CARD_CALLS, self.dispositions is not None
            )
        else:
            notes, page, calls = await asyncio.gather(
                self.crm.notes(customer.id, CARD_NOTES),
                self.crm.list_tickets(open_tickets),
                self.crm.recent_calls(customer.id, limit=CARD_CALLS),
            )
            tickets = page.tickets
            if self.dispositions is not None and calls:
                disposed = await self.dispositions.dispositions_for_calls([c.call_id for c in calls])
        by_call: dict[str, list[CallDisposition]] = {}
        for d in disposed:
            by_call.setdefault(d.call_id, []).append(d)
        recorded = [c.call_id for c in calls if c.recording_file is not None]
        recordings: Mapping[str, int] = {}
        if recorded and self.recording_ids is not None:
            recordings = await self.recording_ids(recorded)
        return {
            "customer": customer_card(customer),
            "notes": [note_card(n) for n in notes],
            "tickets": [ticket_card(t, now) for t in tickets],
            "recent_calls": [
                call_card(c, by_call.get(c.call_id, ()), recordings.get(c.call_id)) for c in calls
            ],
        }

    async def _load(self, call_id: str, key: str) -> None:
        card = self._cards.get(key)
        if card is None:
            card = self._cards[key] = _Card(key, self._clock())
        self.stats["loads"] += 1
        try:
            async with asyncio.timeout(self.options.load_timeout):
                card.data = await self.load_card(key, handed_over=True)
        except (CallcenterError, TimeoutError) as exc:
            self.stats["load_errors"] += 1
            card.data = {"customer": None, "error": "the customer record is unavailable right now"}
            log.warning(
                "screen pop card not loaded", extra={"linkedid": call_id, "error": str(exc) or "timeout"}
            )
        card.done = True
        card.at = self._clock()
        self._complete_waiting(key, card)

    def _complete_waiting(self, key: str, card: _Card) -> None:
        for agent, pop in self._pops.items():
            if pop.get("loading") and self._call_card.get(pop["call"]["call_id"]) == key:
                self._fill(pop, card, agent)
                self.stats["pops_completed_later"] += 1
                self._send(agent, pop)

    async def refresh(self, agent: str) -> dict[str, Any] | None:
        """Reload the agent's current pop's card (after a new customer, note or ticket) and resend it."""
        pop = self._pops.get(agent)
        if pop is None:
            return None
        customer = pop.get("customer")
        if customer is not None:
            key = f"id:{customer['id']}"
        else:
            key = self._call_card.get(pop["call"]["call_id"]) or f"phone:{pop['call']['caller_num']}"
        await self.attach(agent, key)
        return self._pops.get(agent)

    async def attach(self, agent: str, key: str) -> None:
        """Load ``key``'s card now and make it the agent's current pop's customer."""
        pop = self._pops.get(agent)
        if pop is None:
            return
        card = _Card(key, self._clock())
        try:
            async with asyncio.timeout(self.options.load_timeout):
                card.data = await self.load_card(key)
        except TimeoutError:
            card.data = {"customer": None, "error": "the customer record is unavailable right now"}
        card.done = True
        self._cards[key] = card
        self._remember(self._call_card, pop["call"]["call_id"], key)
        if self._pops.get(agent) is pop:
            self._fill(pop, card, agent)
            self._send(agent, pop)

    # --- outbound (click-to-dial) ---------------------------------------------------------------
    async def outbound(self, agent: str, call_id: str, number: str, customer_id: int | None) -> None:
        """The agent dials a customer: their console shows that customer's card."""
        key = f"id:{customer_id}" if customer_id is not None else f"phone:{number}"
        pop: dict[str, Any] = {
            "type": "pop",
            "pop_id": f"{call_id}/{agent}",
            "direction": "outbound",
            "phase": "dialing",
            "call": {
                "call_id": call_id,
                "queue": None,
                "wait": 0.0,
                "caller_num": number,
                "caller_name": "",
                "language": None,
                "vip": False,
                "segment": None,
                "ivr_choices": [],
                "ivr_inputs": {},
                "offered_at": self._clock(),
            },
            "disposition": self.queue_rules(None),
            "loading": True,
        }
        self._pops[agent] = pop
        self._remember_call(agent, call_id)
        self._send(agent, pop)
        await self.attach(agent, key)

    # --- queries --------------------------------------------------------------------------------
    def current(self, agent: str) -> dict[str, Any] | None:
        return self._pops.get(agent)

    def dismiss(self, agent: str) -> None:
        self._pops.pop(agent, None)

    def last_state(self, agent: str) -> dict[str, Any] | None:
        return self._states.get(agent)

    def handled(self, agent: str, call_id: str) -> bool:
        """Was ``call_id`` offered to (or dialed by) ``agent`` recently? (what they may act on)"""
        return call_id in self._recent.get(agent, ())

    def pop_for_call(self, agent: str, call_id: str) -> dict[str, Any] | None:
        pop = self._pops.get(agent)
        return pop if pop is not None and pop["call"]["call_id"] == call_id else None

    # --- helpers --------------------------------------------------------------------------------
    def _send(self, agent: str, message: dict[str, Any]) -> None:
        if self.sink is None:
            return
        try:
            if self.sink(agent, message) == 0:
                self.stats["undelivered"] += 1
        except Exception:
            log.exception("screen pop delivery failed", extra={"agent": agent})

    def _remember_call(self, agent: str, call_id: str) -> None:
        recent = self._recent.setdefault(agent, deque(maxlen=self.options.recent_calls_per_agent))
        if call_id not in recent:
            recent.append(call_id)

    def _remember(self, table: OrderedDict[str, Any], key: str, value: Any) -> None:
        table[key] = value
        table.move_to_end(key)
        while len(table) > self.options.cache_size:
            table.popitem(last=False)

    def metrics(self) -> dict[str, float]:
        out = {f"callcenter_screenpop_{k}_total": float(v) for k, v in self.stats.items()}
        out["callcenter_screenpop_jobs_pending"] = float(self._jobs.qsize())
        return out
