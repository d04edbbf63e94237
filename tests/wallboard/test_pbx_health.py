"""PBX health (issue 13.8): Ping round-trip history, the "PBX slow" alert, its metrics.

Unit tests on a fake clock, then the whole service against the fake PBX whose Ping replies are delayed
(``FakeAmiServer.on_action("Ping", ...)``): the alert appears on the wallboard snapshot, in ``/metrics``,
and clears when the PBX answers fast again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from callcenter.app import Service
from callcenter.config import Secret, Settings, load_settings
from callcenter.domain.errors import ConfigError
from callcenter.domain.users import Role
from callcenter.pbx.message import AmiMessage
from callcenter.services.pbx_health import PbxHealth
from callcenter.webapp.metrics import render_prometheus
from tests.support.ami_server import FakeAmiConnection, FakeAmiServer, frame


class Clock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def feed(health: PbxHealth, clock: Clock, rtts: list[float], every: float = 5.0) -> None:
    for rtt in rtts:
        clock.now += every
        health.record(rtt)


def test_alert_after_the_sustained_time_and_clear_when_fast_again() -> None:
    clock = Clock()
    health = PbxHealth(slow_ms=250, slow_for=30, history=300, clock=clock)
    feed(health, clock, [0.001, 0.002])
    assert health.alert is None and health.view()["ping_ms"] == 2.0
    feed(health, clock, [0.3] * 6)  # slow for 25 s (first slow sample .. sixth): not yet
    assert health.alert is None
    feed(health, clock, [0.9])  # 30 s of slow pings
    assert health.alert is not None and health.alert.worst == 0.9
    view = health.view()
    assert view["alert"]["kind"] == "pbx_slow"  # type: ignore[index]
    assert "PBX slow" in view["alert"]["message"]  # type: ignore[index]
    feed(health, clock, [0.4])
    assert health.alert is not None
    feed(health, clock, [0.01])  # back to normal: cleared at once
    assert health.alert is None and health.view()["alert"] is None
    assert health.alerts_raised == 1


def test_one_fast_ping_restarts_the_slow_episode() -> None:
    clock = Clock()
    health = PbxHealth(slow_ms=250, slow_for=30, clock=clock)
    feed(health, clock, [0.3] * 5 + [0.01] + [0.3] * 5)  # never 30 s in a row
    assert health.alert is None


def test_history_keeps_the_last_window_only() -> None:
    clock = Clock()
    health = PbxHealth(history=60, clock=clock)
    feed(health, clock, [0.001 * i for i in range(1, 31)], every=5.0)  # 150 s of pings
    history = health.view()["history"]
    assert isinstance(history, list) and len(history) == 13  # 60 s / 5 s, both ends included
    assert history[-1][1] == 30.0
    assert health.view()["max_ms"] == 30.0


def test_metrics_are_a_gauge_and_a_prometheus_histogram() -> None:
    clock = Clock()
    health = PbxHealth(clock=clock)
    feed(health, clock, [0.0005, 0.003, 0.2, 1.5, 4.0])
    values = health.metrics()
    assert values['callcenter_pbx_ping_rtt_seconds_bucket{le="0.001"}'] == 1
    assert values['callcenter_pbx_ping_rtt_seconds_bucket{le="0.005"}'] == 2
    assert values['callcenter_pbx_ping_rtt_seconds_bucket{le="0.25"}'] == 3
    assert values['callcenter_pbx_ping_rtt_seconds_bucket{le="2.5"}'] == 4
    assert values['callcenter_pbx_ping_rtt_seconds_bucket{le="+Inf"}'] == 5
    assert values["callcenter_pbx_ping_rtt_seconds_count"] == 5
    assert values["callcenter_pbx_ping_rtt_seconds_sum"] == pytest.approx(5.7035)
    assert values["callcenter_pbx_ping_recent_max_seconds"] == 4.0
    text = render_prometheus(values)
    assert "# TYPE callcenter_pbx_ping_rtt_seconds histogram" in text
    assert "# TYPE callcenter_pbx_ping_rtt_seconds_bucket" not in text
    assert "# TYPE callcenter_pbx_ping_rtt_seconds_count" not in text
    lines = [ln for ln in text.splitlines() if ln.startswith("callcenter_pbx_ping_rtt_seconds")]
    assert lines[0].startswith('callcenter_pbx_ping_rtt_seconds_bucket{le="0.001"}')
    assert lines[-2].startswith("callcenter_pbx_ping_rtt_seconds_sum")
    assert lines[-1] == "callcenter_pbx_ping_rtt_seconds_count 5"
    assert "# TYPE callcenter_pbx_slow gauge" in text


def test_settings_are_validated() -> None:
    s = load_settings({"CALLCENTER_PBX_SLOW_PING_MS": "100", "CALLCENTER_PBX_SLOW_FOR": "10"})
    assert (s.pbx_slow_ping_ms, s.pbx_slow_for, s.pbx_ping_history) == (100.0, 10.0, 300.0)
    with pytest.raises(ConfigError, match="CALLCENTER_PBX_SLOW_PING_MS"):
        load_settings({"CALLCENTER_PBX_SLOW_PING_MS": "0"})


# --- the whole service against a PBX whose Ping replies are slow ------------------------------------


class SlowPings:
    """A Ping handler for the fake PBX: answers after ``delay`` seconds (the connection is busy meanwhile,
    as a loaded Asterisk's manager thread is)."""

    def __init__(self) -> None:
        self.delay = 0.0

    async def __call__(self, conn: FakeAmiConnection, msg: AmiMessage) -> bytes:
        if self.delay:
            await asyncio.sleep(self.delay)
        return frame(
            ("Response", "Success"),
            ("ActionID", msg.get("ActionID") or ""),
            ("Ping", "Pong"),
            ("Timestamp", f"{time.time():.6f}"),
        )


async def wait_until(predicate: Callable[[], bool], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


@dataclasses.dataclass
class SlowPbx:
    service: Service
    client: TestClient[Any, Any]
    pings: SlowPings
    token: str


@pytest.fixture
async def slow_pbx(tmp_path: Path) -> AsyncIterator[SlowPbx]:
    pings = SlowPings()
    async with FakeAmiServer() as pbx:
        pbx.on_action("Ping", pings)
        settings: Settings = dataclasses.replace(
            pbx.settings(ami_ping_interval=0.05, ami_ping_timeout=2.0),
            database_url=f"sqlite+aiosqlite:///{tmp_path / 'pbx.db'}",
            session_secret=Secret("pbx-health-secret-0123456789"),
            pbx_slow_ping_ms=80.0,
            pbx_slow_for=0.4,
            pbx_ping_history=60.0,
        )
        service = Service(settings)
        async with TestClient(TestServer(service.web_app())) as client:
            await service.link.wait_ready(5)
            user = await service.accounts.create_user("sup", "supervisor-pass-1", Role.SUPERVISOR)
            token = await service.accounts.issue_api_token(user.id, "test")
            yield SlowPbx(service, client, pings, token)


async def _metrics(rig: SlowPbx) -> dict[str, float]:
    resp = await rig.client.get("/metrics", headers={"Authorization": f"Bearer {rig.token}"})
    assert resp.status == 200
    out = {}
    for line in (await resp.text()).splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


async def test_a_slow_pbx_raises_the_alert_on_the_wallboard_and_clears(slow_pbx: SlowPbx) -> None:
    rig = slow_pbx
    health = rig.service.pbx_health
    await wait_until(lambda: health.last is not None)  # fast pings first
    assert health.alert is None
    rig.pings.delay = 0.15  # 150 ms > 80 ms, for longer than 0.4 s
    await wait_until(lambda: health.alert is not None)
    resp = await rig.client.get("/api/wallboard", headers={"Authorization": f"Bearer {rig.token}"})
    board = await resp.json()
    assert board["pbx"]["alert"]["kind"] == "pbx_slow"
    assert board["pbx"]["ping_ms"] >= 150
    assert "pbx_slow" in board["scopes"]["*"]["alerts"]  # the center's alerts, beside the KPI ones
    assert [ms for _, ms in board["pbx"]["history"]][-1] >= 150
    metrics = await _metrics(rig)
    assert metrics["callcenter_pbx_slow"] == 1.0
    assert metrics["callcenter_pbx_ping_seconds"] >= 0.15
    assert metrics['callcenter_pbx_ping_rtt_seconds_bucket{le="+Inf"}'] >= 3
    assert (
        metrics['callcenter_pbx_ping_rtt_seconds_bucket{le="0.1"}']
        < metrics['callcenter_pbx_ping_rtt_seconds_bucket{le="+Inf"}']
    )
    rig.pings.delay = 0.0  # back to normal
    await wait_until(lambda: health.alert is None)
    resp = await rig.client.get("/api/wallboard", headers={"Authorization": f"Bearer {rig.token}"})
    board = await resp.json()
    assert board["pbx"]["alert"] is None and "pbx_slow" not in board["scopes"]["*"]["alerts"]
    assert (await _metrics(rig))["callcenter_pbx_slow"] == 0.0
