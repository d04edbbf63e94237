"""The real traces replayed over loopback TCP through the real link, translator, tracker, recorder and
SQLite store (the service's own ``Service`` wiring, without the web server)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from callcenter.app import Service
from callcenter.domain.calls import CallOutcome, CallQuery, CallRecord, HangupSide
from callcenter.store.migrate import migrate
from tests.support.ami_server import FakeAmiServer, core_show_channel
from tests.support.trace_messages import trace_messages
from tests.support.traces import RESTART_OBSERVER, TraceReplayServer, rx_chunks, split_frames, trace_path


class Pipeline:
    def __init__(self, service: Service) -> None:
        self.service = service

    async def settle(self, within: float = 10.0) -> None:
        """Wait until every call the link delivered has ended and been written."""
        tracker, recorder = self.service.tracker, self.service.recorder
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while loop.time() < deadline:
            if tracker.live_calls == 0 and recorder.pending == 0 and not tracker._dirty:
                await recorder.flush()
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"calls still live: {tracker.stats()} recorder: {recorder.stats()}")

    async def calls(self) -> list[CallRecord]:
        page = await self.service.store.list_calls(CallQuery(limit=200))
        full = [await self.service.store.get_call(c.call_id) for c in page.calls]
        return sorted((c for c in full if c is not None), key=lambda c: c.started_at)


@pytest.fixture
async def db_url(tmp_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'calls.db'}"
    await migrate(url)
    return url


@contextlib.asynccontextmanager
async def run_pipeline(server: FakeAmiServer, db_url: str, **overrides: object) -> AsyncIterator[Pipeline]:
    settings = dataclasses.replace(
        server.settings(ami_reconnect_min=0.05, ami_reconnect_max=0.2, **overrides),
        database_url=db_url,
        store_flush_interval=0.05,
    )
    service = Service(settings, auto_migrate=False)
    service.recorder.start()
    await service.link.start()
    try:
        await service.link.wait_ready(5)
        yield Pipeline(service)
    finally:
        await service.link.close()
        await service.recorder.close()
        await service.store.close()


async def replay(
    name: str, db_url: str, conns: Sequence[str] = ("ami1",), speed: float | None = None
) -> tuple[list[CallRecord], Service]:
    server = TraceReplayServer(trace_path(name), conns, speed=speed)
    async with server, run_pipeline(server, db_url) as pipe:
        await server.wait_replayed(40)
        await pipe.settle()
        return await pipe.calls(), pipe.service


def inbound(calls: list[CallRecord]) -> list[CallRecord]:
    return [c for c in calls if c.direction == "inbound"]


async def test_ivr_to_agent_at_a_quarter_of_real_time(traces_dir: Path, db_url: str) -> None:
    speed = 4.0
    calls, _ = await replay("ivr-to-agent.ami", db_url, speed=speed)
    (call,) = inbound(calls)
    assert call.outcome is CallOutcome.ANSWERED and call.agent == "1001"
    assert call.caller_num == "5551234" and call.dnis == "8002"
    # trace clock: the agent rings 2.0 s, the conversation lasts 3.25 s
    assert call.wait_seconds is not None
    assert call.wait_seconds * speed == pytest.approx(2.0, abs=1.0)
    assert call.talk_seconds * speed == pytest.approx(3.25, abs=1.0)
    assert call.recording_file and call.recording_file.endswith("1795439030.3-1795439033.4.wav")
    assert {leg.uniqueid for leg in call.legs} == {
        "1795439030.2",
        "1795439030.3",
        "1795439033.4",
        "1795439033.5",
    }


async def test_caller_abandons(traces_dir: Path, db_url: str) -> None:
    calls, _ = await replay("caller-abandons.ami", db_url)
    assert [c.outcome for c in inbound(calls)] == [CallOutcome.ABANDONED_IN_IVR] * 2
    assert all(c.hangup_by is HangupSide.CALLER for c in inbound(calls))


async def test_agent_no_answer_then_answer(traces_dir: Path, db_url: str) -> None:
    calls, _ = await replay("agent-no-answer.ami", db_url)
    (call,) = inbound(calls)
    assert [(o.agent, o.answered) for o in call.offers] == [("1003", False), ("1004", True)]
    assert call.agent == "1004" and call.outcome is CallOutcome.ANSWERED


async def test_redirect_and_transfers_recorded(traces_dir: Path, db_url: str) -> None:
    calls, _ = await replay("redirect-transfer.ami", db_url)
    kinds = [[t.kind for t in c.transfers] for c in inbound(calls)]
    assert kinds == [["redirect"], ["blind"], ["attended"]]


async def test_restart_closes_the_call_reconnects_and_duplicates_nothing(
    traces_dir: Path, db_url: str
) -> None:
    calls, service = await replay("restart.ami", db_url, RESTART_OBSERVER)
    status = service.link.status()
    assert status["logins"] >= 5  # one per reconnect of the observer in the trace
    linkedids = {m.get("Linkedid") for _, _, m in trace_messages("restart.ami") if m.event == "Newchannel"}
    assert {c.call_id for c in calls} == linkedids
    assert all(c.ended_at is not None and c.outcome is not CallOutcome.IN_PROGRESS for c in calls)
    # a second replay of the same trace into the same store changes nothing
    again, _ = await replay("restart.ami", db_url, RESTART_OBSERVER)
    assert [(c.call_id, c.outcome) for c in again] == [(c.call_id, c.outcome) for c in calls]


async def test_connection_dropped_mid_call_loses_no_call_record(traces_dir: Path, db_url: str) -> None:
    """The PBX link dies after the agent answered. On reconnect the resync finds the call's channels
    gone (the PBX hung them up meanwhile): the call is still written, closed by the resync."""
    frames = [f for f in split_frames(b"".join(_rx("ivr-to-agent.ami"))) if f.startswith(b"Event: ")]
    cut = next(i for i, f in enumerate(frames) if f.startswith(b"Event: BridgeEnter")) + 2
    async with FakeAmiServer() as server, run_pipeline(server, db_url) as pipe:
        conn = server.current
        await conn.send_raw(b"".join(f + b"\r\n\r\n" for f in frames[:cut]))
        await server.wait_for(lambda: pipe.service.tracker.live_calls == 1)
        server.channels = []  # nothing alive after the reconnect
        conn.reset()
        await server.wait_logins(2, within=5)
        await pipe.settle()
        (call,) = await pipe.calls()
    assert call.call_id == "1795439030.2"
    assert call.outcome is CallOutcome.ANSWERED and call.agent == "1001"
    assert call.hangup_by is HangupSide.SYSTEM
    assert call.ended_at is not None


async def test_connection_dropped_mid_call_resumes_when_the_call_survives(
    traces_dir: Path, db_url: str
) -> None:
    """Same cut, but the call is still up after the reconnect: the resync keeps it and the rest of the
    call completes it normally — one call, not two."""
    frames = [f for f in split_frames(b"".join(_rx("ivr-to-agent.ami"))) if f.startswith(b"Event: ")]
    cut = next(i for i, f in enumerate(frames) if f.startswith(b"Event: BridgeEnter")) + 2
    alive = [
        core_show_channel(uid, chan)
        for uid, chan in (
            ("1795439030.2", "Local/8002@incoming-00000001;1"),
            ("1795439030.3", "Local/8002@incoming-00000001;2"),
            ("1795439033.4", "Local/1001@agents-00000002;1"),
            ("1795439033.5", "Local/1001@agents-00000002;2"),
        )
    ]
    async with FakeAmiServer() as server, run_pipeline(server, db_url) as pipe:
        conn = server.current
        await conn.send_raw(b"".join(f + b"\r\n\r\n" for f in frames[:cut]))
        await server.wait_for(lambda: pipe.service.tracker.live_calls == 1)
        server.channels = alive
        conn.reset()
        await server.wait_logins(2, within=5)
        await server.wait_for(lambda: len(server.actions_named("CoreShowChannels")) >= 2)
        await asyncio.sleep(0.2)
        assert pipe.service.tracker.live_calls == 1
        await server.current.send_raw(b"".join(f + b"\r\n\r\n" for f in frames[cut:]))
        await pipe.settle()
        (call,) = await pipe.calls()
    assert call.outcome is CallOutcome.ANSWERED and call.hangup_by is HangupSide.CALLER
    assert len(call.legs) == 4


def _rx(name: str) -> list[bytes]:
    return rx_chunks(trace_path(name), "ami1")
