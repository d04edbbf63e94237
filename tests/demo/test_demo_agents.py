"""The demo's people (``demo_agents.DemoAgents``) against a small fake of the ACD API, on a fake clock."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from callcenter.demo_agents import DemoAgents, PersonProfile
from callcenter.domain.acd import InvalidTransition
from callcenter.services.console import DispositionRules, QueueDispositions


class FakeAcd:
    """The agent console's buttons: records the clicks, keeps one state per agent."""

    def __init__(self, agents: list[str]) -> None:
        self.views: dict[str, dict[str, Any]] = {a: {"state": "available", "reason": None} for a in agents}
        self.clicks: list[tuple[str, str]] = []

    async def agent_view(self, agent: str) -> dict[str, Any]:
        return dict(self.views[agent])

    async def login(self, agent: str, *, by: str = "agent") -> None:
        self.clicks.append(("login", agent))
        self.views[agent] = {"state": "available", "reason": None}

    async def logout(self, agent: str, *, by: str = "agent") -> None:
        self.clicks.append(("logout", agent))
        self.views[agent] = {"state": "logged_out", "reason": None}

    async def pause(self, agent: str, reason: str, *, by: str = "agent") -> None:
        self.clicks.append((f"pause:{reason}", agent))
        self.views[agent] = {"state": "paused", "reason": reason}

    async def unpause(self, agent: str, *, by: str = "agent") -> None:
        if self.views[agent]["state"] != "paused":
            raise InvalidTransition("not paused")
        self.clicks.append(("unpause", agent))
        self.views[agent] = {"state": "available", "reason": None}


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


PROFILE = PersonProfile(
    missed_back=(10.0, 20.0),
    other_back=(100.0, 100.0),
    break_every=1e9,
    break_len=(50.0, 60.0),
    shift=1e9,
    shift_gap=(5.0, 5.0),
)


async def run_for(people: DemoAgents, clock: Clock, seconds: float, step: float = 1.0) -> None:
    end = clock.t + seconds
    while clock.t < end:
        for person in people.people.values():
            await people.step(person)
        clock.t += step


async def test_back_from_a_missed_call_pause_after_a_while() -> None:
    acd, clock = FakeAcd(["1002"]), Clock()
    people = DemoAgents(acd, ["1002"], profile=PROFILE, clock=clock)
    acd.views["1002"] = {"state": "paused", "reason": "missed_call"}  # the ACD paused a missed offer
    await run_for(people, clock, 9.0)
    assert acd.clicks == []  # a person takes a few seconds to notice
    await run_for(people, clock, 12.0)
    assert acd.clicks == [("unpause", "1002")] and acd.views["1002"]["state"] == "available"


async def test_a_supervisors_pause_also_ends_but_later() -> None:
    acd, clock = FakeAcd(["1003"]), Clock()
    people = DemoAgents(acd, ["1003"], profile=PROFILE, clock=clock)
    acd.views["1003"] = {"state": "paused", "reason": "coaching"}
    await run_for(people, clock, 99.0)
    assert acd.clicks == []
    await run_for(people, clock, 2.0)
    assert acd.clicks == [("unpause", "1003")]


async def test_breaks_are_taken_when_free_and_end() -> None:
    acd, clock = FakeAcd(["1004"]), Clock()
    people = DemoAgents(acd, ["1004"], profile=PROFILE, clock=clock)
    people.people["1004"].break_at = clock.t + 5
    acd.views["1004"] = {"state": "on_call", "reason": None}
    await run_for(people, clock, 10.0)
    assert acd.clicks == []  # not in the middle of a call
    acd.views["1004"] = {"state": "available", "reason": None}
    await run_for(people, clock, 1.0)
    assert acd.clicks == [("pause:break", "1004")]
    await run_for(people, clock, 70.0)
    assert acd.clicks == [("pause:break", "1004"), ("unpause", "1004")]
    assert people.stats()["breaks"] == 1 and people.stats()["unpaused"] == 1


async def test_shifts_are_staggered_and_agents_come_back() -> None:
    agents = ["1005", "1006"]
    acd, clock = FakeAcd(agents), Clock()
    profile = PersonProfile(break_every=1e9, shift=100.0, shift_gap=(5.0, 5.0))
    people = DemoAgents(acd, agents, profile=profile, clock=clock)
    await run_for(people, clock, 51.0)
    assert acd.clicks == [("logout", "1005")]  # the first ends half-way: hand-overs never coincide
    await run_for(people, clock, 6.0)
    assert acd.clicks[-1] == ("login", "1005")
    await run_for(people, clock, 45.0)
    assert ("logout", "1006") in acd.clicks and acd.views["1005"]["state"] == "available"


async def test_a_refused_click_does_not_stop_the_people() -> None:
    acd, clock = FakeAcd(["1007"]), Clock()
    people = DemoAgents(acd, ["1007"], profile=PROFILE, clock=clock)
    acd.views["1007"] = {"state": "paused", "reason": "missed_call"}

    async def refuse(agent: str, *, by: str = "agent") -> None:
        raise InvalidTransition("refused")

    acd.unpause = refuse  # type: ignore[method-assign]

    stop = asyncio.Event()
    people.profile = PersonProfile(missed_back=(0.0, 0.0), check=0.01)
    task = asyncio.get_running_loop().create_task(people.run(stop))
    await asyncio.sleep(0.05)
    stop.set()
    await task
    assert not task.cancelled() and task.exception() is None


async def test_the_shift_ends_after_the_call() -> None:
    acd, clock = FakeAcd(["1008"]), Clock()
    people = DemoAgents(acd, ["1008"], profile=PersonProfile(break_every=1e9, shift=10.0), clock=clock)
    acd.views["1008"] = {"state": "on_call", "reason": None}
    await run_for(people, clock, 30.0)
    assert acd.clicks == []  # never logged out in the middle of a call
    acd.views["1008"] = {"state": "wrapup", "reason": None}
    await run_for(people, clock, 2.0)
    assert acd.clicks == []
    acd.views["1008"] = {"state": "available", "reason": None}
    await run_for(people, clock, 1.0)
    assert acd.clicks == [("logout", "1008")]


class FakeConsole:
    """The console's disposition picker: the queue's codes, the codes set."""

    def __init__(self) -> None:
        self.rules = DispositionRules(QueueDispositions(codes=("resolved", "escalated"), required=True), {})
        self.set: list[tuple[str, str, str]] = []

    async def set_disposition(self, agent: str, data: Mapping[str, Any], *, author: str) -> None:
        self.set.append((agent, str(data["call_id"]), str(data["code"])))


async def test_a_code_is_set_once_per_call_a_few_seconds_into_wrap_up() -> None:
    acd, clock, console = FakeAcd(["1009"]), Clock(), FakeConsole()
    people = DemoAgents(acd, ["1009"], profile=PROFILE, clock=clock, console=console)
    acd.views["1009"] = {"state": "wrapup", "reason": None, "call_id": "c-1", "queue": "support"}
    await run_for(people, clock, 2.0)
    assert console.set == []  # a person takes a few seconds to pick one
    await run_for(people, clock, 20.0)
    assert [(a, c) for a, c, _ in console.set] == [("1009", "c-1")]
    assert console.set[0][2] in ("resolved", "escalated")
    acd.views["1009"] = {"state": "wrapup", "reason": "disposition_required", "call_id": "c-2", "queue": ""}
    await run_for(people, clock, 20.0)
    assert [c for _, c, _ in console.set] == ["c-1", "c-2"] and people.stats()["codes"] == 2
