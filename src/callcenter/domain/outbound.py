"""Outbound campaigns (issue 17): campaigns, contacts, attempts, the do-not-call rule, retry rules and
calling hours. Pure: no I/O. The predictive pacing math is in ``domain/pacing.py``.

A **campaign** dials its **contacts** for the agents of one ACD queue, in one of three modes: ``preview``
(the agent sees the card, then Call or Skip), ``progressive`` (one customer dialled per free agent, the
agent reserved first: nobody is ever abandoned) or ``predictive`` (more customers than free agents,
``domain/pacing.py``). Every dial is an **attempt**; what the PBX said (``AttemptResult``) decides the
next step with the campaign's retry delays, and the agent's **outcome code** after a connected call
either closes the contact or reschedules it. A number on the do-not-call list is never dialled: the
attempt is still stored, with the result ``dnc_blocked``. A contact whose customer carries the "no
marketing" flag is kept out of ``marketing`` campaigns (not out of ``service`` follow-ups).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from callcenter.domain.acd import InvalidTransition
from callcenter.domain.customers import Fields, ValidationError
from callcenter.domain.ivr import Holiday
from callcenter.domain.text import N_

#: messages of the lines below, marked for the translation catalogues (shown via localize)
_NO_SUCH_QUEUE = N_("no such queue")

MAX_ATTEMPTS_LIMIT = 20
_NAME_RE = re.compile(r"^[^\W][\w .-]{0,63}$")  # letters of any script (回访活动), digits, space _ . -
_CODE_RE = re.compile(r"^[a-z0-9_-]{1,32}$")
_QUEUE_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_CALLER_ID_RE = re.compile(r"^\+?[0-9]{3,15}$")


class DialMode(StrEnum):
    PREVIEW = "preview"
    PROGRESSIVE = "progressive"
    PREDICTIVE = "predictive"


class CampaignKind(StrEnum):
    SERVICE = "service"  # follow-ups: the "no marketing" flag does not apply
    MARKETING = "marketing"


class CampaignStatus(StrEnum):
    DRAFT = "draft"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"


#: allowed status changes (start, pause, resume, stop); a stopped campaign stays stopped
TRANSITIONS: dict[CampaignStatus, frozenset[CampaignStatus]] = {
    CampaignStatus.DRAFT: frozenset({CampaignStatus.RUNNING, CampaignStatus.STOPPED}),
    CampaignStatus.RUNNING: frozenset({CampaignStatus.PAUSED, CampaignStatus.STOPPED}),
    CampaignStatus.PAUSED: frozenset({CampaignStatus.RUNNING, CampaignStatus.STOPPED}),
    CampaignStatus.STOPPED: frozenset(),
}


class CampaignTransitionRefused(InvalidTransition):
    """A campaign status change that is not allowed (e.g. starting a stopped campaign): HTTP 409."""


class AttemptResult(StrEnum):
    """What one dial gave, before any agent outcome."""

    DIALING = "dialing"  # in flight
    CONNECTED = "connected"  # a person answered and reached an agent
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    MACHINE = "machine"  # answering machine / voicemail (AMD)
    FAILED = "failed"  # congestion, invalid number, trunk failure
    ABANDONED = "abandoned"  # answered, no agent free within the limit: heard the message, hung up
    HUNG_UP = "hung_up"  # answered, hung up before reaching an agent
    SKIPPED = "skipped"  # preview: the agent skipped the contact
    DNC_BLOCKED = "dnc_blocked"  # on the do-not-call list: never dialled


#: OriginateResponse ``Reason`` (Asterisk's ``AST_CONTROL_*``: 1 hangup, 3 ringing (timed out), 4 answer,
#: 5 busy, 8 congestion; 0 = the channel never came up) → result of a failed originate
ORIGINATE_REASONS: dict[int, AttemptResult] = {
    0: AttemptResult.FAILED,
    1: AttemptResult.NO_ANSWER,  # the far end hung up while ringing (rejected)
    3: AttemptResult.NO_ANSWER,
    5: AttemptResult.BUSY,
    8: AttemptResult.FAILED,
}


def originate_result(reason: int) -> AttemptResult:
    return ORIGINATE_REASONS.get(reason, AttemptResult.FAILED)


class ContactStatus(StrEnum):
    PENDING = "pending"  # due at ``due_at``
    DIALING = "dialing"  # an attempt is in flight (or shown to a preview agent)
    DONE = "done"  # closed by an outcome
    EXHAUSTED = "exhausted"  # max attempts reached
    BLOCKED = "blocked"  # do-not-call or no-marketing


@dataclass(frozen=True, slots=True)
class OutcomeCode:
    """An agent's outcome code: ``closes`` the contact, or reschedules it ``retry_after`` seconds later."""

    code: str
    label: str = ""
    closes: bool = True
    retry_after: float = 0.0
    dnc: bool = False  # the customer asked not to be called again: the number joins the DNC list


