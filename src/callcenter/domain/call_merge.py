"""Merging a call's stored record with what the PBX shows now (pure): for a call resumed after a service
restart or continued by a later PBX call (``CallTracker.restore``), and the final record of a stored open
call that ended while the service was down (``CallTracker.close_stale``). The rules are documented under
"Resume" in ``services/tracker``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Container

from callcenter.domain.call_model import CUSTOMER_SIDE, LiveCall, LiveLeg, LiveOffer, last_seen
from callcenter.domain.calls import CallOutcome, CallRecord, HangupSide


def merge_stored(call: LiveCall, stored: CallRecord, live_legs: Container[str]) -> None:
    """Stored state into a resumed call. Order-independent with the live events applied since the
    resync: times keep the earliest / first known (a time the snapshot only estimated yields to the
    stored one), descriptive fields the live value when known, talk/hold add the pre-restart part."""
    call.started_at = min(call.started_at, stored.started_at)
    for name in ("ivr_at", "queued_at", "offered_at", "answered_at"):
        old = getattr(stored, name)
        if old is not None and (getattr(call, name) is None or name in call.estimated):
            setattr(call, name, old)
            call.estimated.discard(name)
    if not call.caller_num:
        call.caller_num, call.caller_name = stored.caller_num, stored.caller_name or call.caller_name
    if not call.dnis:
        call.dnis = stored.dnis
    if (call.direction == "internal" or call.continues) and stored.direction:
        call.direction = stored.direction
    call.queue = call.queue or stored.queue
    call.agent = call.agent or stored.agent
    call.recording_file = call.recording_file or stored.recording_file
    if call.hangup_cause is None:
        call.hangup_cause = stored.hangup_cause
    call.extra = {**stored.extra, **call.extra}
    call.extra.pop("closed_by", None)
    # legs: live ones keep their live state but take the stored start/answer; the others had ended
    # (or vanished unseen) before the resync: they join the call as ended legs
    for old in stored.legs:
        leg = call.legs.get(old.uniqueid)
        if leg is None:
            end = old.ended_at
            if end is None:
                end = max(old.started_at, call.resumed_at or old.started_at)
            call.legs[old.uniqueid] = LiveLeg(
                uniqueid=old.uniqueid,
                call_id=call.call_id,
                channel=old.channel,
                role=old.role,
                started_at=old.started_at,
                agent=old.agent,
                answered_at=old.answered_at,
                ended_at=end,
                hangup_cause=old.hangup_cause,
                dial_status=old.dial_status,
            )
            continue
        leg.started_at = min(leg.started_at, old.started_at)
        if old.answered_at is not None:
            leg.answered_at = old.answered_at
        leg.agent = leg.agent or old.agent
        leg.dial_status = leg.dial_status or old.dial_status
        if leg.role in CUSTOMER_SIDE and leg.answered_at is not None:
            call.up_at = leg.answered_at if call.up_at is None else min(call.up_at, leg.answered_at)
    for o in stored.offers:
        if o.uniqueid not in call.offers:
            offer_end = o.ended_at
            if offer_end is None and o.uniqueid not in live_legs:
                offer_end = call.resumed_at
            call.offers[o.uniqueid] = LiveOffer(
                agent=o.agent,
                uniqueid=o.uniqueid,
                rang_at=o.rang_at,
                ended_at=offer_end,
                answered=o.answered,
                dial_status=o.dial_status,
            )
    if call.offers:
        call.offers = dict(sorted(call.offers.items(), key=lambda kv: kv[1].rang_at))
    known = {(t.at, t.kind, t.target) for t in call.transfers}
    extra_transfers = [t for t in stored.transfers if (t.at, t.kind, t.target) not in known]
    if extra_transfers:
        call.transfers = sorted([*extra_transfers, *call.transfers], key=lambda t: t.at)
    # talk and hold before the restart (the snapshot's talk counts from the resync on)
    call.hold_seconds += stored.hold_seconds
    resumed_at = call.resumed_at
    if call.resumed_bridged and call.answered_at is not None and resumed_at is not None:
        call.talk_seconds += max(0.0, resumed_at - call.answered_at)
    else:
        call.talk_seconds += stored.talk_seconds
    call.estimated.clear()


def closed_on_resume(stored: CallRecord, upper_bound: float, version: int) -> CallRecord:
    """The final record of a stored open call that ended while the service was down: ended at the last
    time the store saw it (never after ``upper_bound``), answered if it had an answer else lost, talk
    capped to that end, open legs and offers ended there, ``extra.closed_by=resume``."""
    ended = min(upper_bound, last_seen(stored))
    answered = stored.answered_at is not None
    talk = 0.0
    if stored.answered_at is not None:
        net = max(0.0, stored.talk_seconds - stored.hold_seconds)
        talk = min(net, max(0.0, ended - stored.answered_at))
    wait_start = stored.queued_at if stored.queued_at is not None else stored.offered_at
    wait_end = stored.answered_at if stored.answered_at is not None else ended
    legs = tuple(
        leg if leg.ended_at is not None else dataclasses.replace(leg, ended_at=max(leg.started_at, ended))
        for leg in stored.legs
    )
    offers = tuple(
        o if o.ended_at is not None else dataclasses.replace(o, ended_at=max(o.rang_at, ended))
        for o in stored.offers
    )
    return dataclasses.replace(
        stored,
        ended_at=ended,
        outcome=CallOutcome.ANSWERED if answered else CallOutcome.LOST,
        hangup_by=HangupSide.SYSTEM,
        talk_seconds=talk,
        wait_seconds=None if wait_start is None else max(0.0, wait_end - wait_start),
        legs=legs,
        offers=offers,
        version=version,
        extra={**stored.extra, "closed_by": "resume"},
    )
