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
from callcenter.domain.errors import StoreUnavailable
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


@contextlib.asynccontextmanager
async def run_pipeline(server: FakeAmiServer, db_url: str, **overrides: object) -> AsyncIterator[Pipeline]:
    settings = dataclasses.replace(
        server.settings(ami_reconnect_min=0.05, ami_reconnect_max=0.2, **overrides),
        database_url=db_url,
        store_flush_interval=0.05,
    )
    service = Service(settings, auto_migrate=False)
    await service.recorder.recover()
    service.recorder.start()
    await service.link.start()
    try:
        await service.link.wait_ready(5)
        yield Pipeline(service)
    finally:
        await service.link.close()
        await service.resumer.close()
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


# --- the *service* restarts while a call is up (the store has its history) -------------------------

_IVR_CALL = "1795439030.2"
_BRIDGE = "0a8dff38-7e5b-49b8-9006-46a2f4b81a73"


def _ivr_frames() -> tuple[list[bytes], int]:
    """The ivr-to-agent events, and the cut: just after the agent answered and both sides are bridged."""
    frames = [f for f in split_frames(b"".join(_rx("ivr-to-agent.ami"))) if f.startswith(b"Event: ")]
    return frames, next(i for i, f in enumerate(frames) if f.startswith(b"Event: BridgeEnter")) + 2


def _alive_after_restart() -> list[list[tuple[str, str]]]:
    """CoreShowChannels as the PBX answers the restarted service: the four legs, the inbound and agent
    halves in the bridge (ages in whole seconds, as Asterisk gives them)."""
    return [
        core_show_channel(
            uid, chan, linkedid=_IVR_CALL, duration="00:00:00", bridge_id=bridge, application=app
        )
        for uid, chan, bridge, app in (
            (_IVR_CALL, "Local/8002@incoming-00000001;1", "", "AppDial"),
            ("1795439030.3", "Local/8002@incoming-00000001;2", _BRIDGE, "AGI"),
            ("1795439033.4", "Local/1001@agents-00000002;1", _BRIDGE, "AppDial"),
            ("1795439033.5", "Local/1001@agents-00000002;2", "", "Playback"),
        )
    ]


async def _first_life(db_url: str, frames: list[bytes], cut: int, talk_before: float) -> CallRecord:
    """The first service process: the call up to the answer, some talk, then the service stops."""
    async with FakeAmiServer() as server, run_pipeline(server, db_url) as pipe:
        await server.wait_for(lambda: pipe.service.link.status()["resyncs"] >= 1)  # the login's resync
        await server.current.send_raw(b"".join(f + b"\r\n\r\n" for f in frames[:cut]))
        await server.wait_for(lambda: pipe.service.tracker.live_calls == 1)
        await asyncio.sleep(talk_before)
        await pipe.service.recorder.flush()
        stored = await pipe.service.store.get_call(_IVR_CALL)
    assert stored is not None and stored.outcome is CallOutcome.IN_PROGRESS
    assert stored.answered_at is not None and stored.agent == "1001" and stored.recording_file
    return stored


async def test_service_restart_mid_call_keeps_the_stored_answer_and_the_full_talk(
    traces_dir: Path, db_url: str
) -> None:
    frames, cut = _ivr_frames()
    before = await _first_life(db_url, frames, cut, talk_before=0.6)
    async with FakeAmiServer(channels=_alive_after_restart()) as server, run_pipeline(server, db_url) as pipe:
        tracker = pipe.service.tracker
        await server.wait_for(lambda: tracker.stats()["calls_restored"] == 1)
        live = tracker.snapshot(_IVR_CALL)
        assert live is not None  # the in-memory record (screen pop, wallboard) has the history again
        assert (live.answered_at, live.agent, live.queue) == (before.answered_at, "1001", before.queue)
        assert live.recording_file == before.recording_file and live.ivr_at == before.ivr_at
        assert live.offered_at == before.offered_at and live.started_at == before.started_at
        await asyncio.sleep(0.3)
        await server.current.send_raw(b"".join(f + b"\r\n\r\n" for f in frames[cut:]))
        await pipe.settle()
        (call,) = inbound(await pipe.calls())
        assert pipe.service.resumer.stats()["store_failures"] == 0
    assert call.outcome is CallOutcome.ANSWERED and call.agent == "1001"
    assert call.answered_at == before.answered_at and call.offered_at == before.offered_at
    assert call.recording_file == before.recording_file and call.extra.get("resumed") == "1"
    assert call.ended_at is not None and call.answered_at is not None
    # talk: from the stored answer to the real end (no hold in this call), restart included
    assert call.talk_seconds >= 0.9
    assert call.talk_seconds == pytest.approx(call.ended_at - call.answered_at, abs=0.15)
    assert call.wait_seconds == pytest.approx(before.wait_seconds, abs=1e-5)
    legs = {leg.uniqueid: leg for leg in call.legs}
    assert set(legs) == {_IVR_CALL, "1795439030.3", "1795439033.4", "1795439033.5"}
    assert legs["1795439033.4"].answered_at == next(
        leg.answered_at for leg in before.legs if leg.uniqueid == "1795439033.4"
    )
    assert [o.agent for o in call.offers] == ["1001"] and call.offers[0].answered


