"""A seeded day of a small center, as the store would hold it, and its hand-counted expectations.

Agents work a timeline (login, offers, calls, wrap-up, pauses, missed offers, logout); the answered calls
come from that timeline, abandoned and unanswered calls are added at random. Times are local to
``TZ`` (Europe/Paris, UTC+1 in March): the day starts at 2026-03-10 00:00 local = 2026-03-09 23:00 UTC.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from callcenter.domain.acd import AgentState, AgentTransition
from callcenter.domain.calls import CallDisposition, CallOutcome, CallRecord

TZ = "Europe/Paris"
DAY = "2026-03-10"
DAY_START = datetime(2026, 3, 10, tzinfo=ZoneInfo(TZ)).timestamp()
DAY_END = DAY_START + 86_400
QUEUES = ("sales", "support")
AGENTS = ("1001", "1002", "1003", "1004")
THRESHOLD = 20.0  # the default service-level threshold (no queue configured)


@dataclass
class Seed:
    calls: list[CallRecord] = field(default_factory=list)
    transitions: list[AgentTransition] = field(default_factory=list)
    dispositions: list[CallDisposition] = field(default_factory=list)
    wrapup: dict[str, float] = field(default_factory=dict)  # call id → wrap-up seconds
    # per agent, hand-counted within the day
    staffed: dict[str, float] = field(default_factory=dict)
    handling: dict[str, float] = field(default_factory=dict)
    pause: dict[str, dict[str, float]] = field(default_factory=dict)
    missed: dict[str, int] = field(default_factory=dict)


def seed_day(seed: int = 8) -> Seed:
    rnd = random.Random(seed)
    out = Seed()
    n = 0

    def move(agent: str, state: list[Any], to: AgentState, at: float, **kw: str) -> None:
        """One transition as ``domain.agent_state.transition`` writes it: a row leaving a call's states
        (wrap-up → available, a missed offer's ringing → available) still names that call."""
        prev, since = state[0], float(state[1])
        call_id, queue = kw.pop("call_id", ""), kw.pop("queue", "")
        row_call, row_queue = call_id or state[3], queue or state[4]
        out.transitions.append(
            AgentTransition(agent, prev, to, at, at - since, call_id=row_call, queue=row_queue, **kw)
        )
        lo, hi = max(since, DAY_START), min(at, DAY_END)
        if hi > lo:
            if prev in (AgentState.AVAILABLE, AgentState.RINGING, AgentState.ON_CALL, AgentState.WRAPUP):
                out.staffed[agent] = out.staffed.get(agent, 0.0) + hi - lo
            if prev in (AgentState.ON_CALL, AgentState.WRAPUP):
                out.handling[agent] = out.handling.get(agent, 0.0) + hi - lo
            if prev is AgentState.PAUSED:
                by = out.pause.setdefault(agent, {})
                by[state[2]] = by.get(state[2], 0.0) + hi - lo
        keeps = to in (AgentState.RINGING, AgentState.ON_CALL, AgentState.ON_HOLD, AgentState.WRAPUP)
        state[:] = [to, at, kw.get("reason", ""), row_call if keeps else "", row_queue if keeps else ""]

    for agent in AGENTS:
        state: list[Any] = [AgentState.LOGGED_OUT, DAY_START - 3600 * 5, "", "", ""]
        t = DAY_START + 7.5 * 3600 + rnd.uniform(0, 1800)
        move(agent, state, AgentState.AVAILABLE, t)
        end = DAY_START + 17 * 3600 + rnd.uniform(0, 3600)
        while t < end:
            t += rnd.uniform(5, 240)
            r = rnd.random()
            if r < 0.08:  # a pause
                reason = rnd.choice(("break", "lunch", "=cmd|' /C calc'!A0"))
                move(agent, state, AgentState.PAUSED, t, reason=reason)
                t += rnd.uniform(60, 900)
                move(agent, state, AgentState.AVAILABLE, t)
                continue
            n += 1
            call_id = f"call-{n:05d}"
            queue = rnd.choice(QUEUES)
            wait = rnd.choice((rnd.uniform(0, 20), rnd.uniform(0, 90)))
            move(agent, state, AgentState.RINGING, t, call_id=call_id, queue=queue)
            if r < 0.15:  # a missed offer: rings, nobody picks up; the call goes on elsewhere or is lost
                t += 15
                move(agent, state, AgentState.AVAILABLE, t)
                out.missed[agent] = out.missed.get(agent, 0) + 1
                n -= 1
                continue
            t += rnd.uniform(1, 6)
            answered = t
            arrival = answered - wait
            talk = rnd.uniform(20, 400)
            hold = rnd.choice((0.0, 0.0, rnd.uniform(1, 30)))
            move(agent, state, AgentState.ON_CALL, t, call_id=call_id, queue=queue)
            t += talk + hold
            move(agent, state, AgentState.WRAPUP, t, call_id=call_id, queue=queue)
            wrap = rnd.uniform(3, 60)
            out.wrapup[call_id] = wrap
            t += wrap
            move(agent, state, AgentState.AVAILABLE, t)
            out.calls.append(
                CallRecord(
                    call_id=call_id,
                    started_at=arrival - rnd.uniform(2, 30),
                    caller_num=f"+3314000{n:04d}",
                    queue=queue,
                    agent=agent,
                    queued_at=arrival,
                    offered_at=answered - 3,
                    answered_at=answered,
                    ended_at=answered + talk + hold,
                    wait_seconds=wait,
                    talk_seconds=talk,
                    hold_seconds=hold,
                    outcome=CallOutcome.ANSWERED,
                )
            )
            code = rnd.choice(("sale", "info", "complaint", "@SUM(A1)"))
            out.dispositions.append(CallDisposition(call_id, agent, code, queue=queue, at=t))
        move(agent, state, AgentState.LOGGED_OUT, t + 10)
    # abandoned and unanswered calls, some just outside the day (must not count)
    for i in range(120):
        arrival = rnd.uniform(DAY_START - 1800, DAY_END + 1800)
        wait = rnd.uniform(0, 120)
        outcome = CallOutcome.ABANDONED if rnd.random() < 0.8 else CallOutcome.UNANSWERED
        out.calls.append(
            CallRecord(
                call_id=f"lost-{i:04d}",
                started_at=arrival - rnd.uniform(2, 30),
                caller_num=rnd.choice(("+33140000001", "+33140000002", f"+3315000{i:04d}")),
                queue=rnd.choice(QUEUES),
                queued_at=arrival,
                ended_at=arrival + wait,
                wait_seconds=wait,
                outcome=outcome,
            )
        )
    # calls that never reached a queue: not offered
    out.calls.append(
        CallRecord(
            call_id="ivr-only",
            started_at=DAY_START + 36000,
            ended_at=DAY_START + 36030,
            outcome=CallOutcome.ABANDONED_IN_IVR,
        )
    )
    return out
