"""Users for the administration pages: list, change role/name/agent/active, reset a password hash."""

from __future__ import annotations

from sqlalchemy import Table, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from callcenter.domain.users import Role, User
from callcenter.store.engine import translate_errors
from callcenter.store.models import UserRow

_USERS: Table = UserRow.__table__  # type: ignore[assignment]


def _user(row: object) -> User:
    m = row._mapping  # type: ignore[attr-defined]
    return User(
        id=m["id"],
        username=m["username"],
        role=Role(m["role"]),
        display_name=m["display_name"] or "",
        agent=m["agent_id"],
        active=bool(m["active"]),
    )


class SqlUserAdmin:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def list_users(self) -> list[User]:
        stmt = select(
            _USERS.c.id,
            _USERS.c.username,
            _USERS.c.role,
            _USERS.c.display_name,
            _USERS.c.agent_id,
            _USERS.c.active,
        ).order_by(_USERS.c.username)
        with translate_errors("list users"):
            async with self._engine.connect() as conn:
                rows = (await conn.execute(stmt)).all()
        return [_user(r) for r in rows]

    async def update_user(
        self, user_id: int, *, role: Role, display_name: str, agent: str | None, active: bool
    ) -> bool:
        values = {"role": role.value, "display_name": display_name, "agent_id": agent, "active": active}
        with translate_errors("update user"):
            async with self._engine.begin() as conn:
                result = await conn.execute(update(_USERS).where(_USERS.c.id == user_id).values(values))
        return bool(result.rowcount)

    async def set_password_hash(self, user_id: int, password_hash: str) -> bool:
        with translate_errors("reset password"):
            async with self._engine.begin() as conn:
                result = await conn.execute(
                    update(_USERS).where(_USERS.c.id == user_id).values(password_hash=password_hash)
                )
        return bool(result.rowcount)
