"""The one parsing layer for what a request carries: query parameters, ids in the path, NUL characters.

Every view reads its query string through :class:`QueryParams` and its path ids through :func:`path_id`,
so a value the store or the date arithmetic cannot take is answered here, the same way everywhere:

- a bad query parameter raises :class:`BadQuery` (a 400 naming the parameter and what it accepts);
- a path id that is not a record id (not digits, 0, or past ``MAX_RECORD_ID``) raises ``NotFound``
  (a 404, like an id that does not exist: no row can have it);
- a NUL character anywhere in the path or the query string is refused by :func:`input_middleware`
  (a 400) before any view runs: PostgreSQL refuses NUL in text, so it could only become a store error.

Bounds (times 1970-3000, ids below 2**31) come from ``domain.bounds``, shared with the CRM input rules.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import TypeVar

from aiohttp import web
from aiohttp.typedefs import Handler

from callcenter.domain import bounds
from callcenter.domain.errors import NotFound

E = TypeVar("E", bound=enum.Enum)

#: Longest free-text filter (a name, an agent id, a queue).
MAX_TEXT = 128
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


class BadQuery(ValueError):
    """A query parameter is invalid; the message says which and why (shown to the client)."""


def _shown(raw: str) -> str:
    return repr(raw if len(raw) <= 40 else raw[:40] + "…")


def parse_time(name: str, raw: str) -> float:
    """Epoch seconds from an ISO 8601 string (naive means UTC) or a number of epoch seconds, within
    ``domain.bounds`` (1970-01-01 to 3000-01-01)."""
    text = raw.strip()
    try:
        value = float(text)
    except ValueError:
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise BadQuery(
                f"{name}: expected ISO 8601 (2024-05-01T08:00:00Z) or epoch seconds, got {_shown(raw)}"
            ) from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        try:
            value = parsed.timestamp()
        except (OverflowError, OSError, ValueError):
            value = math.inf
    try:
        return bounds.check_epoch(value)
    except ValueError as exc:
        raise BadQuery(f"{name}: {exc}, got {_shown(raw)}") from None


def parse_int(name: str, raw: str, lo: int, hi: int) -> int:
    text = raw.strip()
    if len(text) > 20:  # int() of a huge digit string is slow and never in range
        raise BadQuery(f"{name}: must be an integer between {lo} and {hi}")
    try:
        value = int(text)
    except ValueError:
        raise BadQuery(f"{name}: expected an integer, got {_shown(raw)}") from None
    if not lo <= value <= hi:
        raise BadQuery(f"{name}: must be between {lo} and {hi}, got {value}")
    return value


def parse_number(name: str, raw: str, lo: float = -math.inf, hi: float = math.inf) -> float:
    try:
        value = float(raw.strip())
    except ValueError:
        raise BadQuery(f"{name}: expected a number, got {_shown(raw)}") from None
    if not math.isfinite(value) or not lo <= value <= hi:
        rng = f" between {lo:g} and {hi:g}" if math.isfinite(lo) or math.isfinite(hi) else ""
        raise BadQuery(f"{name}: must be a finite number{rng}, got {_shown(raw)}")
    return value


def clean_text(name: str, raw: str, max_len: int = MAX_TEXT) -> str | None:
    """``raw`` stripped (None when empty); at most ``max_len`` characters of valid text."""
    text = raw.strip()
    if len(text) > max_len:
        raise BadQuery(f"{name}: at most {max_len} characters")
    try:
        bounds.check_text(text)
    except ValueError as exc:
        raise BadQuery(f"{name}: {exc}") from None
    return text or None


class QueryParams:
    """Typed reads of one query string. Absent or empty parameters give the default; anything else must
    parse, or :class:`BadQuery` names the parameter. ``known`` (optional) refuses unknown names."""

    def __init__(self, query: Mapping[str, str], known: Iterable[str] | None = None) -> None:
        self.query = query
        if known is not None:
            allowed = frozenset(known)
            unknown = sorted(set(query) - allowed)
            if unknown:
                raise BadQuery(
                    f"unknown parameter(s): {', '.join(unknown)}; known: {', '.join(sorted(allowed))}"
                )

    def _raw(self, name: str) -> str | None:
        raw = self.query.get(name)
        return raw if raw is not None and raw.strip() else None

    def time(self, name: str) -> float | None:
        raw = self._raw(name)
        return None if raw is None else parse_time(name, raw)

    def integer(self, name: str, default: int, lo: int, hi: int) -> int:
        raw = self._raw(name)
        return default if raw is None else parse_int(name, raw, lo, hi)

    def optional_int(self, name: str, lo: int, hi: int) -> int | None:
        raw = self._raw(name)
        return None if raw is None else parse_int(name, raw, lo, hi)

    def record_id(self, name: str) -> int | None:
        """An id filter: 400 unless it is a record id (``domain.bounds.MAX_RECORD_ID``)."""
        return self.optional_int(name, 1, bounds.MAX_RECORD_ID)

    def number(self, name: str, lo: float = -math.inf, hi: float = math.inf) -> float | None:
        raw = self._raw(name)
        return None if raw is None else parse_number(name, raw, lo, hi)

    def text(self, name: str, max_len: int = MAX_TEXT) -> str | None:
        raw = self.query.get(name)
        return None if raw is None else clean_text(name, raw, max_len)

    def texts(self, name: str, max_len: int = MAX_TEXT) -> list[str]:
        """Every non-empty value of a repeatable parameter (``?scope=a&scope=b``)."""
        getall = getattr(self.query, "getall", None)
        values: list[str] = getall(name, []) if getall is not None else [self.query.get(name, "")]
        return [text for raw in values if (text := clean_text(name, raw, max_len)) is not None]

    def choice(self, name: str, kind: type[E], default: E | None = None) -> E | None:
        raw = self._raw(name)
        if raw is None:
            return default
        try:
            return kind(raw.strip().lower())
        except ValueError:
            values = ", ".join(str(member.value) for member in kind)
            raise BadQuery(f"{name}: one of {values}, got {_shown(raw)}") from None

    def flag(self, name: str) -> bool | None:
        raw = self._raw(name)
        if raw is None:
            return None
        text = raw.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise BadQuery(f"{name}: true or false, got {_shown(raw)}")


def path_id(request: web.Request, name: str, what: str) -> int:
    """The record id in path segment ``name``; ``NotFound`` ("<what> not found") unless it is digits
    naming a possible record (1 to ``MAX_RECORD_ID``)."""
    raw = request.match_info[name]
    if raw.isascii() and raw.isdigit() and len(raw) <= 10:
        value = int(raw)
        if bounds.is_record_id(value):
            return value
    raise NotFound(f"{what} not found")


def _has_nul(request: web.BaseRequest) -> bool:
    if "\x00" in request.path:
        return True
    return any("\x00" in key or "\x00" in value for key, value in request.query.items())


@web.middleware
async def input_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse NUL characters in the path or the query string (400) before any view sees them."""
    if _has_nul(request):
        raise BadQuery("NUL characters are not allowed in the URL")
    return await handler(request)
