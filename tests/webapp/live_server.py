"""The whole service on a real loopback port, run by its own event loop in a background thread.

For clients that are synchronous (schemathesis drives ``requests``): the service is the composed
``callcenter.app.Service`` on a fresh SQLite file with in-process state, its AMI link on the fake PBX of
``tests/support/ami_server.py``. One user and one API token per role are made at start.

Usage::

    with LiveService(tmp_path) as live:
        requests.get(live.url + "/api/me", headers=live.auth("admin"))
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import requests
from aiohttp import web

from callcenter.app import Service
from callcenter.config import Secret, Settings
from callcenter.domain.users import Role, User
from tests.qa.conftest import FORM, sample_calls, write_wav
from tests.support.ami_server import FakeAmiServer

T = TypeVar("T")

PASSWORD = "correct-horse-battery"
#: username → (role, agent id)
USERS: dict[str, tuple[Role, str | None]] = {
    "agent": (Role.AGENT, "1001"),
    "supervisor": (Role.SUPERVISOR, None),
    "qa": (Role.QA, None),
    "admin": (Role.ADMIN, None),
}


class LiveService:
    """See the module docstring. ``configure`` may change the settings before the start."""

    def __init__(self, tmp_path: Path, configure: Callable[[Settings], Settings] | None = None) -> None:
        self.tmp_path = tmp_path
        self.configure = configure
        self.url = ""
        self.tokens: dict[str, str] = {}
        self._sessions: dict[str, tuple[dict[str, str], str]] = {}
        self.service: Service | None = None
        self.pbx: FakeAmiServer | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="live-service", daemon=True)
        self._runner: web.AppRunner | None = None

    def run(self, coro: Awaitable[T], timeout: float = 30.0) -> T:
        """Run ``coro`` on the service's loop and wait for its result."""
        future: concurrent.futures.Future[T] = asyncio.run_coroutine_threadsafe(
            _as_coroutine(coro), self._loop
        )
        return future.result(timeout)

    def auth(self, role: str) -> dict[str, str | None]:
        """Headers authenticating as ``role`` (none for ``anonymous``): its API token, or for
        ``<role>+session`` the session's CSRF token (the session itself is in :meth:`cookies`) and no
        ``Authorization`` (None: removes one a client would add, as a bad token is never a fallback)."""
        if role.endswith("+session"):
            return {"X-CSRF-Token": self._session(role.removesuffix("+session"))[1], "Authorization": None}
        token = self.tokens.get(role)
        return {"Authorization": f"Bearer {token}"} if token else {}

    def cookies(self, role: str) -> dict[str, str] | None:
        """The session cookie of ``<role>+session`` (None for the other roles)."""
        if not role.endswith("+session"):
            return None
        return dict(self._session(role.removesuffix("+session"))[0])

    def _session(self, username: str) -> tuple[dict[str, str], str]:
        """Log ``username`` in through ``POST /login`` as a browser does: its cookies and CSRF token."""
        if username not in self._sessions:
            with requests.Session() as http:
                form = http.get(self.url + "/login", timeout=10).text
                csrf = form.split('name="csrf" value="', 1)[1].split('"', 1)[0]
                resp = http.post(
                    self.url + "/login",
                    data={"username": username, "password": PASSWORD, "csrf": csrf},
                    allow_redirects=False,
                    timeout=10,
                )
                assert resp.status_code == 303, resp.text
                me = http.get(self.url + "/api/me", timeout=10).json()
                jar = {c.name: c.value for c in http.cookies if c.value is not None}
            self._sessions[username] = (jar, me["csrf_token"])
        return self._sessions[username]

    async def _start(self) -> None:
        self.pbx = FakeAmiServer()
        await self.pbx.start()
        settings = dataclasses.replace(
            self.pbx.settings(),
            database_url=f"sqlite+aiosqlite:///{self.tmp_path / 'live.db'}",
            session_secret=Secret("live-service-secret-0123456789"),
            recordings_dir=str(self.tmp_path / "recordings"),
            http_port=0,
            agi_port=0,
        )
        if self.configure is not None:
            settings = self.configure(settings)
        self.service = Service(settings)
        self._runner = web.AppRunner(self.service.web_app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        await self.service.link.wait_ready(5)
        users = {}
        for username, (role, agent) in USERS.items():
            user = await self.service.accounts.create_user(
                username, PASSWORD, role, username.title(), agent=agent
            )
            users[username] = user
            self.tokens[username] = await self.service.accounts.issue_api_token(user.id, "fuzz")
        await self._seed(self.service, users["admin"])

    async def _seed(self, service: Service, admin: User) -> None:
        """Records with the first ids (customer 1, ticket 1, form 1, recording 1, calls c1-c4), so that
        generated requests reach real rows, not only 404s."""
        write_wav(self.tmp_path / "recordings" / "2023" / "c1.wav")
        await service.store.save_calls(sample_calls())
        customer = await service.crm.create_customer(
            {"name": "Jane Doe", "phones": ["+1 555 201 0001"], "tags": "vip"}, actor="seed"
        )
        await service.crm.create_ticket({"customer_id": customer.id, "subject": "seeded"}, actor="seed")
        await service.qa.create_form(admin, str(FORM["name"]), FORM["sections"])

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self.pbx is not None:
            await self.pbx.close()

    def __enter__(self) -> LiveService:
        self._thread.start()
        try:
            self.run(self._start(), timeout=60.0)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            self.run(self._stop(), timeout=30.0)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10.0)
            self._loop.close()


async def _as_coroutine(awaitable: Awaitable[T]) -> T:
    return await awaitable
