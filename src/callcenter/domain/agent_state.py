"""The agent state machine: which changes are allowed and what each one records.

Every change yields the new ``AgentStatus`` (same ``version``: the state port's compare-and-set stores
it as ``version + 1``) and an ``AgentTransition`` with the previous state's duration, for reports.

    logged_out ─login─▶ available ◀──────────── wrap-up ends / unpause / phone idle
                           │  ▲                                   │
                     offer │  │ caller gone / not answered        │
                           ▼  │                                   │
                        ringing ─answer─▶ on_call ⇄ on_hold ─hang-up─▶ wrapup
                           │ ring timeout ─▶ paused(missed_call)
                           └ busy / unreachable ─▶ busy (timed rest)
    paused(reason) ⇄ available; busy (phone in use outside the ACD) ⇄ available; any ─logout─▶ logged_out
"""

from __future__ import annotations

from callcenter.domain.acd import IN_CALL, AgentState, AgentStatus, AgentTransition, InvalidTransition

S = AgentState

ALLOWED: dict[AgentState, frozenset[AgentState]] = {
    S.LOGGED_OUT: frozenset({S.AVAILABLE, S.PAUSED, S.BUSY}),
    S.AVAILABLE: frozenset({S.RINGING, S.PAUSED, S.BUSY, S.LOGGED_OUT}),
    S.RINGING: frozenset({S.ON_CALL, S.AVAILABLE, S.PAUSED, S.BUSY, S.WRAPUP, S.LOGGED_OUT}),
    S.ON_CALL: frozenset({S.ON_HOLD, S.WRAPUP, S.AVAILABLE, S.PAUSED, S.BUSY, S.LOGGED_OUT}),
    S.ON_HOLD: frozenset({S.ON_CALL, S.WRAPUP, S.AVAILABLE, S.PAUSED, S.BUSY, S.LOGGED_OUT}),
    S.WRAPUP: frozenset({S.AVAILABLE, S.PAUSED, S.BUSY, S.LOGGED_OUT}),
    S.PAUSED: frozenset({S.AVAILABLE, S.PAUSED, S.BUSY, S.LOGGED_OUT}),
    S.BUSY: frozenset({S.AVAILABLE, S.PAUSED, S.BUSY, S.LOGGED_OUT}),
}


def allowed(src: AgentState, dst: AgentState) -> bool:
    return dst in ALLOWED[src]


def transition(
    status: AgentStatus,
    to: AgentState,
    at: float,
    *,
    reason: str = "",
    call_id: str | None = None,
    queue: str | None = None,
    until: float = 0.0,
    by: str = "system",
) -> tuple[AgentStatus, AgentTransition]:
    """The status after moving to ``to`` at ``at``. Raises ``InvalidTransition``."""
    src = status.state
    if not allowed(src, to):
        raise InvalidTransition(f"agent {status.agent}: {src.value} → {to.value} is not allowed")
    keep_call = to in IN_CALL or to is S.WRAPUP
    new_call = call_id if call_id is not None else (status.call_id if keep_call else "")
    new_queue = queue if queue is not None else (status.queue if keep_call else "")
    changes: dict[str, object] = {
        "state": to,
        "since": at,
        "reason": reason,
        "call_id": new_call,
        "queue": new_queue,
        "until": until,
    }
    if to is S.LOGGED_OUT:
        changes.update(calls=0, offers=0, pending_pause="", idle_since=0.0)
    elif src is S.LOGGED_OUT:
        changes.update(calls=0, offers=0, idle_since=at, pending_pause="")
    if src in IN_CALL and to not in IN_CALL:
        changes["idle_since"] = at  # the ACD call is over (longest-idle counts from here)
    if src is S.RINGING and to is S.ON_CALL:
        changes["calls"] = status.calls + 1
    if to is S.PAUSED:
        changes["pending_pause"] = ""
    new = status.with_(**changes)
    record = AgentTransition(
        agent=status.agent,
        from_state=src,
        to_state=to,
        at=at,
        duration=max(0.0, at - status.since) if status.since else 0.0,
        reason=reason,
        call_id=new_call or status.call_id,
        queue=new_queue or status.queue,
        by=by,
    )
    return new, record


def after_call(status: AgentStatus, wrapup: float, at: float) -> tuple[AgentState, float, str]:
    """Where an agent goes when an ACD call ends: (state, until, reason).

    Wrap-up > 0: timed wrap-up; < 0: wrap-up until the agent ends it; 0: available, or paused when a
    pause was requested during the call."""
    if wrapup > 0:
        return S.WRAPUP, at + wrapup, ""
    if wrapup < 0:
        return S.WRAPUP, 0.0, ""
    if status.pending_pause:
        return S.PAUSED, 0.0, status.pending_pause
    return S.AVAILABLE, 0.0, ""


def after_wrapup(status: AgentStatus) -> tuple[AgentState, str]:
    if status.pending_pause:
        return S.PAUSED, status.pending_pause
    return S.AVAILABLE, ""
