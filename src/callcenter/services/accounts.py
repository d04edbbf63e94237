"""Accounts: users, passwords (argon2id) and API tokens over the ``CrmStore`` port.

Password hashing is CPU-bound (tens of milliseconds at production cost), so it always runs in a
worker thread (``asyncio.to_thread``) and never blocks the event loop.

API tokens are random strings handed out once; only their SHA-256 hex digest is stored, so a leaked
database does not leak usable tokens.

Invalid input to ``create_user`` raises ``ValueError`` with a message fit to show an administrator;
failed logins raise ``AuthError`` with one message whatever the reason, so the answer does not tell
whether a username exists.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import secrets

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from callcenter.domain.errors import AuthError, NotFound
from callcenter.domain.users import Role, User
from callcenter.ports import CrmStore

log = logging.getLogger(__name__)

USERNAME_RE = re.compile(r"[a-z0-9._-]{2,64}")
MIN_PASSWORD_LENGTH = 8
#: Upper bound so nobody makes us hash megabytes per login attempt.
MAX_PASSWORD_LENGTH = 1024
#: Prefix of API tokens, so they are recognisable in a secret scanner or a leaked log.
TOKEN_PREFIX = "cc_"
LOGIN_FAILED = "invalid username or password"


def token_digest(token: str) -> str:
    """The SHA-256 hex digest under which an API token is stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class Accounts:
    """User accounts use case.

    The argon2 cost parameters default to argon2-cffi's RFC 9106 "low memory" profile
    (t=3, m=64 MiB, p=4); tests pass tiny values (``time_cost=1, memory_cost=8, parallelism=1``).
    """

    def __init__(
        self,
        store: CrmStore,
        *,
        time_cost: int = 3,
        memory_cost: int = 65536,
        parallelism: int = 4,
    ) -> None:
        self._store = store
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism, type=Type.ID
        )
        self._dummy_hash: str | None = None

    # -- passwords -------------------------------------------------------------------------------

    async def hash_password(self, password: str) -> str:
        """Argon2id hash (PHC string) of ``password``, computed in a worker thread."""
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify_password(self, password_hash: str, password: str) -> bool:
        """True when ``password`` matches ``password_hash``; False on mismatch or a malformed hash."""
        return await asyncio.to_thread(self._verify_sync, password_hash, password)

    def _verify_sync(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    async def _dummy(self) -> str:
        # A real hash with our parameters, so that an unknown username costs as much as a wrong password.
        if self._dummy_hash is None:
            self._dummy_hash = await self.hash_password(secrets.token_urlsafe(16))
        return self._dummy_hash

    # -- users -----------------------------------------------------------------------------------

    async def create_user(
        self,
        username: str,
        password: str,
        role: Role | str,
        display_name: str = "",
        agent: str | None = None,
    ) -> User:
        """Validate and store a new user. Raises ``ValueError`` on invalid input or a taken username."""
        if not USERNAME_RE.fullmatch(username):
            raise ValueError("username must be 2-64 characters of a-z, 0-9, '.', '_' or '-'")
        if len(password) < MIN_PASSWORD_LENGTH:
            raise ValueError(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
        if len(password) > MAX_PASSWORD_LENGTH:
            raise ValueError(f"password must be at most {MAX_PASSWORD_LENGTH} characters")
        try:
            role = Role(role)
        except ValueError:
            raise ValueError(
                f"role must be one of {', '.join(r.value for r in Role)}, got {role!r}"
            ) from None
        if role is Role.AGENT and not agent:
            raise ValueError("an agent login needs its agent id (extension)")
        if await self._store.get_credentials(username) is not None:
            raise ValueError(f"username {username!r} is already taken")
        password_hash = await self.hash_password(password)
        user = await self._store.add_user(
            username, password_hash, role, display_name=display_name, agent=agent or None
        )
        log.info("user created: id=%s username=%s role=%s", user.id, user.username, user.role)
        return user

    async def authenticate(self, username: str, password: str) -> User:
        """The active user with these credentials, or ``AuthError`` (same message and similar cost
        for an unknown user, an inactive user and a wrong password)."""
        credentials = None
        if USERNAME_RE.fullmatch(username) and len(password) <= MAX_PASSWORD_LENGTH:
            credentials = await self._store.get_credentials(username)
        if credentials is None:
            await self.verify_password(await self._dummy(), password[:MAX_PASSWORD_LENGTH])
            raise AuthError(LOGIN_FAILED)
        ok = await self.verify_password(credentials.password_hash, password)
        if not ok or not credentials.user.active:
            raise AuthError(LOGIN_FAILED)
        return credentials.user

    # -- API tokens ------------------------------------------------------------------------------

    async def issue_api_token(self, user_id: int, label: str = "") -> str:
        """Create a token for ``user_id`` and return it; it is shown once, only its digest is stored."""
        user = await self._store.get_user(user_id)
        if user is None:
            raise NotFound(f"user {user_id} does not exist")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        await self._store.add_api_token(user_id, token_digest(token), label)
        log.info("API token issued: user=%s label=%r", user.username, label)
        return token

    async def user_for_token(self, token: str) -> User | None:
        """The active user owning ``token``, or None."""
        if not token or len(token) > 256:
            return None
        user = await self._store.user_for_token(token_digest(token))
        if user is None or not user.active:
            return None
        return user
