"""The outbound dialer (issue 17): places the customer calls of running campaigns and connects the
people who answer to the campaign queue's agents. Its own service with its own loop and port
(``ports.Dialing``); the ACD only lends it agents (``AcdService.reserve_for_dialer`` and friends).

Per tick (``DialerOptions.tick``), for each running campaign:

* **progressive**: every free agent of the campaign's queue is reserved (available → ringing) and one
  due contact is dialled for them. Busy, no answer, failed and machine-answered calls release the agent
  without ever reaching them; a person who answers is connected to the reserved agent (nobody is
  abandoned by construction);
* **predictive**: ``domain/pacing.py`` says how many lines to dial for the free and soon-free agents;
  nobody is reserved before the answer. A person who answers gets the first free agent within the
  campaign's ``connect_limit`` (2 s); otherwise they hear ``abandon_prompt`` and are hung up (counted
  as abandoned: the pacer's feedback);
* **preview** campaigns are not dialled by the loop: the agent asks for a card (``services/campaigns``).

A dial: an attempt row first (every dial is stored for audit), then ``Dialing.dial_customer`` with the
call id as the channel's Uniqueid. ``OriginateResponse`` (via ``observe``) ends failed dials; an
answered one enters ``[cc-outbound]``: AMD, then our FastAGI script ``outbound`` (``handle_agi``), which
hangs up on machines and connects people (``EXEC Dial <agent>``). A number on the do-not-call list or a
"no marketing" customer of a marketing campaign is never dialled: the attempt is stored as
``dnc_blocked`` and the contact closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from callcenter.domain import events as ev
from callcenter.domain.acd import AgentState
from callcenter.domain.errors import AgiError, AgiHangup, CallcenterError, PbxError
from callcenter.domain.outbound import (
    Attempt,
    AttemptResult,
    Campaign,
    CampaignStatus,
    Contact,
    ContactStatus,
    DialMode,
    after_result,
    blocked_by_consent,
    may_call,
    originate_result,
)
from callcenter.domain.pacing import PacingInput, RollingRates, abandon_target, lines_to_dial
from callcenter.domain.text import N_
from callcenter.ports import AgiChannel, Dialing, OutboundStore
from callcenter.services.acd import AcdService

#: messages of the lines below, marked for the translation catalogues (shown via localize)
_AGENT = N_("agent")

log = logging.getLogger(__name__)

HUMAN_RESULTS = frozenset({AttemptResult.CONNECTED, AttemptResult.ABANDONED, AttemptResult.HUNG_UP})


@dataclass(frozen=True, slots=True)
class DialerOptions:
    tick: float = 0.5
    refresh: float = 5.0  # seconds between reloads of the running campaigns
    #: with no campaign running and no dial in flight the loop sleeps (no tick) until a campaign of this
    #: instance changes (``reload``), or this long, to see one another instance started
    idle_refresh: float = 30.0
    max_dials_per_tick: int = 25  # per campaign
    originate_grace: float = 15.0  # seconds past the ring timeout to wait for OriginateResponse
    #: seconds after an answer (OriginateResponse Success) to wait for the FastAGI session: a call hung up
    #: at once never reaches it (fact 37), AMD() takes up to ~5 s before it (fact 38)
    session_grace: float = 20.0
    agent_ring: float = 15.0  # seconds the agent's phone rings for a connected customer
    abandon_prompt: str = "cc-outbound-sorry"
    observe_queue: int = 10_000


@dataclass(slots=True)
class _Live:
    """One dial in flight."""

    campaign: Campaign
    contact: Contact
    attempt: Attempt
    action_id: str
    agent: str  # reserved agent ("" for predictive until the customer answers)
    started: float
    answered_at: float | None = None
    preview: bool = False  # the agent's phone rang first (services/dialer_preview)
    session: bool = False  # its FastAGI script (outbound / preview) started


@dataclass(slots=True)
class CampaignLive:
    rates: RollingRates
    dialled: int = 0
    connected: int = 0
    abandoned: int = 0
    last_pacing: dict[str, float] = field(default_factory=dict)


class DialerService:
    def __init__(
        self,
        store: OutboundStore,
        acd: AcdService,
        dialing: Dialing | None,
        *,
        options: DialerOptions | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.acd = acd
        self.dialing = dialing
        self.options = options or DialerOptions()
        self._clock = clock
        self._campaigns: list[Campaign] = []
        self._loaded_at = 0.0
        self._live: dict[str, _Live] = {}  # action id → dial
        self._by_attempt: dict[int, _Live] = {}
        self.live: dict[int, CampaignLive] = {}  # campaign id → its measured rates
        self._events: asyncio.Queue[ev.OriginateResult] = asyncio.Queue(maxsize=self.options.observe_queue)
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()  # set by ``reload``: a campaign changed here
        self._task: asyncio.Task[None] | None = None
        self.stats: dict[str, int] = {
            "dials": 0,
            "connected": 0,
            "abandoned": 0,
            "machines": 0,
            "dnc_blocked": 0,
            "dial_errors": 0,
            "observe_dropped": 0,
            "agi_unknown": 0,
            "no_session": 0,  # answered, hung up before reaching FastAGI (fact 37)
        }

    # --- lifecycle -------------------------------------------------------------------------------
    async def start(self) -> None:
        self._stop.clear()
        self._task = asyncio.create_task(self._run(), name="dialer")

    async def close(self) -> None:
        self._stop.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            observer = tg.create_task(self._observer(), name="dialer-observer")
            try:
                while not self._stop.is_set():
                    try:
                        await self.tick()
                    except CallcenterError as exc:
                        log.warning("dialer tick failed", extra={"error": str(exc)})
                    except Exception:
                        log.exception("dialer tick crashed")
                    busy = bool(self._campaigns or self._live)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(
                            self._wake.wait(), self.options.tick if busy else self.options.idle_refresh
                        )
                    self._wake.clear()
            finally:
                observer.cancel()  # it waits on its queue forever: the loop's end is its end

    def clock(self) -> float:
        return self._clock()

    def reload(self) -> None:
        """A campaign changed (started, paused, edited): reload now (wakes an idle loop)."""
        self._loaded_at = 0.0
        self._wake.set()

    def rates(self, campaign_id: int) -> CampaignLive:
        live = self.live.get(campaign_id)
        if live is None:
            live = self.live[campaign_id] = CampaignLive(RollingRates())
        return live

    # --- the loop --------------------------------------------------------------------------------
    async def tick(self) -> None:
        now = self._clock()
        if now - self._loaded_at >= self.options.refresh:
            self._campaigns = [
                c for c in await self.store.list_campaigns() if c.status is CampaignStatus.RUNNING
            ]
            self._loaded_at = now
            for c in self._campaigns:
                self.rates(c.id).rates.window = c.abandon_window
        await self._expire(now)
        if self.dialing is None or not self.dialing.connected or not self._campaigns:
            return
        statuses = {s.agent: s for s in await self.acd.state.list_agents()}
        for c in self._campaigns:
            if c.mode is DialMode.PREVIEW:
                continue
            members = self.acd.agents_of(c.queue)
            free = [
                a for a in members if (s := statuses.get(a)) is not None and s.state is AgentState.AVAILABLE
            ]
            if c.mode is DialMode.PROGRESSIVE:
                await self._progressive(c, free, now)
            else:
                busy = sum(
                    1
                    for a in members
                    if (s := statuses.get(a)) is not None
                    and s.state
                    in (AgentState.RINGING, AgentState.ON_CALL, AgentState.ON_HOLD, AgentState.WRAPUP)
                )
                await self._predictive(c, len(free), busy, now)

    async def _progressive(self, c: Campaign, free: list[str], now: float) -> None:
        agents = free[: self.options.max_dials_per_tick]
        contacts = await self.next_contacts(c, now, len(agents)) if agents else []
        for agent, contact in zip(agents, contacts, strict=False):
            call_id = f"ob-{uuid.uuid4().hex[:20]}"
            if not await self.acd.reserve_for_dialer(agent, call_id, c.queue):
                await self.store.save_contact(replace(contact, status=ContactStatus.PENDING, updated_at=now))
                continue
            await self._dial(c, contact, call_id, agent, now)

    def pacing(self, c: Campaign, free: int, busy: int, now: float) -> PacingInput:
        live = self.rates(c.id)
        ages = [
            now - d.started for d in self._live.values() if d.campaign.id == c.id and d.answered_at is None
        ]
        return PacingInput(
            free=free,
            busy=busy,
            in_flight=len(ages),
            flight_p=tuple(live.rates.answer_rate_at(now, age) for age in ages),
            answer_rate=live.rates.answer_rate(now),
            handle=live.rates.handle_time(now),
            horizon=live.rates.ring_time(now) / 2 + c.connect_limit,
            target=abandon_target(c.abandon_cap, live.rates.abandon_rate(now)),
            max_ratio=c.max_ratio,
        )

    async def _predictive(self, c: Campaign, free: int, busy: int, now: float) -> None:
        pace = self.pacing(c, free, busy, now)
        want = min(lines_to_dial(pace), self.options.max_dials_per_tick)
        self.rates(c.id).last_pacing = {
            "free": free,
            "busy": busy,
            "in_flight": pace.in_flight,
            "answer_rate": round(pace.answer_rate, 3),
            "target": round(pace.target, 4),
            "dialling": want,
        }
        for contact in await self.next_contacts(c, now, want) if want else []:
            await self._dial(c, contact, f"ob-{uuid.uuid4().hex[:20]}", "", now)

    async def next_contact(self, c: Campaign, now: float, agent: str = "") -> Contact | None:
        found = await self.next_contacts(c, now, 1, agent)
        return found[0] if found else None

    async def next_contacts(self, c: Campaign, now: float, limit: int, agent: str = "") -> list[Contact]:
        """Up to ``limit`` due contacts in calling hours, claimed in one transaction; blocked ones
        (do-not-call, no marketing) are closed on the way with a ``dnc_blocked`` attempt each."""
        out: list[Contact] = []
        for _ in range(20):
            claimed = await self.store.claim_contacts(
                c.id, now, limit - len(out), lambda ct: may_call(c, ct, now), agent
            )
            if not claimed:
                break
            listed = await self.store.dnc_numbers([ct.number for ct in claimed])
            for contact in claimed:
                on_dnc = contact.number in listed
                if not on_dnc and not blocked_by_consent(c, contact):
                    out.append(contact)
                    continue
                detail = "do-not-call list" if on_dnc else "no marketing"
                await self.store.record_attempt(
                    Attempt(
                        id=0,
                        campaign_id=c.id,
                        contact_id=contact.id,
                        number=contact.number,
                        started_at=now,
                        ended_at=now,
                        result=AttemptResult.DNC_BLOCKED,
                        detail=detail,
                    ),
                    after_result(c, contact, AttemptResult.DNC_BLOCKED, now),
                )
                self.stats["dnc_blocked"] += 1
                log.info(
                    "contact not dialled", extra={"campaign": c.id, "contact": contact.id, "why": detail}
                )
            if len(out) >= limit:
                break
        return out

    async def _dial(self, c: Campaign, contact: Contact, call_id: str, agent: str, now: float) -> None:
        assert self.dialing is not None
        contact = replace(contact, attempts=contact.attempts + 1, agent=agent, updated_at=now)
        attempt = await self.store.record_attempt(
            Attempt(
                id=0,
                campaign_id=c.id,
                contact_id=contact.id,
                number=contact.number,
                started_at=now,
                agent=agent,
                call_id=call_id,
            ),
            contact,
        )
        live = self.track(c, contact, attempt, agent, now)
        action_id = live.action_id
        extra = {"linkedid": call_id, "agent": agent, "campaign": c.id, "attempt": attempt.id}
        try:
            await self.dialing.dial_customer(
                contact.number,
                call_id=call_id,
                action_id=action_id,
                caller_id=c.caller_id,
                timeout_ms=int(c.ring_timeout * 1000),
                variables={"CC_ATTEMPT": str(attempt.id), "CC_CAMPAIGN": str(c.id)},
            )
            log.info("dialling a contact", extra=extra)
        except PbxError as exc:
            self.stats["dial_errors"] += 1
            log.error("dial failed", extra={**extra, "error": str(exc)})
            await self._finish(live, AttemptResult.FAILED, detail=str(exc))

    def track(
        self,
        c: Campaign,
        contact: Contact,
        attempt: Attempt,
        agent: str,
        now: float,
        *,
        preview: bool = False,
    ) -> _Live:
        """Register a dial in flight (its OriginateResponse and FastAGI session find it here)."""
        live = _Live(
            c, contact, attempt, f"ob-{attempt.id}-{uuid.uuid4().hex[:8]}", agent, now, preview=preview
        )
        self._live[live.action_id] = live
        self._by_attempt[attempt.id] = live
        self.stats["dials"] += 1
        self.rates(c.id).dialled += 1
        return live

    def live_attempt(self, attempt_id: int) -> _Live | None:
        return self._by_attempt.get(attempt_id)

    def live_dials(self) -> list[_Live]:
        return list(self._live.values())

    async def finish(
        self,
        live: _Live,
        result: AttemptResult,
        *,
        reason: int | None = None,
        detail: str = "",
        talk: float = 0.0,
    ) -> None:
        await self._finish(live, result, reason=reason, detail=detail, talk=talk)

    async def _expire(self, now: float) -> None:
        """Dials whose OriginateResponse never came (PBX restarted, link lost)."""
        for live in list(self._live.values()):
            limit = live.campaign.ring_timeout + self.options.originate_grace
            if live.answered_at is None and now - live.started > limit:
                log.warning("no OriginateResponse for a dial", extra={"attempt": live.attempt.id})
                await self._finish(live, AttemptResult.FAILED, detail=N_("no originate response"))
            elif (
                live.answered_at is not None
                and not live.session
                and now - live.answered_at > self.options.session_grace
            ):  # answered, then hung up before the dialplan reached FastAGI (fact 37)
                self.stats["no_session"] += 1
                log.info("answered dial never reached its script", extra={"attempt": live.attempt.id})
                await self._finish(
                    live, AttemptResult.HUNG_UP, detail=N_("hung up before the script answered")
                )

    async def _finish(
        self,
        live: _Live,
        result: AttemptResult,
        *,
        reason: int | None = None,
        detail: str = "",
        talk: float = 0.0,
    ) -> None:
        """End an attempt: store it, reschedule or close the contact, free a reserved agent."""
        if self._live.pop(live.action_id, None) is None:
            return
        self._by_attempt.pop(live.attempt.id, None)
        now = self._clock()
        c = live.campaign
        attempt = replace(live.attempt, result=result, ended_at=now, reason=reason, detail=detail[:200])
        if result is AttemptResult.CONNECTED and live.preview:  # on the agent's card until the outcome
            contact = replace(
                live.contact, status=ContactStatus.DIALING, last_result=result.value, updated_at=now
            )
        elif result is AttemptResult.CONNECTED:
            contact = replace(
                live.contact,
                status=ContactStatus.DONE,
                last_result=result.value,
                agent=attempt.agent,
                updated_at=now,
            )
        else:
            contact = after_result(c, live.contact, result, now)
        with contextlib.suppress(CallcenterError):
            await self.store.record_attempt(attempt, contact)
        rates = self.rates(c.id)
        ring = (live.answered_at - live.started) if live.answered_at is not None else None
        rates.rates.dial_ended(
            now, result in HUMAN_RESULTS, ring, ring if ring is not None else now - live.started
        )
        if result is AttemptResult.CONNECTED:
            rates.connected += 1
            rates.rates.handled(
                now, talk + max(0.0, self.acd.queue(c.queue).wrapup if self.acd.has_queue(c.queue) else 0)
            )
        if live.agent and result is not AttemptResult.CONNECTED and attempt.agent == live.agent:
            with contextlib.suppress(CallcenterError):
                await self.acd.dialer_release(live.agent, attempt.call_id, c.queue)
        log.info(
            "attempt ended",
            extra={
                "linkedid": attempt.call_id,
                "attempt": attempt.id,
                "result": result.value,
                "agent": attempt.agent,
            },
        )

    # --- PBX events ------------------------------------------------------------------------------
    def observe(self, event: ev.PbxEvent) -> None:
        """Feed from the AMI consumer (never blocks): OriginateResponses of our dials."""
        if not isinstance(event, ev.OriginateResult) or event.action_id not in self._live:
            return
        try:
            self._events.put_nowait(event)
        except asyncio.QueueFull:
            self.stats["observe_dropped"] += 1  # the dial expires after its grace (``_expire``)

    async def _observer(self) -> None:
        while True:
            event = await self._events.get()
            try:
                await self.on_originate(event)
            except CallcenterError as exc:
                log.warning("dialer could not apply an OriginateResponse", extra={"error": str(exc)})
            except Exception:
                log.exception("dialer OriginateResponse handler crashed")

    async def on_originate(self, e: ev.OriginateResult) -> None:
        live = self._live.get(e.action_id)
        if live is None:
            return
        if e.success:
            live.answered_at = e.at if e.at else self._clock()
            live.attempt = replace(live.attempt, answered_at=live.answered_at)
            return
        await self._finish(live, originate_result(e.reason), reason=e.reason)

    # --- the FastAGI script ``outbound`` (an answered customer) ----------------------------------
    async def handle_agi(self, channel: AgiChannel) -> None:
        env = channel.env
        try:
            attempt_id = int(env.get("query_attempt", ""))
        except ValueError:
            attempt_id = -1
        live = self._by_attempt.get(attempt_id)
        if live is None:  # not ours (another instance, or expired): never leave the customer silent
            self.stats["agi_unknown"] += 1
            log.warning("outbound session for an unknown attempt", extra={"attempt": attempt_id})
            with contextlib.suppress(AgiError):
                await channel.stream_file(self.options.abandon_prompt)
                await channel.hangup()
            return
        live.session = True
        if live.answered_at is None:  # the AGI session can come before the OriginateResponse
            live.answered_at = self._clock()
            live.attempt = replace(live.attempt, answered_at=live.answered_at)
        amd = env.get("query_amd", "").upper()
        try:
            if amd == "MACHINE":
                self.stats["machines"] += 1
                await self._finish(live, AttemptResult.MACHINE, detail=env.get("query_amd", ""))
                with contextlib.suppress(AgiError):
                    await channel.hangup()
                return
            await self._connect(channel, live)
        except AgiHangup:
            await self._finish(live, AttemptResult.HUNG_UP)
            raise
        finally:
            if live.action_id in self._live:  # anything unforeseen: the attempt is not left open
                await self._finish(live, AttemptResult.HUNG_UP, detail=N_("session ended"))

    async def _connect(self, channel: AgiChannel, live: _Live) -> None:
        c = live.campaign
        rates = self.rates(c.id)
        agent = live.agent
        if not agent:
            agent = await self._grab_agent(c, live.attempt.call_id, channel)
            if not agent:
                rates.abandoned += 1
                self.stats["abandoned"] += 1
                rates.rates.answered(self._clock(), abandoned=True)
                await self._finish(live, AttemptResult.ABANDONED, detail=N_("no agent free"))
                with contextlib.suppress(AgiError):
                    await channel.stream_file(self.options.abandon_prompt)
                    await channel.hangup()
                return
            live.agent = agent
            live.attempt = replace(live.attempt, agent=agent)
        rates.rates.answered(self._clock(), abandoned=False)
        cfg = self.acd.agents.get(agent)
        target = cfg.dial_target() if cfg is not None else f"PJSIP/{agent}"
        q = self.acd.queue(c.queue) if self.acd.has_queue(c.queue) else None
        options = q.dial_options if q is not None else "U(mixmon)"
        call_id = live.attempt.call_id
        extra = {"linkedid": call_id, "agent": agent, "campaign": c.id}
        await channel.set_variable("CC_AGENT", agent)
        await channel.exec("Dial", f"{target},{round(self.options.agent_ring)},{options}")
        status = ((await channel.get_variable("DIALSTATUS")) or "").upper()
        talk = float(_int(await channel.get_variable("ANSWEREDTIME")))
        if status == "ANSWER":
            live.attempt = replace(live.attempt, connected_at=self._clock() - talk)
            await self.acd.dialer_answered(agent, call_id)  # no-op when the DialEnd came first
            await self.acd.dialer_ended(agent, call_id, c.queue, talk)
            self.stats["connected"] += 1
            await self._finish(live, AttemptResult.CONNECTED, talk=talk)
            log.info("outbound call ended", extra={**extra, "talk": round(talk, 1)})
            return
        await self.acd.dialer_release(agent, call_id, c.queue, missed=status == "NOANSWER")
        live.agent = ""
        if channel.hung_up or status == "CANCEL":  # the customer hung up while the agent's phone rang
            await self._finish(live, AttemptResult.HUNG_UP, detail=N_("hung up before the agent answered"))
            return
        # the agent did not take it: the customer is not left waiting in silence
        rates.abandoned += 1
        self.stats["abandoned"] += 1
        await self._finish(live, AttemptResult.ABANDONED, detail=f"{_AGENT}: {status.lower() or 'failed'}")
        with contextlib.suppress(AgiError):
            await channel.stream_file(self.options.abandon_prompt)
            await channel.hangup()

    async def _grab_agent(self, c: Campaign, call_id: str, channel: AgiChannel) -> str:
        """Predictive: the first free agent of the queue within ``connect_limit`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + c.connect_limit
        members = self.acd.agents_of(c.queue)
        while True:
            for s in await self.acd.state.list_agents():
                if (
                    s.agent in members
                    and s.state is AgentState.AVAILABLE
                    and await self.acd.reserve_for_dialer(s.agent, call_id, c.queue)
                ):
                    return s.agent
            if loop.time() >= deadline or channel.hung_up:
                return ""
            await asyncio.sleep(min(0.1, max(0.0, deadline - loop.time())))

    # --- views -----------------------------------------------------------------------------------
    def in_flight(self, campaign_id: int) -> int:
        return sum(1 for d in self._live.values() if d.campaign.id == campaign_id)

    def live_view(self, campaign_id: int) -> dict[str, Any]:
        live = self.rates(campaign_id)
        now = self._clock()
        answered, abandoned = live.rates.counts(now)
        return {
            "in_flight": self.in_flight(campaign_id),
            "dialled": live.dialled,
            "connected": live.connected,
            "abandoned": live.abandoned,
            "answered_in_window": answered,
            "abandoned_in_window": abandoned,
            "abandon_rate": live.rates.abandon_rate(now),
            "answer_rate": round(live.rates.answer_rate(now), 3),
            "pacing": dict(live.last_pacing),
        }

    def metrics(self) -> Mapping[str, float]:
        return {f"callcenter_dialer_{k}_total": float(v) for k, v in self.stats.items()}


def _int(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0
