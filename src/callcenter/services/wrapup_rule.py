"""One wrap-up rule: when a queue requires a disposition, a timed wrap-up (``wrapup: 10`` in
``config/acd.yaml``) does not end on its timer before the code is set; it waits, open-ended, with the
reason ``disposition_required`` (shown on the console and the wallboard), and ends as soon as the agent
sets the code. ``dispositions.timed_wrapup_waits: false`` in ``config/console.yaml`` turns the wait off
(the timer then ends the wrap-up, code or not).

A wrap-up the reconciler started for a call the PBX lost (its channel is gone: a PBX crash or restart,
reason ``call_lost``) is never held: the agent is routable again when the timer ends, as issue 13 asks
(released within 10 s of the PBX's return); the code can still be set afterwards.

The ACD asks ``may_end`` from its wrap-up timer (``AcdService.wrapup_gate``); the console calls
``disposition_set`` after storing a code.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from callcenter.domain.acd import AgentState, AgentStatus
from callcenter.domain.errors import CallcenterError

log = logging.getLogger(__name__)

WAITING_REASON = "disposition_required"
CALL_LOST_REASON = "call_lost"  # set by services/acd_reconcile.py when it releases an agent


class Rules(Protocol):
    @property
    def timed_wrapup_waits(self) -> bool: ...

    def for_queue(self, queue: str | None) -> _Required: ...


class _Required(Protocol):
    @property
    def required(self) -> bool: ...


class Dispositions(Protocol):
    async def get_disposition(self, call_id: str, agent: str) -> object | None: ...


class WrapupEnder(Protocol):
    async def end_wrapup(self, agent: str, *, by: str = ...) -> AgentStatus: ...


class WrapupRule:
    def __init__(
        self, rules: Callable[[], Rules], dispositions: Dispositions | None, acd: WrapupEnder
    ) -> None:
        self._rules = rules  # read each time: the console may be reconfigured
        self.dispositions = dispositions
        self.acd = acd

    async def may_end(self, status: AgentStatus) -> bool:
        """May the wrap-up timer end this agent's wrap-up now?"""
        rules = self._rules()
        if not rules.timed_wrapup_waits or self.dispositions is None or not status.call_id:
            return True
        if status.reason == CALL_LOST_REASON:
            return True
        if not rules.for_queue(status.queue or None).required:
            return True
        try:
            return await self.dispositions.get_disposition(status.call_id, status.agent) is not None
        except CallcenterError as exc:  # the store is down: the timer decides, as without the rule
            log.warning("wrap-up rule: disposition not readable", extra={"error": str(exc)})
            return True

    async def disposition_set(self, status: AgentStatus | None) -> None:
        """A code was just stored: a wrap-up that was waiting for it ends."""
        if status is not None and status.state is AgentState.WRAPUP and status.reason == WAITING_REASON:
            await self.acd.end_wrapup(status.agent, by="timer")
