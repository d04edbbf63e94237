"""The project's own dialplan (``dialplan/extensions.conf`` + the traces' ``extensions-live.conf``).

``SimConfig(dialplan="project")`` makes the simulated PBX run these contexts where they differ from
the recorder's ``extensions.conf`` of the first traces: ``[incoming]`` hands every DNIS to
``AGI(${CC_AGI}/ivr?flow=main&linkedid=${CHANNEL(linkedid)})`` and goes to ``[cc-failsafe]`` unless
the service set ``CC_IVR_RESULT=done``; agents are ``Local/<ext>@agent-sim/n`` (``;1`` is the dialed
half, bridged to the customer; ``;2`` runs ``[agent-sim]``: Ringing, Wait(RING_<ext>, 1 s), Answer,
Playback(hello-world), Wait(TALK_<ext>, 5 s), Hangup; ``NOANSWER_<ext>=1`` never answers);
``[customer-sim]`` ``caller`` is driven by ``CUST_W1..3``/``CUST_D1..3``/``CUST_HOLD``;
``[supervisor]`` answers any phone extension (ChanSpy by Originate, fact 36).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from callcenter.sim.pbx import Channel, DialplanProgram, Pbx

#: the agent context of the live traces (``extensions-live.conf`` ``[agent-sim]``)
AGENT_SIM_CONTEXT = "agent-sim"
FAILSAFE_CONTEXT = "cc-failsafe"


def _float(text: str | None, default: float) -> float:
    try:
        return float(text) if text not in (None, "") else default
    except ValueError:
        return default


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


class ProjectDialplan:
    """The contexts of the project dialplan that the recorder's dialplan lacks or runs differently."""

    def __init__(self, pbx: Pbx) -> None:
        self.pbx = pbx

    def lookup(self, context: str, exten: str) -> DialplanProgram | None:
        if context == "incoming":
            if exten == "s" or (exten.isdigit() and exten):
                return self.incoming
            return None
        if context == "customer-sim" and exten == "caller":
            return self.customer
        if context == AGENT_SIM_CONTEXT:
            return self.agent if exten.isdigit() and exten else None
        if context == "supervisor":
            if exten == "listen":
                return self.supervisor_listen
            return self.supervisor_phone if exten.isdigit() and exten else None
        if context == FAILSAFE_CONTEXT:
            return self.failsafe if exten == "s" else None
        return None

    # -- [incoming] ------------------------------------------------------------------------------
    async def incoming(self, chan: Channel) -> None:
        pbx = self.pbx
        if chan.exten == "s":
            chan.goto = ("incoming", "8000", 1)
            return
        exten = chan.exten
        pbx.newexten(chan, 1, "NoOp", f"Inbound call DNIS={exten} CLI={chan.cid_num}")
        pbx.newexten(chan, 2, "Set", f"__CC_CALLID={chan.linkedid}")
        pbx.set_var(chan, "__CC_CALLID", chan.linkedid)
        pbx.newexten(chan, 3, "Answer")
        pbx.answer(chan)
        if await pbx.wait_app(chan, 0.02):
            return
        url = (
            f"agi://{pbx.cfg.agi_host}:{pbx.cfg.agi_port}/{pbx.cfg.agi_script}"
            f"?flow=main&linkedid={chan.linkedid}"
        )
        pbx.newexten(chan, 4, "AGI", url)
        status = "FAILURE" if pbx.agi_runner is None else await pbx.agi_runner(chan, url, [])
        pbx.set_var(chan, "AGISTATUS", status)
        if status == "FAILURE" and chan.call is not None:
            chan.call.failed = True
        if chan.goto is not None or chan.hangup_requested:
            return
        if (chan.context, chan.exten) != ("incoming", exten):
            # AGI SET CONTEXT/EXTENSION/PRIORITY (the service's failsafe hand-off): ast_explicit_goto
            chan.goto = (chan.context, chan.exten, max(1, chan.priority))
            return
        result = chan.vars.get("CC_IVR_RESULT", "")
        pbx.newexten(chan, 5, "GotoIf", f'$["{result}" != "done"]?{FAILSAFE_CONTEXT},s,1')
        if result != "done":
            chan.goto = (FAILSAFE_CONTEXT, "s", 1)
            return
        pbx.newexten(chan, 6, "Hangup")

    async def failsafe(self, chan: Channel) -> None:
        """``[cc-failsafe]``: prompt, then ring the first agents (``CC_FAILSAFE_DIAL``), then hang up."""
        pbx = self.pbx
        pbx.newexten(chan, 1, "NoOp", f"IVR failsafe: linkedid={chan.linkedid}")
        pbx.newexten(chan, 2, "Set", "CC_QUEUE=failsafe")
        pbx.set_var(chan, "CC_QUEUE", "failsafe")
        pbx.newexten(chan, 3, "Playback", "pls-hold-while-try")
        if await pbx.wait_app(chan, 2.42):
            return
        agents = pbx.agents[:1]
        if agents:
            data = f"{pbx.agent_dialstring(agents[0])},45,tTU(mixmon)"
            pbx.newexten(chan, 4, "Dial", data)
            await pbx.dial(chan, data)
            if chan.interrupted:
                return
        pbx.newexten(chan, 6, "Hangup")

    # -- [customer-sim] --------------------------------------------------------------------------
    async def customer(self, chan: Channel) -> None:
        pbx = self.pbx
        v = chan.vars
        if "CUST_PATIENCE" in v or "CUST_WAIT" in v or "CUST_DTMF" in v:
            # generated traffic and the first traces' customers keep their own program
            await pbx.ctx_customer(chan)
            return
        d = [v.get(f"CUST_D{i}", "") for i in (1, 2, 3)]
        w = [v.get(f"CUST_W{i}", "") for i in (1, 2, 3)]
        hold = v.get("CUST_HOLD", "")
        pbx.newexten(chan, 1, "NoOp", f"Customer D1={d[0]} D2={d[1]} D3={d[2]} hold={hold}")
        defaults = (2.5, 2.0, 2.0)
        prio = 2
        for i in range(3):
            secs = _float(w[i], defaults[i])
            pbx.newexten(chan, prio, "Wait", _num(secs))
            if await pbx.wait_app(chan, secs):
                return
            pbx.newexten(chan, prio + 1, "ExecIf", f'$["{d[i]}"!=""]?SendDTMF({d[i]},250)')
            if d[i] and chan.peer is not None:
                await pbx.send_dtmf(chan, chan.peer, d[i])
                if chan.interrupted:
                    return
            prio += 2
        secs = _float(hold, 60.0)
        pbx.newexten(chan, 8, "Wait", _num(secs))
        if await pbx.wait_app(chan, secs):
            return
        pbx.newexten(chan, 9, "Hangup")

    # -- [agent-sim] -----------------------------------------------------------------------------
    async def agent(self, chan: Channel) -> None:
        """``;2`` of ``Local/<ext>@agent-sim/n``: the agent's phone."""
        pbx = self.pbx
        ext = chan.exten
        v = chan.vars
        pbx.newexten(chan, 1, "NoOp", f"Agent {ext} ringing")
        pbx.newexten(chan, 2, "Ringing")
        pbx.ringing(chan)
        noanswer = v.get(f"NOANSWER_{ext}", "")
        pbx.newexten(chan, 3, "GotoIf", f'$["{noanswer}" = "1"]?never')
        if noanswer == "1":
            pbx.newexten(chan, 9, "Wait", "300")
            if await pbx.wait_app(chan, 300.0):
                return
            pbx.newexten(chan, 10, "Hangup")
            return
        ring = _float(v.get(f"RING_{ext}"), 1.0)
        pbx.newexten(chan, 4, "Wait", _num(ring))
        if await pbx.wait_app(chan, ring):
            return
        pbx.newexten(chan, 5, "Answer")
        pbx.answer(chan)
        pbx.newexten(chan, 6, "Playback", "hello-world")
        if await pbx.wait_app(chan, 1.4):
            return
        pbx.set_var(chan, "PLAYBACKSTATUS", "SUCCESS")
        talk = _float(v.get(f"TALK_{ext}"), 5.0)
        pbx.newexten(chan, 7, "Wait", _num(talk))
        if await pbx.wait_app(chan, talk):
            return
        pbx.newexten(chan, 8, "Hangup")

    # -- [supervisor] ----------------------------------------------------------------------------
    async def supervisor_listen(self, chan: Channel) -> None:
        pbx = self.pbx
        pbx.newexten(chan, 1, "Answer")
        pbx.answer(chan)
        secs = _float(chan.vars.get("SPY_SECS"), 8.0)
        pbx.newexten(chan, 2, "Wait", _num(secs))
        if await pbx.wait_app(chan, secs):
            return
        pbx.newexten(chan, 3, "Hangup")

    async def supervisor_phone(self, chan: Channel) -> None:
        """The supervisor's phone extension (``Local/2001@supervisor/n``): answers, waits 20 s."""
        pbx = self.pbx
        pbx.newexten(chan, 1, "Answer")
        pbx.answer(chan)
        pbx.newexten(chan, 2, "Wait", "20")
        if await pbx.wait_app(chan, 20.0):
            return
        pbx.newexten(chan, 3, "Hangup")
