"""Customers of the CRM: who is calling (screen pop, VIP routing), and their validation rules.

Pure: no I/O. The store normalises phone numbers with ``domain/phones.py``; the rules here check what
people type (forms, the JSON API, a CSV import) and say which field is wrong, so that every entry point
rejects the same things with the same words.

- ``name``: 1 to ``MAX_NAME`` characters after trimming (required);
- ``company``: up to ``MAX_TEXT`` characters; ``email``: empty or ``local@domain.tld`` without spaces;
- ``segment``: ``vip`` | ``regular`` | ``new`` (``vip`` also sets the ``vip`` flag used by routing);
- ``value_score``: a finite number from 0 to 100;
- ``tags``: lower-case words of letters, digits, ``-``, ``_`` or ``.`` (at most ``MAX_TAGS``);
- phone numbers: anything ``normalize_phone`` turns into E.164 (an extension is not a customer number).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

from callcenter.domain.phones import normalize_phone

MAX_NAME = 200
MAX_TEXT = 500
MAX_NOTE = 5000
MAX_TAGS = 20
MAX_TAG = 40
MAX_PHONES = 10
MAX_SCORE = 100.0

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_TAG = re.compile(r"[a-z0-9][a-z0-9._-]*")
_TAG_SPLIT = re.compile(r"[,;|]")
_PHONE_SPLIT = re.compile(r"[;|]")

T = TypeVar("T")


class Segment(StrEnum):
    VIP = "vip"
    REGULAR = "regular"
    NEW = "new"


class ValidationError(ValueError):
    """Input that breaks a rule. ``fields`` maps each field name to what is wrong with it."""

    def __init__(self, fields: Mapping[str, str]) -> None:
        self.fields = dict(fields)
        super().__init__("; ".join(f"{name}: {reason}" for name, reason in self.fields.items()))


@dataclass(frozen=True, slots=True)
class Customer:
    id: int
    name: str
    company: str = ""
    email: str = ""
    segment: Segment = Segment.NEW
    vip: bool = False
    value_score: float = 0.0
    notes: str = ""
    phones: tuple[str, ...] = ()  # E.164 numbers (see ``domain/phones.py``)
    tags: tuple[str, ...] = ()
    created_at: float = 0.0
    updated_at: float = 0.0


@dataclass(frozen=True, slots=True)
class CustomerDraft:
    """A new customer, already validated and normalised (``phones`` are E.164, tags lower-case)."""

    name: str
    company: str = ""
    email: str = ""
    segment: Segment = Segment.NEW
    value_score: float = 0.0
    phones: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    notes: str = ""  # a first note (the import's ``notes`` column), stored as a timestamped note


@dataclass(frozen=True, slots=True)
class CustomerChanges:
    """A partial update: ``None`` keeps the stored value; ``phones``/``tags`` replace the whole set."""

    name: str | None = None
    company: str | None = None
    email: str | None = None
    segment: Segment | None = None
    value_score: float | None = None
    phones: tuple[str, ...] | None = None
    tags: tuple[str, ...] | None = None

    def is_empty(self) -> bool:
        return all(getattr(self, name) is None for name in self.__slots__)


@dataclass(frozen=True, slots=True)
class CustomerNote:
    id: int
    customer_id: int
    at: float
    author: str
    text: str


@dataclass(frozen=True, slots=True)
class CustomerQuery:
    """Search: every given criterion must match (AND). ``text`` is a case-insensitive substring of
    name, company or email; ``phone`` is any format ``normalize_phone`` understands (exact number)."""

    text: str | None = None
    phone: str | None = None
    tag: str | None = None
    segment: Segment | None = None
    limit: int = 50
    offset: int = 0


@dataclass(frozen=True, slots=True)
class CustomerPage:
    customers: tuple[Customer, ...]
    total: int
    limit: int
    offset: int


class Fields:
    """Collects field errors while validating; ``raise_if_any`` raises one ``ValidationError``."""

    def __init__(self) -> None:
        self.errors: dict[str, str] = {}

    def add(self, name: str, reason: str) -> None:
        self.errors.setdefault(name, reason)

    def raise_if_any(self) -> None:
        if self.errors:
            raise ValidationError(self.errors)


# -- single-field rules (each returns the clean value or raises ValueError with the reason) ---------


def clean_name(raw: str) -> str:
    name = " ".join(raw.split())
    if not name:
        raise ValueError("required")
    if len(name) > MAX_NAME:
        raise ValueError(f"at most {MAX_NAME} characters")
    return name


def clean_text(raw: str, limit: int = MAX_TEXT) -> str:
    text = raw.strip()
    if len(text) > limit:
        raise ValueError(f"at most {limit} characters")
    return text


def clean_email(raw: str) -> str:
    email = raw.strip()
    if email and (len(email) > MAX_TEXT or not _EMAIL.fullmatch(email)):
        raise ValueError(f"not an email address: {email[:80]!r}")
    return email


def clean_segment(raw: str) -> Segment:
    text = raw.strip().lower()
    try:
        return Segment(text)
    except ValueError:
        raise ValueError(
            f"unknown segment {raw[:40]!r}; one of {', '.join(s.value for s in Segment)}"
        ) from None


def clean_score(raw: str | float | int) -> float:
    if isinstance(raw, bool):
        raise ValueError("must be a number")
    if isinstance(raw, str):
        try:
            value = float(raw.strip())
        except ValueError:
            raise ValueError(f"not a number: {raw[:40]!r}") from None
    else:
        value = float(raw)
    if not math.isfinite(value) or not 0.0 <= value <= MAX_SCORE:
        raise ValueError(f"must be between 0 and {MAX_SCORE:g}")
    return value


def clean_tag(raw: str) -> str:
    tag = raw.strip().lower()
    if not tag or len(tag) > MAX_TAG or not _TAG.fullmatch(tag):
        raise ValueError(
            f"bad tag {raw[:40]!r}: letters, digits, '.', '_' or '-', at most {MAX_TAG} characters"
        )
    return tag


def clean_tags(raw: str | Iterable[str]) -> tuple[str, ...]:
    """Tags from a list or a string separated by ``,``, ``;`` or ``|``; duplicates dropped, order kept."""
    items = _TAG_SPLIT.split(raw) if isinstance(raw, str) else list(raw)
    out: dict[str, None] = {}
    for item in items:
        if not isinstance(item, str):
            raise ValueError("tags must be strings")
        if item.strip():
            out[clean_tag(item)] = None
    if len(out) > MAX_TAGS:
        raise ValueError(f"at most {MAX_TAGS} tags")
    return tuple(out)


def clean_phone(raw: str, default_country_code: str) -> str:
    number = normalize_phone(raw, default_country_code) if raw.strip() else None
    if number is None or not number.startswith("+"):
        raise ValueError(f"bad phone number {raw.strip()[:40]!r}")
    return number


def clean_phones(raw: str | Iterable[str], default_country_code: str) -> tuple[str, ...]:
    """E.164 numbers from a list or a string separated by ``;`` or ``|``; the same number twice
    (in any format) counts once."""
    items = _PHONE_SPLIT.split(raw) if isinstance(raw, str) else list(raw)
    out: dict[str, None] = {}
    for item in items:
        if not isinstance(item, str):
            raise ValueError("phone numbers must be strings")
        if item.strip():
            out[clean_phone(item, default_country_code)] = None
    if len(out) > MAX_PHONES:
        raise ValueError(f"at most {MAX_PHONES} phone numbers")
    return tuple(out)


def clean_note(raw: str) -> str:
    text = raw.strip()
    if not text:
        raise ValueError("required")
    if len(text) > MAX_NOTE:
        raise ValueError(f"at most {MAX_NOTE} characters")
    return text


def check(fields: Fields, name: str, rule: Callable[..., T], *args: Any) -> T | None:
    """Run ``rule(*args)``; on ``ValueError`` record the reason under ``name`` and return ``None``."""
    try:
        return rule(*args)
    except ValueError as error:
        fields.add(name, str(error))
        return None
