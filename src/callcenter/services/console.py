"""The agent console's use cases: state controls, call controls, dispositions, click-to-dial.

Everything acts for *one* agent (the signed-in one): the web layer never passes another agent's id.

- State: login / logout / pause(reason) / available / end wrap-up go to the ACD (``AcdService``). Ending
  wrap-up (or going available from it) is refused while the queue requires a disposition and the call
  has none (``DispositionRequired``). A timed wrap-up (``wrapup: 10`` in ``config/acd.yaml``) of such a
  queue waits for the code and ends when it is set (``services/wrapup_rule.py``; configurable).
- Calls: hold, blind transfer and hang-up act on the agent's own live channel, found in the call
  tracker's legs (``AgentLegs``): the one bridged to the customer, a ``Local/`` agent's ``;1`` and never
  its ``;2`` (``domain/agent_channel``, the rule the supervisor's monitor uses too). Blind transfer is
  AMI ``BlindTransfer`` on the agent's channel: the
  party bridged with the agent (the customer) goes to ``<target>@<context>`` (an agent → ``transfer``,
  a number → ``outbound``, a queue → ``cc-queue``: a dialplan context that hands the call back to the
  service's ACD over FastAGI, ``agi://…/queue?queue=<name>&linkedid=…``: same Linkedid, same call record).
  Before a transfer to a queue, ``Setvar CC_TRANSFERRED_BY=<agent>`` on the customer's channel: the
  queue's session reads it, and the ACD offers the call back to that agent only when nobody else could
  take it (``domain.routing``).
  The queue name is checked against the ACD's queues before any AMI action. A refused transfer
  (``Response: Error``, e.g. ``Transfer invalid``) raises ``TransferFailed`` (a 502 whose message tells
  the agent the call is still theirs); the tracker stores no transfer for it (``Result: Invalid``).
- Hold: Asterisk has no AMI hold action (hold is a phone feature), so the console holds server-side:
  ``Setvar CC_HOLD=1`` on the customer's channel (the party bridged with the agent: the ACD's Dial sees
  it and keeps the agent on the call), then one AMI ``Redirect`` of the customer to ``cc-hold,s,1``
  (``MusicOnHold()``) with ``ExtraChannel`` = the agent's channel to ``cc-hold-agent,s,1`` (silence):
  "Dual Redirect successful", which proves nothing about the agent's side (fact 32): the hold is
  verified and, when it failed halfway, rolled back (``services/console_hold``: back with the agent,
  else the front of the queue, else the failsafe; ``HoldFailed``, audited). Resume is AMI ``Bridge``
  (Channel1 = customer, Channel2 = agent): both
  leave their applications and meet in a new bridge. The tracker counts the music in ``cc-hold`` as
  hold time, never as a transfer. If either side hangs up while on hold, the other is hung up too
  (``on_leg_ended``), so no one is left waiting; hanging up from the console hangs up both.
  The hold records (channels, since when) live in a ``HoldStore`` (in process, or Redis shared by the
  instances): a resume, a hang-up or the hold timer works from any instance and after a restart. Every
  instance sees every hang-up; the store's atomic ``take_by_leg`` makes exactly one of them end the other
  side. Records expire unless refreshed (``hold_refresh``: the holds whose legs the tracker sees live).
- Click-to-dial: AMI ``Originate`` of the agent's phone first; when it answers, the dialplan dials the
  customer from ``outbound`` (``originate-variants.ami``'s click-to-call).
- Dispositions: per-queue codes and a required flag from ``config/console.yaml`` (``DispositionRules``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from callcenter.domain.acd import AgentState, AgentStatus
from callcenter.domain.agent_channel import agent_call_leg
from callcenter.domain.calls import CallDisposition, LegRecord, LegRole
from callcenter.domain.customers import ValidationError
from callcenter.domain.errors import AmiActionError, CallcenterError, ConfigError, NotFound, PbxUnavailable
from callcenter.domain.hold import HeldCall
from callcenter.domain.queueing import TRANSFERRED_BY_VARIABLE
from callcenter.ports import AuditLog, DispositionStore, HoldStore, PbxControl
from callcenter.services.acd import AcdService
from callcenter.services.console_hold import ConsoleOptions, HoldControl, HoldFailed, NoCall
from callcenter.services.screenpop import ScreenPopService
from callcenter.services.wrapup_rule import WrapupRule

log = logging.getLogger(__name__)

#: The legs of live calls where an agent's phone is: ``agent → legs`` (the tracker's view).
AgentLegs = Callable[[str], Sequence[LegRecord]]
#: A live call's legs by Linkedid.
CallLegs = Callable[[str], Sequence[LegRecord]]

DEFAULT_CODES = ("resolved", "information_given", "follow_up_needed", "escalated", "wrong_number")
_CODE = re.compile(r"[a-z0-9][a-z0-9_.-]{0,39}")
_NUMBER = re.compile(r"\+?[0-9]{2,20}")
_AGENT_ID = re.compile(r"[0-9A-Za-z_.-]{1,20}")
_QUEUE = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
MAX_NOTE = 5000
_CUSTOMER_ROLES = (LegRole.INBOUND, LegRole.CUSTOMER, LegRole.OUTBOUND)


class DispositionRequired(CallcenterError):
    """Wrap-up cannot end: this queue requires a disposition code for the call first."""


class TransferFailed(AmiActionError):
    """The PBX refused a blind transfer (``Response: Error``, e.g. ``Transfer invalid``); the call stays
    with the agent and nothing is stored as a transfer."""

    def __init__(self, message: str) -> None:
        super().__init__("BlindTransfer", f"the transfer was refused ({message}); the call is still yours")
        self.reason = message


@dataclass(frozen=True, slots=True)
class QueueDispositions:
    codes: tuple[str, ...] = DEFAULT_CODES
    required: bool = True


@dataclass(frozen=True, slots=True)
class DispositionRules:
    default: QueueDispositions = field(default_factory=QueueDispositions)
    queues: Mapping[str, QueueDispositions] = field(default_factory=dict)
    timed_wrapup_waits: bool = True  # a timed wrap-up waits for a required code (services/wrapup_rule.py)

    def for_queue(self, queue: str | None) -> QueueDispositions:
        if queue is None:
            return self.default
        return self.queues.get(queue, self.default)

    def as_json(self, queue: str | None) -> dict[str, Any]:
        rules = self.for_queue(queue)
        return {"codes": list(rules.codes), "required": rules.required}


def _queue_dispositions(raw: Any, where: str, base: QueueDispositions) -> QueueDispositions:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected a mapping with codes and required")
    unknown = set(raw) - {"codes", "required"}
    if unknown:
        raise ConfigError(f"{where}: unknown keys {sorted(unknown)}")
    codes = base.codes
    if "codes" in raw:
        items = raw["codes"]
        if not isinstance(items, list) or not items:
            raise ConfigError(f"{where}.codes: a non-empty list")
        for code in items:
            if not isinstance(code, str) or not _CODE.fullmatch(code):
                raise ConfigError(f"{where}.codes: {code!r} is not a code (a-z, 0-9, _ . -)")
        codes = tuple(items)
    required = base.required
    if "required" in raw:
        if not isinstance(raw["required"], bool):
            raise ConfigError(f"{where}.required: true or false")
        required = raw["required"]
    return QueueDispositions(codes, required)


def rules_from_mapping(raw: Mapping[str, Any], source: str = "console config") -> DispositionRules:
    section = raw.get("dispositions", {}) or {}
    if not isinstance(section, Mapping):
        raise ConfigError(f"{source}: dispositions must be a mapping")
    default = _queue_dispositions(
        section.get("default", {}), f"{source}: dispositions.default", QueueDispositions()
    )
    queues_raw = section.get("queues", {}) or {}
    if not isinstance(queues_raw, Mapping):
        raise ConfigError(f"{source}: dispositions.queues must be a mapping")
    queues = {
        str(name): _queue_dispositions(value, f"{source}: dispositions.queues.{name}", default)
        for name, value in queues_raw.items()
    }
    waits = section.get("timed_wrapup_waits", True)
    if not isinstance(waits, bool):
        raise ConfigError(f"{source}: dispositions.timed_wrapup_waits: true or false")
    return DispositionRules(default, queues, waits)


def load_console_config(path: str | Path) -> DispositionRules:
    """``config/console.yaml`` (missing file: the defaults). Blocking: call it through a thread."""
    p = Path(path)
    if not p.is_file():
        return DispositionRules()
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"console config {p}: {exc}") from None
    if not isinstance(raw, Mapping):
        raise ConfigError(f"console config {p}: expected a mapping")
    return rules_from_mapping(raw, f"console config {p}")


class ConsoleService:
    def __init__(
        self,
        acd: AcdService,
        screenpop: ScreenPopService,
        *,
        pbx: PbxControl | None,
        dispositions: DispositionStore | None,
        holds: HoldStore,
        agent_legs: AgentLegs,
        call_legs: CallLegs | None = None,
        bridge_peers: CallLegs | None = None,
        rules: DispositionRules | None = None,
        options: ConsoleOptions | None = None,
        audit: AuditLog | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.acd = acd
        self.screenpop = screenpop
        self.pbx = pbx
        self.dispositions = dispositions
        self.agent_legs = agent_legs
        self.call_legs: CallLegs = call_legs or (lambda _call_id: ())
        #: the live legs in a bridge with a leg (by Uniqueid): the agent's other party
        self.bridge_peers: CallLegs = bridge_peers or (lambda _uniqueid: ())
        self.rules = rules or DispositionRules()
        self.wrapup_rule: WrapupRule | None = None  # set with the ACD's wrap-up gate (composition root)
        self.options = options or ConsoleOptions()
        self.clock = clock
        self.holds = holds  # agent → their call on hold (shared by the instances on Redis)
        #: ended answered legs (linkedid, uniqueid), checked against the holds by ``_hangup_worker``
        self._hangups: asyncio.Queue[tuple[str, str]] = asyncio.Queue(maxsize=1000)
        self._watch: list[asyncio.Task[None]] = []
        self.stats = {"hold_hangups": 0, "hold_hangups_dropped": 0, "hold_store_errors": 0}
        self.holding = HoldControl(
            acd,
            holds,
            pbx=self._pbx,
            call_legs=lambda call_id: self.call_legs(call_id),
            queue_of=self.queue_of,
            options=self.options,
            audit=audit,
            clock=clock,
        )

    def queue_rules(self, queue: str | None) -> dict[str, Any]:
        return self.rules.as_json(queue)

    # --- lifecycle: the hold watch ----------------------------------------------------------------
    async def start(self) -> None:
        if not self._watch:
            loop = asyncio.get_running_loop()
            self._watch = [
                loop.create_task(self._hangup_worker(), name="console-hold"),
                loop.create_task(self._refresher(), name="console-hold-refresh"),
            ]

    async def close(self) -> None:
        tasks, self._watch = self._watch, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def on_leg_ended(self, leg: LegRecord) -> None:
        """Tracker listener (sync, never blocks): an answered leg ended → the worker checks whether it
        was one side of a held call (the store is shared, so any instance's hold counts)."""
        if leg.answered_at is None:  # a held call's two legs were answered
            return
        try:
            self._hangups.put_nowait((leg.call_id, leg.uniqueid))
        except asyncio.QueueFull:
            self.stats["hold_hangups_dropped"] += 1
            log.error("hold watch queue full", extra={"linkedid": leg.call_id, "channel": leg.channel})

    async def _hangup_worker(self) -> None:
        while True:
            call_id, uniqueid = await self._hangups.get()
            try:
                held = await self.holds.take_by_leg(uniqueid)
            except CallcenterError as exc:  # the shared state is down: the hold record expires
                self.stats["hold_store_errors"] += 1
                log.warning("hold store unavailable", extra={"linkedid": call_id, "error": str(exc)})
                continue
            if held is None:
                continue
            if not held.confirmed:  # a hold being verified: its rollback decides about the other side
                log.info("a side of a pending hold hung up", extra={"linkedid": held.call_id})
                continue
            other = held.other_channel(uniqueid)
            assert other is not None
            log.info(
                "one side of a held call hung up",
                extra={"linkedid": held.call_id, "agent": held.agent, "channel": other},
            )
            try:
                await self._pbx().hangup(other)
                self.stats["hold_hangups"] += 1
            except CallcenterError as exc:  # gone already, PBX down: nothing left to do
                log.warning(
                    "could not hang up the other side of a held call",
                    extra={"linkedid": held.call_id, "channel": other, "error": str(exc)},
                )

    async def _refresher(self) -> None:
        """Keep the holds whose calls are live (in this instance's tracker) from expiring."""
        while True:
            await asyncio.sleep(self.options.hold_refresh)
            await self.refresh_holds()

    async def refresh_holds(self) -> int:
        """Refresh the time to live of every hold with a live leg; returns how many."""
        refreshed = 0
        try:
            for held in await self.holds.list_held():
                live = {leg.uniqueid for leg in self.call_legs(held.call_id) if leg.ended_at is None}
                if live & {held.customer_uniqueid, held.agent_uniqueid} and await self.holds.refresh(
                    held.agent
                ):
                    refreshed += 1
        except CallcenterError as exc:
            self.stats["hold_store_errors"] += 1
            log.warning("could not refresh the holds", extra={"error": str(exc)})
        return refreshed

    async def held(self, agent: str) -> HeldCall | None:
        return await self.holds.get(agent)

    # --- state ------------------------------------------------------------------------------------
    async def state(self, agent: str) -> dict[str, Any]:
        view = await self.acd.agent_view(agent)
        held = await self.holds.get(agent)
        return {
            **view,
            "held_by_console": held is not None,
            "held_since": held.since if held is not None else None,
            "pause_reasons": [r for r in self.acd.options.pause_reasons if r != "missed_call"],
            "now": self.clock(),
        }

    async def login(self, agent: str, by: str) -> AgentStatus:
        return await self.acd.login(agent, by=by)

    async def logout(self, agent: str, by: str) -> AgentStatus:
        return await self.acd.logout(agent, by=by)

    async def pause(self, agent: str, reason: str, by: str) -> AgentStatus:
        return await self.acd.pause(agent, reason, by=by)

    async def available(self, agent: str, by: str) -> AgentStatus:
        """Ready for calls: log in, end a pause, or end wrap-up (checked) — whatever applies."""
        status = await self.acd.state.get_agent(agent)
        if status is None:
            raise NotFound(f"no agent {agent!r}")
        if status.state is AgentState.LOGGED_OUT:
            return await self.acd.login(agent, by=by)
        if status.state is AgentState.WRAPUP:
            return await self.end_wrapup(agent, by)
        return await self.acd.unpause(agent, by=by)

    async def end_wrapup(self, agent: str, by: str) -> AgentStatus:
        status = await self.acd.state.get_agent(agent)
        if status is not None and status.state is AgentState.WRAPUP and status.call_id:
            rules = self.rules.for_queue(status.queue or None)
            if (
                rules.required
                and self.dispositions is not None
                and await self.dispositions.get_disposition(status.call_id, agent) is None
            ):
                raise DispositionRequired("set a disposition code for the call before ending wrap-up")
        return await self.acd.end_wrapup(agent, by=by)

    # --- dispositions -----------------------------------------------------------------------------
    async def may_act_on(self, agent: str, call_id: str) -> bool:
        if self.screenpop.handled(agent, call_id):
            return True
        status = await self.acd.state.get_agent(agent)
        return status is not None and status.call_id == call_id

    async def queue_of(self, agent: str, call_id: str) -> str | None:
        """The queue the agent took the call from (the pop, else the ACD state), None if unknown."""
        pop = self.screenpop.pop_for_call(agent, call_id)
        if pop is not None:
            queue = pop["call"].get("queue")
            if queue:
                return str(queue)
        status = await self.acd.state.get_agent(agent)
        if status is not None and status.call_id == call_id:
            return status.queue or None
        return None

    async def set_disposition(self, agent: str, data: Mapping[str, Any], *, author: str) -> CallDisposition:
        errors: dict[str, str] = {}
        call_id = data.get("call_id")
        code = data.get("code")
        note = data.get("note", "") or ""
        unknown = set(data) - {"call_id", "code", "note"}
        for name in sorted(unknown):
            errors[name] = "unknown field"
        if not isinstance(call_id, str) or not call_id or len(call_id) > 128:
            errors["call_id"] = "required: the call's id"
        if not isinstance(note, str) or len(note) > MAX_NOTE:
            errors["note"] = f"text of at most {MAX_NOTE} characters"
        queue: str | None = None
        if "call_id" not in errors:
            assert isinstance(call_id, str)
            if not await self.may_act_on(agent, call_id):
                raise NotFound(f"no call {call_id!r} of yours")
            queue = await self.queue_of(agent, call_id)
        codes = self.rules.for_queue(queue).codes
        if not isinstance(code, str) or code not in codes:
            errors["code"] = f"one of: {', '.join(codes)}"
        if errors:
            raise ValidationError(errors)
        assert isinstance(call_id, str) and isinstance(code, str) and isinstance(note, str)
        pop = self.screenpop.pop_for_call(agent, call_id)
        customer = pop.get("customer") if pop is not None else None
        disposition = CallDisposition(
            call_id=call_id,
            agent=agent,
            code=code,
            note=note.strip(),
            queue=queue,
            customer_id=customer["id"] if customer else None,
            at=self.clock(),
            author=author,
        )
        if self.dispositions is None:
            raise NotFound("dispositions are not stored by this service")
        await self.dispositions.save_disposition(disposition)
        if pop is not None:
            pop["disposition_set"] = {"code": code, "note": disposition.note}
        log.info("disposition set", extra={"linkedid": call_id, "agent": agent, "code": code})
        if self.wrapup_rule is not None:  # a wrap-up waiting for this code ends
            await self.wrapup_rule.disposition_set(await self.acd.state.get_agent(agent))
        return disposition

    # --- call control -----------------------------------------------------------------------------
    def _pbx(self) -> PbxControl:
        if self.pbx is None or not self.pbx.connected:
            raise PbxUnavailable("the PBX is not connected")
        return self.pbx

    def live_leg(self, agent: str) -> LegRecord:
        """The agent's leg to act on: the half bridged to the customer (``domain/agent_channel``)."""
        leg = agent_call_leg(self.agent_legs(agent), lambda leg: self.bridge_peers(leg.uniqueid))
        if leg is None:
            raise NoCall("you have no call on your phone")
        return leg

    async def hangup(self, agent: str) -> dict[str, Any]:
        held = await self.holds.remove(agent)
        if held is not None:
            # on hold nobody is bridged: end both sides
            pbx = self._pbx()
            for channel in (held.agent_channel, held.customer_channel):
                with contextlib.suppress(AmiActionError):  # that side went meanwhile
                    await pbx.hangup(channel)
            log.info("agent hung up a held call", extra={"linkedid": held.call_id, "agent": agent})
            return {"call_id": held.call_id, "channel": held.agent_channel}
        leg = self.live_leg(agent)
        await self._pbx().hangup(leg.channel)
        log.info("agent hung up from the console", extra={"linkedid": leg.call_id, "agent": agent})
        return {"call_id": leg.call_id, "channel": leg.channel}

    def _customer_leg(self, leg: LegRecord) -> LegRecord:
        """The party bridged with the agent's leg (the channel to redirect), else the call's live
        customer-side leg (inbound half first: on a Local customer, ``;2`` is the bridged one)."""
        for other in self.bridge_peers(leg.uniqueid):
            if other.role is not LegRole.AGENT:
                return other
        candidates = [
            other
            for other in self.call_legs(leg.call_id)
            if other.ended_at is None and other.uniqueid != leg.uniqueid and other.role in _CUSTOMER_ROLES
        ]
        if not candidates:
            raise NoCall("the other party of your call is not known")
        return min(candidates, key=lambda other: _CUSTOMER_ROLES.index(other.role))

    async def hold(self, agent: str, on: bool) -> dict[str, Any]:
        return await (self._hold(agent) if on else self._resume(agent))

    async def _hold(self, agent: str) -> dict[str, Any]:
        held = await self.holds.get(agent)
        if held is not None:
            return {"call_id": held.call_id, "held": True, "since": held.since}
        leg = self.live_leg(agent)
        if leg.answered_at is None:
            raise NoCall("your call is not answered yet")
        customer = self._customer_leg(leg)
        return await self.holding.hold(agent, leg, customer)

    async def _resume(self, agent: str) -> dict[str, Any]:
        held = await self.holds.get(agent)
        if held is None or not held.confirmed:
            raise NoCall("your call is not on hold")
        return await self.holding.resume(held)

    def transfer_target(self, kind: Any, target: Any) -> tuple[str, str]:
        """(context, exten) for a blind transfer; ``ValidationError`` on bad input."""
        if not isinstance(target, str) or not target.strip():
            raise ValidationError({"target": "required"})
        target = target.strip()
        if kind == "agent":
            if not _AGENT_ID.fullmatch(target) or target not in self.acd.agents:
                raise ValidationError({"target": "an agent id"})
            return self.options.transfer_context, target
        if kind == "queue":
            if not _QUEUE.fullmatch(target) or not self.acd.has_queue(target):
                known = ", ".join(sorted(self.acd.queues)) or "none configured"
                raise ValidationError({"target": f"unknown queue {target[:40]!r}; one of: {known}"})
            return self.options.queue_context, target
        if kind == "number":
            number = re.sub(r"[\s().-]", "", target)
            if not _NUMBER.fullmatch(number):
                raise ValidationError({"target": "a phone number (digits, optional leading +)"})
            return self.options.outbound_context, number
        raise ValidationError({"kind": "agent, queue or number"})

    async def transfer(self, agent: str, kind: Any, target: Any) -> dict[str, Any]:
        context, exten = self.transfer_target(kind, target)
        if await self.holds.get(agent) is not None:
            raise ValidationError({"target": "resume the call before transferring it"})
        leg = self.live_leg(agent)
        if kind == "queue":
            await self._mark_transferer(agent, leg)
        try:
            await self._pbx().send_action(
                "BlindTransfer",
                {"Channel": leg.channel, "Context": context, "Exten": exten},
                timeout=self.options.action_timeout,
            )
        except AmiActionError as exc:  # Transfer invalid, Channel specified does not exist (fact 33)
            log.warning(
                "blind transfer refused",
                extra={"linkedid": leg.call_id, "agent": agent, "channel": leg.channel, "error": exc.message},
            )
            raise TransferFailed(exc.message) from exc
        log.info(
            "blind transfer",
            extra={"linkedid": leg.call_id, "agent": agent, "context": context, "exten": exten},
        )
        return {"call_id": leg.call_id, "context": context, "exten": exten}

    async def _mark_transferer(self, agent: str, leg: LegRecord) -> None:
        """``Setvar CC_TRANSFERRED_BY=<agent>`` on the customer's channel: the queue's ACD session then
        skips this agent while someone else could take the call. Best effort: the transfer goes on
        without it (then the call may be offered back to them) when the customer's leg is not known."""
        try:
            customer = self._customer_leg(leg)
            await self._pbx().send_action(
                "Setvar",
                {"Channel": customer.channel, "Variable": TRANSFERRED_BY_VARIABLE, "Value": agent},
                timeout=self.options.action_timeout,
            )
        except (NoCall, AmiActionError) as exc:
            log.warning(
                "transferer not marked on the customer's channel",
                extra={"linkedid": leg.call_id, "agent": agent, "error": str(exc)},
            )

    async def dial(
        self, agent: str, number: Any, customer_id: Any = None, *, caller_name: str = ""
    ) -> dict[str, Any]:
        if not isinstance(number, str):
            raise ValidationError({"number": "required: a phone number"})
        clean = re.sub(r"[\s().-]", "", number)
        if not _NUMBER.fullmatch(clean):
            raise ValidationError({"number": "a phone number (digits, optional leading +)"})
        cid: int | None = None
        if customer_id not in (None, ""):
            if isinstance(customer_id, bool) or not isinstance(customer_id, int | str):
                raise ValidationError({"customer_id": "a customer id"})
            if isinstance(customer_id, str) and not customer_id.isdigit():
                raise ValidationError({"customer_id": "a customer id"})
            cid = int(customer_id)
        if any(leg.ended_at is None for leg in self.agent_legs(agent)):
            raise ValidationError({"number": "you are already on a call"})
        cfg = self.acd.agents.get(agent)
        if cfg is None:
            raise NotFound(f"no agent {agent!r}")
        call_id = f"c2d-{uuid.uuid4().hex[:16]}"
        # ChannelId: the agent's channel gets our id as its Uniqueid, hence as the call's Linkedid
        # (fact 13), so the call record, its disposition and tickets share one id
        await self._pbx().send_action(
            "Originate",
            {
                "Channel": cfg.dial_target(),
                "Context": self.options.outbound_context,
                "Exten": clean,
                "Priority": "1",
                "CallerID": f'"{_cid(caller_name or clean)}" <{_cid(clean)}>',
                "ChannelId": call_id,
                "OtherChannelId": f"{call_id}-2",
                "Timeout": str(self.options.dial_timeout_ms),
                "Async": "true",
                "Variable": [f"CC_CALLID={call_id}", f"CC_AGENT={agent}", "CC_CLICK2DIAL=1"],
                "ActionID": call_id,
            },
            timeout=self.options.action_timeout,
        )
        log.info("click-to-dial", extra={"linkedid": call_id, "agent": agent})
        await self.screenpop.outbound(agent, call_id, clean, cid)
        return {"call_id": call_id, "number": clean}


def _cid(text: str) -> str:
    return "".join(c for c in text if c not in '"<>\r\n')[:80]


__all__ = [
    "ConsoleOptions",
    "ConsoleService",
    "DispositionRequired",
    "DispositionRules",
    "HoldFailed",
    "NoCall",
    "QueueDispositions",
    "TransferFailed",
    "load_console_config",
    "rules_from_mapping",
]
