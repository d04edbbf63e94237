"""Recordings as QA sees them: metadata, legal holds, retention and HTTP byte ranges (issue #8). Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from callcenter.domain.calls import CallOutcome


@dataclass(frozen=True, slots=True)
class RecordingInfo:
    id: int
    call_id: str
    path: str  # as the PBX named it (MixMonitor file name), resolved under Settings.recordings_dir
    started_at: float | None = None
    size_bytes: int | None = None
    duration_seconds: float | None = None
    sha256: str | None = None
    held: bool = False
    hold_by: str | None = None
    hold_reason: str = ""
    # from the call
    call_started_at: float | None = None
    queue: str | None = None
    agent: str | None = None


@dataclass(frozen=True, slots=True)
class Playback:
    at: float
    actor: str
    role: str
    recording_id: int
    call_id: str
    remote: str = ""
    byte_range: str = ""


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """How many days recordings are kept: per queue, else ``default_days`` (0 or less: forever)."""

    default_days: int = 365
    per_queue: Mapping[str, int] = field(default_factory=dict)

    def days_for(self, queue: str | None) -> int:
        if queue is not None and queue in self.per_queue:
            return self.per_queue[queue]
        return self.default_days

    def expired(self, rec: RecordingInfo, now: float) -> bool:
        days = self.days_for(rec.queue)
        born = rec.started_at if rec.started_at is not None else rec.call_started_at
        return days > 0 and born is not None and born < now - days * 86400.0

    def min_days(self) -> int:
        """The shortest positive retention: nothing younger can be expired."""
        days = [d for d in (self.default_days, *self.per_queue.values()) if d > 0]
        return min(days) if days else 0


def parse_retention(text: str, default_days: int = 365) -> RetentionPolicy:
    """``"sales=30,support=90"`` (``*=N`` sets the default) → a policy. Raises ValueError."""
    per_queue: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, days = item.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"retention entry {item!r}: use queue=days")
        if name.strip() == "*":
            default_days = int(days)
        else:
            per_queue[name.strip()] = int(days)
    return RetentionPolicy(default_days, per_queue)


class RangeNotSatisfiable(ValueError):
    """The ``Range`` header cannot be served (HTTP 416)."""


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """One byte range of a ``Range`` header on a file of ``size`` bytes → ``(start, end)`` inclusive, or
    None for the whole file. Multiple ranges and unknown units are refused (416), as are ranges
    starting past the end."""
    if header is None or not header.strip():
        return None
    unit, sep, spec = header.strip().partition("=")
    if unit.strip().lower() != "bytes" or not sep or "," in spec:
        raise RangeNotSatisfiable(header)
    first, dash, last = spec.strip().partition("-")
    if not dash:
        raise RangeNotSatisfiable(header)
    first, last = first.strip(), last.strip()
    try:
        if not first:  # suffix: the last N bytes
            n = int(last)
            if n <= 0 or size == 0:
                raise RangeNotSatisfiable(header)
            return max(0, size - n), size - 1
        start = int(first)
        end = int(last) if last else size - 1
    except ValueError:
        raise RangeNotSatisfiable(header) from None
    if start < 0 or start >= size or end < start:
        raise RangeNotSatisfiable(header)
    return start, min(end, size - 1)


class SearchOutcome(StrEnum):
    """Outcome filter of the call search: the stored outcomes plus two derived ones."""

    ANSWERED = CallOutcome.ANSWERED.value
    ABANDONED = CallOutcome.ABANDONED.value  # abandoned in queue (or while ringing)
    ABANDONED_IN_IVR = CallOutcome.ABANDONED_IN_IVR.value
    UNANSWERED = CallOutcome.UNANSWERED.value
    FAILED = CallOutcome.FAILED.value
    CALLBACK = "callback"  # a callback was requested: in the IVR, or while waiting in queue (route outcome)
    TRANSFERRED = "transferred"  # the call has at least one transfer


class SortKey(StrEnum):
    STARTED = "started_at"
    DURATION = "duration"
    WAIT = "wait"
    QUEUE = "queue"
    AGENT = "agent"
    SCORE = "score"


@dataclass(frozen=True, slots=True)
class CallSearch:
    since: float | None = None
    until: float | None = None
    queue: str | None = None
    agent: str | None = None
    customer_id: int | None = None
    caller: str | None = None  # substring of the caller number
    outcome: SearchOutcome | None = None
    disposition: str | None = None  # wrap-up code
    min_duration: float | None = None  # talk seconds
    max_duration: float | None = None
    has_recording: bool | None = None
    min_score: float | None = None  # best QA score of the call
    max_score: float | None = None
    min_csat: int | None = None  # the caller's post-call survey score (1-5): only answered surveys
    max_csat: int | None = None
    sort: SortKey = SortKey.STARTED
    descending: bool = True
    limit: int = 50
    offset: int = 0


@dataclass(frozen=True, slots=True)
class CallHit:
    call_id: str
    started_at: float
    caller_num: str
    caller_name: str
    queue: str | None
    agent: str | None
    customer_id: int | None
    outcome: str
    wait_seconds: float | None
    talk_seconds: float
    recordings: int
    score: float | None  # the highest QA score, None when not evaluated
    evaluations: int
    csat: int | None = None  # the post-call survey score (1-5), None when not surveyed or not answered


@dataclass(frozen=True, slots=True)
class CallHits:
    hits: tuple[CallHit, ...]
    total: int
    limit: int
    offset: int
