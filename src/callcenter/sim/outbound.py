"""Customers the service dials out to (the outbound dialer, issue 17), as the simulated PBX runs them.
Mixed into ``Pbx``.

``Originate Channel=PJSIP/<number>@<trunk>`` (``OutboundProfile.trunk``, ``trunk`` by default, as
``CC_TRUNK`` in ``dialplan/extensions.conf``) requests one channel ``PJSIP/<trunk>-<8 hex>`` toward the
customer, and what the far end does decides the ``OriginateResponse``, as Asterisk's
``ast_request_and_dial`` reports it (``Reason`` is the last control frame, ``AST_CONTROL_*``):

* busy (SIP 486): no ringing, ``Hangup`` cause 17, ``Response: Failure`` ``Reason: 5``;
* carrier failure (SIP 503): cause 34, ``Reason: 8`` (congestion);
* no answer: ``Newstate`` 5 (Ringing, SIP 180), then at the originate's ``Timeout`` the channel is hung
  up (cause 19), ``Reason: 3`` (it was ringing);
* answered by a person or an answering machine after ``ring_min..ring_max``: ``Newstate`` 6,
  ``Reason: 4``, ``Response: Success``, and the channel runs the originate's context: ``[cc-outbound]``.

``[cc-outbound]`` (``dialplan/extensions.conf``): ``Set(__CC_CALLID=${CHANNEL(linkedid)})``, ``AMD()``
(sets ``AMDSTATUS`` = ``HUMAN|MACHINE|NOTSURE`` and ``AMDCAUSE``: a person's short "hello" then
silence is HUMAN after about 1.5 s; a greeting longer than the maximum greeting is MACHINE after about
2.5-3.5 s; ``amd_error`` of them are wrong), then ``AGI(${CC_AGI}/outbound?attempt=${CC_ATTEMPT}&amd=
${AMDSTATUS}&linkedid=...)``; when the service did not end the session with ``CC_IVR_RESULT=done`` the
customer hears ``Playback(cc-outbound-sorry)`` and is hung up: never left silent.

The people: a person who answered waits ``patience`` seconds of silence (nobody bridged to them) and
hangs up; bridged to an agent they talk ``talk`` seconds and hang up (or the agent does first). A
machine plays its greeting, records whatever comes for up to 30 s, and hangs up. Every number draws
its behaviour from its own ``(seed, number, n)`` stream, so a seed reproduces a run.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

from callcenter.sim.model import CallStat, Channel, OriginateResult

if TYPE_CHECKING:
    from callcenter.sim.pbx import PbxCore as _Base
else:
    _Base = object

OUTBOUND_CONTEXT = "cc-outbound"
PREVIEW_CONTEXT = "cc-preview"
SORRY_PROMPT = "cc-outbound-sorry"
SORRY_SECONDS = 3.0
MACHINE_RECORD_SECONDS = 30.0
POLL = 0.5  # simulated seconds between a person's checks of the line


@dataclass(slots=True)
class OutboundPlan:
    kind: str  # human | machine | busy | no_answer | failed | hangup
    ring: float
    talk: float
    patience: float
    greeting: float
    amd_wrong: bool


class OutboundFlows(_Base):
    def outbound_plan(self, number: str) -> OutboundPlan:
        ob = self.cfg.outbound
        n = self.outbound_counts.get(number, 0)
        self.outbound_counts[number] = n + 1
        r = random.Random(f"{self.cfg.seed}/out/{number}/{n}")
        fixed = dict(ob.fixed).get(number)
        shares = (
            ("human", ob.human),
            ("machine", ob.machine),
            ("busy", ob.busy),
            ("no_answer", ob.no_answer),
            ("failed", ob.failed),
            ("hangup", ob.hangup),
        )
        pick = r.random() * sum(s for _, s in shares)
        kind = (
            next(name for name, share in reversed(shares) if share > 0)
            if any(s for _, s in shares)
            else "human"
        )
        for name, share in shares:
            if pick < share:
                kind = name
                break
            pick -= share
        return OutboundPlan(
            kind=fixed or kind,
            ring=r.uniform(ob.ring_min, ob.ring_max),
            talk=r.uniform(ob.talk_min, ob.talk_max),
            patience=r.uniform(ob.patience_min, ob.patience_max),
            greeting=r.uniform(ob.greeting_min, ob.greeting_max),
            amd_wrong=r.random() < ob.amd_error,
        )

    def is_trunk(self, endpoint: str) -> bool:
        return "@" in endpoint and endpoint.split("@", 1)[1] == self.cfg.outbound.trunk

    async def originate_trunk(
        self,
        dialstring: str,
        endpoint: str,
        *,
        context: str,
        exten: str,
        priority: int,
        cid_num: str,
        cid_name: str,
        answer_timeout: float,
        variables: list[tuple[str, str]],
        chan_id: str | None,
        call: CallStat | None,
    ) -> OriginateResult:
        number = endpoint.split("@", 1)[0]
        trunk = self.cfg.outbound.trunk
        uid = chan_id or self.new_uid()
        one = Channel(self, f"PJSIP/{trunk}-{self.next_seq():08x}", uid, uid, "from-trunk", "s", 0, "PJSIP")
        one.call = call
        self.channels[one.name] = one
        self.ev("Newchannel", one)
        for name, value in variables:
            self.set_var(one, name, value)
        if cid_num or cid_name:
            self.set_callerid(one, cid_num, cid_name)
        self.set_connected(one, number, "")
        self.ev2("DialBegin", None, one, f"DialString: {endpoint}\r\n")
        plan = self.outbound_plan(number)
        deadline = self.clock.mono() + answer_timeout
        if await self.nap(one, 0.2):  # 100 Trying
            return self._trunk_gone(one, dialstring, 1)
        if plan.kind in ("busy", "failed"):
            if await self.nap(one, 0.3):
                return self._trunk_gone(one, dialstring, 1)
            busy = plan.kind == "busy"
            one.busy = busy
            self.ev2("DialEnd", None, one, f"DialStatus: {'BUSY' if busy else 'CONGESTION'}\r\n")
            self.finish(one, 17 if busy else 34)
            return OriginateResult(False, 5 if busy else 8, None, dialstring)
        self.set_state(one, 5)
        self.ev2("DialState", None, one, "DialStatus: RINGING\r\n")
        answer_at = None if plan.kind == "no_answer" else self.clock.mono() + plan.ring
        while True:
            now = self.clock.mono()
            if answer_at is not None and now >= answer_at:
                break
            if now >= deadline:
                self.ev2("DialEnd", None, one, "DialStatus: NOANSWER\r\n")
                one.cdr_records.clear()
                self.finish(one, 19)
                return OriginateResult(False, 3, None, dialstring)
            if await self.nap(one, min(deadline, answer_at or deadline) - now):
                return self._trunk_gone(one, dialstring, 3)
        self.set_state(one, 6)
        self.ev2("DialEnd", None, one, "DialStatus: ANSWER\r\n")
        self.outbound_plans[one.uniqueid] = plan
        one.context, one.exten, one.priority = context, exten, priority
        one.touch()
        if plan.kind == "hangup":  # answered and gone at once: Success / 4, never reaches FastAGI (fact 37)
            self.spawn(self._hang_up_at_once(one))
            return OriginateResult(True, 4, one, dialstring)
        self.start_dialplan(one)
        self.spawn(self._outbound_person(one, plan))
        return OriginateResult(True, 4, one, dialstring)

    async def _hang_up_at_once(self, one: Channel) -> None:
        await self.nap(one, 0.05)
        if not one.gone:
            self.finish(one, 16)

    def _trunk_gone(self, one: Channel, dialstring: str, reason: int) -> OriginateResult:
        """Hung up (AMI Hangup) while the dial was in progress."""
        if not one.gone:
            self.ev2("DialEnd", None, one, "DialStatus: CANCEL\r\n")
            self.finish(one, one.hangup_cause if one.hangup_cause is not None else 16)
        return OriginateResult(False, reason, None, dialstring)

    async def _outbound_person(self, chan: Channel, plan: OutboundPlan) -> None:
        """The person (or machine) at the far end: hangs up on silence, after talking, or after the
        machine's recording time."""
        try:
            if plan.kind == "machine":
                await self.clock.sleep(plan.greeting + MACHINE_RECORD_SECONDS)
                if not chan.gone:
                    self.request_hangup(chan, 16)
                return
            silent_since = self.clock.mono()
            while not chan.gone and not chan.hangup_requested:
                bridge = chan.bridge
                if bridge is not None and len(bridge.channels) >= 2:
                    if chan.call is not None:
                        chan.call.connected = True
                    end = self.clock.mono() + plan.talk
                    while not chan.gone and self.clock.mono() < end:
                        bridge = chan.bridge
                        if bridge is None or len(bridge.channels) < 2:
                            break
                        await self.clock.sleep(min(POLL * 4, end - self.clock.mono()))
                    if not chan.gone and self.clock.mono() >= end:
                        self.request_hangup(chan, 16)
                        return
                    silent_since = self.clock.mono()
                elif self.clock.mono() - silent_since >= plan.patience:
                    self.request_hangup(chan, 16)
                    return
                await self.clock.sleep(POLL)
        finally:
            self.outbound_plans.pop(chan.uniqueid, None)

    # -- preview: the agent's channel Dials the customer ([cc-preview]) ---------------------------
    def new_trunk_leg(self, endpoint: str, linkedid: str | None) -> Channel:
        """The channel app_dial requests for ``PJSIP/<number>@<trunk>``; ``trunk_callee`` drives it."""
        uid = self.new_uid()
        leg = Channel(
            self,
            f"PJSIP/{self.cfg.outbound.trunk}-{self.next_seq():08x}",
            uid,
            linkedid or uid,
            "from-trunk",
            "s",
            0,
            "PJSIP",
        )
        self.channels[leg.name] = leg
        self.ev("Newchannel", leg)
        self.outbound_plans[uid] = self.outbound_plan(endpoint.split("@", 1)[0])
        return leg

    async def trunk_callee(self, leg: Channel) -> None:
        plan: OutboundPlan = self.outbound_plans[leg.uniqueid]
        await self.clock.sleep(0.2)
        if leg.interrupted:
            return
        if plan.kind in ("busy", "failed"):
            await self.clock.sleep(0.3)
            leg.busy = plan.kind == "busy"
            self.request_hangup(leg, 17 if leg.busy else 34)
            return
        self.set_state(leg, 5)
        if plan.kind == "no_answer":
            await self.nap_until_gone(leg, None)
            return
        if await self.wait_app(leg, plan.ring):
            return
        self.set_state(leg, 6)
        await self._outbound_person(leg, plan)

    async def ctx_cc_preview(self, chan: Channel) -> None:
        """``[cc-preview]``: the agent answered; the service's FastAGI session dials the customer."""
        self.newexten(chan, 1, "NoOp", f"Preview attempt {chan.vars.get('CC_ATTEMPT', '')}")
        self.newexten(chan, 2, "Set", f"__CC_CALLID={chan.linkedid}")
        self.set_var(chan, "__CC_CALLID", chan.linkedid)
        url = (
            f"agi://{self.cfg.agi_host}:{self.cfg.agi_port}/preview"
            f"?attempt={chan.vars.get('CC_ATTEMPT', '')}&linkedid={chan.linkedid}"
        )
        self.newexten(chan, 3, "AGI", url)
        agi = "FAILURE" if self.agi_runner is None else await self.agi_runner(chan, url, [])
        self.set_var(chan, "AGISTATUS", agi)
        if chan.goto is None and not chan.hangup_requested:
            self.newexten(chan, 4, "Hangup")

    async def amd(self, chan: Channel) -> tuple[str, str]:
        """``AMD()``: the time it takes and what it concludes (``AMDSTATUS``, ``AMDCAUSE``)."""
        plan = self.outbound_plans.get(chan.uniqueid)
        machine = plan is not None and plan.kind == "machine"
        if plan is not None and plan.amd_wrong:
            machine = not machine
        if machine:
            seconds = min(3.5, max(2.5, plan.greeting if plan is not None else 3.0))
            result = ("MACHINE", f"LONGGREETING-{int(seconds * 1000)}-1500")
        else:
            seconds = 1.5
            result = ("HUMAN", "HUMAN-800-700")
        if await self.wait_app(chan, seconds):
            return "HANGUP", ""
        return result

    async def ctx_cc_outbound(self, chan: Channel) -> None:
        """``[cc-outbound]``: AMD, then the service's FastAGI; a message if the service failed."""
        self.newexten(chan, 1, "NoOp", f"Outbound attempt {chan.vars.get('CC_ATTEMPT', '')}")
        self.newexten(chan, 2, "Set", f"__CC_CALLID={chan.linkedid}")
        self.set_var(chan, "__CC_CALLID", chan.linkedid)
        self.newexten(chan, 3, "AMD")
        status, cause = await self.amd(chan)
        if chan.interrupted:
            return
        self.set_var(chan, "AMDSTATUS", status)
        self.set_var(chan, "AMDCAUSE", cause)
        url = (
            f"agi://{self.cfg.agi_host}:{self.cfg.agi_port}/outbound"
            f"?attempt={chan.vars.get('CC_ATTEMPT', '')}&amd={status}&linkedid={chan.linkedid}"
        )
        self.newexten(chan, 4, "AGI", url)
        agi = "FAILURE" if self.agi_runner is None else await self.agi_runner(chan, url, [])
        self.set_var(chan, "AGISTATUS", agi)
        if chan.goto is not None or chan.hangup_requested:
            return
        if chan.vars.get("CC_IVR_RESULT", "") != "done":
            self.newexten(chan, 5, "Playback", SORRY_PROMPT)
            if await self.wait_app(chan, SORRY_SECONDS):
                return
        self.newexten(chan, 6, "Hangup")
