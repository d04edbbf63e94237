"""The supervisors' live monitoring sessions (listen / whisper / barge), for the wallboard's list with a
stop and a mode switch.

A session starts as *pending* when the Originate to the supervisor's phone is sent, becomes *active* on
the ``ChanSpyStart`` whose spyee is the agent's channel (the spyer channel is then known: that is what a
stop hangs up, fact 36), and ends on ``ChanSpyStop``, on the spyer channel's hangup, on a failed
``OriginateResponse``, or when a pending one is older than the Originate timeout plus a margin.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from callcenter.domain import events as ev

PENDING_TTL = 45.0  # seconds: the Originate timeout (30 s) and a margin


@dataclass(frozen=True, slots=True)
class MonitorSession:
    id: str
    agent: str
    mode: str
    by: str  # the supervisor's username
    phone: str
    channel: str  # the spied channel, or a channel prefix (``PJSIP/1001-``)
    action_id: str
    started_at: float
    spyer: str | None = None  # the spyer channel once ChanSpyStart came

    @property
    def active(self) -> bool:
        return self.spyer is not None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "agent": self.agent,
            "mode": self.mode,
            "by": self.by,
            "phone": self.phone,
            "started_at": self.started_at,
            "state": "active" if self.active else "ringing",
        }


class MonitorSessions:
    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._sessions: dict[str, MonitorSession] = {}
        self._ids = itertools.count(1)

    def add(
        self, *, agent: str, mode: str, by: str, phone: str, channel: str, action_id: str
    ) -> MonitorSession:
        session = MonitorSession(
            f"m{next(self._ids)}", agent, mode, by, phone, channel, action_id, self._clock()
        )
        self._sessions[session.id] = session
        return session

    def get(self, session_id: str) -> MonitorSession | None:
        self._expire()
        return self._sessions.get(session_id)

    def remove(self, session_id: str) -> None:
        self._sessions.pop(session_id, None)

    def list(self) -> list[MonitorSession]:
        self._expire()
        return sorted(self._sessions.values(), key=lambda s: s.started_at)

    def _expire(self) -> None:
        cutoff = self._clock() - PENDING_TTL
        for s in [s for s in self._sessions.values() if not s.active and s.started_at < cutoff]:
            del self._sessions[s.id]

    def observe(self, event: ev.PbxEvent) -> bool:
        """Follow the PBX; True when the list changed."""
        if isinstance(event, ev.SpyEvent) and event.spyer is not None:
            spyer = event.spyer.channel
            if not event.started:
                return self._drop(lambda s: s.spyer == spyer)
            spyee = event.spyee.channel if event.spyee is not None else ""
            for s in self.list():
                if s.spyer is None and spyee.startswith(s.channel):
                    self._sessions[s.id] = replace(s, spyer=spyer)
                    return True
            return False
        if isinstance(event, ev.ChannelHungUp):
            channel = event.chan.channel
            return self._drop(lambda s: s.spyer == channel)
        if isinstance(event, ev.OriginateResult) and not event.success:
            action_id = event.action_id
            return self._drop(lambda s: s.action_id == action_id and not s.active)
        return False

    def _drop(self, match: Callable[[MonitorSession], bool]) -> bool:
        gone = [s.id for s in self._sessions.values() if match(s)]
        for session_id in gone:
            del self._sessions[session_id]
        return bool(gone)
