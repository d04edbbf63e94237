"""The demo's simulated people: the agents behind the simulated phones.

The simulator plays the PBX and the phones (ring, answer most calls, miss one now and then); it knows
nothing of the ACD. The *person* at each phone lives here and works the ACD the way a human clicking in
the agent console does, through the service's public ACD API (``AcdService.login / pause / unpause /
logout / agent_view``, in-process):

* back from a ``missed_call`` pause after ``missed_back`` seconds (a person notices and clicks "Available");
* back from any other pause (a supervisor's, say) after ``other_back`` seconds;
* a break now and then (``pause(reason="break")``, about every ``break_every`` seconds, for ``break_len``),
  taken when the agent is free (available), never in the middle of a call;
* shifts: after ``shift`` seconds of work the agent logs out once idle and a colleague's "handover" brings
  them back after ``shift_gap``; the first shifts are staggered so hand-overs never coincide;
* logged out by someone else: logs in again after ``shift_gap``;
* in wrap-up, sets a disposition code for the call after ``code_after`` seconds (a person picks one of the
  queue's codes in the console), so a queue that requires a code (``config/console.yaml``) never holds
  the agent in wrap-up for ever.

All durations are *simulated* seconds: with ``speed`` > 1 (a fast-forwarded test) the person's clock runs
as fast as the simulator's. The loop polls each agent every ``check`` simulated seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from callcenter.domain.errors import CallcenterError

log = logging.getLogger(__name__)


class AgentApi(Protocol):
    """The part of ``AcdService`` a person uses (what the agent console's buttons call)."""

    async def login(self, agent: str, *, by: str = ...) -> Any: ...
    async def logout(self, agent: str, *, by: str = ...) -> Any: ...
    async def pause(self, agent: str, reason: str, *, by: str = ...) -> Any: ...
    async def unpause(self, agent: str, *, by: str = ...) -> Any: ...
    async def agent_view(self, agent: str) -> dict[str, Any]: ...


class _Codes(Protocol):
    @property
    def codes(self) -> Sequence[str]: ...


class _DispositionRules(Protocol):
    def for_queue(self, queue: str | None) -> _Codes: ...


class ConsoleApi(Protocol):
    """The part of ``ConsoleService`` a person uses in wrap-up (the console's disposition picker)."""

    @property
    def rules(self) -> _DispositionRules: ...

    async def set_disposition(self, agent: str, data: Mapping[str, Any], *, author: str) -> Any: ...


@dataclass(frozen=True, slots=True)
class PersonProfile:
    """How the demo's people work (simulated seconds)."""

    missed_back: tuple[float, float] = (15.0, 60.0)
    other_back: tuple[float, float] = (120.0, 480.0)
    break_every: float = 5400.0  # mean time between breaks (exponential)
    break_len: tuple[float, float] = (180.0, 480.0)
    shift: float = 4 * 3600.0
    shift_gap: tuple[float, float] = (60.0, 240.0)
    code_after: tuple[float, float] = (3.0, 12.0)  # wrap-up: the disposition code is picked after this
    check: float = 2.0


@dataclass(slots=True)
class _Person:
    agent: str
    break_at: float
    shift_end: float
    back_at: float | None = None  # when to come back from the current pause / log-out
    my_break: bool = False
    off_shift: bool = False
    coded: str = ""  # the call whose disposition code this person set last
    code_at: float | None = None
    counts: dict[str, int] = field(
        default_factory=lambda: {"unpaused": 0, "breaks": 0, "logouts": 0, "logins": 0, "codes": 0}
    )


class DemoAgents:
    """Drives the people of ``agents`` until ``stop`` is set (``run`` is the owned task's body)."""

    def __init__(
        self,
        acd: AgentApi,
        agents: Sequence[str],
        *,
        profile: PersonProfile | None = None,
        speed: float = 1.0,
        seed: int = 1,
        clock: Callable[[], float] | None = None,
        console: ConsoleApi | None = None,
    ) -> None:
        self.acd = acd
        self.console = console
        self.profile = profile or PersonProfile()
        self.speed = speed
        self.rng = random.Random(f"{seed}/people")
        self._clock = clock
        now = self.now() if clock is not None else 0.0
        p = self.profile
        n = max(1, len(agents))
        self.people = {
            a: _Person(
                a,
                break_at=now + self.rng.expovariate(1.0 / p.break_every),
                shift_end=now + p.shift * (i + 1) / n,  # staggered hand-overs
            )
            for i, a in enumerate(agents)
        }

    def now(self) -> float:
        """Simulated seconds (the loop's clock times ``speed``)."""
        if self._clock is not None:
            return self._clock()
        return asyncio.get_running_loop().time() * self.speed

    def stats(self) -> dict[str, int]:
        total: dict[str, int] = {}
        for person in self.people.values():
            for k, v in person.counts.items():
                total[k] = total.get(k, 0) + v
        return total

    async def run(self, stop: asyncio.Event) -> None:
        if self._clock is None:
            self._rebase()
        while not stop.is_set():
            for person in self.people.values():
                try:
                    await self.step(person)
                except CallcenterError as exc:  # a refused click: try again at the next check
                    log.info("demo agent action refused", extra={"agent": person.agent, "error": str(exc)})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.profile.check / self.speed)

    def _rebase(self) -> None:
        now, p = self.now(), self.profile
        for i, person in enumerate(self.people.values()):
            person.break_at = now + self.rng.expovariate(1.0 / p.break_every)
            person.shift_end = now + p.shift * (i + 1) / max(1, len(self.people))

    def _later(self, span: tuple[float, float]) -> float:
        return self.now() + self.rng.uniform(*span)

    async def step(self, person: _Person) -> None:
        """One look at the agent's state and, maybe, one click."""
        a, p, now = person.agent, self.profile, self.now()
        view = await self.acd.agent_view(a)
        state, reason = str(view.get("state")), str(view.get("reason") or "")
        if state == "logged_out":
            if person.back_at is None:
                person.back_at = self._later(p.shift_gap)
            if now >= person.back_at:
                await self.acd.login(a, by=a)
                person.counts["logins"] += 1
                person.back_at, person.off_shift, person.my_break = None, False, False
                person.shift_end = now + p.shift
            return
        if now >= person.shift_end:
            person.off_shift = True  # end of the shift: log out once free (never in the middle of a call)
        if person.off_shift and state in ("available", "paused"):
            await self.acd.logout(a, by=a)
            person.counts["logouts"] += 1
            person.back_at = self._later(p.shift_gap)
            return
        if state == "paused":
            if person.back_at is None:
                if reason == "missed_call":
                    person.back_at = self._later(p.missed_back)
                elif person.my_break:
                    person.back_at = self._later(p.break_len)
                else:
                    person.back_at = self._later(p.other_back)
            if now >= person.back_at:
                await self.acd.unpause(a, by=a)
                person.counts["unpaused"] += 1
                person.back_at, person.my_break = None, False
            return
        person.back_at = None
        if state == "wrapup":
            await self._code(person, view, now)
            return
        if state == "available" and now >= person.break_at and not view.get("pending_pause"):
            await self.acd.pause(a, "break", by=a)
            person.counts["breaks"] += 1
            person.my_break = True
            person.break_at = now + self.rng.expovariate(1.0 / p.break_every)

    async def _code(self, person: _Person, view: Mapping[str, Any], now: float) -> None:
        """In wrap-up: pick a code for the call once, a few seconds in (as a person does)."""
        call_id = str(view.get("call_id") or "")
        if self.console is None or not call_id or person.coded == call_id:
            return
        if person.code_at is None:
            person.code_at = self._later(self.profile.code_after)
        if now < person.code_at:
            return
        person.coded, person.code_at = call_id, None  # once per call, even when the click is refused
        codes = self.console.rules.for_queue(str(view.get("queue") or "") or None).codes
        if codes:
            data = {"call_id": call_id, "code": self.rng.choice(list(codes))}
            await self.console.set_disposition(person.agent, data, author=person.agent)
            person.counts["codes"] += 1
