"""A small in-memory ``CrmStore`` for web and accounts tests (no mocks)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from callcenter.domain.calls import CallPage, CallQuery, CallRecord
from callcenter.domain.errors import StoreUnavailable
from callcenter.domain.users import Role, User, UserCredentials


class FakeCrmStore:
    def __init__(self) -> None:
        self.calls: dict[str, CallRecord] = {}
        self.users: dict[int, UserCredentials] = {}
        self.tokens: dict[str, int] = {}  # sha256 hex -> user id
        self.token_labels: dict[str, str] = {}
        self.available = True  # False: every method raises StoreUnavailable
        self.calls_available = True  # False: only the call methods raise (users still load)
        self.queries: list[CallQuery] = []

    def _check(self) -> None:
        if not self.available:
            raise StoreUnavailable("fake store is down")

    def _check_calls(self) -> None:
        self._check()
        if not self.calls_available:
            raise StoreUnavailable("fake call tables are down")

    # -- calls -------------------------------------------------------------------------------

    async def save_calls(self, calls: Sequence[CallRecord]) -> None:
        self._check()
        for call in calls:
            old = self.calls.get(call.call_id)
            if old is None or call.version >= old.version:
                self.calls[call.call_id] = call

    def add_calls(self, *calls: CallRecord) -> None:
        for call in calls:
            self.calls[call.call_id] = call

    async def get_call(self, call_id: str) -> CallRecord | None:
        self._check_calls()
        return self.calls.get(call_id)

    async def list_calls(self, query: CallQuery) -> CallPage:
        self._check_calls()
        self.queries.append(query)
        found = [
            c
            for c in self.calls.values()
            if (query.since is None or c.started_at >= query.since)
            and (query.until is None or c.started_at < query.until)
            and (query.caller is None or query.caller in c.caller_num)
            and (query.agent is None or c.agent == query.agent)
            and (query.queue is None or c.queue == query.queue)
            and (query.outcome is None or c.outcome == query.outcome)
        ]
        found.sort(key=lambda c: c.started_at, reverse=True)
        page = found[query.offset : query.offset + query.limit]
        return CallPage(calls=tuple(page), total=len(found), limit=query.limit, offset=query.offset)

    async def open_call_ids(self) -> Sequence[str]:
        self._check()
        return [c.call_id for c in self.calls.values() if not c.ended]

    async def ping(self) -> None:
        self._check()

    # -- users -------------------------------------------------------------------------------

    async def add_user(
        self,
        username: str,
        password_hash: str,
        role: Role,
        *,
        display_name: str = "",
        agent: str | None = None,
    ) -> User:
        self._check()
        if any(c.user.username == username for c in self.users.values()):
            raise ValueError(f"duplicate username {username}")
        user = User(
            id=len(self.users) + 1, username=username, role=role, display_name=display_name, agent=agent
        )
        self.users[user.id] = UserCredentials(user=user, password_hash=password_hash)
        return user

    def deactivate(self, user_id: int) -> None:
        creds = self.users[user_id]
        self.users[user_id] = dataclasses.replace(creds, user=dataclasses.replace(creds.user, active=False))

    def set_role(self, user_id: int, role: Role) -> None:
        creds = self.users[user_id]
        self.users[user_id] = dataclasses.replace(creds, user=dataclasses.replace(creds.user, role=role))

    async def get_credentials(self, username: str) -> UserCredentials | None:
        self._check()
        return next((c for c in self.users.values() if c.user.username == username), None)

    async def get_user(self, user_id: int) -> User | None:
        self._check()
        creds = self.users.get(user_id)
        return creds.user if creds is not None else None

    async def set_user_language(self, user_id: int, language: str) -> None:
        self._check()
        creds = self.users[user_id]
        user = dataclasses.replace(creds.user, language=language)
        self.users[user_id] = dataclasses.replace(creds, user=user)

    async def add_api_token(self, user_id: int, token_hash: str, label: str = "") -> None:
        self._check()
        self.tokens[token_hash] = user_id
        self.token_labels[token_hash] = label

    async def user_for_token(self, token_hash: str) -> User | None:
        self._check()
        user_id = self.tokens.get(token_hash)
        return await self.get_user(user_id) if user_id is not None else None
