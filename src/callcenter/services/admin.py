"""Administration use cases behind ``/admin``: users and roles (with password reset), and the audit of
every administrative change (users, queues, agents, QA forms, IVR reloads) in the audit log
(``supervisor_audit``, shown on ``/audit``).

Queues and agents are changed through the ACD service (``AcdService.put_queue``/``put_agent``), QA forms
through ``QaService.create_form``; this module only adds the audit entry for them (``record``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from callcenter.domain.audit import AuditEntry
from callcenter.domain.errors import NotFound, PermissionDenied
from callcenter.domain.users import Role, User
from callcenter.ports import AuditLog
from callcenter.services.accounts import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH, Accounts

log = logging.getLogger(__name__)


class UserDirectory(Protocol):
    async def list_users(self) -> list[User]: ...

    async def update_user(
        self, user_id: int, *, role: Role, display_name: str, agent: str | None, active: bool
    ) -> bool: ...

    async def set_password_hash(self, user_id: int, password_hash: str) -> bool: ...


class AdminError(ValueError):
    """An administrative change the input does not allow (HTTP 400)."""


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AdminError(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AdminError(f"password must be at most {MAX_PASSWORD_LENGTH} characters")


class AdminService:
    def __init__(
        self,
        accounts: Accounts,
        users: UserDirectory,
        *,
        audit: AuditLog | None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.accounts = accounts
        self.users = users
        self.audit_log = audit
        self._clock = clock

    async def record(
        self, actor: User, action: str, target: str, detail: dict[str, Any] | None = None, *, ok: bool = True
    ) -> None:
        """One audit entry for an administrative change (``admin.user.create``, ``admin.queue.save``...)."""
        log.info(
            "admin change", extra={"actor": actor.username, "action": action, "target": target, "ok": ok}
        )
        if self.audit_log is not None:
            entry = AuditEntry(
                at=self._clock(),
                actor=actor.username,
                role=actor.role.value,
                action=action,
                target=target,
                ok=ok,
                detail=detail or {},
            )
            await self.audit_log.save_audit(entry)

    @staticmethod
    def _require_admin(actor: User) -> None:
        if actor.role is not Role.ADMIN:
            raise PermissionDenied("only admins manage users")

    async def list_users(self) -> list[User]:
        return await self.users.list_users()

    async def _get(self, user_id: int) -> User:
        for user in await self.users.list_users():
            if user.id == user_id:
                return user
        raise NotFound(f"user {user_id} does not exist")

    async def create_user(
        self, actor: User, username: str, password: str, role: str, display_name: str, agent: str | None
    ) -> User:
        self._require_admin(actor)
        user = await self.accounts.create_user(username, password, role, display_name, agent=agent)
        await self.record(
            actor, "admin.user.create", user.username, {"role": user.role.value, "agent": agent}
        )
        return user

    async def update_user(
        self, actor: User, user_id: int, *, role: str, display_name: str, agent: str | None, active: bool
    ) -> User:
        self._require_admin(actor)
        before = await self._get(user_id)
        try:
            new_role = Role(role)
        except ValueError:
            raise AdminError(f"role must be one of {', '.join(r.value for r in Role)}") from None
        if new_role is Role.AGENT and not agent:
            raise AdminError("an agent login needs its agent id (extension)")
        if before.id == actor.id and (new_role is not Role.ADMIN or not active):
            raise AdminError("you cannot remove your own admin role or deactivate yourself")
        await self.users.update_user(
            user_id, role=new_role, display_name=display_name[:200], agent=agent or None, active=active
        )
        after = await self._get(user_id)
        changes = {
            k: [getattr(before, k), getattr(after, k)]
            for k in ("role", "display_name", "agent", "active")
            if getattr(before, k) != getattr(after, k)
        }
        await self.record(actor, "admin.user.update", before.username, {"changes": changes})
        return after

    async def reset_password(self, actor: User, user_id: int, password: str) -> User:
        self._require_admin(actor)
        user = await self._get(user_id)
        _check_password(password)
        await self.users.set_password_hash(user_id, await self.accounts.hash_password(password))
        await self.record(actor, "admin.user.password", user.username)  # never the password itself
        return user
