"""Parsing ``GET /api/calls`` query parameters into a ``CallQuery``, and who may see which calls."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from datetime import UTC, datetime

from callcenter.domain.calls import CallOutcome, CallQuery, CallRecord
from callcenter.domain.users import ROLE_CAN_SEE_ALL_CALLS, User

MAX_LIMIT = 200
DEFAULT_LIMIT = 50
MAX_OFFSET = 1_000_000
KNOWN_PARAMS = frozenset({"since", "until", "caller", "agent", "queue", "outcome", "limit", "offset"})


class BadQuery(ValueError):
    """A query parameter is invalid; the message says which and why (shown to the client)."""


def parse_time(name: str, raw: str) -> float:
    """Epoch seconds from an ISO 8601 string (naive means UTC) or a number of epoch seconds."""
    text = raw.strip()
    try:
        value = float(text)
    except ValueError:
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise BadQuery(
                f"{name}: expected ISO 8601 (2024-05-01T08:00:00Z) or epoch seconds, got {raw!r}"
            ) from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.timestamp()
    if not math.isfinite(value) or value < 0:
        raise BadQuery(f"{name}: epoch seconds must be a finite number >= 0, got {raw!r}")
    return value


def _parse_int(name: str, raw: str, lo: int, hi: int) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        raise BadQuery(f"{name}: expected an integer, got {raw!r}") from None
    if not lo <= value <= hi:
        raise BadQuery(f"{name}: must be between {lo} and {hi}, got {value}")
    return value


def _text(name: str, raw: str) -> str | None:
    text = raw.strip()
    if len(text) > 128:
        raise BadQuery(f"{name}: at most 128 characters")
    return text or None


def parse_call_query(params: Mapping[str, str]) -> CallQuery:
    """A ``CallQuery`` from URL parameters; raises ``BadQuery`` with a clear message."""
    unknown = sorted(set(params) - KNOWN_PARAMS)
    if unknown:
        raise BadQuery(
            f"unknown parameter(s): {', '.join(unknown)}; known: {', '.join(sorted(KNOWN_PARAMS))}"
        )
    since = parse_time("since", params["since"]) if params.get("since") else None
    until = parse_time("until", params["until"]) if params.get("until") else None
    if since is not None and until is not None and until <= since:
        raise BadQuery("until must be later than since")
    outcome = None
    if params.get("outcome"):
        try:
            outcome = CallOutcome(params["outcome"].strip())
        except ValueError:
            raise BadQuery(
                f"outcome: one of {', '.join(o.value for o in CallOutcome)}, got {params['outcome']!r}"
            ) from None
    return CallQuery(
        since=since,
        until=until,
        caller=_text("caller", params.get("caller", "")),
        agent=_text("agent", params.get("agent", "")),
        queue=_text("queue", params.get("queue", "")),
        outcome=outcome,
        limit=_parse_int("limit", params["limit"], 1, MAX_LIMIT) if params.get("limit") else DEFAULT_LIMIT,
        offset=_parse_int("offset", params["offset"], 0, MAX_OFFSET) if params.get("offset") else 0,
    )


def restrict_to_user(query: CallQuery, user: User) -> CallQuery | None:
    """The query limited to what ``user`` may see, or None when nothing can match
    (an agent asking for another agent's calls, or an agent login without an agent id)."""
    if user.role in ROLE_CAN_SEE_ALL_CALLS:
        return query
    if not user.agent or (query.agent is not None and query.agent != user.agent):
        return None
    return dataclasses.replace(query, agent=user.agent)


def may_see_call(user: User, call: CallRecord) -> bool:
    if user.role in ROLE_CAN_SEE_ALL_CALLS:
        return True
    return bool(user.agent) and call.agent == user.agent
