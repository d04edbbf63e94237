"""``ports.Dialing`` over AMI: the outbound dialer's customer calls (issue 17).

One async ``Originate`` per dial: ``Channel: PJSIP/<number>@<trunk>`` (the operator's trunk endpoint of
``pjsip.conf``, ``CC_TRUNK`` in ``dialplan/extensions.conf``), ``Context: cc-outbound``, ``Exten: s``,
``ChannelId: <call id>`` so the customer's channel has that Uniqueid (and, being the first channel of
its call, that Linkedid) before the PBX answers; the ``OriginateResponse`` of the ActionID tells busy
(Reason 5), congestion (8), no answer (3), failure (0) or answered (4), fact 10.

Preview dialing rings the agent first: ``Originate Channel=<agent endpoint> Context=cc-preview``; the
answered agent channel's FastAGI session ``preview`` dials the customer (``EXEC Dial PJSIP/<number>@
<trunk>``) and reads ``DIALSTATUS``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from callcenter.ports import PbxControl

OUTBOUND_CONTEXT = "cc-outbound"
PREVIEW_CONTEXT = "cc-preview"


def _cid(text: str) -> str:
    return "".join(ch for ch in text if ch not in '"<>\r\n')[:64]


class AmiDialing:
    def __init__(self, control: PbxControl, *, trunk: str = "trunk", context: str = OUTBOUND_CONTEXT) -> None:
        self._control = control
        self.trunk = trunk
        self.context = context

    @property
    def connected(self) -> bool:
        return self._control.connected

    async def dial_customer(
        self,
        number: str,
        *,
        call_id: str,
        action_id: str,
        caller_id: str,
        timeout_ms: int,
        variables: Mapping[str, str],
    ) -> None:
        digits = "".join(ch for ch in number if ch.isdigit() or ch == "+")
        fields: dict[str, str | Sequence[str]] = {
            "Channel": f"PJSIP/{digits}@{self.trunk}",
            "Context": self.context,
            "Exten": "s",
            "Priority": "1",
            "Timeout": str(timeout_ms),
            "Async": "true",
            "ChannelId": call_id,
            "ActionID": action_id,
        }
        if caller_id:
            fields["CallerID"] = f"<{_cid(caller_id)}>"
        if variables:
            fields["Variable"] = [f"{k}={v}" for k, v in variables.items()]
        await self._control.send_action("Originate", fields)

    async def dial_agent_first(
        self,
        endpoint: str,
        *,
        call_id: str,
        action_id: str,
        caller_id: str,
        timeout_ms: int,
        variables: Mapping[str, str],
    ) -> None:
        fields: dict[str, str | Sequence[str]] = {
            "Channel": endpoint,
            "Context": PREVIEW_CONTEXT,
            "Exten": "s",
            "Priority": "1",
            "Timeout": str(timeout_ms),
            "Async": "true",
            "ChannelId": call_id,
            "ActionID": action_id,
        }
        if caller_id:
            fields["CallerID"] = f"<{_cid(caller_id)}>"
        if variables:
            fields["Variable"] = [f"{k}={v}" for k, v in variables.items()]
        await self._control.send_action("Originate", fields)

    def customer_dialstring(self, number: str) -> str:
        digits = "".join(ch for ch in number if ch.isdigit() or ch == "+")
        return f"PJSIP/{digits}@{self.trunk}"

    async def hangup(self, channel: str, cause: int = 16) -> None:
        await self._control.hangup(channel, cause)
