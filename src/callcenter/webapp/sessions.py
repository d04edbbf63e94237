"""Signed, stateless session cookies.

The cookie value is ``base64url(json payload) "." base64url(HMAC-SHA256(key, payload))``. The payload
holds the user id, the role, the expiry (epoch seconds) and the session's CSRF token. Nothing secret is
in it; the signature makes it tamper-proof. Every request still reloads the user from the store, so a
deactivated user or a changed role ends the session at once.

Logout clears the cookie in the browser; a copied cookie stays valid until it expires (no server-side
revocation list yet), which is why the lifetime is bounded (``max_age``, default 12 hours).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from callcenter.config import Settings
from callcenter.domain.users import Role

log = logging.getLogger(__name__)

SESSION_COOKIE = "cc_session"
DEFAULT_MAX_AGE = 12 * 3600
_VERSION = 1


@dataclass(frozen=True, slots=True)
class SessionData:
    user_id: int
    role: Role
    expires: int  # epoch seconds
    csrf: str
    issued: int = 0


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def session_key_from_settings(settings: Settings) -> bytes:
    """The signing key from ``settings.session_secret``, or a random per-process key (with a warning)."""
    secret = settings.session_secret.reveal()
    if secret:
        return secret.encode("utf-8")
    log.warning(
        "CALLCENTER_SESSION_SECRET is not set: using a random per-process key; sessions will not "
        "survive a restart and are not shared between instances"
    )
    return secrets.token_bytes(32)


class SessionCodec:
    """Signs and verifies session cookies and the login form's pre-session CSRF token."""

    def __init__(
        self,
        key: bytes,
        *,
        max_age: int = DEFAULT_MAX_AGE,
        secure: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if len(key) < 16:
            log.warning("the session secret is shorter than 16 bytes; use at least 32 random bytes")
        # Separate keys per purpose, derived from the one configured secret.
        self._session_key = hmac.new(key, b"callcenter session v1", hashlib.sha256).digest()
        self._login_key = hmac.new(key, b"callcenter login csrf v1", hashlib.sha256).digest()
        self.max_age = max_age
        self.secure = secure
        self._clock = clock

    def now(self) -> int:
        return int(self._clock())

    # -- sessions --------------------------------------------------------------------------------

    def new_session(self, user_id: int, role: Role) -> SessionData:
        now = self.now()
        return SessionData(
            user_id=user_id, role=role, expires=now + self.max_age, csrf=secrets.token_urlsafe(24), issued=now
        )

    def renewed(self, session: SessionData) -> SessionData:
        """The same session (same CSRF token) with a fresh expiry."""
        now = self.now()
        return SessionData(session.user_id, session.role, now + self.max_age, session.csrf, session.issued)

    def needs_renewal(self, session: SessionData) -> bool:
        return session.expires - self.now() < self.max_age // 2

    def encode(self, session: SessionData) -> str:
        payload = json.dumps(
            {
                "v": _VERSION,
                "u": session.user_id,
                "r": session.role.value,
                "e": session.expires,
                "c": session.csrf,
                "i": session.issued,
            },
            separators=(",", ":"),
        ).encode("utf-8")
        body = _b64encode(payload)
        return body + "." + _b64encode(self._sign(body))

    def decode(self, value: str) -> SessionData | None:
        """The session in a cookie value, or None if it is malformed, forged or expired."""
        if not value or len(value) > 1024 or value.count(".") != 1:
            return None
        body, signature = value.split(".")
        try:
            given = _b64decode(signature)
        except (binascii.Error, ValueError):
            return None
        if not hmac.compare_digest(given, self._sign(body)):
            return None
        try:
            data = json.loads(_b64decode(body))
            if data["v"] != _VERSION:
                return None
            session = SessionData(
                user_id=int(data["u"]),
                role=Role(data["r"]),
                expires=int(data["e"]),
                csrf=str(data["c"]),
                issued=int(data.get("i", 0)),
            )
        except (binascii.Error, ValueError, TypeError, KeyError):
            return None
        if session.expires <= self.now():
            return None
        return session

    def _sign(self, body: str) -> bytes:
        return hmac.new(self._session_key, body.encode("utf-8", "replace"), hashlib.sha256).digest()

    # -- cookies ---------------------------------------------------------------------------------

    def set_cookie(self, response: web.StreamResponse, session: SessionData) -> None:
        response.set_cookie(
            SESSION_COOKIE,
            self.encode(session),
            max_age=max(0, session.expires - self.now()),
            path="/",
            httponly=True,
            secure=self.secure,
            samesite="Lax",
        )

    def clear_cookie(self, response: web.StreamResponse) -> None:
        response.del_cookie(SESSION_COOKIE, path="/", secure=self.secure, httponly=True, samesite="Lax")

    # -- login form CSRF (before there is a session) ---------------------------------------------

    def login_csrf_for(self, nonce: str) -> str:
        """The form token matching the pre-session nonce cookie (a signed double-submit token)."""
        return _b64encode(hmac.new(self._login_key, nonce.encode("utf-8"), hashlib.sha256).digest())

    def check_login_csrf(self, nonce: str | None, token: str | None) -> bool:
        if not nonce or not token or len(nonce) > 128 or len(token) > 128:
            return False
        return hmac.compare_digest(self.login_csrf_for(nonce).encode(), token.encode())
