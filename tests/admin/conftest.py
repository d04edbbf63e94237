"""The whole service on a fresh SQLite file and a fake PBX, with an admin, a supervisor and an agent."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from callcenter.app import Service
from callcenter.config import Secret
from callcenter.domain.users import Role
from tests.support.ami_server import FakeAmiServer
from tests.webapp.helpers import PASSWORD, csrf_from, login


@dataclasses.dataclass
class AdminEnv:
    service: Service
    client: TestClient[Any, Any]

    async def as_user(self, username: str) -> None:
        resp = await login(self.client, username)
        assert resp.status in (302, 303), resp.status

    async def page_csrf(self, path: str) -> tuple[int, str]:
        resp = await self.client.get(path, allow_redirects=False)
        text = await resp.text()
        return resp.status, (csrf_from(text) if resp.status == 200 else "")

    async def audit(self, action: str) -> list[Any]:
        entries = await self.service.audit.list_audit(limit=100)
        return [e for e in entries if e.action == action]


@pytest.fixture
async def admin_env(tmp_path: Path) -> AsyncIterator[AdminEnv]:
    async with FakeAmiServer() as pbx:
        settings = dataclasses.replace(
            pbx.settings(),
            database_url=f"sqlite+aiosqlite:///{tmp_path / 'admin.db'}",
            session_secret=Secret("admin-test-secret-0123456789abcdef"),
            http_port=0,
            agi_port=0,
        )
        service = Service(settings)
        async with TestClient(TestServer(service.web_app())) as client:
            await service.link.wait_ready(5)
            await service.accounts.create_user("ada", PASSWORD, Role.ADMIN, "Ada")
            await service.accounts.create_user("alice", PASSWORD, Role.AGENT, "Alice", agent="1001")
            await service.accounts.create_user("sam", PASSWORD, Role.SUPERVISOR, "Sam")
            yield AdminEnv(service, client)
