"""AMI call-control actions that follow Asterisk 22.10.1's answers for Local agent halves
(facts 30-33): BridgeList, and the parts of Redirect/BlindTransfer that depend on which half of a
``Local/...`` pair the client names. Mixed into ``AmiServer``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from callcenter.sim.amiproto import Action, Result, resp

if TYPE_CHECKING:
    from callcenter.sim.ami import AmiSession
    from callcenter.sim.pbx import Pbx


class CallActions:
    pbx: Pbx

    def act_blindtransfer(self, s: AmiSession, a: Action) -> Result:
        """manager.c ``action_blind_transfer`` + ``ast_bridge_transfer_blind`` (fact 33): the channel
        must be in a bridge (the ``;1`` half of a Local agent, not ``;2``): else ``Transfer invalid``
        and a ``BlindTransfer`` event with ``Result: Invalid``. The target context is not checked: a
        missing one is a success, and the transferee is hung up when it gets there."""
        name, exten = a.get("Channel"), a.get("Exten")
        if not name:
            return resp(a.aid, "Error", "No channel specified")
        if not exten:
            return resp(a.aid, "Error", "No extension specified")
        pbx = self.pbx
        chan = pbx.find_channel(name)
        if chan is None:
            return resp(a.aid, "Error", "Channel specified does not exist")
        context = a.get("Context") or chan.context
        bridged = chan.bridge is not None and len(chan.bridge.channels) > 1
        s.write(
            resp(a.aid, "Success", "Transfer succeeded")
            if bridged
            else resp(a.aid, "Error", "Transfer invalid")
        )
        pbx.blind_transfer(chan, context, exten)
        return ""

    def act_bridgelist(self, s: AmiSession, a: Action) -> Result:
        aid = f"ActionID: {a.aid}\r\n" if a.aid is not None else ""
        want = a.get("BridgeType")
        bridges = self.pbx.bridges()
        if want:
            bridges = [b for b in bridges if want == "basic"]
        parts = [resp(a.aid, "Success", None, "EventList: start\r\nMessage: Bridge listing will follow\r\n")]
        for b in bridges:
            parts.append(f"Event: BridgeListItem\r\n{aid}{b.block()}\r\n")
        parts.append(
            f"Event: BridgeListComplete\r\n{aid}EventList: Complete\r\nListItems: {len(bridges)}\r\n\r\n"
        )
        return "".join(parts)
