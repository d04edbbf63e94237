"""The agent state log's write loop runs only while transitions wait (issue 14: idle wake-ups)."""

from __future__ import annotations

import asyncio
import time

from callcenter.domain.acd import AcdConfig
from callcenter.domain.errors import StoreError
from tests.acd.conftest import MakeRig
from tests.acd.fakes import agents, login_all, queue


async def _until(condition: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


async def test_idle_acd_does_not_run_the_log_flush(make_rig: MakeRig) -> None:
    rig = await make_rig(AcdConfig(queues=(queue(),), agents=tuple(agents(2))))
    steps = [0]
    original = rig.acd._flush_quietly

    async def counted() -> None:
        steps[0] += 1
        await original()

    rig.acd._flush_quietly = counted  # type: ignore[method-assign]
    await login_all(rig.acd)
    await _until(lambda: len(rig.log.rows) >= 2 and not rig.acd.pending_transitions)
    after_login = steps[0]
    # FAST: log_flush 0.02 s; 0.3 s idle would be ~15 flush steps with a periodic loop
    await asyncio.sleep(0.3)
    assert steps[0] - after_login <= 1
    await rig.acd.logout("1001", by="test")
    await _until(lambda: any(t.agent == "1001" and t.to_state.value == "logged_out" for t in rig.log.rows))


async def test_a_failed_log_write_is_retried_without_new_transitions(make_rig: MakeRig) -> None:
    rig = await make_rig(AcdConfig(queues=(queue(),), agents=tuple(agents(1))))
    failures = [2]
    original = rig.log.save_transitions

    async def flaky(transitions: object) -> None:
        if failures[0]:
            failures[0] -= 1
            raise StoreError("database down")
        await original(transitions)  # type: ignore[arg-type]

    rig.log.save_transitions = flaky  # type: ignore[method-assign]
    await login_all(rig.acd)
    # no further transition happens: the loop itself must come back for the pending ones
    await _until(lambda: len(rig.log.rows) >= 1 and not rig.acd.pending_transitions)
    assert rig.acd.stats["log_failures"] == 2
