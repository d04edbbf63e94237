"""The ACD heals itself on a real Redis: a Redis server that restarts empty (no persistence), and an
instance that dies while two instances share the state."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from typing import Any

import pytest

from callcenter.domain.acd import AcdConfig, AgentState, EntryKind
from callcenter.domain.agents import AgentDirectory
from callcenter.domain.errors import StateError
from callcenter.domain.queueing import RouteOutcome
from callcenter.ports import AcdState
from callcenter.services.acd import AcdService
from callcenter.state.bus import InProcessBus
from callcenter.state.redis_acd import RedisAcdState
from callcenter.state.redis_conn import connect_redis
from tests.acd.fakes import FAST, FakeChannel, FakeLog, FakePbx, Phone, Phones, agents, queue, request
from tests.acd.test_acd_service import eventually
from tests.state.redis_support import redis_client, redis_state, unique_prefix

pytestmark = pytest.mark.redis

HEAL = replace(FAST, reconcile_grace=0.5, reconcile_interval=3600.0, lease_renew=0.1, lease_ttl=1.0)
CONFIG = AcdConfig(queues=(queue(),), agents=tuple(agents(3)))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """A redis-server of our own (no persistence, like the deployment's) that the test can kill."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="cc-redis-")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self.dir,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=5)
            self.proc = None


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server not installed")
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.kill()
        shutil.rmtree(server.dir, ignore_errors=True)


async def _up(client: Any) -> bool:
    with contextlib.suppress(Exception):
        return bool(await client.ping())
    return False


async def status_of(acd: AcdService, agent: str) -> tuple[AgentState, str] | None:
    try:
        status = await acd.state.get_agent(agent)
    except StateError:
        return None
    return None if status is None else (status.state, status.reason)


async def test_redis_restarted_empty_agents_come_back_and_calls_are_routed(redis_server: RedisServer) -> None:
    client = connect_redis(f"redis://127.0.0.1:{redis_server.port}/0", timeout=0.5, retries=0)
    await eventually(lambda: _up(client), timeout=5.0)
    acd = AcdService(RedisAcdState(client, "cc"), InProcessBus(), directory=AgentDirectory(), options=HEAL)
    await acd.start(CONFIG)
    try:
        await acd.login("1001")
        await acd.login("1002")
        await acd.pause("1002", "lunch")  # 1003 stays logged out
        redis_server.kill()
        phones = Phones(Phone(talk=0.01))
        down = await acd.route(FakeChannel(phones, "during"), request("during"))
        assert down.outcome is RouteOutcome.ERROR  # the IVR's fallback while Redis is down
        redis_server.start()  # back, and empty
        await eventually(lambda: _up(client), timeout=5.0)
        await eventually(lambda: _is(acd, "1001", (AgentState.AVAILABLE, "")), timeout=5.0)
        await eventually(lambda: _is(acd, "1002", (AgentState.PAUSED, "lunch")), timeout=5.0)
        await eventually(lambda: acd.stats["reconcile_state_reseeded"] >= 1, timeout=5.0)
        assert await status_of(acd, "1003") == (AgentState.LOGGED_OUT, "")
        result = await acd.route(FakeChannel(phones, "after"), request("after"))
        assert result.outcome is RouteOutcome.ANSWERED and result.agent == "1001"
    finally:
        await acd.close()
        await client.aclose()


async def _is(acd: AcdService, agent: str, want: tuple[AgentState, str]) -> bool:
    return await status_of(acd, agent) == want


class Killable:
    """The dying instance's view of the shared state: once killed, every call fails (the process is
    gone: it renews nothing and cleans nothing up)."""

    def __init__(self, inner: AcdState) -> None:
        self.inner = inner
        self.killed = False

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if not callable(attr):
            return attr

        async def call(*args: Any, **kwargs: Any) -> Any:
            if self.killed:
                raise StateError("the instance is dead")
            return await attr(*args, **kwargs)

        return call


@contextlib.asynccontextmanager
async def instance(
    prefix: str, *, killable: bool = False
) -> AsyncIterator[tuple[AcdService, Killable | None]]:
    client = await redis_client()
    state: Any = RedisAcdState(client, prefix)
    wrapper = Killable(state) if killable else None
    acd = AcdService(
        wrapper or state,
        InProcessBus(),
        pbx=FakePbx(),
        transitions=FakeLog(),
        directory=AgentDirectory(),
        options=HEAL,
    )
    await acd.start(CONFIG)
    try:
        yield acd, wrapper
    finally:
        if wrapper is not None:
            wrapper.killed = False
        await acd.close()
        await client.aclose()


async def test_instance_dies_and_the_survivor_releases_its_claims_ringing_agents_and_waiters() -> None:
    prefix = unique_prefix()
    phones = Phones()
    phones.set("PJSIP/1001", Phone("noanswer", ring=60))
    async with instance(prefix) as (survivor, _), instance(prefix, killable=True) as (dying, kill):
        assert kill is not None
        for agent in ("1001", "1002"):
            await survivor.login(agent)
        await survivor.pause("1002", "break")
        ringing = asyncio.create_task(dying.route(FakeChannel(phones, "d1"), request("d1")))
        await eventually(lambda: _is(survivor, "1001", (AgentState.RINGING, "")))
        waiting = asyncio.create_task(dying.route(FakeChannel(phones, "d2"), request("d2")))
        await eventually(lambda: _entry_owned(survivor, "d2", dying.instance))
        kill.killed = True
        died = time.monotonic()
        await eventually(lambda: _nothing_of(survivor, dying.instance), timeout=15.0)
        await eventually(lambda: _is(survivor, "1001", (AgentState.AVAILABLE, "")), timeout=15.0)
        assert time.monotonic() - died < 15.0
        # the pass counts the dead instance once it is done with it
        await eventually(lambda: survivor.stats["reconcile_instances_released"] == 1, timeout=5.0)
        for task in (ringing, waiting):  # the dead process's sessions
            task.cancel()
        await asyncio.gather(ringing, waiting, return_exceptions=True)
        # the survivor routes the next call to the released agent
        phones.set("PJSIP/1001", Phone(talk=0.01))
        result = await survivor.route(FakeChannel(phones, "s1"), request("s1"))
        assert result.outcome is RouteOutcome.ANSWERED and result.agent == "1001"


async def _entry_owned(acd: AcdService, entry_id: str, owner: str) -> bool:
    entry = await acd.state.get_entry(entry_id)
    return entry is not None and entry.owner == owner


async def _nothing_of(acd: AcdService, dead: str) -> bool:
    entries = await acd.state.entries()
    return not [e for e in entries if e.kind is EntryKind.CALL and dead in (e.owner, e.claimed_by)]


async def test_restore_takes_admin_changes_and_never_undoes_a_deletion() -> None:
    async with redis_state() as state:
        acd = AcdService(state, InProcessBus(), directory=AgentDirectory(), options=HEAL)
        await acd.start(CONFIG)
        try:
            await eventually(lambda: acd.reconciler.last is not None)
            await acd.put_agent({"id": "2001", "endpoint": "PJSIP/2001", "queues": {"support": 0}})
            await acd.login("2001")
            await acd.delete_agent("1003")  # in the file, deleted by an admin: stays deleted
            report = await acd.reconciler.reconcile("seeded")
            assert report.config_restored == 0 and "1003" not in {a.id for a in await state.load_agents()}
            await state.clear()  # Redis came back empty
            await eventually(lambda: _is(acd, "2001", (AgentState.AVAILABLE, "")), timeout=5.0)
            ids = {a.id for a in await state.load_agents()}
            # the file's agents come back (1003 too: the file is the configuration of record after a
            # wipe), and so does the agent an admin added, logged in as it was
            assert {"1001", "1002", "2001"} <= ids
            assert await status_of(acd, "1001") == (AgentState.LOGGED_OUT, "")
        finally:
            await acd.close()