DEFAULT_OUTCOMES: tuple[OutcomeCode, ...] = (
    OutcomeCode("done", N_("Done")),
    OutcomeCode("not_interested", N_("Not interested")),
    OutcomeCode("call_back", N_("Call back later"), closes=False, retry_after=3600.0),
    OutcomeCode("wrong_number", N_("Wrong number")),
    OutcomeCode("do_not_call", N_("Do not call again"), dnc=True),
)

DEFAULT_RETRY: dict[AttemptResult, float] = {
    AttemptResult.NO_ANSWER: 3600.0,
    AttemptResult.BUSY: 600.0,
    AttemptResult.MACHINE: 7200.0,
    AttemptResult.FAILED: 3600.0,
    AttemptResult.ABANDONED: 300.0,
    AttemptResult.HUNG_UP: 1800.0,
    AttemptResult.SKIPPED: 1800.0,
}
RETRYABLE = frozenset(DEFAULT_RETRY)


@dataclass(frozen=True, slots=True)
class CallingHours:
    """When customers may be called, in *their* local time: one window per weekday (Monday first;
    ``None`` = not that day) and the holiday calendar (the IVR's ``Holiday`` rule)."""

    weekly: tuple[tuple[time, time] | None, ...] = ((time(9), time(20)),) * 6 + (None,)
    holidays: tuple[Holiday, ...] = ()

    def allows(self, now: float, timezone: str) -> bool:
        local = datetime.fromtimestamp(now, UTC).astimezone(_zone(timezone))
        if any(h.matches(local.date()) for h in self.holidays):
            return False
        window = self.weekly[local.weekday()]
        if window is None:
            return False
        moment = local.time().replace(tzinfo=None)
        return window[0] <= moment < window[1]


@dataclass(frozen=True, slots=True)
class Campaign:
    id: int
    name: str
    queue: str
    mode: DialMode = DialMode.PROGRESSIVE
    kind: CampaignKind = CampaignKind.SERVICE
    status: CampaignStatus = CampaignStatus.DRAFT
    script: str = ""
    caller_id: str = ""
    max_attempts: int = 3
    retry: Mapping[AttemptResult, float] = field(default_factory=lambda: dict(DEFAULT_RETRY))
    outcomes: tuple[OutcomeCode, ...] = DEFAULT_OUTCOMES
    hours: CallingHours = field(default_factory=CallingHours)
    default_timezone: str = "UTC"
    ring_timeout: float = 25.0
    abandon_cap: float = 0.03  # predictive: abandoned / answered by people, over the rolling window
    abandon_window: float = 3600.0  # seconds
    connect_limit: float = 2.0  # predictive: seconds an answered customer may wait for an agent
    max_ratio: float = 3.0  # predictive: at most this many lines in flight per agent
    created_by: str = ""
    created_at: float = 0.0
    updated_at: float = 0.0

    def outcome(self, code: str) -> OutcomeCode | None:
        return next((o for o in self.outcomes if o.code == code), None)

    def with_status(self, status: CampaignStatus, now: float) -> Campaign:
        if status not in TRANSITIONS[self.status]:
            raise CampaignTransitionRefused(
                f"campaign {self.name!r}: {self.status.value} → {status.value} is not allowed"
            )
        return replace(self, status=status, updated_at=now)


@dataclass(frozen=True, slots=True)
class Contact:
    id: int
    campaign_id: int
    number: str  # E.164
    name: str = ""
    customer_id: int | None = None
    timezone: str = ""  # "" = from the number's country, then the campaign's default
    reason: str = ""  # why we call (shown on the agent's card)
    status: ContactStatus = ContactStatus.PENDING
    attempts: int = 0
    due_at: float = 0.0
    last_result: str = ""
    outcome: str = ""
    agent: str = ""  # preview: the agent it is shown to
    no_marketing: bool = False
    updated_at: float = 0.0


