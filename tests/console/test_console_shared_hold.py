"""Two service instances share one Redis: a hold placed through instance A is resumed through instance B
(AMI ``Bridge`` of the right channels sent on B's link), and a hang-up while on hold, seen by both
instances, ends the other side exactly once."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from callcenter.app import Service
from callcenter.domain.calls import LegRecord, LegRole
from callcenter.pbx.message import AmiMessage
from callcenter.state.redis_holds import RedisHoldStore
from tests.console.conftest import service_settings
from tests.state.redis_support import REDIS_URL, redis_client, unique_prefix
from tests.support.ami_server import FakeAmiConnection, FakeAmiServer, frame

pytestmark = pytest.mark.redis

CUSTOMER = LegRecord("1700.1", "1700.1", "PJSIP/trunk-00000001", LegRole.CUSTOMER, 1.0, answered_at=1.0)
AGENT = LegRecord(
    "1700.2", "1700.1", "PJSIP/1001-00000002", LegRole.AGENT, 2.0, agent="1001", answered_at=3.0
)


def ok(_conn: FakeAmiConnection, msg: AmiMessage) -> bytes:
    return frame(("Response", "Success"), ("ActionID", msg["ActionID"]))


@dataclasses.dataclass
class Instance:
    service: Service
    pbx: FakeAmiServer

    def sent(self, action: str) -> list[dict[str, Any]]:
        return [{k: v for k, v in m if k != "ActionID"} for m in self.pbx.actions_named(action)]


@pytest.fixture
async def instances(tmp_path: Path) -> AsyncIterator[tuple[Instance, Instance]]:
    client = await redis_client()  # skips (or fails in CI) without a server
    prefix = unique_prefix()
    try:
        async with AsyncExitStack() as stack:
            out = []
            for name in ("a", "b"):
                pbx = await stack.enter_async_context(FakeAmiServer())
                for action in ("Setvar", "Redirect", "Bridge", "Hangup", "Getvar"):
                    pbx.on_action(action, ok)
                (tmp_path / name).mkdir()
                base = pbx.settings(redis_url=REDIS_URL, acd_redis_prefix=prefix)
                service = Service(service_settings(tmp_path / name, base))
                await stack.enter_async_context(TestClient(TestServer(service.web_app())))
                await service.link.wait_ready(5)
                out.append(Instance(service, pbx))
            yield out[0], out[1]
    finally:
        try:
            async for key in client.scan_iter(match=prefix + ":*"):
                await client.delete(key)
        finally:
            await client.aclose()


async def until(predicate: Callable[[], bool], what: str, within: float = 3.0) -> None:
    async with asyncio.timeout(within):
        while not predicate():
            await asyncio.sleep(0.02)


async def test_hold_on_one_instance_resume_on_the_other(instances: tuple[Instance, Instance]) -> None:
    a, b = instances
    assert isinstance(a.service.holds, RedisHoldStore) and isinstance(b.service.holds, RedisHoldStore)
    # instance A's tracker sees the agent's call (B's does not need to)
    a.service.console.agent_legs = lambda agent: [leg for leg in (CUSTOMER, AGENT) if leg.agent == agent]
    a.service.console.call_legs = lambda call_id: [CUSTOMER, AGENT]

    held = await a.service.console.hold("1001", True)
    assert held["held"] is True and held["call_id"] == "1700.1"
    assert [m["Channel"] for m in a.sent("Redirect")] == ["PJSIP/trunk-00000001"]
    assert a.sent("Redirect")[0]["ExtraChannel"] == "PJSIP/1001-00000002"

    # B knows about the hold: the console's state (hold timer), a second hold is a no-op
    state = await b.service.console.state("1001")
    assert state["held_by_console"] is True and state["held_since"] == held["since"]
    again = await b.service.console.hold("1001", True)
    assert again == {"call_id": "1700.1", "held": True, "since": held["since"]}
    assert b.sent("Setvar") == [] and b.sent("Redirect") == []

    # the hold's time to live is refreshed by the instances whose tracker sees its legs live
    assert await a.service.console.refresh_holds() == 1
    assert await b.service.console.refresh_holds() == 0

    resumed = await b.service.console.hold("1001", False)
    assert resumed == {"call_id": "1700.1", "held": False}
    assert b.sent("Bridge") == [
        {
            "Action": "Bridge",
            "Channel1": "PJSIP/trunk-00000001",
            "Channel2": "PJSIP/1001-00000002",
            "Tone": "no",
        }
    ]
    assert a.sent("Bridge") == []
    assert await a.service.console.held("1001") is None
    assert (await a.service.console.state("1001"))["held_by_console"] is False


async def test_a_hang_up_on_hold_ends_the_other_side_once(instances: tuple[Instance, Instance]) -> None:
    a, b = instances
    a.service.console.agent_legs = lambda agent: [leg for leg in (CUSTOMER, AGENT) if leg.agent == agent]
    a.service.console.call_legs = lambda call_id: [CUSTOMER, AGENT]
    await a.service.console.hold("1001", True)
    # the customer hangs up: every instance's tracker sees it
    gone = dataclasses.replace(CUSTOMER, ended_at=9.0)
    b.service.console.on_leg_ended(gone)
    a.service.console.on_leg_ended(gone)
    await until(lambda: len(a.sent("Hangup")) + len(b.sent("Hangup")) >= 1, "the agent's channel hung up")
    await asyncio.sleep(0.2)
    hangups = a.sent("Hangup") + b.sent("Hangup")
    assert [m["Channel"] for m in hangups] == ["PJSIP/1001-00000002"]
    stats = a.service.console.stats["hold_hangups"] + b.service.console.stats["hold_hangups"]
    assert stats == 1
    assert await b.service.console.held("1001") is None
