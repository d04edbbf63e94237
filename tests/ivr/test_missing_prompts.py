"""A prompt the PBX does not have never drops the caller (found on a real Asterisk 22.10.1 without the
project's ``cc-*`` sounds installed: every caller went to the failsafe at the greeting).

res_agi answers ``STREAM FILE`` of a missing file with ``200 result=-1 endpos=0`` and ``GET DATA`` with
``200 result=-1``, at once, the caller still on the line (``missing-prompt.agi``); the simulator does the
same for ``SimConfig.missing_sounds``. The service tells that from a hang-up with ``CHANNEL STATUS``."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from callcenter.domain.ivr import IvrOutcome
from callcenter.domain.queueing import RouteOutcome
from tests.ivr.harness import FakeRouter, Harness, start_harness, stop_harness


@pytest.fixture
async def bare_pbx() -> AsyncIterator[Harness]:
    """The sample flows on a PBX with none of the project's cc-* prompts installed."""
    h = await start_harness(router=FakeRouter(), missing_sounds=("cc-*",))
    try:
        yield h
    finally:
        await stop_harness(h)


async def test_missing_prompts_are_counted_and_the_caller_still_reaches_the_queue(bare_pbx: Harness) -> None:
    rec = await bare_pbx.call("1;1")
    assert rec.outcome is IvrOutcome.QUEUED and rec.route_outcome == RouteOutcome.ANSWERED
    assert bare_pbx.router is not None and bare_pbx.router.requests[-1].queue == "sales"
    assert bare_pbx.step(rec, "main_menu")["digits"] == ["1"]  # asked again over a second of silence
    assert bare_pbx.server.stats.prompts_missing >= 3  # greeting, language and menu prompts at least
    assert bare_pbx.server.stats.hangups == 0


async def test_a_caller_who_hangs_up_is_still_a_hang_up(bare_pbx: Harness) -> None:
    """The probe after ``-1`` gets 511 on a dead channel: the session ends as the caller's hang-up."""
    rec = await bare_pbx.call("1;h")
    assert rec.outcome is IvrOutcome.ABANDONED
    assert bare_pbx.nodes(rec)[-1] == "main_menu"
