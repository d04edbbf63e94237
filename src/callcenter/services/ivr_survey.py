"""The IVR's post-call survey (CSAT, issue 16): the ``survey`` node and how a call gets there.

How a call reaches the survey: a queue with ``survey: <flow>`` dials its agents with Dial's ``g``
option (``services/acd.py``). app_dial then returns ``0`` when the *agent* hung up and the caller is
still up (``if OPT_GO_ON && !ast_check_hangup(chan) ... res = 0``), and the ACD's route result names the
survey flow; when the *caller* hung up, Dial returns ``-1``, the ``HANGUP`` line follows, and there is no
survey. :func:`survey_start` then records the survey as offered (call, agent, queue) and the session
goes on in that flow, on the same channel.

The ``survey`` node (:func:`run_survey`): GET DATA on ``score_prompt`` for one digit; 1-5 is the score
(anything else, ``9`` or ``*``, is a wrong attempt, silence a timeout; after ``retries`` the node ends
without a score). With ``solved_prompt``: the ``yes``/``no`` digit (anything else is asked again; no
answer leaves it unknown). Then ``answered`` stores score and answer in one write and runs what follows
(the webhook, a ticket for a low score on a complaint), also when the caller hangs up during the yes/no
question; then ``thanks_prompt``. Two writes per survey (offered, answered): aiosqlite costs about 1 ms
of CPU per transaction.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Protocol

from callcenter.domain.errors import CallcenterError
from callcenter.domain.ivr import CustomerInfo, Flow, FlowSet, IvrOutcome, IvrStep, SurveyNode
from callcenter.domain.queueing import RouteResult
from callcenter.domain.surveys import SCORES

if TYPE_CHECKING:
    from callcenter.ports import AgiChannel
    from callcenter.services.ivr import IvrService, Position, _Run

log = logging.getLogger(__name__)

SCORE_DIGITS = frozenset(str(s) for s in SCORES)
#: the survey's store writes may wait this long (the caller is on the line)
WRITE_TIMEOUT = 2.0
#: what a complete survey triggers (tickets, webhooks) may take this long before the session ends
FINISH_TIMEOUT = 5.0


class SurveySink(Protocol):
    """Where survey answers go (``services/surveys.SurveyService``)."""

    async def offered(
        self, call_id: str, agent: str | None, queue: str | None, flow: str, customer_id: int | None
    ) -> None: ...

    async def answered(self, call_id: str, score: int, solved: bool | None) -> None: ...


async def _guarded(call_id: str, what: str, write: Awaitable[None], timeout: float = WRITE_TIMEOUT) -> None:
    """A survey write that fails or is slow is logged; the caller's survey goes on."""
    try:
        async with asyncio.timeout(timeout):
            await write
    except (CallcenterError, TimeoutError) as exc:
        log.warning("survey write failed", extra={"linkedid": call_id, "step": what, "error": str(exc)})


async def survey_start(run: _Run, result: RouteResult, step: IvrStep) -> Position | None:
    """After an answered call whose agent hung up first: the route result's survey flow, or None (the
    session ends) when that flow is not loaded."""
    name = result.survey or ""
    flow = run.flows.get(name)
    if flow is None:
        log.warning("survey flow not loaded: no survey", extra={"linkedid": run.call_id, "flow": name})
        return None
    run.vars.update(survey_agent=result.agent or "", survey_queue=run.queue or "")
    sink = run.svc.surveys
    if sink is not None:
        customer = run.customer.id if run.customer is not None else None
        offer = sink.offered(run.call_id, result.agent, run.queue, flow.name, customer)
        await _guarded(run.call_id, "offered", offer)
    step.result = f"{step.result}; survey {flow.name}"
    log.info("survey offered", extra={"linkedid": run.call_id, "agent": result.agent, "queue": run.queue})
    return (flow, flow.nodes[flow.start])


async def survey_after_transfer(
    svc: IvrService,
    channel: AgiChannel,
    flows: FlowSet,
    result: RouteResult,
    queue: str,
    customer: CustomerInfo | None,
) -> None:
    """A call transferred to a queue (``[cc-queue]``) whose agent hung up first: the queue's survey on the
    same channel, recorded like an IVR session."""
    from callcenter.services.ivr import _Run  # the runner of services/ivr.py (imports this module)

    survey = flows.get(result.survey or "")
    if survey is None:
        log.warning("survey flow not loaded: no survey", extra={"flow": result.survey})
        return
    run = _Run(svc, channel, flows, survey)
    run.queue, run.route, run.outcome, run.customer = queue, result, IvrOutcome.QUEUED, customer
    step = IvrStep("queue", "queue", 0.0, result=result.outcome.value)
    run.path.append(step)
    if await survey_start(run, result, step) is None:
        return
    try:
        await run.execute()
    finally:
        if svc.on_session is not None:
            try:
                svc.on_session(run.record())
            except Exception:
                log.exception("IVR session sink failed", extra={"linkedid": run.call_id})


async def _ask_digit(run: _Run, prompt: str, node: SurveyNode, step: IvrStep, valid: frozenset[str]) -> str:
    for _ in range(node.retry.retries):
        digits = await run._ask(prompt, node.retry, 1, step)
        if digits in valid:
            step.digits.append(digits)
            return digits
        await run._failed_attempt(node.retry, step, digits)
    return ""


async def run_survey(run: _Run, flow: Flow, node: SurveyNode, step: IvrStep) -> Position | None:
    sink = run.svc.surveys
    call_id = run.call_id
    digit = await _ask_digit(run, node.score_prompt, node, step, SCORE_DIGITS)
    if not digit:
        step.result = "no score"
        log.info("survey not answered", extra={"linkedid": call_id})
        return run._at(flow, node.next)
    score = int(digit)
    run.vars["survey_score"] = digit
    step.result = f"score {score}"
    solved: bool | None = None
    try:
        if node.solved_prompt:
            answer = await _ask_digit(run, node.solved_prompt, node, step, frozenset((node.yes, node.no)))
            if answer:
                solved = answer == node.yes
                run.vars["survey_solved"] = "yes" if solved else "no"
                step.result += f", solved {run.vars['survey_solved']}"
    finally:  # also when the caller hangs up during the yes/no question: the score counts
        if sink is not None:
            await _guarded(call_id, "answered", sink.answered(call_id, score, solved), FINISH_TIMEOUT)
    if node.thanks_prompt:
        await run._play(node.thanks_prompt, step)
    log.info("survey answered", extra={"linkedid": call_id, "score": score})
    return run._at(flow, node.next)
