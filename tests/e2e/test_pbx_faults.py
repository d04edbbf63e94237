"""What the call log says after PBX faults (issue 12), replayed from the real Asterisk 22.10.1 traces
through the service's own link, translator, tracker, recorder and SQLite store: a kill -9 (fact 34), a
``core restart now`` (facts 15, 28), the shipped eventfilter (fact 35), a supervisor's ChanSpy (fact 36);
and caller-controlled sizes through AMI."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

import callcenter.app as app_module
from callcenter.app import Service
from callcenter.domain.agents import AgentDirectory
from callcenter.domain.calls import MAX_NAME, MAX_NUMBER, CallOutcome, CallRecord, EndCause, HangupSide
from callcenter.domain.kpis import FactKind, call_fact
from tests.e2e.test_trace_pipeline import Pipeline, run_pipeline
from tests.support.ami_server import FakeAmiServer, frame
from tests.support.traces import RESTART_OBSERVER, TraceReplayServer, trace_path


@pytest.fixture
def project_agents(monkeypatch: pytest.MonkeyPatch) -> None:
    """The project dialplan's agents are ``Local/<ext>@agent-sim`` (the ACD config's endpoints)."""
    original = app_module.Service.__init__

    def init(self: Service, settings: Any, **kwargs: Any) -> None:
        kwargs.setdefault("agents", AgentDirectory(agent_contexts=("agents", "agent-sim")))
        original(self, settings, **kwargs)

    monkeypatch.setattr(app_module.Service, "__init__", init)


@contextlib.asynccontextmanager
async def replaying(
    name: str, db_url: str, conns: Sequence[str] = ("ami1",)
) -> AsyncIterator[tuple[TraceReplayServer, Pipeline]]:
    server = TraceReplayServer(trace_path(name), conns)
    async with server, run_pipeline(server, db_url) as pipe:
        yield server, pipe


async def replay_calls(name: str, db_url: str, conns: Sequence[str] = ("ami1",)) -> list[CallRecord]:
    async with replaying(name, db_url, conns) as (server, pipe):
        await server.wait_replayed(40)
        await pipe.settle()
        return await pipe.calls()


def kinds(calls: list[CallRecord]) -> list[FactKind | None]:
    facts = [call_fact(c, lambda _q: 20.0) for c in calls]
    return [f.kind if f is not None else None for f in facts]


async def test_kill9_closes_answered_calls_as_answered_lost_by_the_pbx(
    traces_dir: Path, db_url: str, project_agents: None
) -> None:
    """kill -9: EOF with no Hangup at all, nothing alive after the restart (fact 34). Two bridged calls
    stay answered (never abandoned), the waiting one is lost; all three were ended by the PBX."""
    calls = await replay_calls("kill9-restart.ami", db_url, ("ami1", "ami2"))
    by_caller = {c.caller_num: c for c in calls}
    assert set(by_caller) == {"5556041", "5556042", "5556043"}
    for number, agent in (("5556041", "1001"), ("5556042", "1002")):
        call = by_caller[number]
        assert (call.outcome, call.agent, call.hangup_by) == (CallOutcome.ANSWERED, agent, HangupSide.SYSTEM)
        assert call.extra.get("end_cause") == EndCause.PBX_LOST
    waiting = by_caller["5556043"]
    assert waiting.outcome is CallOutcome.LOST and waiting.hangup_by is HangupSide.SYSTEM
    assert waiting.extra.get("end_cause") == EndCause.PBX_LOST
    assert FactKind.ABANDONED not in kinds(calls)


async def test_core_restart_now_is_the_pbx_ending_the_call(traces_dir: Path, db_url: str) -> None:
    """``core restart now`` hangs the call up with SoftHangupRequest Cause 4 (facts 15, 28): ended by
    the PBX, not by the caller; the call after the restart ends on its own (Cause 16)."""
    calls = await replay_calls("restart.ami", db_url, RESTART_OBSERVER)
    by_id = {c.call_id: c for c in calls}
    shut = by_id["1795439194.70"]
    assert shut.extra.get("end_cause") == EndCause.PBX_SHUTDOWN
    assert shut.hangup_by is HangupSide.SYSTEM and shut.outcome is CallOutcome.LOST
    later = by_id["1795439198.0"]
    assert "end_cause" not in later.extra and later.hangup_by is HangupSide.CALLER


def _agi_env(name: str) -> dict[str, str]:
    """The first FastAGI environment block of a trace, as our server hands it to a handler."""
    env: dict[str, str] = {}
    for line in trace_path(name).with_suffix(".agi").read_text().splitlines():
        if line.startswith("agi_") and ": " in line:
            key, _, value = line.partition(": ")
            if key[4:] in env:
                break
            env[key[4:]] = value
    script = env.get("network_script", "")
    for part in script.partition("?")[2].split("&"):
        key, _, value = part.partition("=")
        env.setdefault(key, value)  # our server adds ``linkedid`` from the query string
    return env


class FakeAgi:
    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.uniqueid = env["uniqueid"]


async def test_ivr_at_is_set_with_the_shipped_event_filter(
    traces_dir: Path, db_url: str, project_agents: None
) -> None:
    """ami1 of eventfilter-shipped.ami is what the shipped manager.conf passes: no Newexten, no AGIExec
    (fact 35). The IVR entry comes from our FastAGI server's session instead."""
    env = _agi_env("eventfilter-shipped.ami")
    async with replaying("eventfilter-shipped.ami", db_url) as (server, pipe):
        service = pipe.service
        handled: list[str] = []

        async def ivr_handle(channel: Any) -> None:
            handled.append(channel.uniqueid)

        service.ivr.handle = ivr_handle  # type: ignore[method-assign]
        route = service._agi_route("ivr")
        assert route is not None
        started = time.time()
        await route(FakeAgi(env))  # type: ignore[arg-type]
        await server.wait_replayed(40)
        await pipe.settle()
        (call,) = [c for c in await pipe.calls() if c.direction == "inbound"]
    assert handled == ["1796315062.25"]
    assert call.call_id == env["linkedid"] == "1796315062.24"
    assert call.ivr_at is not None and call.ivr_at >= started
    assert call.outcome is CallOutcome.ANSWERED and call.agent == "1001"


