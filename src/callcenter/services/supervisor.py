"""Supervisor actions from the wallboard: monitor an agent's call, change an agent's state; all audited.

Monitoring is Asterisk's ChanSpy started by AMI ``Originate`` to the supervisor's phone (as recorded in
``pbx-traces/chanspy.ami``)::

    Originate Channel=<supervisor phone> Application=ChanSpy Data=<agent channel>,qE[w|B]

``q`` quiet (no beep / channel name announcement), ``E`` end when the spied channel hangs up; ``w``
whisper (the agent hears the supervisor, the customer does not), ``B`` barge (both hear the
supervisor). The agent channel is the live leg the tracker knows for the agent (for a ``Local/`` agent
the ``;1`` half bridged to the customer, by the console's rule: ``domain/agent_channel``). The
supervisor's phone: ``supervisor_phones`` / ``default_supervisor_phone`` in ``config/wallboard.yaml``,
else the phone the request names (checked against a strict pattern).

Agent states go through ``AcdService`` (pause with a reason, make available, log in, log out) with
``by="supervisor:<username>"``. Every action, refused or failed ones included, is written to the audit
log before the answer.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from enum import StrEnum
from typing import Any

from callcenter.domain.acd import IN_CALL, AcdError, AgentState
from callcenter.domain.agent_channel import agent_call_leg
from callcenter.domain.audit import AuditEntry
from callcenter.domain.errors import CallcenterError, NotFound, PbxError
from callcenter.domain.users import User
from callcenter.ports import AuditLog, PbxControl
from callcenter.services.acd import AcdService
from callcenter.services.kpi_config import KpiConfig
from callcenter.services.tracker import CallTracker

log = logging.getLogger(__name__)

PHONE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9/@._:+-]{0,79}$")


class MonitorMode(StrEnum):
    LISTEN = "listen"
    WHISPER = "whisper"
    BARGE = "barge"

    @property
    def options(self) -> str:
        return {"listen": "qE", "whisper": "qEw", "barge": "qEB"}[self.value]


class AgentAction(StrEnum):
    PAUSE = "pause"
    UNPAUSE = "unpause"  # make available
    LOGIN = "login"
    LOGOUT = "logout"


class SupervisorError(AcdError):
    """A supervisor action that cannot be done now (no phone, agent not on a call)."""


def agent_channel_finder(tracker: CallTracker) -> Callable[[str], str | None]:
    """The live channel of an agent's phone leg, from the tracker (None when they have none): the
    bridged half of a ``Local/`` agent, by the rule the console uses too (``domain/agent_channel``)."""

    def find(agent: str) -> str | None:
        legs = [leg.record() for leg in tracker.legs.values() if leg.agent == agent and leg.ended_at is None]
        leg = agent_call_leg(legs, lambda leg: tracker.bridge_peers(leg.uniqueid))
        return leg.channel if leg is not None else None

    return find


def spy_prefix(dial_target: str) -> str:
    """The ChanSpy channel prefix of an agent's dial string: ``PJSIP/1001`` → ``PJSIP/1001-``,
    ``Local/1001@agents/n`` → ``Local/1001@agents-`` (a Local dial string's ``/n`` is not in the name)."""
    target = dial_target.split(",", 1)[0]
    if target.startswith("Local/"):
        target = re.sub(r"/[A-Za-z]+$", "", target)
    return target + "-"


class SupervisorService:
    def __init__(
        self,
        acd: AcdService,
        *,
        pbx: PbxControl | None,
        audit: AuditLog | None,
        config: KpiConfig | None = None,
        channel_of: Callable[[str], str | None] = lambda agent: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.acd = acd
        self.pbx = pbx
        self.audit_log = audit
        self.config = config or KpiConfig()
        self.channel_of = channel_of
        self._clock = clock

    async def _audit(self, user: User, action: str, target: str, ok: bool, detail: dict[str, Any]) -> None:
        entry = AuditEntry(
            at=self._clock(),
            actor=user.username,
            role=user.role.value,
            action=action,
            target=target,
            ok=ok,
            detail=detail,
        )
        log.info(
            "supervisor action",
            extra={"actor": user.username, "action": action, "agent": target, "ok": ok, **detail},
        )
        if self.audit_log is not None:
            await self.audit_log.save_audit(entry)

    def phone_for(self, user: User, requested: str | None) -> str:
        configured = self.config.phone_of(user.username)
        if configured:
            return configured
        if requested and PHONE_RE.match(requested):
            return requested
        raise SupervisorError(
            "no phone to call: set supervisor_phones in config/wallboard.yaml or give a valid phone"
        )

    async def monitor(
        self, user: User, agent: str, mode: MonitorMode, phone: str | None = None
    ) -> dict[str, Any]:
        action = f"monitor.{mode.value}"
        detail: dict[str, Any] = {"mode": mode.value}
        try:
            if agent not in self.acd.agents:
                raise NotFound(f"no agent {agent!r}")
            detail["phone"] = target_phone = self.phone_for(user, phone)
            status = await self.acd.state.get_agent(agent)
            channel = self.channel_of(agent)
            if channel is None and (status is None or status.state not in IN_CALL):
                raise SupervisorError(f"agent {agent} is not on a call")
            if channel is None:  # ChanSpy matches a channel prefix: PJSIP/1001-, Local/1001@agents-
                channel = spy_prefix(self.acd.agents[agent].dial_target())
            detail["channel"] = channel
            if self.pbx is None or not self.pbx.connected:
                raise PbxError("the PBX is not connected")
            data = f"{channel},{mode.options}"
            action_id = await self.pbx.originate(
                target_phone,
                application="ChanSpy",
                data=data,
                caller_id=f'"Supervisor {user.username[:20]}" <{agent}>',
                timeout_ms=30_000,
                variables={"CC_SPY_AGENT": agent, "CC_SPY_MODE": mode.value, "CC_SPY_BY": user.username},
            )
            detail["action_id"] = action_id
        except CallcenterError as exc:
            detail["error"] = str(exc)
            await self._audit(user, action, agent, False, detail)
            raise
        await self._audit(user, action, agent, True, detail)
        return {"ok": True, "agent": agent, "mode": mode.value, **detail}

    async def set_agent_state(
        self, user: User, agent: str, action: AgentAction, reason: str = ""
    ) -> dict[str, Any]:
        by = f"supervisor:{user.username}"
        detail: dict[str, Any] = {"reason": reason} if reason else {}
        try:
            if action is AgentAction.PAUSE:
                status = await self.acd.pause(agent, reason or "other", by=by)
            elif action is AgentAction.UNPAUSE:
                status = await self.acd.unpause(agent, by=by)
            elif action is AgentAction.LOGIN:
                status = await self.acd.login(agent, by=by)
            else:
                status = await self.acd.logout(agent, by=by)
        except CallcenterError as exc:
            detail["error"] = str(exc)
            await self._audit(user, f"agent.{action.value}", agent, False, detail)
            raise
        detail["state"] = status.state.value
        if status.pending_pause:
            detail["pending_pause"] = status.pending_pause
        await self._audit(user, f"agent.{action.value}", agent, True, detail)
        return {
            "ok": True,
            "agent": agent,
            "state": status.state.value,
            "pending_pause": status.pending_pause or None,
        }

    async def entries(
        self, since: float | None = None, actor: str | None = None, limit: int = 200
    ) -> list[dict[str, Any]]:
        if self.audit_log is None:
            return []
        rows = await self.audit_log.list_audit(since=since, actor=actor, limit=limit)
        return [
            {
                "id": e.id,
                "at": e.at,
                "actor": e.actor,
                "role": e.role,
                "action": e.action,
                "target": e.target,
                "ok": e.ok,
                "detail": e.detail,
            }
            for e in rows
        ]


__all__ = [
    "AgentAction",
    "AgentState",
    "MonitorMode",
    "SupervisorError",
    "SupervisorService",
    "agent_channel_finder",
]
