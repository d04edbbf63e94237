"""Store functions of QA and recordings on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from callcenter.domain.calls import CallDisposition
from callcenter.domain.ivr import IvrOutcome, IvrSessionRecord
from callcenter.domain.qa import Evaluation, QaForm, parse_answers, parse_form_sections, score
from callcenter.domain.qa_recordings import CallSearch, Playback, SearchOutcome, SortKey
from callcenter.store.console import SqlDispositionStore
from callcenter.store.crm import SqlCrmStore
from callcenter.store.ivr import SqlIvrSessionStore
from callcenter.store.qa import SqlQaStore
from callcenter.store.recordings import SqlRecordingStore
from tests.qa.conftest import FORM, sample_calls
from tests.webapp.helpers import T0


async def _seed(crm: SqlCrmStore) -> SqlQaStore:
    await crm.save_calls(sample_calls())
    await SqlIvrSessionStore(crm.engine).save_ivr_sessions(
        [
            IvrSessionRecord(
                call_id="c3",
                uniqueid="c3",
                flow="main",
                started_at=T0 + 7200,
                ended_at=T0 + 7210,
                outcome=IvrOutcome.CALLBACK,
            ),
            IvrSessionRecord(  # a callback chosen while waiting in queue
                call_id="c4",
                uniqueid="c4",
                flow="main",
                started_at=T0 + 7300,
                ended_at=T0 + 7310,
                outcome=IvrOutcome.QUEUED,
                route_outcome="callback",
            ),
        ]
    )
    await SqlDispositionStore(crm.engine).save_disposition(
        CallDisposition("c2", "1002", "resolved", at=T0 + 3700)
    )
    return SqlQaStore(crm.engine)


async def _form_and_eval(qa: SqlQaStore, call_id: str, agent: str, evaluator: str, greet: int) -> Evaluation:
    forms = await qa.list_forms()
    form = (
        forms[0] if forms else await qa.add_form(QaForm(0, "Standard", parse_form_sections(FORM["sections"])))
    )
    ans = parse_answers(form, {"greet": greet, "verify": 1, "solve": 5, "upsell": None})
    result = score(form, ans)
    return await qa.add_evaluation(
        Evaluation(0, call_id, form.id, evaluator, agent, T0 + 9000, result.score, result.failed, ans, "ok")
    )


async def _ids(qa: SqlQaStore, **kw: object) -> list[str]:
    return [h.call_id for h in (await qa.search_calls(CallSearch(**kw))).hits]  # type: ignore[arg-type]


async def test_search_filters(crm: SqlCrmStore) -> None:
    qa = await _seed(crm)
    await _form_and_eval(qa, "c1", "1001", "quinn", 0)
    assert await _ids(qa) == ["c4", "c3", "c2", "c1"]
    assert await _ids(qa, queue="sales") == ["c3", "c1"]
    assert await _ids(qa, agent="1002") == ["c2"]
    assert await _ids(qa, caller="0004") == ["c4"]
    assert await _ids(qa, since=T0 + 1, until=T0 + 7250) == ["c3", "c2"]
    assert await _ids(qa, outcome=SearchOutcome.ANSWERED) == ["c2", "c1"]
    assert await _ids(qa, outcome=SearchOutcome.ABANDONED) == ["c3"]
    assert await _ids(qa, outcome=SearchOutcome.ABANDONED_IN_IVR) == ["c4"]
    assert await _ids(qa, outcome=SearchOutcome.TRANSFERRED) == ["c1"]
    assert await _ids(qa, outcome=SearchOutcome.CALLBACK) == ["c4", "c3"]
    assert await _ids(qa, disposition="resolved") == ["c2"]
    assert await _ids(qa, min_duration=100) == ["c1"]
    assert await _ids(qa, max_duration=40, min_duration=1) == ["c2"]
    assert await _ids(qa, has_recording=True) == ["c1"]
    assert "c1" not in await _ids(qa, has_recording=False)
    assert await _ids(qa, min_score=50) == ["c1"]
    assert await _ids(qa, max_score=50) == []
    assert (await _ids(qa, sort=SortKey.DURATION, descending=False))[:2] == ["c4", "c3"]  # ties: newest first
    assert (await _ids(qa, sort=SortKey.DURATION))[0] == "c1"
    assert (await _ids(qa, sort=SortKey.SCORE))[0] == "c1"  # unscored calls last either way
    assert (await _ids(qa, sort=SortKey.SCORE, descending=False))[0] == "c1"
    assert (await _ids(qa, sort=SortKey.QUEUE, descending=False))[-1] == "c4"  # no queue: last
    page = await qa.search_calls(CallSearch(limit=2, offset=2))
    assert page.total == 4 and [h.call_id for h in page.hits] == ["c2", "c1"]
    hit = (await qa.search_calls(CallSearch(agent="1001"))).hits[0]
    assert hit.recordings == 1 and hit.evaluations == 1 and hit.score is not None


async def test_forms_evaluations_ack_and_sampling(crm: SqlCrmStore) -> None:
    qa = await _seed(crm)
    first = await _form_and_eval(qa, "c1", "1001", "quinn", 1)
    second = await _form_and_eval(qa, "c1", "1001", "quill", 0)
    form = await qa.get_form(first.form_id)
    assert form is not None and [s.title for s in form.sections] == ["Opening", "Resolution"]
    evals = await qa.evaluations_for_call("c1")
    assert [e.evaluator for e in evals] == ["quinn", "quill"]
    assert evals[0].score == 100.0 and evals[1].score < 100.0
    assert evals[0].answers[3].value is None and evals[0].answers[0].comment == ""
    assert await qa.acknowledge(second.id, by="alice", at=T0 + 10_000)
    assert not await qa.acknowledge(second.id, by="alice", at=T0 + 10_001)  # first wins
    acked = await qa.get_evaluation(second.id)
    assert acked is not None and acked.acknowledged_by == "alice"
    assert acked.acknowledged_at == pytest.approx(T0 + 10_000)
    assert await qa.set_form_active(first.form_id, False)
    assert await qa.list_forms(active_only=True) == []
    by_agent = await qa.answered_calls_by_agent(T0 - 1, T0 + 86400)
    assert by_agent == {"1001": ["c1"], "1002": ["c2"]}
    assert await qa.tickets_for_call("c1") == []


async def test_recordings_hold_playback_delete(crm: SqlCrmStore) -> None:
    await _seed(crm)
    store = SqlRecordingStore(crm.engine)
    [rec] = await store.recordings_for_call("c1")
    assert rec.path == "2023/c1.wav" and rec.agent == "1001" and rec.queue == "sales" and not rec.held
    await store.set_meta(rec.id, size_bytes=10, duration_seconds=1.5, sha256="ab" * 32)
    await store.set_hold(rec.id, True, by="sam", reason="lawsuit", at=T0)
    held = await store.get_recording(rec.id)
    assert held is not None and held.held and held.hold_by == "sam" and held.size_bytes == 10
    assert not await store.delete_recording(rec.id)  # held: refused in the statement itself
    assert [r.id for r in await store.recordings_started_before(T0 + 1)] == [rec.id]
    assert await store.recordings_started_before(T0 - 1) == []
    await store.log_playback(Playback(T0 + 5, "quinn", "qa", rec.id, "c1", "127.0.0.1", "bytes=0-"))
    [play] = await store.playbacks(rec.id)
    assert play.actor == "quinn" and play.byte_range == "bytes=0-"
    await store.set_hold(rec.id, False, by="sam", reason="", at=T0)
    assert await store.delete_recording(rec.id)
    assert await store.get_recording(rec.id) is None
    assert len(await store.playbacks()) == 1  # the audit trail outlives the recording