@dataclass(frozen=True, slots=True)
class ContactDraft:
    number: str
    name: str = ""
    customer_id: int | None = None
    timezone: str = ""
    reason: str = ""
    no_marketing: bool = False


@dataclass(frozen=True, slots=True)
class Attempt:
    """One dial (or one blocked dial), stored for audit."""

    id: int
    campaign_id: int
    contact_id: int
    number: str
    started_at: float
    result: AttemptResult = AttemptResult.DIALING
    agent: str = ""
    call_id: str = ""  # the customer channel's Linkedid
    ended_at: float | None = None
    answered_at: float | None = None
    connected_at: float | None = None
    outcome: str = ""  # the agent's outcome code
    reason: int | None = None  # OriginateResponse Reason
    detail: str = ""


@dataclass(frozen=True, slots=True)
class DncEntry:
    number: str
    source: str  # agent | admin | import | ivr
    added_by: str
    added_at: float
    note: str = ""


DNC_SOURCES = ("agent", "admin", "import", "ivr", "outcome")


# --- rules ----------------------------------------------------------------------------------------


def after_result(campaign: Campaign, contact: Contact, result: AttemptResult, now: float) -> Contact:
    """The contact after an attempt ended with ``result`` (no agent outcome yet)."""
    if result is AttemptResult.DNC_BLOCKED:
        return replace(contact, status=ContactStatus.BLOCKED, last_result=result.value, updated_at=now)
    if result is AttemptResult.CONNECTED:  # waits for the agent's outcome; closed until then
        return replace(contact, status=ContactStatus.DIALING, last_result=result.value, updated_at=now)
    if contact.attempts >= campaign.max_attempts:
        return replace(contact, status=ContactStatus.EXHAUSTED, last_result=result.value, updated_at=now)
    delay = campaign.retry.get(result, DEFAULT_RETRY.get(result, 3600.0))
    return replace(
        contact, status=ContactStatus.PENDING, due_at=now + delay, last_result=result.value, updated_at=now
    )


def after_outcome(campaign: Campaign, contact: Contact, code: OutcomeCode, now: float) -> Contact:
    """The contact after the agent's outcome code."""
    if code.closes or contact.attempts >= campaign.max_attempts:
        status = ContactStatus.DONE if code.closes else ContactStatus.EXHAUSTED
        return replace(contact, status=status, outcome=code.code, agent="", updated_at=now)
    return replace(
        contact,
        status=ContactStatus.PENDING,
        due_at=now + code.retry_after,
        outcome=code.code,
        agent="",
        updated_at=now,
    )


def blocked_by_consent(campaign: Campaign, contact: Contact) -> bool:
    return campaign.kind is CampaignKind.MARKETING and contact.no_marketing


#: country calling code → a time zone for numbers of that country (one zone: countries spanning
#: several get their most populous; set the contact's ``timezone`` column for the others)
COUNTRY_ZONES: dict[str, str] = {
    "1": "America/New_York",
    "7": "Europe/Moscow",
    "31": "Europe/Amsterdam",
    "32": "Europe/Brussels",
    "33": "Europe/Paris",
    "34": "Europe/Madrid",
    "39": "Europe/Rome",
    "41": "Europe/Zurich",
    "43": "Europe/Vienna",
    "44": "Europe/London",
    "45": "Europe/Copenhagen",
    "46": "Europe/Stockholm",
    "47": "Europe/Oslo",
    "48": "Europe/Warsaw",
    "49": "Europe/Berlin",
    "55": "America/Sao_Paulo",
    "61": "Australia/Sydney",
    "81": "Asia/Tokyo",
    "86": "Asia/Shanghai",
    "91": "Asia/Kolkata",
    "351": "Europe/Lisbon",
    "353": "Europe/Dublin",
    "358": "Europe/Helsinki",
}


def number_zone(number: str) -> str | None:
    """The time zone of an E.164 number's country (``None``: not known)."""
    digits = number.lstrip("+")
    for n in (3, 2, 1):
        zone = COUNTRY_ZONES.get(digits[:n])
        if zone is not None:
            return zone
    return None


def contact_zone(campaign: Campaign, contact: Contact) -> str:
    return contact.timezone or number_zone(contact.number) or campaign.default_timezone


