"""QA use cases (issue #8): call search, a call's review page (timeline, recordings, tickets, evaluations),
scoring forms, evaluations, agent acknowledgement, calibration and weekly sampling.

The score formula lives in ``domain.qa`` (weighted percentage; an instant-fail item answered "no"/0 sets the
score to 0).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from callcenter.domain.calls import CallDisposition, CallRecord
from callcenter.domain.errors import NotFound, PermissionDenied
from callcenter.domain.ivr import IvrSessionRecord
from callcenter.domain.qa import (
    Calibration,
    Evaluation,
    QaForm,
    ValidationError,
    calibrate,
    iso_week_bounds,
    parse_answers,
    parse_form_sections,
    sample_calls,
    score,
)
from callcenter.domain.qa_default import DEFAULT_FORM_NAME, DEFAULT_FORM_SECTIONS
from callcenter.domain.qa_recordings import CallHits, CallSearch, RecordingInfo
from callcenter.domain.surveys import CallSurvey
from callcenter.domain.text import N_
from callcenter.domain.tickets import Ticket
from callcenter.domain.users import ROLE_CAN_SEE_ALL_CALLS, Role, User
from callcenter.services.recordings import RecordingService

#: Who scores calls; who defines forms.
EVALUATORS = frozenset({Role.QA, Role.SUPERVISOR, Role.ADMIN})
FORM_ADMINS = frozenset({Role.ADMIN})


class QaStore(Protocol):
    async def add_form(self, form: QaForm) -> QaForm: ...
    async def get_form(self, form_id: int) -> QaForm | None: ...
    async def list_forms(self, *, active_only: bool = False) -> list[QaForm]: ...
    async def add_evaluation(self, ev: Evaluation) -> Evaluation: ...
    async def get_evaluation(self, evaluation_id: int) -> Evaluation | None: ...
    async def evaluations_for_call(self, call_id: str) -> list[Evaluation]: ...
    async def acknowledge(self, evaluation_id: int, *, by: str, at: float) -> bool: ...
    async def search_calls(self, q: CallSearch) -> CallHits: ...
    async def answered_calls_by_agent(self, since: float, until: float) -> dict[str, list[str]]: ...
    async def tickets_for_call(self, call_id: str) -> Sequence[Ticket]: ...


class CallSource(Protocol):
    async def get_call(self, call_id: str) -> CallRecord | None: ...


class IvrSource(Protocol):
    async def get_ivr_sessions(self, call_id: str) -> list[IvrSessionRecord]: ...


class DispositionSource(Protocol):
    async def dispositions_for_calls(self, call_ids: Sequence[str]) -> list[CallDisposition]: ...


class SurveySource(Protocol):
    async def for_call(self, call_id: str) -> CallSurvey | None: ...


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    at: float
    kind: str  # start | ivr | ivr_step | queued | offer | answer | hold | transfer | end
    text: str
    agent: str | None = None
    duration: float | None = None
    #: ``text``'s pattern (``%(name)s`` placeholders, in the catalogues) and its values: the pages show
    #: it in the reader's language
    message: str = ""
    values: Mapping[str, str] = field(default_factory=dict)


def _entry(at: float, kind: str, message: str, values: Mapping[str, object], **extra: Any) -> TimelineEntry:
    texts = {name: str(value) for name, value in values.items()}
    return TimelineEntry(at, kind, message % texts, message=message, values=texts, **extra)


@dataclass(frozen=True, slots=True)
class CallReview:
    call: CallRecord
    timeline: tuple[TimelineEntry, ...]
    recordings: tuple[RecordingInfo, ...]
    tickets: tuple[Ticket, ...]
    evaluations: tuple[Evaluation, ...]
    dispositions: tuple[CallDisposition, ...]
    ivr: tuple[IvrSessionRecord, ...]
    survey: CallSurvey | None = None


def build_timeline(call: CallRecord, ivr: Sequence[IvrSessionRecord]) -> list[TimelineEntry]:
    """The call's story in time order: IVR path, wait in queue, each offer (ring) and answer, holds,
    transfers, the end."""
    out = [
        _entry(call.started_at, "start", N_("call from %(number)s"), {"number": call.caller_num or "unknown"})
    ]
    for s in ivr:
        flow = {"flow": s.flow, "outcome": s.outcome.value}
        out.append(
            _entry(
                s.started_at, "ivr", N_("IVR %(flow)s: %(outcome)s"), flow, duration=s.ended_at - s.started_at
            )
        )
        for step in s.path:
            at = s.started_at + float(step.get("at", 0.0))
            digits = "".join(str(d) for d in step.get("digits", ()))
            node = {"type": step.get("type", ""), "node": step.get("node", ""), "digits": digits}
            message = N_("%(type)s %(node)s pressed %(digits)s") if digits else N_("%(type)s %(node)s")
            out.append(_entry(at, "ivr_step", message, node, duration=float(step.get("duration", 0.0))))
    if call.queued_at is not None:
        queue = {"queue": call.queue or "?"}
        out.append(
            _entry(call.queued_at, "queued", N_("queued in %(queue)s"), queue, duration=call.wait_seconds)
        )
    for o in call.offers:
        ring = None if o.ended_at is None else o.ended_at - o.rang_at
        offer = {"agent": o.agent, "result": (o.dial_status or "").lower()}
        if o.answered:
            message = N_("rang agent %(agent)s: answered")
        elif o.dial_status:
            message = N_("rang agent %(agent)s: %(result)s")
        else:
            message = N_("rang agent %(agent)s: not answered")
        out.append(_entry(o.rang_at, "offer", message, offer, agent=o.agent, duration=ring))
    for leg in call.legs:
        if leg.agent and leg.answered_at is not None:
            talk = None if leg.ended_at is None else leg.ended_at - leg.answered_at
            talking = {"agent": leg.agent}
            out.append(
                _entry(
                    leg.answered_at,
                    "answer",
                    N_("agent %(agent)s talking"),
                    talking,
                    agent=leg.agent,
                    duration=talk,
                )
            )
    if call.hold_seconds:
        hold_at = call.answered_at if call.answered_at is not None else call.started_at
        held = {"seconds": f"{call.hold_seconds:.0f}"}
        out.append(
            _entry(hold_at, "hold", N_("on hold %(seconds)s s in total"), held, duration=call.hold_seconds)
        )
    for t in call.transfers:
        moved = {"kind": t.kind, "target": t.target, "agent": t.from_agent or ""}
        message = (
            N_("%(kind)s transfer to %(target)s by %(agent)s")
            if t.from_agent
            else N_("%(kind)s transfer to %(target)s")
        )
        out.append(_entry(t.at, "transfer", message, moved, agent=t.from_agent))
    if call.ended_at is not None:
        ended = {"outcome": call.outcome.value, "by": call.hangup_by.value if call.hangup_by else ""}
        message = N_("%(outcome)s (hung up by %(by)s)") if call.hangup_by is not None else N_("%(outcome)s")
        out.append(_entry(call.ended_at, "end", message, ended))
    out.sort(key=lambda e: e.at)
    return out


class QaService:
    def __init__(
        self,
        store: QaStore,
        *,
        calls: CallSource,
        recordings: RecordingService,
        ivr: IvrSource | None = None,
        dispositions: DispositionSource | None = None,
        surveys: SurveySource | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.calls = calls
        self.recordings = recordings
        self.ivr = ivr
        self.dispositions = dispositions
        self.surveys = surveys  # the post-call survey shown on the call's page
        self.clock = clock

    # -- search and review ---------------------------------------------------------------------------------

    async def search(self, q: CallSearch) -> CallHits:
        return await self.store.search_calls(q)

    async def review(self, user: User, call_id: str) -> CallReview:
        call = await self.calls.get_call(call_id)
        if call is None:
            raise NotFound(f"call {call_id} not found")
        if user.role not in ROLE_CAN_SEE_ALL_CALLS and not (user.agent and call.agent == user.agent):
            raise PermissionDenied("you may only see your own calls")
        ivr = await self.ivr.get_ivr_sessions(call_id) if self.ivr is not None else []
        disp = await self.dispositions.dispositions_for_calls([call_id]) if self.dispositions else []
        recs = [await self._with_meta(r) for r in await self.recordings.for_call(call_id)]
        return CallReview(
            call=call,
            timeline=tuple(build_timeline(call, ivr)),
            recordings=tuple(recs),
            tickets=tuple(await self.store.tickets_for_call(call_id)),
            evaluations=tuple(await self.store.evaluations_for_call(call_id)),
            dispositions=tuple(disp),
            ivr=tuple(ivr),
            survey=await self.surveys.for_call(call_id) if self.surveys is not None else None,
        )

    async def _with_meta(self, rec: RecordingInfo) -> RecordingInfo:
        """Fill size, duration and checksum on first view (hashed in a worker thread)."""
        if rec.sha256 is not None:
            return rec
        try:
            return await self.recordings.ensure_meta(rec)
        except (PermissionDenied, OSError):  # file missing or unsafe: shown without metadata
            return rec

    # -- forms -------------------------------------------------------------------------------------------

    async def create_form(self, user: User, name: str, sections: Any) -> QaForm:
        if user.role not in FORM_ADMINS:
            raise PermissionDenied("only admins define QA forms")
        name = name.strip()
        if not name:
            raise ValidationError("a form needs a name")
        form = QaForm(0, name[:200], parse_form_sections(sections), user.username, self.clock())
        return await self.store.add_form(form)

    async def ensure_default_form(self) -> QaForm | None:
        """Store the shipped form (``domain/qa_default.py``) when no form exists; the stored one if added."""
        if await self.store.list_forms():
            return None
        sections = parse_form_sections(DEFAULT_FORM_SECTIONS)
        return await self.store.add_form(QaForm(0, DEFAULT_FORM_NAME, sections, "system", self.clock()))

    async def forms(self, *, active_only: bool = False) -> list[QaForm]:
        return await self.store.list_forms(active_only=active_only)

    async def form(self, form_id: int) -> QaForm:
        form = await self.store.get_form(form_id)
        if form is None:
            raise NotFound(f"QA form {form_id} not found")
        return form

    # -- evaluations -------------------------------------------------------------------------------------

    async def evaluate(
        self, user: User, call_id: str, form_id: int, answers: Any, comment: str = ""
    ) -> Evaluation:
        if user.role not in EVALUATORS:
            raise PermissionDenied("only QA, supervisors and admins evaluate calls")
        call = await self.calls.get_call(call_id)
        if call is None:
            raise NotFound(f"call {call_id} not found")
        form = await self.form(form_id)
        if not form.active:
            raise ValidationError(f"QA form {form_id} is retired")
        parsed = parse_answers(form, answers)
        result = score(form, parsed)
        ev = Evaluation(
            id=0,
            call_id=call_id,
            form_id=form.id,
            evaluator=user.username,
            agent=call.agent,
            at=self.clock(),
            score=result.score,
            failed=result.failed,
            answers=parsed,
            comment=comment[:4000],
        )
        return await self.store.add_evaluation(ev)

    async def acknowledge(self, user: User, evaluation_id: int) -> Evaluation:
        """The agent of the evaluated call acknowledges having seen it (only that agent)."""
        ev = await self.store.get_evaluation(evaluation_id)
        if ev is None:
            raise NotFound(f"evaluation {evaluation_id} not found")
        if user.role is not Role.AGENT or not user.agent or user.agent != ev.agent:
            raise PermissionDenied("only the agent of the call acknowledges its evaluation")
        await self.store.acknowledge(evaluation_id, by=user.username, at=self.clock())
        found = await self.store.get_evaluation(evaluation_id)
        assert found is not None
        return found

    async def calibration(self, call_id: str, form_id: int | None = None) -> tuple[QaForm, Calibration]:
        evals = await self.store.evaluations_for_call(call_id)
        if form_id is None:
            if not evals:
                raise NotFound(N_("this call has no evaluations yet"))
            form_id = evals[-1].form_id
        form = await self.form(form_id)
        return form, calibrate(call_id, form, evals)

    # -- sampling ----------------------------------------------------------------------------------------

    async def sample(
        self, week: str, per_agent: int, seed: int | str | None = None
    ) -> Mapping[str, list[str]]:
        """``per_agent`` answered calls per agent picked at random across queues in ISO ``week``."""
        since, until = iso_week_bounds(week)
        by_agent = await self.store.answered_calls_by_agent(since, until)
        return sample_calls(by_agent, per_agent, seed)
