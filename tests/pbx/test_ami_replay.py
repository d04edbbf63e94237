"""Real traces replayed over TCP through AmiLink (the lead's end-to-end trace tests build on this)."""

from __future__ import annotations

from pathlib import Path

import pytest

from callcenter.domain.events import LinkDown, LinkUp, PbxEvent, ResyncComplete
from callcenter.pbx.ami import AmiLink
from callcenter.pbx.message import AmiMessage
from tests.support.traces import (
    RESTART_OBSERVER,
    TraceReplayServer,
    ami_traces,
    prepare_part,
    trace_path,
)

Item = AmiMessage | PbxEvent


def _messages(items: list[Item]) -> list[AmiMessage]:
    return [i for i in items if isinstance(i, AmiMessage)]


@pytest.mark.parametrize("path", [p for p in ami_traces() if p.name != "restart.ami"], ids=lambda p: p.name)
async def test_replay_single_connection(path: Path) -> None:
    items: list[Item] = []
    async with TraceReplayServer(path, ("ami1",)) as srv:
        link = AmiLink(srv.settings(), items.append)
        await link.start()
        try:
            await link.wait_ready(5)
            await srv.wait_replayed(10)
            await srv.wait_for(lambda: len(_messages(items)) >= srv.parts[0].frames)
            assert link.malformed_frames == 0 and link.connected
        finally:
            await link.close()
    msgs = _messages(items)
    assert len(msgs) == srv.parts[0].frames
    assert all(m.event is not None for m in msgs), "responses to the recorder's actions were dropped"
    assert msgs[0].event == "FullyBooted"
    assert isinstance(items[0], LinkUp)
    assert isinstance(items[1], ResyncComplete), "the replay starts after our resync was answered"
    assert not any(m.event == "CoreShowChannel" for m in msgs), "the recorder's list items were dropped"


async def test_replay_keeps_chunk_boundaries_and_never_splits_our_replies() -> None:
    part = prepare_part(trace_path("app-queue.ami"), "ami1")
    assert len(part.chunks) > 50
    assert part.boundary_after[-1]
    assert b"".join(part.chunks).count(b"\r\n\r\n") == part.frames


async def test_replay_restart_observer_reconnects_through_resets() -> None:
    items: list[Item] = []
    async with TraceReplayServer(trace_path("restart.ami"), RESTART_OBSERVER) as srv:
        link = AmiLink(srv.settings(ami_reconnect_min=0.01, ami_reconnect_max=0.05), items.append)
        await link.start()
        try:
            await link.wait_ready(5)
            await srv.wait_replayed(10)
            expected = sum(p.frames for p in srv.parts)
            await srv.wait_for(lambda: len(_messages(items)) >= expected and link.connected)
        finally:
            await link.close()
    assert srv.resets == 2  # ami3 and ami9: reset before the banner
    ups = [i for i in items if isinstance(i, LinkUp)]
    downs = [i for i in items if isinstance(i, LinkDown)]
    assert len(ups) == 5
    assert len(downs) == 5  # 4 restarts + our close
    assert sum("Shutdown" in d.reason for d in downs) >= 2
    assert sum(isinstance(i, ResyncComplete) for i in items) >= 4
    msgs = _messages(items)
    assert len(msgs) == sum(p.frames for p in srv.parts)
    assert sum(m.event == "Shutdown" for m in msgs) >= 2
    assert sum(m.event == "FullyBooted" for m in msgs) == 5
