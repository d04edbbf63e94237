"""Parsing ``GET /api/calls`` query parameters into a ``CallQuery``, and who may see which calls."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from callcenter.domain.calls import CallOutcome, CallQuery, CallRecord
from callcenter.domain.users import ROLE_CAN_SEE_ALL_CALLS, User
from callcenter.webapp.params import BadQuery, QueryParams, parse_time

__all__ = ["BadQuery", "parse_call_query", "parse_time", "restrict_to_user"]

MAX_LIMIT = 200
DEFAULT_LIMIT = 50
MAX_OFFSET = 1_000_000
KNOWN_PARAMS = frozenset({"since", "until", "caller", "agent", "queue", "outcome", "limit", "offset"})


def parse_call_query(params: Mapping[str, str]) -> CallQuery:
    """A ``CallQuery`` from URL parameters; raises ``BadQuery`` with a clear message."""
    q = QueryParams(params, KNOWN_PARAMS)
    since = q.time("since")
    until = q.time("until")
    if since is not None and until is not None and until <= since:
        raise BadQuery("until must be later than since")
    return CallQuery(
        since=since,
        until=until,
        caller=q.text("caller"),
        agent=q.text("agent"),
        queue=q.text("queue"),
        outcome=q.choice("outcome", CallOutcome),
        limit=q.integer("limit", DEFAULT_LIMIT, 1, MAX_LIMIT),
        offset=q.integer("offset", 0, 0, MAX_OFFSET),
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
