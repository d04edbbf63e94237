"""The IVR: runs an ``ivr_flows/<flow>.yaml`` flow on one FastAGI channel and records the caller's path.

``IvrService.handle`` is the FastAGI handler (``pbx/fastagi.py`` calls it once per call). Which flow runs:
the ``flow`` query parameter (``agi://host/ivr?flow=sales``), else ``agi_arg_1`` when it names a flow,
else a flow named like the script (``agi://host/main``), else the flow set's default.

Variables a flow can read (``${name}`` in set/transfer/callback values, ``var:`` in branch conditions):
``caller``, ``caller_name``, ``dnid``, ``language``, ``uniqueid``, ``call_id``, ``flow``, query
parameters and AGI arguments (``query_x``, ``arg_1``...), whatever ``set``/``menu var``/``collect var``
stored, and after a lookup ``customer_id``, ``customer_name``, ``segment``, ``vip`` ("true"/"false").

What the channel gets: ``CHANNEL(language)`` after a language choice, ``CC_QUEUE``/``CC_PRIORITY`` and
``IVR_CHOICE`` (the menu digits so far, ``>``-joined) before the ACD takes the call (the tracker reads
them from VarSet events), and any variable of a ``set`` node with ``export: true``.

Every session ends with an :class:`IvrSessionRecord` (path, outcome) handed to ``on_session``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from callcenter.domain.errors import AgiHangup, CallcenterError
from callcenter.domain.hold import MAX_REQUEUE_PRIORITY, REQUEUE_PRIORITY_VARIABLE
from callcenter.domain.ivr import (
    BranchNode,
    CallbackNode,
    CaseStatusNode,
    CollectNode,
    CustomerInfo,
    Flow,
    FlowSet,
    GotoNode,
    HangupNode,
    HoursNode,
    IvrOutcome,
    IvrSessionRecord,
    IvrStep,
    LanguageNode,
    LookupNode,
    MenuNode,
    Node,
    PlayNode,
    QueueNode,
    Retry,
    ReturnNode,
    SetNode,
    SubflowNode,
    SurveyNode,
    TransferNode,
    VoicemailNode,
    substitute,
)
from callcenter.domain.queueing import QueueRequest, RouteOutcome, RouteResult
from callcenter.ports import AgiChannel, CallbackRequests, CallRouter, CustomerDirectory
from callcenter.services.ivr_cases import CaseLookup, run_case_status
from callcenter.services.ivr_survey import SurveySink, run_survey, survey_after_transfer, survey_start

log = logging.getLogger(__name__)

MAX_STEPS = 500  # a runaway flow (validation prevents loops without input) ends as an error
MAX_OVERFLOWS = 3
INTERNAL_CONTEXT = "transfer"
EXTERNAL_CONTEXT = "outbound"
DIGITS = "0123456789*#"


#: what may go into one ``MSet`` unquoted: Asterisk splits its argument on "," and honours quotes,
#: parentheses, brackets and backslashes, so a value with any of those is set on its own instead
_MSET_NAME = re.compile(r"[A-Za-z0-9_]+(\([A-Za-z0-9_]*\))?")
_MSET_VALUE = re.compile(r"[A-Za-z0-9_.+*#>:@/-]*")


async def set_variables(channel: AgiChannel, variables: Sequence[tuple[str, str]]) -> None:
    """Set channel variables in one AGI round trip (``EXEC MSet a=1,b=2``: one VarSet event each, as
    ``SET VARIABLE`` gives) when they are plain names and values; one ``SET VARIABLE`` each otherwise,
    and when the PBX refuses the application."""
    batchable = len(variables) > 1 and all(
        _MSET_NAME.fullmatch(name) and _MSET_VALUE.fullmatch(value) for name, value in variables
    )
    if batchable:
        reply = await channel.exec("MSet", ",".join(f"{name}={value}" for name, value in variables))
        if reply.code == 200 and reply.result == "0":
            return
    for name, value in variables:
        await channel.set_variable(name, value)


class IvrFlowError(CallcenterError):
    """The running flow cannot continue (no flow loaded, a runaway flow)."""


@dataclass(slots=True)
class IvrStats:
    sessions: int = 0
    active: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    no_router: int = 0
    lookup_failures: int = 0


Position = tuple[Flow, Node]


class IvrService:
    def __init__(
        self,
        flows: Callable[[], FlowSet | None],
        *,
        router: CallRouter | None = None,
        directory: CustomerDirectory | None = None,
        callbacks: CallbackRequests | None = None,
        on_session: Callable[[IvrSessionRecord], None] | None = None,
        clock: Callable[[], float] = time.time,
        lookup_timeout: float = 1.5,
        cases: CaseLookup | None = None,
        surveys: SurveySink | None = None,
    ) -> None:
        self._flows = flows
        self.cases = cases  # the case_status node's lookups (services/ivr_cases.py)
        self.surveys = surveys  # the survey node's answers (services/ivr_survey.py)
        self.router = router
        self.directory = directory
        self.callbacks = callbacks
        self.on_session = on_session
        self.clock = clock
        self.lookup_timeout = lookup_timeout
        self.stats = IvrStats()

    def pick_flow(self, flows: FlowSet, env: Mapping[str, str]) -> Flow:
        for candidate in (env.get("query_flow"), env.get("arg_1"), env.get("script")):
            if candidate and candidate in flows.flows:
                return flows.flows[candidate]
        return flows.flows[flows.default]

    async def handle(self, channel: AgiChannel) -> None:
        """The FastAGI handler: run the flow for this call."""
        flows = self._flows()
        if flows is None:
            raise IvrFlowError("no valid IVR flows are loaded")
        flow = self.pick_flow(flows, channel.env)
        run = _Run(self, channel, flows, flow)
        self.stats.sessions += 1
        self.stats.active += 1
        try:
            await run.execute()
        finally:
            self.stats.active -= 1
            record = run.record()
            self.stats.outcomes[record.outcome] = self.stats.outcomes.get(record.outcome, 0) + 1
            if self.on_session is not None:
                try:
                    self.on_session(record)
                except Exception:
                    log.exception("IVR session sink failed", extra={"linkedid": record.call_id})

    async def handle_queue(self, channel: AgiChannel) -> None:
        """The FastAGI handler of ``[cc-queue]`` (``agi://host/queue?queue=<name>&linkedid=…``): a call an
        agent transferred to a queue goes straight back to the ACD, with the same call id (Linkedid).
        An unknown queue raises, so the FastAGI server sends the call to the failsafe context."""
        env = channel.env
        queue = env.get("query_queue") or env.get("arg_1") or ""
        call_id = env.get("linkedid") or channel.uniqueid
        router = self.router
        extra = {"linkedid": call_id, "queue": queue}
        if router is None:
            raise IvrFlowError("no ACD router: a queue transfer cannot be taken")
        if not queue or not router.has_queue(queue):
            raise IvrFlowError(f"transfer to an unknown queue {queue[:40]!r}")
        caller = env.get("callerid", "")
        caller = "" if caller in ("unknown", "<unknown>") else caller
        name = env.get("calleridname", "")
        customer = await self._find_customer(caller, call_id)
        await channel.set_variable("CC_QUEUE", queue)
        priority = await _requeue_priority(channel)  # a failed console hold: the front of the queue
        request = QueueRequest(
            call_id=call_id,
            uniqueid=channel.uniqueid,
            queue=queue,
            priority=priority,
            caller_num=caller,
            caller_name="" if name in ("unknown", "<unknown>") else name,
            language=env.get("language", "en") or "en",
            customer_id=customer.id if customer else None,
            segment=customer.segment if customer else None,
            vip=bool(customer and customer.vip),
            variables={"transferred": "queue"},
        )
        log.info("queue transfer enters the ACD", extra={**extra, "priority": priority})
        result = await router.route(channel, request)
        log.info("queue transfer routed", extra={**extra, "outcome": result.outcome.value})
        flows = self._flows()
        if result.outcome is RouteOutcome.ANSWERED and result.survey and flows is not None:
            await survey_after_transfer(self, channel, flows, result, queue, customer)
            return
        if result.outcome in (RouteOutcome.NO_AGENTS, RouteOutcome.OVERFLOW, RouteOutcome.ERROR):
            # nobody to take it: the queue's numeric fallback, else a goodbye (no IVR flow to go back to)
            with contextlib.suppress(AgiHangup):
                if result.target and result.target.lstrip("+").isdigit():
                    await channel.exec("Dial", f"Local/{result.target}@{EXTERNAL_CONTEXT}/n,30")
                elif not channel.hung_up:
                    await channel.stream_file("goodbye")

    async def _find_customer(self, number: str, call_id: str) -> CustomerInfo | None:
        directory = self.directory
        if not number or directory is None:
            return None
        try:
            async with asyncio.timeout(self.lookup_timeout):
                return await directory.find_by_phone(number)
        except (CallcenterError, TimeoutError) as exc:
            self.stats.lookup_failures += 1
            log.warning("customer lookup failed", extra={"linkedid": call_id, "error": str(exc) or "timeout"})
            return None


class _Run:
    """One caller's way through the flows."""

    def __init__(self, service: IvrService, channel: AgiChannel, flows: FlowSet, flow: Flow) -> None:
        self.svc = service
        self.ch = channel
        self.flows = flows
        self.entry = flow
        env = channel.env
        caller = env.get("callerid", "")
        self.vars: dict[str, str] = {k: v for k, v in env.items() if k.startswith(("query_", "arg_"))}
        self.vars.update(
            caller="" if caller in ("unknown", "<unknown>") else caller,
            caller_name=""
            if env.get("calleridname", "") in ("unknown", "<unknown>")
            else env.get("calleridname", ""),
            dnid=env.get("dnid", ""),
            language=flow.language,
            uniqueid=channel.uniqueid,
            call_id=env.get("linkedid") or channel.uniqueid,
            flow=flow.name,
            vip="false",
        )
        self.call_id = self.vars["call_id"]
        self.started = service.clock()
        self.t0 = time.monotonic()
        self.path: list[IvrStep] = []
        self.choices: list[str] = []
        self.outcome: IvrOutcome | None = None
        self.queue: str | None = None
        self.route: RouteResult | None = None
        self.transfer_to: str | None = None
        self.customer: CustomerInfo | None = None
        self.error: str | None = None
        self.stack: list[Position] = []

    # --- driver -------------------------------------------------------------------------------
    async def execute(self) -> None:
        flow = self.entry
        position: Position | None = (flow, flow.nodes[flow.start])
        steps = 0
        try:
            while position is not None:
                steps += 1
                if steps > MAX_STEPS:
                    raise IvrFlowError(f"more than {MAX_STEPS} steps: the flow does not end")
                flow, node = position
                step = IvrStep(
                    node.id,
                    node.type.value,
                    time.monotonic() - self.t0,
                    flow.name if flow is not self.entry else "",
                )
                self.path.append(step)
                try:
                    position = await self._run_node(flow, node, step)
                finally:
                    step.duration = time.monotonic() - self.t0 - step.at
            if self.outcome is None:
                self.outcome = IvrOutcome.SELF_SERVED
        except AgiHangup:
            if self.path:
                last = self.path[-1]
                last.result = f"{last.result}; hangup" if last.result else "hangup"
            if self.outcome is None:
                self.outcome = IvrOutcome.ABANDONED
            log.info(
                "caller hung up in the IVR",
                extra={"linkedid": self.call_id, "node": self.path[-1].node if self.path else None},
            )
        except BaseException as exc:
            self.outcome = IvrOutcome.ERROR
            self.error = (
                f"{type(exc).__name__}: {exc}" if not isinstance(exc, asyncio.CancelledError) else "shutdown"
            )
            if self.path:
                self.path[-1].result = "error"
            raise

    def record(self) -> IvrSessionRecord:
        ended = self.started + (time.monotonic() - self.t0)
        keep = ("language", "customer_id", "segment", "vip", "callback_number")
        return IvrSessionRecord(
            call_id=self.call_id,
            uniqueid=self.ch.uniqueid,
            flow=self.entry.name,
            started_at=self.started,
            ended_at=ended,
            outcome=self.outcome or IvrOutcome.ABANDONED,
            caller_num=self.vars.get("caller", ""),
            language=self.vars.get("language", ""),
            queue=self.queue,
            customer_id=self.customer.id if self.customer else None,
            vip=self.vars.get("vip") == "true",
            route_outcome=self.route.outcome.value if self.route else None,
            transfer_to=self.transfer_to,
            error=self.error,
            path=tuple(s.as_dict() for s in self.path),
            variables={k: self.vars[k] for k in keep if self.vars.get(k)},
        )

    def _at(self, flow: Flow, node_id: str | None) -> Position | None:
        if not node_id:
            return None
        return (flow, flow.nodes[node_id])

    async def _run_node(self, flow: Flow, node: Node, step: IvrStep) -> Position | None:
        if isinstance(node, PlayNode):
            for sound in node.sounds:
                await self._play(sound, step)
            return self._at(flow, node.next)
        if isinstance(node, MenuNode):
            return await self._menu(flow, node, step)
        if isinstance(node, CollectNode):
            return await self._collect(flow, node, step)
        if isinstance(node, HoursNode):
            state = node.schedule.state(datetime.fromtimestamp(self.svc.clock(), UTC))
            step.result = state
            target = {"open": node.open, "closed": node.closed}.get(state) or node.holiday or node.closed
            return self._at(flow, target)
        if isinstance(node, LanguageNode):
            return await self._language(flow, node, step)
        if isinstance(node, LookupNode):
            return await self._lookup(flow, node, step)
        if isinstance(node, BranchNode):
            for case in node.cases:
                if all(c.test(self.vars) for c in case.when):
                    step.result = case.next
                    return self._at(flow, case.next)
            step.result = node.otherwise
            return self._at(flow, node.otherwise)
        if isinstance(node, SetNode):
            for name, value in node.values:
                self.vars[name] = substitute(value, self.vars)
            if node.export:
                await set_variables(self.ch, [(name, self.vars[name]) for name, _ in node.values])
            return self._at(flow, node.next)
        if isinstance(node, QueueNode):
            return await self._queue(flow, node, step)
        if isinstance(node, TransferNode):
            return await self._transfer(flow, node, step)
        if isinstance(node, VoicemailNode):
            if node.prompt:
                await self._play(node.prompt, step)
            mailbox = substitute(node.mailbox, self.vars)
            reply = await self.ch.exec("VoiceMail", f"{mailbox},{node.options}")
            step.result = f"voicemail {mailbox} ({reply.result})"
            self.outcome = IvrOutcome.VOICEMAIL
            return self._at(flow, node.next)
        if isinstance(node, CallbackNode):
            return await self._callback(flow, node, step)
        if isinstance(node, GotoNode):
            if node.flow:
                other = self.flows.flows[node.flow]
                step.result = f"{other.name}:{node.node or other.start}"
                return (other, other.nodes[node.node or other.start])
            return self._at(flow, node.node)
        if isinstance(node, SubflowNode):
            other = self.flows.flows[node.flow]
            self.stack.append((flow, flow.nodes[node.next]))
            step.result = other.name
            return (other, other.nodes[other.start])
        if isinstance(node, ReturnNode):
            return self.stack.pop() if self.stack else None
        if isinstance(node, CaseStatusNode):
            return await run_case_status(self, flow, node, step)
        if isinstance(node, SurveyNode):
            return await run_survey(self, flow, node, step)
        if isinstance(node, HangupNode):
            if node.prompt:
                await self._play(node.prompt, step)
            self.outcome = node.outcome or self.outcome or IvrOutcome.SELF_SERVED
            await self.ch.hangup()
            return None
        raise IvrFlowError(f"node type {node.type} is not implemented")

    # --- prompts and input ----------------------------------------------------------------------
    async def _play(self, sound: str, step: IvrStep, escape: str = "") -> str | None:
        step.prompts.append(sound)
        reply = await self.ch.stream_file(sound, escape)
        return reply.digit if escape else None

    async def _ask(self, prompt: str, retry: Retry, max_digits: int, step: IvrStep) -> str:
        """One attempt: the prompt, then up to ``max_digits`` digits; "" on timeout."""
        step.prompts.append(prompt)
        reply = await self.ch.get_data(prompt, int(retry.timeout * 1000), max_digits)
        return reply.result

    async def _failed_attempt(self, retry: Retry, step: IvrStep, digits: str) -> None:
        if digits:
            step.invalid += 1
            step.digits.append(digits)
            if retry.invalid_prompt:
                await self._play(retry.invalid_prompt, step)
        else:
            step.timeouts += 1
            if retry.timeout_prompt:
                await self._play(retry.timeout_prompt, step)

    async def _menu(self, flow: Flow, node: MenuNode, step: IvrStep) -> Position | None:
        options = dict(node.options)
        for _ in range(node.retry.retries):
            digits = await self._ask(node.prompt, node.retry, node.max_digits, step)
            if digits in options:
                step.digits.append(digits)
                step.result = options[digits]
                self.choices.append(digits)
                self.vars["last_choice"] = digits
                if node.var:
                    self.vars[node.var] = digits
                return self._at(flow, options[digits])
            await self._failed_attempt(node.retry, step, digits)
        step.result = "fallback"
        return self._at(flow, node.fallback)

    async def _read_digits(self, node: CollectNode, step: IvrStep) -> str:
        if node.terminator in ("#", ""):
            return await self._ask(node.prompt, node.retry, node.max_length, step)
        # another terminator ("*"): play with barge-in, then digit by digit
        got = await self._play(node.prompt, step, DIGITS) or ""
        timeout_ms = int(node.retry.timeout * 1000)
        while got[-1:] != node.terminator and len(got) < node.max_length:
            digit = (await self.ch.wait_for_digit(timeout_ms)).digit
            if digit is None:
                break
            got += digit
        return got.removesuffix(node.terminator)

    async def _collect(self, flow: Flow, node: CollectNode, step: IvrStep) -> Position | None:
        for _ in range(node.retry.retries):
            digits = await self._read_digits(node, step)
            if digits and node.valid(digits):
                step.digits.append(digits)
                step.result = "valid"
                self.vars[node.var] = digits
                return self._at(flow, node.next)
            await self._failed_attempt(node.retry, step, digits)
        step.result = "fallback"
        return self._at(flow, node.fallback)

    async def _language(self, flow: Flow, node: LanguageNode, step: IvrStep) -> Position | None:
        options = dict(node.options)
        max_digits = max(len(k) for k in options)
        for _ in range(node.retry.retries):
            digits = await self._ask(node.prompt, node.retry, max_digits, step)
            if digits in options:
                step.digits.append(digits)
                language = options[digits]
                step.result = language
                self.vars["language"] = language
                await self.ch.set_variable("CHANNEL(language)", language)
                return self._at(flow, node.next)
            await self._failed_attempt(node.retry, step, digits)
        step.result = f"default {self.vars['language']}"
        return self._at(flow, node.next)

    # --- data -----------------------------------------------------------------------------------
    async def _lookup(self, flow: Flow, node: LookupNode, step: IvrStep) -> Position | None:
        key = self.vars.get("caller", "") if node.by == "caller" else self.vars.get(node.by, "")
        customer: CustomerInfo | None = None
        directory = self.svc.directory
        if key and directory is not None:
            try:
                async with asyncio.timeout(self.svc.lookup_timeout):
                    if node.key == "id":
                        customer = await directory.find_by_id(int(key)) if key.isdigit() else None
                    else:
                        customer = await directory.find_by_phone(key)
            except (CallcenterError, TimeoutError) as exc:
                self.svc.stats.lookup_failures += 1
                log.warning(
                    "IVR customer lookup failed",
                    extra={"linkedid": self.call_id, "error": str(exc) or "timeout"},
                )
        if customer is None:
            step.result = "not found"
            return self._at(flow, node.not_found or node.next)
        self.customer = customer
        self.vars.update(
            customer_id=str(customer.id),
            customer_name=customer.name,
            segment=customer.segment,
            vip="true" if customer.vip else "false",
        )
        step.result = f"customer {customer.id}" + (" vip" if customer.vip else "")
        return self._at(flow, node.found or node.next)

    # --- leaving the IVR ------------------------------------------------------------------------
    async def _queue(self, flow: Flow, node: QueueNode, step: IvrStep) -> Position | None:
        priority = node.priority
        if node.vip_priority is not None and self.vars.get("vip") == "true":
            priority = max(priority, node.vip_priority)
        if node.prompt:
            await self._play(node.prompt, step)
        queue = node.queue
        for _ in range(MAX_OVERFLOWS + 1):
            result = await self._route(queue, priority, node, step)
            self.route = result
            step.result = result.outcome.value + (f" → {result.target}" if result.target else "")
            outcome = result.outcome
            if outcome is RouteOutcome.ANSWERED or outcome is RouteOutcome.ABANDONED:
                self.outcome = IvrOutcome.QUEUED
                if outcome is RouteOutcome.ANSWERED and result.survey:  # the agent hung up first
                    return await survey_start(self, result, step)
                return None
            if outcome is RouteOutcome.CALLBACK:
                self.outcome = IvrOutcome.CALLBACK
                return None
            if outcome is RouteOutcome.OVERFLOW:
                if node.on_overflow:
                    return self._at(flow, node.on_overflow)
                target = result.target or ""
                if target in flow.nodes:
                    return self._at(flow, target)
                router = self.svc.router
                if target and router is not None and router.has_queue(target) and target != queue:
                    queue = target
                    continue
                if target and target.lstrip("+").isdigit():
                    return await self._dial_out(target, None, 30, step, flow, None)
                return self._at(flow, node.on_no_agents)
            if outcome is RouteOutcome.VOICEMAIL:
                if node.on_voicemail:
                    return self._at(flow, node.on_voicemail)
                if result.target:
                    reply = await self.ch.exec("VoiceMail", f"{result.target},u")
                    step.result = f"voicemail {result.target} ({reply.result})"
                    self.outcome = IvrOutcome.VOICEMAIL
                    return None
                return self._at(flow, node.on_no_agents)
            if outcome is RouteOutcome.NO_AGENTS:
                fallback = result.target if result.target and result.target in flow.nodes else None
                return self._at(flow, fallback or node.on_no_agents)
            return self._at(flow, node.on_error or node.on_no_agents)
        return self._at(flow, node.on_no_agents)

    async def _route(self, queue: str, priority: int, node: QueueNode, step: IvrStep) -> RouteResult:
        self.queue = queue
        variables = [("CC_QUEUE", queue), ("CC_PRIORITY", str(priority))]
        if self.choices:
            variables.append(("IVR_CHOICE", ">".join(self.choices)))
        await set_variables(self.ch, variables)
        router = self.svc.router
        if router is None:
            self.svc.stats.no_router += 1
            log.warning(
                "no ACD router: the queue node takes its no-agents fallback",
                extra={"linkedid": self.call_id, "queue": queue},
            )
            return RouteResult(RouteOutcome.NO_AGENTS)
        customer = self.customer
        request = QueueRequest(
            call_id=self.call_id,
            uniqueid=self.ch.uniqueid,
            queue=queue,
            priority=priority,
            skills=node.skills,
            caller_num=self.vars.get("caller", ""),
            caller_name=self.vars.get("caller_name", ""),
            language=self.vars.get("language", "en"),
            customer_id=customer.id if customer else None,
            segment=customer.segment if customer else None,
            vip=self.vars.get("vip") == "true",
            ivr_choices=tuple(self.choices),
            variables={k: v for k, v in self.vars.items() if not k.startswith(("query_", "arg_"))},
        )
        self.outcome = IvrOutcome.QUEUED
        return await router.route(self.ch, request)

    async def _transfer(self, flow: Flow, node: TransferNode, step: IvrStep) -> Position | None:
        if node.prompt:
            await self._play(node.prompt, step)
        to = substitute(node.to, self.vars)
        return await self._dial_out(to, node.context, node.timeout, step, flow, node.on_fail)

    async def _dial_out(
        self, to: str, context: str | None, timeout: int, step: IvrStep, flow: Flow, on_fail: str | None
    ) -> Position | None:
        if not to or not to.lstrip("+").replace("*", "").replace("#", "").isdigit():
            step.result = f"bad destination {to!r}"
            return self._at(flow, on_fail)
        external = to.startswith("+") or len(to) > 6
        ctx = context or (EXTERNAL_CONTEXT if external else INTERNAL_CONTEXT)
        self.transfer_to = to
        prior, self.outcome = self.outcome, IvrOutcome.TRANSFERRED
        await self.ch.exec("Dial", f"Local/{to}@{ctx}/n,{timeout}")
        status = await self.ch.get_variable("DIALSTATUS") or ""
        step.result = f"{to}: {status or 'unknown'}"
        if status == "ANSWER":
            return None
        if self.ch.hung_up:
            self.outcome = IvrOutcome.ABANDONED  # the caller gave up while it rang
            return None
        if on_fail:
            self.outcome = prior
            return self._at(flow, on_fail)
        return None

    async def _callback(self, flow: Flow, node: CallbackNode, step: IvrStep) -> Position | None:
        number = substitute(node.number, self.vars)
        self.vars["callback_number"] = number
        self.outcome = IvrOutcome.CALLBACK
        if node.queue:
            self.queue = node.queue
        sink = self.svc.callbacks
        if sink is not None and number:
            try:
                async with asyncio.timeout(self.svc.lookup_timeout):
                    await sink.request_callback(
                        self.call_id,
                        number,
                        node.queue,
                        self.vars.get("language", "en"),
                        self.customer.id if self.customer else None,
                    )
            except (CallcenterError, TimeoutError) as exc:
                log.warning("callback request failed", extra={"linkedid": self.call_id, "error": str(exc)})
        step.result = f"callback {number or '(no number)'}"
        if node.prompt:
            await self._play(node.prompt, step)
        return self._at(flow, node.next)


async def _requeue_priority(channel: AgiChannel) -> int:
    """``CC_QUEUE_PRIORITY`` (set by the console before it sends a failed hold's customer back to the
    queue: ``services/console_hold``), read once and cleared; 0 when unset or not a number."""
    raw = await channel.get_variable(REQUEUE_PRIORITY_VARIABLE)
    if not raw:
        return 0
    await channel.set_variable(REQUEUE_PRIORITY_VARIABLE, "")
    try:
        return max(0, min(MAX_REQUEUE_PRIORITY, int(raw)))
    except ValueError:
        return 0