async def test_service_restart_closes_stored_calls_that_ended_while_it_was_down(
    traces_dir: Path, db_url: str
) -> None:
    frames, cut = _ivr_frames()
    before = await _first_life(db_url, frames, cut, talk_before=0.3)
    async with FakeAmiServer() as server, run_pipeline(server, db_url) as pipe:  # nothing alive any more
        tracker = pipe.service.tracker
        await server.wait_for(lambda: tracker.stats()["calls_closed_on_resume"] == 1)
        await pipe.settle()
        (call,) = inbound(await pipe.calls())
        restarted_at = tracker.stats()
    assert restarted_at["calls_restored"] == 0
    assert call.outcome is CallOutcome.ANSWERED and call.hangup_by is HangupSide.SYSTEM
    assert call.extra.get("closed_by") == "resume"
    assert call.answered_at == before.answered_at and call.agent == "1001"
    # ended: the last time the store saw the call, never later; no talk past it
    assert call.ended_at is not None and call.answered_at is not None
    assert call.answered_at <= call.ended_at <= before.version / 1e9
    assert 0.0 <= call.talk_seconds <= call.ended_at - call.answered_at
    assert all(leg.ended_at is not None for leg in call.legs)


async def test_service_restart_with_the_store_down_goes_on_from_the_snapshot(
    traces_dir: Path, db_url: str
) -> None:
    frames, cut = _ivr_frames()
    before = await _first_life(db_url, frames, cut, talk_before=0.2)

    async def store_down(*_args: object) -> None:
        raise StoreUnavailable("database unreachable (test)")

    async with FakeAmiServer(channels=_alive_after_restart()) as server:
        settings = dataclasses.replace(
            server.settings(ami_reconnect_min=0.05, ami_reconnect_max=0.2),
            database_url=db_url,
            store_flush_interval=0.05,
        )
        service = Service(settings, auto_migrate=False)
        service.store.get_call = store_down  # type: ignore[method-assign,assignment]
        service.store.open_call_ids = store_down  # type: ignore[method-assign,assignment]
        pipe = Pipeline(service)
        service.recorder.start()
        await service.link.start()
        try:
            await service.link.wait_ready(5)
            # one whole resume pass: the restore fails (snapshot only), then the stale pass fails too
            await server.wait_for(lambda: service.resumer.stats()["passes"] == 1)
            assert service.tracker.stats()["restores_failed"] == 1
            assert service.resumer.stats()["store_failures"] == 2  # the restore and the stale pass
            assert service.tracker.live_calls == 1
            await server.current.send_raw(b"".join(f + b"\r\n\r\n" for f in frames[cut:]))
            await pipe.settle()
        finally:
            await service.link.close()
            await service.resumer.close()
            await service.recorder.close()
            await service.store.close()
    async with FakeAmiServer() as server, run_pipeline(server, db_url) as pipe:
        (call,) = inbound(await pipe.calls())
    # snapshot-only in memory; the store's merge still keeps the first-known times
    assert call.outcome is CallOutcome.ANSWERED and call.ended_at is not None
    assert call.answered_at == before.answered_at
