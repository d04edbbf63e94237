"""A call the agent console put on hold (server-side: both channels parked in the hold contexts)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from callcenter.domain.errors import StateError

#: Set by the console on a customer it sends back into a queue after a failed hold; the ``queue``
#: FastAGI script (``[cc-queue]``) reads it, clears it, and enqueues the call with that priority.
REQUEUE_PRIORITY_VARIABLE = "CC_QUEUE_PRIORITY"
MAX_REQUEUE_PRIORITY = 1000


@dataclass(frozen=True, slots=True)
class HeldCall:
    """Who holds which call: the customer's and the agent's channels (to ``Bridge`` them on resume,
    or hang up the other side when one leaves) and since when (the console's hold timer)."""

    agent: str
    call_id: str
    customer_channel: str
    customer_uniqueid: str
    agent_channel: str
    agent_uniqueid: str
    since: float
    #: False while the hold redirect is being verified: the hang-up watch then leaves the other side
    #: alone (the console rolls the hold back itself, ``services/console_hold``)
    confirmed: bool = True

    def other_channel(self, uniqueid: str) -> str | None:
        """The channel of the other side than the leg ``uniqueid`` (None: not a leg of this hold)."""
        if uniqueid == self.customer_uniqueid:
            return self.agent_channel
        if uniqueid == self.agent_uniqueid:
            return self.customer_channel
        return None


def held_to_mapping(held: HeldCall) -> dict[str, Any]:
    return {
        "agent": held.agent,
        "call_id": held.call_id,
        "customer_channel": held.customer_channel,
        "customer_uniqueid": held.customer_uniqueid,
        "agent_channel": held.agent_channel,
        "agent_uniqueid": held.agent_uniqueid,
        "since": held.since,
        "confirmed": held.confirmed,
    }


def held_from_mapping(raw: Mapping[str, Any]) -> HeldCall:
    try:
        return HeldCall(
            agent=str(raw["agent"]),
            call_id=str(raw["call_id"]),
            customer_channel=str(raw["customer_channel"]),
            customer_uniqueid=str(raw["customer_uniqueid"]),
            agent_channel=str(raw["agent_channel"]),
            agent_uniqueid=str(raw["agent_uniqueid"]),
            since=float(raw["since"]),
            confirmed=bool(raw.get("confirmed", True)),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise StateError(f"malformed hold record: {exc}") from exc
