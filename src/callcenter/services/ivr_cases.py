"""The IVR's ``case_status`` node (issue 16): a caller hears where their repair (RMA case) is.

1. The caller's open cases are found by caller number (``CaseLookup.open_cases_for_caller``); each is
   read out: ``number_prompt``, the RMA number with ``SAY DIGITS``, the stage's own prompt, and for a
   stage with an SLA ``expected_prompt`` and the due date with ``SAY DATE`` (epoch seconds, as
   res_agi takes it). No case: ``none_prompt``. During the reading ``0`` goes to an agent and ``#``
   skips to the question (Asterisk's escape digits: ``200 result=<ASCII>``).
2. ``ask_prompt`` (GET DATA, 7 digits): an RMA number reads that case — only if it is an open case of
   the caller's own customer (``case_for_caller``); any other number, including another customer's
   case, is a wrong attempt and nothing about it is said. ``retries`` wrong attempts: ``fallback``
   (default: ``agent``). ``0``: ``agent``. Silence: ``next``.

Going to the agent sets the channel variable ``CC_CASE`` (the case id) and the flow variables
``case_id``, ``case_number``, ``case_stage`` (the ACD's queue request carries them to the screen pop).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

from callcenter.domain.cases import RMA_DIGITS, RmaCase
from callcenter.domain.errors import AgiHangup, CallcenterError
from callcenter.domain.ivr import CaseStatusNode, Flow, IvrStep

if TYPE_CHECKING:
    from callcenter.services.ivr import Position, _Run

log = logging.getLogger(__name__)

#: while a case is read: 0 = an agent, # = skip to the question
READ_ESCAPE = "0#"
SAY_TIMEOUT = 30.0
MAX_ASKS = 10


def case_summary(variables: Mapping[str, str]) -> dict[str, str] | None:
    """The case the caller heard in the IVR (for the screen pop), from the flow variables, or None."""
    if not variables.get("case_id"):
        return None
    return {k: str(variables.get(f"case_{k}", ""))[:64] for k in ("id", "number", "stage")}


class CaseLookup(Protocol):
    async def open_cases_for_caller(self, number: str) -> list[RmaCase]: ...

    async def case_for_caller(self, number: str, rma: str) -> RmaCase | None: ...


async def _say(run: _Run, verb: str, value: str, step: IvrStep) -> str | None:
    """``SAY DIGITS``/``SAY DATE`` with the escape digits; the digit pressed, or None."""
    step.prompts.append(f"say {verb.lower()} {value}")
    reply = await run.ch.command(f'SAY {verb} {value} "{READ_ESCAPE}"', timeout=SAY_TIMEOUT)
    if reply.code != 200:
        raise CallcenterError(f"SAY {verb}: {reply.text}")
    if reply.result == "-1":
        raise AgiHangup(f"SAY {verb} returned -1")
    code = int(reply.result) if reply.result.isdigit() else 0
    return chr(code) if code > 0 else None


async def _read_case(run: _Run, node: CaseStatusNode, case: RmaCase, step: IvrStep) -> str | None:
    """Read one case out; the escape digit pressed (``0`` or ``#``), or None."""
    stages = dict(node.stage_prompts)
    if (digit := await run._play(node.number_prompt, step, READ_ESCAPE)) is not None:
        return digit
    if (digit := await _say(run, "DIGITS", case.number, step)) is not None:
        return digit
    sound = stages.get(case.stage.value)
    if sound is not None and (digit := await run._play(sound, step, READ_ESCAPE)) is not None:
        return digit
    if case.stage_due is not None:
        if (digit := await run._play(node.expected_prompt, step, READ_ESCAPE)) is not None:
            return digit
        if (digit := await _say(run, "DATE", str(int(case.stage_due)), step)) is not None:
            return digit
    return None


async def _to_agent(
    run: _Run, flow: Flow, node: CaseStatusNode, case: RmaCase | None, step: IvrStep
) -> Position | None:
    if case is not None:
        run.vars.update(case_id=str(case.id), case_number=case.number, case_stage=case.stage.value)
        await run.ch.set_variable("CC_CASE", str(case.id))
    step.result = "agent" + (f" case {case.id}" if case is not None else "")
    return run._at(flow, node.agent)


async def run_case_status(run: _Run, flow: Flow, node: CaseStatusNode, step: IvrStep) -> Position | None:
    lookup: CaseLookup | None = run.svc.cases
    caller = run.vars.get("caller", "")
    current: RmaCase | None = None
    cases: list[RmaCase] = []
    if lookup is not None and caller:
        try:
            async with asyncio.timeout(run.svc.lookup_timeout):
                cases = await lookup.open_cases_for_caller(caller)
        except (CallcenterError, TimeoutError) as exc:
            run.svc.stats.lookup_failures += 1
            log.warning(
                "IVR case lookup failed", extra={"linkedid": run.call_id, "error": str(exc) or "timeout"}
            )
    read = 0
    if cases:
        for case in cases[: node.max_cases]:
            current = case
            read += 1
            digit = await _read_case(run, node, case, step)
            if digit == "0":
                return await _to_agent(run, flow, node, current, step)
            if digit == "#":
                break
    else:
        if await run._play(node.none_prompt, step, "0") == "0":
            return await _to_agent(run, flow, node, None, step)
    wrong = 0
    for _ in range(MAX_ASKS):
        digits = await run._ask(node.ask_prompt, node.retry, RMA_DIGITS, step)
        if digits == "0":
            return await _to_agent(run, flow, node, current, step)
        if not digits:
            step.timeouts += 1
            break
        step.digits.append(digits)
        found: RmaCase | None = None
        if lookup is not None and caller:
            try:
                async with asyncio.timeout(run.svc.lookup_timeout):
                    found = await lookup.case_for_caller(caller, digits)
            except (CallcenterError, TimeoutError) as exc:
                run.svc.stats.lookup_failures += 1
                log.warning(
                    "IVR case lookup failed", extra={"linkedid": run.call_id, "error": str(exc) or "timeout"}
                )
        if found is None:
            wrong += 1
            step.invalid += 1
            log.info(
                "IVR: RMA number not found for the caller", extra={"linkedid": run.call_id, "attempt": wrong}
            )
            if node.retry.invalid_prompt:
                await run._play(node.retry.invalid_prompt, step)
            if wrong >= node.retry.retries:
                step.result = "fallback"
                if node.fallback:
                    return run._at(flow, node.fallback)
                position = await _to_agent(run, flow, node, current, step)
                step.result = f"fallback: {step.result}"
                return position
            continue
        current = found
        read += 1
        if await _read_case(run, node, found, step) == "0":
            return await _to_agent(run, flow, node, current, step)
    step.result = f"read {read} case(s)"
    if current is not None:
        run.vars.update(case_id=str(current.id), case_number=current.number, case_stage=current.stage.value)
    return run._at(flow, node.next)
