"""Originate (AMI) and the transfers AMI actions start (Redirect, BlindTransfer, Atxfer) in the
simulated PBX. Mixed into ``Pbx``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from callcenter.sim.classes import EV_CALL, EV_DTMF
from callcenter.sim.model import _DIAL_RE, CallStat, Channel, OriginateResult, _float, _prompt_seconds

if TYPE_CHECKING:
    from callcenter.sim.outbound import OutboundFlows as _Base
else:
    _Base = object


class CallFlows(_Base):
    # -- Originate -------------------------------------------------------------------------------
    async def originate(
        self,
        channel: str,
        *,
        context: str = "",
        exten: str = "",
        priority: int = 1,
        application: str = "",
        data: str = "",
        cid_num: str = "",
        cid_name: str = "",
        answer_timeout: float = 30.0,
        variables: list[tuple[str, str]] | None = None,
        chan_id: str | None = None,
        other_id: str | None = None,
        call: CallStat | None = None,
    ) -> OriginateResult:
        m = _DIAL_RE.match(channel)
        if m is None:
            return OriginateResult(False, 0, None, channel)
        tech, rest = m.group("tech"), m.group("rest")
        variables = variables or []
        self.processed_calls += 1
        if tech.lower() == "local":
            spec = rest.split("/", 1)[0]
            if "@" not in spec:
                return OriginateResult(False, 0, None, channel)
            lexten, lcontext = spec.split("@", 1)
            one, two = self.new_local(lexten, lcontext, None, chan_id, other_id)
            one.call = two.call = call
            if self.lookup(lcontext, lexten) is None:
                one.hangup_requested = True
                self.finish(two, 0)
                self.finish(one, 0)
                return OriginateResult(False, 0, None, channel)
            for name, value in variables:
                self.set_var(one, name, value)
            for name, value in reversed(variables):
                self.set_var(two, name, value)
            if cid_num or cid_name:
                self.set_callerid(one, cid_num, cid_name)
                self.set_connected(one, cid_num, cid_name)
                self.set_callerid(two, cid_num, cid_name)
                self.set_connected(two, cid_num, cid_name)
            self.local_bridge_event(one, two)
            self.ev2("DialBegin", None, one, f"DialString: {rest}\r\n")
            self.start_dialplan(two)
        else:
            endpoint = rest.split("/", 1)[0]
            if self.is_trunk(endpoint) and not application:
                if self.lookup(context, exten) is None:
                    return OriginateResult(False, 0, None, channel)
                return await self.originate_trunk(
                    channel,
                    endpoint,
                    context=context,
                    exten=exten,
                    priority=priority,
                    cid_num=cid_num,
                    cid_name=cid_name,
                    answer_timeout=answer_timeout,
                    variables=variables,
                    chan_id=chan_id,
                    call=call,
                )
            if endpoint not in self.agent_set:
                return OriginateResult(False, 0, None, channel)
            one = self.new_pjsip(endpoint, None, chan_id)
            one.agent = endpoint
            one.call = call
            self.claim_agent(endpoint)
            for name, value in variables:
                self.set_var(one, name, value)
            if cid_num or cid_name:
                self.set_callerid(one, cid_num, cid_name)
                self.set_connected(one, cid_num, cid_name)
            self.ev2("DialBegin", None, one, f"DialString: {endpoint}\r\n")
            two = None
            self.spawn(self._phone(one))
        deadline = self.clock.mono() + answer_timeout
        ringing_sent = False
        while True:
            if one.state == 5 and not ringing_sent:
                ringing_sent = True
                self.ev2("DialState", None, one, "DialStatus: RINGING\r\n")
            if one.state == 6:
                break
            if one.hangup_requested or one.gone:
                reason = 5 if one.busy else 1
                if not one.gone:
                    self.ev2("DialEnd", None, one, f"DialStatus: {'BUSY' if one.busy else 'CHANUNAVAIL'}\r\n")
                    self.finish(one, one.hangup_cause)
                return OriginateResult(False, reason, None, channel)
            left = deadline - self.clock.mono()
            if left <= 0:
                one.cdr_records.clear()
                self.finish(one, 19)
                return OriginateResult(False, 3, None, channel)
            await self.nap(one, left)
        self.ev2("DialEnd", None, one, "DialStatus: ANSWER\r\n")
        if one.tech == "PJSIP":
            one.dialer = None
        if application:
            one.app, one.appdata = application, data
            one.kind = "app"
            self.spawn(self._run_app(one, application, data))
        else:
            one.context, one.exten, one.priority = context, exten, priority
            one.touch()
            self.start_dialplan(one)
        return OriginateResult(True, 4, one, channel)

    async def _run_app(self, chan: Channel, app: str, data: str) -> None:
        try:
            a = app.lower()
            if a == "wait":
                await self.wait_app(chan, _float(data, 0.0))
            elif a == "chanspy":
                await self._chanspy(chan, data)
            elif a in ("playback", "background"):
                await self.wait_app(chan, _prompt_seconds(data))
            elif a == "musiconhold":
                self.moh_start(chan, data.split(",")[0] or "default")
                secs = data.split(",")[1] if "," in data else ""
                await self.wait_app(chan, _float(secs, 3600.0))
                self.moh_stop(chan)
            else:
                await self.wait_app(chan, 0.0)
        finally:
            if not chan.gone:
                self.finish(chan, chan.hangup_cause if chan.hangup_cause is not None else 0)

    async def _chanspy(self, chan: Channel, data: str) -> None:
        target_name = data.split(",")[0]
        await self.wait_app(chan, 0.1)
        spyee = self.channels.get(target_name)
        if spyee is None or chan.interrupted:
            return
        if self.sink.listening:
            self.raw(
                EV_CALL,
                "Event: ChanSpyStart\r\nPrivilege: call,all\r\n"
                f"{chan.snap('Spyer')}{spyee.snap('Spyee')}\r\n",
            )
        while not chan.interrupted and not spyee.gone:
            spyee.dialer = spyee.dialer  # nothing to wire: the spy just waits
            await self.nap(chan, 0.5)
        if self.sink.listening:
            self.raw(
                EV_CALL,
                f"Event: ChanSpyStop\r\nPrivilege: call,all\r\n{chan.snap('Spyer')}{spyee.snap('Spyee')}\r\n",
            )

    # -- transfers (AMI) -------------------------------------------------------------------------
    def redirect(self, chan: Channel, context: str, exten: str, priority: int) -> bool:
        if self.lookup(context, exten) is None:
            return False
        self.goto(chan, context, exten, priority)
        return True

    def blind_transfer(self, transferer: Channel, context: str, exten: str) -> str | None:
        """``ast_bridge_transfer_blind`` (fact 33). Not in a bridge (the ``;2`` half of a Local agent):
        ``BlindTransfer`` ``Result: Invalid`` and "Transfer invalid". Else ``Result: Success`` and the
        transferee leaves for context,exten,1 (not checked: a missing context hangs it up there);
        app_dial then hangs up the transferer's side. Returns the error, or None on success."""
        bridge = transferer.bridge
        others = [c for c in bridge.channels if c is not transferer] if bridge is not None else []
        if bridge is None or not others:
            self.raw(
                EV_CALL,
                "Event: BlindTransfer\r\nPrivilege: call,all\r\nResult: Invalid\r\n"
                f"{transferer.snap('Transferer')}IsExternal: Yes\r\n"
                f"Context: {context}\r\nExtension: {exten}\r\n\r\n",
            )
            return "Transfer invalid"
        transferee = others[0]
        self.ev("Unhold", transferer)
        self.raw(
            EV_CALL,
            "Event: BlindTransfer\r\nPrivilege: call,all\r\nResult: Success\r\n"
            f"{transferer.snap('Transferer')}{transferee.snap('Transferee')}{bridge.block()}"
            f"IsExternal: Yes\r\nContext: {context}\r\nExtension: {exten}\r\n\r\n",
        )
        self.goto(transferee, context, exten, 1)
        return None

    def goto(self, chan: Channel, context: str, exten: str, priority: int) -> None:
        """Async goto without an extension check (a blind transfer's transferee)."""
        chan.goto = (context, exten, priority)
        self.poke(chan)
        if chan.bridge is not None:
            for other in chan.bridge.channels:
                self.poke(other)

    async def atxfer(self, transferer: Channel, context: str, exten: str) -> None:
        """Attended transfer, simplified: hold the transferee, dial the target from the transferer's
        side; when the transferer hangs up, the target joins the transferee's bridge."""
        bridge = transferer.bridge
        if bridge is None:
            return
        others = [c for c in bridge.channels if c is not transferer]
        if not others:
            return
        transferee = others[0]
        # features.conf atxfer: the injected *2 and the digits show as DTMFEnd on the transferer
        for i, digit in enumerate("*2" + exten):
            self.ev(
                "DTMFEnd",
                transferer,
                f"Digit: {digit}\r\nDurationMs: 100\r\nDirection: Received\r\n",
                "dtmf,all",
                EV_DTMF,
            )
            if i == 1:
                self.ev("Hold", transferer)
        self.moh_start(transferee)
        one, two = self.new_local(exten, context, transferer.linkedid)
        one.no_cdr = True
        self.inherit_vars(transferer, one)
        self.set_callerid(one, transferer.cid_num, transferer.cid_name)
        self.set_callerid(two, transferer.cid_num, transferer.cid_name)
        self.local_bridge_event(one, two)
        self.ev2("DialBegin", None, one, f"DialString: {exten}@{context}\r\n")
        self.start_dialplan(two)
        while not (one.state == 6 or one.interrupted or transferer.interrupted):
            await self.nap(one, 30.0)
        if one.state != 6 or one.interrupted:
            self.ev2("DialEnd", None, one, "DialStatus: NOANSWER\r\n")
            self.finish(one, 0)
            self.moh_stop(transferee)
            self.ev("Unhold", transferer)
            return
        self.ev2("DialEnd", None, one, "DialStatus: ANSWER\r\n")
        second = self.bridge_create()
        # the caller's Dial swaps the target in when the transferer hangs up (see dial())
        transferer.replaced_by = (one, second)
        one.dialer = transferer.dialer
        while not (transferer.gone or one.interrupted or transferee.interrupted):
            await self.nap(one, None)
        if transferer.replaced_by is not None:
            # transfer abandoned (target or transferee gone first)
            transferer.replaced_by = None
            self.bridge_destroy(second)
            self.moh_stop(transferee)
            if not one.gone:
                self.request_hangup(one, 16)
                self.finish(one)
