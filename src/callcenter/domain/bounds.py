"""The bounds every value from outside must fit before it reaches a service or the store.

One place for what "too large", "too early" and "not text" mean, so that the web layer, the CRM input
rules and the store agree: a value outside these bounds is the client's mistake (a 400 or a 404), never
a database error (SQLite cannot bind integers past 2**63 - 1, PostgreSQL ``integer`` columns stop at
2**31 - 1 and its ``text`` refuses NUL characters) and never a crash in date arithmetic
(``datetime.fromtimestamp`` fails past year 9999 and, on some platforms, before 1970).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

#: Earliest and latest epoch seconds accepted as a time: 1970-01-01 and 3000-01-01 (UTC). Far from
#: ``datetime``'s limits, so a day, a month or a time zone can be added to any accepted time.
MIN_EPOCH = 0.0
MAX_EPOCH = 32_503_680_000.0
#: Largest record id (customers, tickets, recordings, forms, evaluations): the ``integer`` columns of
#: PostgreSQL. No row can have a larger id, so a larger one is "not found".
MAX_RECORD_ID = 2**31 - 1
#: Largest count or offset taken from a request (SQLite's and PostgreSQL's ``bigint``).
MAX_INT64 = 2**63 - 1


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


EPOCH_RANGE_TEXT = f"between {_iso(MIN_EPOCH)} and {_iso(MAX_EPOCH)}"


def check_epoch(value: float) -> float:
    """``value`` as float epoch seconds; ``ValueError`` (with the accepted range) unless it is a finite
    time between ``MIN_EPOCH`` and ``MAX_EPOCH``."""
    if not math.isfinite(value) or not MIN_EPOCH <= value <= MAX_EPOCH:
        raise ValueError(f"must be a time {EPOCH_RANGE_TEXT} (epoch seconds {MIN_EPOCH:.0f}-{MAX_EPOCH:.0f})")
    return float(value)


def is_record_id(value: object) -> bool:
    """True for an ``int`` (not a bool) that can be the id of a stored record."""
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_RECORD_ID


def check_text(value: str) -> str:
    """``value`` unless it holds a NUL character (no database text column can store one) or a lone
    surrogate (``"\\ud800"`` in JSON: not encodable as UTF-8)."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text (no lone surrogates)") from None
    return value