def may_call(campaign: Campaign, contact: Contact, now: float) -> bool:
    return campaign.hours.allows(now, contact_zone(campaign, contact))


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def valid_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


# --- campaign settings from a form / JSON body ----------------------------------------------------


def _hhmm(text: str) -> time:
    hours, _, minutes = text.partition(":")
    return time(int(hours), int(minutes or 0))


def _float(fields: Fields, data: Mapping[str, Any], key: str, default: float, lo: float, hi: float) -> float:
    raw = data.get(key, default)
    try:
        value = float(raw if raw not in (None, "") else default)
    except (TypeError, ValueError):
        fields.add(key, N_("must be a number"))
        return default
    if not lo <= value <= hi:
        fields.add(key, f"must be between {lo:g} and {hi:g}")
    return value


def campaign_from_mapping(
    data: Mapping[str, Any], *, base: Campaign | None = None, queues: frozenset[str] | None = None
) -> Campaign:
    """Validate a campaign's settings (the page's form or the API's JSON). Raises ``ValidationError``
    naming every bad field. ``base`` is the stored campaign for an update (id, status, times kept)."""
    f = Fields()
    cur = base or Campaign(id=0, name="", queue="")
    name = str(data.get("name", cur.name)).strip()
    if not _NAME_RE.match(name):
        f.add("name", N_("1-64 letters, digits, spaces, _ . -"))
    queue = str(data.get("queue", cur.queue)).strip()
    if not _QUEUE_RE.match(queue):
        f.add("queue", N_("required: an ACD queue name"))
    elif queues is not None and queue not in queues:
        f.add("queue", f"{_NO_SUCH_QUEUE}: {queue!r}")
    mode, kind = cur.mode, cur.kind
    try:
        mode = DialMode(str(data.get("mode", cur.mode.value)))
    except ValueError:
        f.add("mode", N_("preview, progressive or predictive"))
    try:
        kind = CampaignKind(str(data.get("kind", cur.kind.value)))
    except ValueError:
        f.add("kind", N_("service or marketing"))
    caller_id = str(data.get("caller_id", cur.caller_id)).strip()
    if caller_id and not _CALLER_ID_RE.match(caller_id):
        f.add("caller_id", N_("a phone number (digits, optional +)"))
    script = str(data.get("script", cur.script))
    if len(script) > 4000:
        f.add("script", N_("at most 4000 characters"))
    max_attempts = int(_float(f, data, "max_attempts", cur.max_attempts, 1, MAX_ATTEMPTS_LIMIT))
    zone = str(data.get("default_timezone", cur.default_timezone)).strip() or "UTC"
    if not valid_zone(zone):
        f.add("default_timezone", N_("an IANA time zone such as Europe/Paris"))
    retry = dict(cur.retry)
    raw_retry = data.get("retry", {})
    if not isinstance(raw_retry, Mapping):
        f.add("retry", "an object: result → seconds")
        raw_retry = {}
    for key, value in raw_retry.items():
        try:
            result = AttemptResult(str(key))
        except ValueError:
            f.add("retry", f"unknown result {key!r}")
            continue
        if result not in RETRYABLE:
            f.add("retry", f"{key!r} is not retried")
            continue
        retry[result] = _float(f, {"retry": value}, "retry", 0, 0, 30 * 86400)
    outcomes = cur.outcomes
    if "outcomes" in data:
        outcomes = _outcomes(f, data["outcomes"])
    hours = cur.hours
    start, end = data.get("hours_start"), data.get("hours_end")
    if start or end:
        try:
            window = (_hhmm(str(start or "09:00")), _hhmm(str(end or "20:00")))
            if window[0] >= window[1]:
                raise ValueError
            days = str(data.get("days", "mon,tue,wed,thu,fri,sat")).lower().split(",")
            order = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
            if any(d.strip() not in order for d in days):
                f.add("days", N_("comma-separated mon..sun"))
            picked = {d.strip() for d in days}
            hours = replace(hours, weekly=tuple(window if d in picked else None for d in order))
        except ValueError:
            f.add("hours_start", N_("HH:MM before hours_end"))
    ring_timeout = _float(f, data, "ring_timeout", cur.ring_timeout, 5, 120)
    abandon_cap = _float(f, data, "abandon_cap", cur.abandon_cap, 0.0, 0.2)
    connect_limit = _float(f, data, "connect_limit", cur.connect_limit, 0.5, 10)
    max_ratio = _float(f, data, "max_ratio", cur.max_ratio, 1, 5)
    f.raise_if_any()
    return replace(
        cur,
        name=name,
        queue=queue,
        mode=mode,
        kind=kind,
        caller_id=caller_id,
        script=script,
        max_attempts=max_attempts,
        default_timezone=zone,
        retry=retry,
        outcomes=outcomes,
        hours=hours,
        ring_timeout=ring_timeout,
        abandon_cap=abandon_cap,
        connect_limit=connect_limit,
        max_ratio=max_ratio,
    )


