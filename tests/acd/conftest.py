"""Fixtures of the ACD service tests: an ``AcdService`` on the in-process state (and on Redis where a test
asks for ``acd_backend``), fake phones and a fake transition log."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from callcenter.domain.acd import AcdConfig
from callcenter.domain.agents import AgentDirectory
from callcenter.ports import AcdState
from callcenter.services.acd import AcdOptions, AcdService
from callcenter.state.bus import InProcessBus
from callcenter.state.memory import MemoryAcdState
from tests.acd.fakes import FAST, Events, FakeLog, FakePbx, Phones
from tests.state.redis_support import redis_state


class Rig:
    def __init__(self, acd: AcdService, phones: Phones, log: FakeLog, events: Events, pbx: FakePbx) -> None:
        self.acd = acd
        self.phones = phones
        self.log = log
        self.events = events
        self.pbx = pbx


MakeRig = Callable[..., Awaitable[Rig]]


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def acd_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def backend() -> str:
    return "memory"


@pytest.fixture
async def make_rig(request: pytest.FixtureRequest) -> AsyncIterator[MakeRig]:
    services: list[AcdService] = []
    contexts = []
    name = request.getfixturevalue("acd_backend") if "acd_backend" in request.fixturenames else "memory"

    async def make(config: AcdConfig, options: AcdOptions = FAST, *, state: AcdState | None = None) -> Rig:
        if state is None:
            if name == "redis":
                ctx = redis_state()
                state = await ctx.__aenter__()
                contexts.append(ctx)
            else:
                state = MemoryAcdState()
        bus = InProcessBus()
        log = FakeLog()
        pbx = FakePbx()
        acd = AcdService(state, bus, pbx=pbx, transitions=log, directory=AgentDirectory(), options=options)
        events = Events(bus)
        await acd.start(config)
        services.append(acd)
        return Rig(acd, Phones(), log, events, pbx)

    yield make
    for acd in services:
        await acd.close()
    for ctx in contexts:
        await ctx.__aexit__(None, None, None)
