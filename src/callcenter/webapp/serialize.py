"""JSON shapes of domain records for the API. Times are given twice: epoch seconds and ISO 8601 UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from callcenter.domain.calls import CallPage, CallRecord, LegRecord, OfferRecord, TransferRecord
from callcenter.domain.users import User


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _times(out: dict[str, Any], **times: float | None) -> None:
    for name, value in times.items():
        out[name] = value
        out[name + "_iso"] = iso(value)


def leg_json(leg: LegRecord) -> dict[str, Any]:
    out: dict[str, Any] = {
        "uniqueid": leg.uniqueid,
        "channel": leg.channel,
        "role": leg.role.value,
        "agent": leg.agent,
        "hangup_cause": leg.hangup_cause,
        "dial_status": leg.dial_status,
    }
    _times(out, started_at=leg.started_at, answered_at=leg.answered_at, ended_at=leg.ended_at)
    return out


def offer_json(offer: OfferRecord) -> dict[str, Any]:
    out: dict[str, Any] = {
        "agent": offer.agent,
        "uniqueid": offer.uniqueid,
        "answered": offer.answered,
        "dial_status": offer.dial_status,
    }
    _times(out, rang_at=offer.rang_at, ended_at=offer.ended_at)
    return out


def transfer_json(transfer: TransferRecord) -> dict[str, Any]:
    out: dict[str, Any] = {
        "kind": transfer.kind,
        "target": transfer.target,
        "from_agent": transfer.from_agent,
    }
    _times(out, at=transfer.at)
    return out


def call_json(call: CallRecord, *, detail: bool = False) -> dict[str, Any]:
    """A call as JSON; ``detail`` adds its legs, offers and transfers."""
    out: dict[str, Any] = {
        "call_id": call.call_id,
        "direction": call.direction,
        "caller_num": call.caller_num,
        "caller_name": call.caller_name,
        "dnis": call.dnis,
        "queue": call.queue,
        "agent": call.agent,
        "outcome": call.outcome.value,
        "wait_seconds": call.wait_seconds,
        "talk_seconds": call.talk_seconds,
        "hold_seconds": call.hold_seconds,
        "hangup_cause": call.hangup_cause,
        "hangup_by": call.hangup_by.value if call.hangup_by is not None else None,
        "has_recording": call.recording_file is not None,
    }
    _times(
        out,
        started_at=call.started_at,
        ivr_at=call.ivr_at,
        queued_at=call.queued_at,
        offered_at=call.offered_at,
        answered_at=call.answered_at,
        ended_at=call.ended_at,
    )
    if detail:
        out["legs"] = [leg_json(leg) for leg in call.legs]
        out["offers"] = [offer_json(offer) for offer in call.offers]
        out["transfers"] = [transfer_json(t) for t in call.transfers]
        out["extra"] = dict(call.extra)
    return out


def page_json(page: CallPage) -> dict[str, Any]:
    return {
        "calls": [call_json(call) for call in page.calls],
        "total": page.total,
        "limit": page.limit,
        "offset": page.offset,
    }


def user_json(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "username": user.username,
        "role": user.role.value,
        "display_name": user.display_name,
        "agent": user.agent,
    }
