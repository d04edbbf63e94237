"""Notifications and webhooks (issue 16): outbox messages, retry backoff, e-mail templates per language,
webhook signatures and status-page tokens. Pure: no I/O.

Webhook signature: ``X-Callcenter-Signature: sha256=<hex>`` where ``hex`` is HMAC-SHA256 with the shared
secret over ``<X-Callcenter-Timestamp>.<raw body>``; a receiver recomputes it, compares in constant time
and refuses a timestamp older than a few minutes (replay).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from enum import StrEnum
from string import Template
from typing import Any

EMAIL = "email"
WEBHOOK = "webhook"
EVENTS = ("call.ended", "ticket.changed", "case.changed", "survey.answered")


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class OutboxItem:
    id: int
    kind: str  # email | webhook
    event: str
    target: str
    payload: dict[str, Any] = field(default_factory=dict)
    ref: str = ""
    status: OutboxStatus = OutboxStatus.PENDING
    attempts: int = 0
    next_at: float = 0.0
    last_error: str = ""
    created_at: float = 0.0
    sent_at: float | None = None


@dataclass(frozen=True, slots=True)
class Attempt:
    at: float
    ok: bool
    status_code: int | None = None
    error: str = ""
    seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delay before attempt ``n + 1`` after ``n`` failures: ``base * 2**(n-1)``, at most ``cap``; give up
    after ``max_attempts``."""

    base: float = 10.0
    cap: float = 3600.0
    max_attempts: int = 8

    def delay(self, failures: int) -> float:
        return float(min(self.cap, self.base * 2 ** max(0, failures - 1)))


# ------------------------------------------------------------------------------------------- signing


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


# ------------------------------------------------------------------------------------------- tokens


def new_token() -> tuple[str, str]:
    """(token for the customer's link, its SHA-256 hex to store)."""
    token = secrets.token_urlsafe(32)
    return token, hash_token(token)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# ------------------------------------------------------------------------------------------- e-mails

LANGUAGES = ("en", "zh-CN")

STAGE_LABELS: dict[str, dict[str, str]] = {
    "en": {
        "received": "received",
        "warranty_checked": "warranty checked",
        "in_repair": "in repair",
        "awaiting_parts": "waiting for parts",
        "repaired": "repaired",
        "shipped": "shipped back to you",
        "confirmed": "confirmed",
        "closed": "closed",
        "rejected": "not covered by the warranty (a quote is ready)",
    },
    "zh-CN": {
        "received": "已收到",
        "warranty_checked": "已核实保修",
        "in_repair": "维修中",
        "awaiting_parts": "等待配件",
        "repaired": "已修好",
        "shipped": "已寄回",
        "confirmed": "已确认",
        "closed": "已关闭",
        "rejected": "不在保修范围内(已出报价)",
    },
}

TICKET_LABELS: dict[str, dict[str, str]] = {
    "en": {
        "new": "new",
        "open": "being worked on",
        "pending": "waiting",
        "resolved": "resolved",
        "closed": "closed",
    },
    "zh-CN": {"new": "新建", "open": "处理中", "pending": "等待中", "resolved": "已解决", "closed": "已关闭"},
}

TEMPLATES: dict[str, dict[str, tuple[str, str]]] = {
    "en": {
        "case.changed": (
            "Your repair $number: $stage",
            "Hello $name,\n\nyour repair $number ($product, serial $serial) is now: $stage.\n"
            "$expected$tracking\nSee its status at any time: $link\n\nYour service team\n",
        ),
        "ticket.changed": (
            "Your request #$number: $stage",
            'Hello $name,\n\nyour request #$number "$subject" is now: $stage.\n\nYour service team\n',
        ),
    },
    "zh-CN": {
        "case.changed": (
            "您的维修单 $number:$stage",
            "$name 您好,\n\n您的维修单 $number($product,序列号 $serial)当前状态:$stage。\n"
            "$expected$tracking\n随时查看状态:$link\n\n客服团队\n",
        ),
        "ticket.changed": (
            "您的服务请求 #$number:$stage",
            "$name 您好,\n\n您的服务请求 #$number“$subject”当前状态:$stage。\n\n客服团队\n",
        ),
    },
}

EXPECTED = {"en": "Expected by: $date.\n", "zh-CN": "预计日期:$date。\n"}
TRACKING = {"en": "Return shipment: $carrier $tracking.\n", "zh-CN": "回寄快递:$carrier $tracking。\n"}


def language_of(raw: str) -> str:
    return raw if raw in LANGUAGES else ("zh-CN" if raw.lower().startswith("zh") else "en")


def render_email(event: str, language: str, values: dict[str, str]) -> tuple[str, str]:
    """(subject, body) of ``event`` in ``language`` (English when it has no template)."""
    lang = language_of(language)
    labels = STAGE_LABELS[lang] if event == "case.changed" else TICKET_LABELS[lang]
    data = dict(values)
    data["stage"] = labels.get(data.get("stage", ""), data.get("stage", ""))
    data["expected"] = Template(EXPECTED[lang]).safe_substitute(date=data["date"]) if data.get("date") else ""
    data["tracking"] = (
        Template(TRACKING[lang]).safe_substitute(
            carrier=data.get("carrier", ""), tracking=data["tracking_no"]
        )
        if data.get("tracking_no")
        else ""
    )
    subject, body = TEMPLATES[lang][event]
    return Template(subject).safe_substitute(data), Template(body).safe_substitute(data)
