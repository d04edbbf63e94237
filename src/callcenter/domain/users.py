"""Users, roles and what each role may do."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    QA = "qa"
    ADMIN = "admin"


#: What each role may see. An agent sees only their own calls (filtered by ``User.agent``).
ROLE_CAN_SEE_ALL_CALLS: frozenset[Role] = frozenset({Role.SUPERVISOR, Role.QA, Role.ADMIN})


@dataclass(frozen=True, slots=True)
class User:
    id: int
    username: str
    role: Role
    display_name: str = ""
    agent: str | None = None  # the agent id (extension) this login belongs to, for role=agent
    active: bool = True
    language: str = ""  # the pages' language chosen by the user ("en", "zh-CN"); "" = the browser's


@dataclass(frozen=True, slots=True)
class UserCredentials:
    user: User
    password_hash: str


#: The languages of the pages and messages (BCP 47 tags, as in ``<html lang>`` and ``Accept-Language``).
LANGUAGES: tuple[str, ...] = ("en", "zh-CN")
