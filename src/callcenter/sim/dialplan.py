"""The recorder's dialplan of the first traces (``tests/fixtures/pbx-traces/extensions.conf``) and the
console contexts of ``dialplan/extensions.conf`` (``[cc-hold]``, ``[cc-hold-agent]``, ``[cc-queue]``),
as the simulated PBX runs them. Mixed into ``Pbx``; ``sim/project.py`` has the project dialplan."""

from __future__ import annotations

from typing import TYPE_CHECKING

from callcenter.sim.model import (
    _QUEUE_EXTEN,
    HOLD_AGENT_CONTEXT,
    HOLD_CONTEXT,
    HOLD_MAX_SECONDS,
    IN_SURVEY,
    PROMPT_SECONDS,
    QUEUE_CONTEXT,
    Channel,
    DialplanProgram,
    _float,
    _num,
)
from callcenter.sim.outbound import OUTBOUND_CONTEXT, PREVIEW_CONTEXT

if TYPE_CHECKING:
    from callcenter.sim.outbound import OutboundFlows as _Base
else:
    _Base = object


class TracesDialplan(_Base):
    def lookup(self, context: str, exten: str) -> DialplanProgram | None:
        if self.project is not None:
            prog = self.project.lookup(context, exten)
            if prog is not None:
                return prog
        if context == "incoming":
            if exten == "s" or (len(exten) == 4 and exten.startswith("80") and exten.isdigit()):
                return self._ctx_incoming
            return None
        if context == "customer-sim":
            return self.ctx_customer if exten in ("caller", "idle") else None
        if context == self.cfg.agent_context:
            return self._ctx_agent if (exten in self.agent_set or self._trace_agent(exten)) else None
        if context == "transfer":
            return (
                self._ctx_transfer
                if (len(exten) == 4 and exten.startswith("10") and exten.isdigit())
                else None
            )
        if context == "supervisor":
            return self._ctx_supervisor if exten == "listen" else None
        if context == "outbound":
            return (
                self._ctx_outbound
                if (len(exten) == 7 and exten.startswith("555") and exten.isdigit())
                else None
            )
        if context == OUTBOUND_CONTEXT:
            return self.ctx_cc_outbound if exten == "s" else None
        if context == PREVIEW_CONTEXT:
            return self.ctx_cc_preview if exten == "s" else None
        if context == HOLD_CONTEXT:
            return self._ctx_hold if exten == "s" else None
        if context == HOLD_AGENT_CONTEXT:
            return self._ctx_hold_agent if exten == "s" else None
        if context == QUEUE_CONTEXT:
            return self._ctx_queue if _QUEUE_EXTEN.fullmatch(exten) else None
        return None

    async def _ctx_incoming(self, chan: Channel) -> None:
        exten = chan.exten
        if exten == "s":
            chan.goto = ("incoming", self.cfg.agi_exten, 1)
            return
        if exten == self.cfg.direct_exten:
            self.newexten(
                chan, 1, "NoOp", f"Direct call CLI={chan.cid_num} to agent {chan.vars.get('AGENT', '')}"
            )
        else:
            self.newexten(chan, 1, "NoOp", f"Inbound call DNIS={exten} CLI={chan.cid_num}")
        self.newexten(chan, 2, "Set", f"__CC_CALLID={chan.uniqueid}")
        self.set_var(chan, "__CC_CALLID", chan.uniqueid)
        self.newexten(chan, 3, "Answer")
        self.answer(chan)
        # the originator (or the caller's channel driver) sees the answer before the next app runs
        if await self.wait_app(chan, 0.02):
            return
        if exten == self.cfg.direct_exten:
            await self._direct_dial(chan)
        else:
            args: list[str] = []
            script = self.cfg.agi_script
            if exten == "8010":
                script += "?queue=support&lang=en"
                args = ["first arg", chan.cid_num]
            url = f"agi://{self.cfg.agi_host}:{self.cfg.agi_port}/{script}"
            self.newexten(chan, 4, "AGI", ",".join([url, *args]))
            if self.agi_runner is None:
                status = "FAILURE"
            else:
                status = await self.agi_runner(chan, url, args)
            self.set_var(chan, "AGISTATUS", status)
            if status == "FAILURE" and chan.call is not None:
                chan.call.failed = True
        if chan.goto is None and not chan.hangup_requested:
            self.newexten(chan, 5, "Hangup")

    async def _direct_dial(self, chan: Channel) -> None:
        fixed = chan.vars.get("AGENT")
        opts = "tTU(mixmon)"
        if fixed or self.cfg.trace_agents:
            ext = fixed or "1001"
            data = f"{self.agent_dialstring(ext)},{_num(self.cfg.dial_timeout)},{opts}"
            self.newexten(chan, 4, "Dial", data)
            await self.dial(chan, data)
            return
        # simulated ACD-less routing: round robin over free agents, MOH while none is free
        while not chan.interrupted:
            free = self.pick_agent()
            if free is None:
                self.moh_start(chan)
                await self.nap(chan, 1.0)
                continue
            self.moh_stop(chan)
            data = f"{self.agent_dialstring(free)},{_num(self.cfg.dial_timeout)},{opts}"
            self.newexten(chan, 4, "Dial", data)
            status, _ = await self.dial(chan, data)
            if status == "ANSWER":
                return
        self.moh_stop(chan)

    async def ctx_customer(self, chan: Channel) -> None:
        if chan.exten == "idle":
            self.newexten(chan, 1, "Answer")
            self.answer(chan)
            self.newexten(chan, 2, "Wait", "60")
            if await self.wait_app(chan, 60):
                return
            self.newexten(chan, 3, "Hangup")
            return
        v = chan.vars
        wait, dtmf, hold = v.get("CUST_WAIT", ""), v.get("CUST_DTMF", ""), v.get("CUST_HOLD", "")
        self.newexten(chan, 1, "NoOp", f"Customer wait={wait} dtmf={dtmf} hold={hold}")
        self.newexten(chan, 2, "Wait", wait or "1")
        if await self.wait_app(chan, _float(wait, 1.0)):
            return
        self.newexten(chan, 3, "ExecIf", f'$["{dtmf}"!=""]?SendDTMF({dtmf},250)')
        if dtmf and chan.peer is not None:
            await self.send_dtmf(chan, chan.peer, dtmf)
            if chan.interrupted:
                return
        patience = v.get("CUST_PATIENCE")
        if patience is not None:
            # generated traffic: wait for an agent (patience), then talk, then hang up
            talk = _float(v.get("CUST_TALK", ""), 60.0)
            self.newexten(chan, 4, "Wait", hold or "30")
            deadline = self.clock.mono() + _float(patience, 30.0)
            while not chan.interrupted:
                two = chan.peer
                if two is not None and two.bridge is not None:
                    if chan.call is not None:
                        chan.call.connected = True
                    if await self.wait_app(chan, talk):
                        return
                    if v.get(IN_SURVEY):
                        # answering the post-call survey (the agent hung up first): stay until the
                        # IVR ends the call (sim/survey.py)
                        stay = self.cfg.customers.survey.stay
                        if await self.wait_app(chan, stay):
                            return
                    break
                left = deadline - self.clock.mono()
                if left <= 0:
                    break
                await self.nap(chan, left)
            if chan.interrupted:
                return
        else:
            self.newexten(chan, 4, "Wait", hold or "30")
            if await self.wait_app(chan, _float(hold, 30.0)):
                return
        self.newexten(chan, 5, "Hangup")

    async def _ctx_agent(self, chan: Channel) -> None:
        ext = chan.exten
        plan = self.agent_plan(ext)
        self.newexten(chan, 1, "NoOp", f"Agent {ext} ringing")
        if plan.busy:
            self.newexten(chan, 2, "Busy")
            chan.busy = True
            chan.hangup_cause = 17
            if chan.peer is not None:
                chan.peer.busy = True
            return
        self.newexten(chan, 2, "Ringing")
        self.ringing(chan)
        if plan.ring is None:
            self.newexten(chan, 3, "Wait", "120")
            if await self.wait_app(chan, 120):
                return
            self.newexten(chan, 4, "Hangup")
            return
        self.newexten(chan, 3, "Wait", _num(plan.ring))
        if await self.wait_app(chan, plan.ring):
            return
        self.newexten(chan, 4, "Answer")
        self.answer(chan)
        talk = plan.talk
        if plan.playback:
            self.newexten(chan, 5, "Playback", "hello-world")
            if await self.wait_app(chan, PROMPT_SECONDS["hello-world"]):
                return
            self.set_var(chan, "PLAYBACKSTATUS", "SUCCESS")
        self.newexten(chan, 6, "Wait", _num(talk))
        if await self.wait_app(chan, talk):
            return
        if not plan.agent_hangs_up:
            # the customer ends the call: stay up (bounded) until then
            await self.wait_app(chan, 3600.0)
            if chan.interrupted:
                return
        self.newexten(chan, 7, "Hangup")

    async def _ctx_transfer(self, chan: Channel) -> None:
        self.newexten(chan, 1, "NoOp", f"Transfer target {chan.exten}")
        data = f"Local/{chan.exten}@{self.cfg.agent_context}/n,20,tT"
        self.newexten(chan, 2, "Dial", data)
        await self.dial(chan, data)
        if not chan.interrupted:
            self.newexten(chan, 3, "Hangup")

    async def _ctx_supervisor(self, chan: Channel) -> None:
        self.newexten(chan, 1, "Answer")
        self.answer(chan)
        secs = chan.vars.get("SPY_SECS", "")
        self.newexten(chan, 2, "Wait", secs or "6")
        if await self.wait_app(chan, _float(secs, 6.0)):
            return
        self.newexten(chan, 3, "Hangup")

    async def _ctx_hold(self, chan: Channel) -> None:
        """``[cc-hold]``: the console's hold. The customer hears music until redirected, bridged again
        (AMI Bridge) or hung up."""
        self.newexten(chan, 1, "NoOp", f"On hold: linkedid={chan.linkedid}")
        self.newexten(chan, 2, "MusicOnHold", "default")
        self.moh_start(chan, "default")
        interrupted = await self.wait_app(chan, HOLD_MAX_SECONDS)
        self.moh_stop(chan)
        if not interrupted:
            self.newexten(chan, 3, "Hangup")

    async def _ctx_hold_agent(self, chan: Channel) -> None:
        """``[cc-hold-agent]``: the agent's channel waits (silence) while the customer is on hold."""
        self.newexten(chan, 1, "NoOp", f"Agent waiting: linkedid={chan.linkedid}")
        self.newexten(chan, 2, "Wait", _num(HOLD_MAX_SECONDS))
        if not await self.wait_app(chan, HOLD_MAX_SECONDS):
            self.newexten(chan, 3, "Hangup")

    async def _ctx_queue(self, chan: Channel) -> None:
        """``[cc-queue]``: a call transferred to a queue goes back to the service's ACD over FastAGI."""
        queue = chan.exten
        self.newexten(chan, 1, "NoOp", f"Transfer to queue {queue}")
        url = f"agi://{self.cfg.agi_host}:{self.cfg.agi_port}/queue?queue={queue}&linkedid={chan.linkedid}"
        self.newexten(chan, 2, "AGI", url)
        status = "FAILURE" if self.agi_runner is None else await self.agi_runner(chan, url, [])
        self.set_var(chan, "AGISTATUS", status)
        if chan.goto is None and not chan.hangup_requested:
            result = chan.vars.get("CC_IVR_RESULT", "")
            self.newexten(chan, 3, "GotoIf", f'$["{result}" != "done"]?cc-failsafe,s,1')
            self.newexten(chan, 4, "Hangup")

    async def _ctx_outbound(self, chan: Channel) -> None:
        self.newexten(chan, 1, "NoOp", f"Outbound call to {chan.exten}")
        self.newexten(chan, 2, "Dial", "Local/idle@customer-sim/n,30")
        await self.dial(chan, "Local/idle@customer-sim/n,30")
        if not chan.interrupted:
            self.newexten(chan, 3, "Hangup")