def _outcomes(f: Fields, raw: object) -> tuple[OutcomeCode, ...]:
    if not isinstance(raw, list) or not raw:
        f.add("outcomes", "a non-empty list of {code, label, closes, retry_after}")
        return DEFAULT_OUTCOMES
    out: list[OutcomeCode] = []
    for item in raw:
        if not isinstance(item, Mapping) or not _CODE_RE.match(str(item.get("code", ""))):
            f.add("outcomes", "each needs a code of a-z, 0-9, _ or - (1-32)")
            continue
        retry = _float(f, {"outcomes": item.get("retry_after", 0)}, "outcomes", 0, 0, 30 * 86400)
        out.append(
            OutcomeCode(
                str(item["code"]),
                str(item.get("label", ""))[:64],
                bool(item.get("closes", True)),
                retry,
                bool(item.get("dnc", False)),
            )
        )
    if len({o.code for o in out}) != len(out):
        f.add("outcomes", "codes must be unique")
    return tuple(out) or DEFAULT_OUTCOMES


def settings_of(c: Campaign) -> dict[str, Any]:
    """What the store keeps in the campaign's JSON column (everything but the indexed columns)."""
    return {
        "script": c.script,
        "caller_id": c.caller_id,
        "max_attempts": c.max_attempts,
        "retry": {k.value: v for k, v in c.retry.items()},
        "outcomes": [
            {"code": o.code, "label": o.label, "closes": o.closes, "retry_after": o.retry_after, "dnc": o.dnc}
            for o in c.outcomes
        ],
        "weekly": [
            None if w is None else [w[0].isoformat("minutes"), w[1].isoformat("minutes")]
            for w in c.hours.weekly
        ],
        "holidays": [[h.month, h.day, h.year, h.name] for h in c.hours.holidays],
        "default_timezone": c.default_timezone,
        "ring_timeout": c.ring_timeout,
        "abandon_cap": c.abandon_cap,
        "abandon_window": c.abandon_window,
        "connect_limit": c.connect_limit,
        "max_ratio": c.max_ratio,
    }


def campaign_from_settings(base: Campaign, s: Mapping[str, Any]) -> Campaign:
    """The inverse of ``settings_of`` (stored values are trusted: they were validated on the way in)."""
    weekly = tuple(None if w is None else (_hhmm(w[0]), _hhmm(w[1])) for w in s.get("weekly", []))
    holidays = tuple(Holiday(int(m), int(d), y, str(n)) for m, d, y, n in s.get("holidays", []))
    return replace(
        base,
        script=str(s.get("script", "")),
        caller_id=str(s.get("caller_id", "")),
        max_attempts=int(s.get("max_attempts", 3)),
        retry={AttemptResult(k): float(v) for k, v in dict(s.get("retry", {})).items()},
        outcomes=tuple(
            OutcomeCode(
                o["code"],
                o.get("label", ""),
                bool(o.get("closes", True)),
                float(o.get("retry_after", 0)),
                bool(o.get("dnc", False)),
            )
            for o in s.get("outcomes", [])
        )
        or DEFAULT_OUTCOMES,
        hours=CallingHours(weekly=weekly, holidays=holidays) if len(weekly) == 7 else CallingHours(),
        default_timezone=str(s.get("default_timezone", "UTC")),
        ring_timeout=float(s.get("ring_timeout", 25.0)),
        abandon_cap=float(s.get("abandon_cap", 0.03)),
        abandon_window=float(s.get("abandon_window", 3600.0)),
        connect_limit=float(s.get("connect_limit", 2.0)),
        max_ratio=float(s.get("max_ratio", 3.0)),
    )


__all__ = ["ValidationError"]
