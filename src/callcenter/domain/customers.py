"""Customers of the CRM: who is calling (screen pop, VIP routing)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Segment(StrEnum):
    VIP = "vip"
    REGULAR = "regular"
    NEW = "new"


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