async def test_chanspy_is_a_monitoring_session_of_the_spied_call(
    traces_dir: Path, db_url: str, project_agents: None
) -> None:
    calls = await replay_calls("chanspy-originate.ami", db_url)
    by_id = {c.call_id: c for c in calls}
    assert set(by_id) == {"1796315075.28", "1796315077.32"}
    spied, spy = by_id["1796315075.28"], by_id["1796315077.32"]
    assert spy.outcome is CallOutcome.MONITORING and spy.direction == "monitoring"
    assert spy.extra.get("monitored_call") == spied.call_id
    assert spy.extra.get("monitored_agent") == "1001"
    assert spied.extra.get("monitored_by") == spy.call_id
    assert spied.outcome is CallOutcome.ANSWERED and spied.caller_num == "5556051"
    assert kinds([spy]) == [None]  # never offered, never abandoned


def _newchannel(uid: str, name: str, number: str) -> bytes:
    return frame(
        Event="Newchannel",
        Privilege="call,all",
        Channel="PJSIP/trunk-00000001",
        ChannelState="4",
        ChannelStateDesc="Ring",
        CallerIDNum=number,
        CallerIDName=name,
        ConnectedLineNum="<unknown>",
        ConnectedLineName="<unknown>",
        Language="en",
        AccountCode="",
        Context="incoming",
        Exten="8002",
        Priority="1",
        Uniqueid=uid,
        Linkedid=uid,
    )


async def test_a_megabyte_caller_name_through_ami_is_cut_and_counted(db_url: str) -> None:
    uid = "1796000000.1"
    name, number = "N" * 1_000_000, "5" * 10_000
    async with FakeAmiServer() as server, run_pipeline(server, db_url) as pipe:
        await server.wait_for(lambda: pipe.service.link.status()["resyncs"] >= 1)
        hangup = _newchannel(uid, name, number).replace(b"Event: Newchannel", b"Event: Hangup", 1)
        hangup = hangup[:-2] + b"Cause: 16\r\nCause-txt: Normal Clearing\r\n\r\n"
        await server.current.send_raw(_newchannel(uid, name, number) + hangup)
        await server.wait_for(lambda: pipe.service.tracker.stats()["calls_finished"] == 1, within=10)
        await pipe.settle()
        (call,) = await pipe.calls()
        metrics = pipe.service.metrics()
    assert len(call.caller_name) == MAX_NAME and call.caller_name == "N" * MAX_NAME
    assert len(call.caller_num) == MAX_NUMBER
    assert metrics["callcenter_ami_fields_truncated_total"] >= 2
    # a 1 MB name is one line: the link must not have dropped the connection or counted it malformed
    assert pipe.service.link.status()["malformed_frames"] == 0
