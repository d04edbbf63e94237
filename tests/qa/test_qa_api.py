"""QA and recordings API on the whole service: role checks, Range handling, playback audit, path safety."""

from __future__ import annotations

import os
from typing import Any

from callcenter.store.recordings import SqlRecordingStore
from tests.qa.conftest import FORM, QaEnv, write_wav
from tests.webapp.helpers import login, session_csrf


async def _as(env: QaEnv, username: str) -> str:
    resp = await login(env.client, username)
    assert resp.status == 303
    return await session_csrf(env.client)


async def _recording_id(env: QaEnv, call_id: str = "c1") -> int:
    [rec] = await SqlRecordingStore(env.service.store.engine).recordings_for_call(call_id)
    return rec.id


async def _make_form(env: QaEnv) -> int:
    csrf = await _as(env, "ada")
    resp = await env.client.post("/api/qa/forms", json=FORM, headers={"X-CSRF-Token": csrf})
    assert resp.status == 200, await resp.text()
    form_id: int = (await resp.json())["form"]["id"]
    return form_id


async def test_search_roles_and_filters(qa_env: QaEnv) -> None:
    c = qa_env.client
    assert (await c.get("/api/qa/calls")).status == 401
    await _as(qa_env, "alice")
    assert (await c.get("/api/qa/calls")).status == 403
    for user in ("quinn", "sam", "ada"):
        await _as(qa_env, user)
        resp = await c.get("/api/qa/calls", params={"queue": "sales", "sort": "started_at", "order": "asc"})
        assert resp.status == 200
        data = await resp.json()
        assert [x["call_id"] for x in data["calls"]] == ["c1", "c3"] and data["total"] == 2
    resp = await c.get("/api/qa/calls", params={"outcome": "transferred", "has_recording": "true"})
    assert [x["call_id"] for x in (await resp.json())["calls"]] == ["c1"]
    assert (await c.get("/api/qa/calls", params={"outcome": "nope"})).status == 400
    assert (await c.get("/api/qa/calls", params={"min_score": "nan"})).status == 400
    page = await c.get("/qa/calls")
    assert page.status == 200 and "qa-filters" in await page.text()


async def test_review_and_agent_visibility(qa_env: QaEnv) -> None:
    c = qa_env.client
    await _as(qa_env, "quinn")
    data = await (await c.get("/api/qa/calls/c1")).json()
    kinds = [e["kind"] for e in data["timeline"]]
    assert kinds[0] == "start" and {"queued", "offer", "answer", "hold", "transfer", "end"} <= set(kinds)
    [rec] = data["recordings"]
    assert rec["size_bytes"] == qa_env.wav.stat().st_size and rec["duration_seconds"] == 2.0
    assert len(rec["sha256"]) == 64
    assert (await c.get("/api/qa/calls/nope")).status == 404
    page = await c.get("/qa/calls/c1")
    html = await page.text()
    assert page.status == 200 and 'data-testid="qa-audio"' in html and "<script>" not in html
    await _as(qa_env, "alice")
    assert (await c.get("/api/qa/calls/c1")).status == 200  # her own call
    assert (await c.get("/api/qa/calls/c2")).status == 403
    own = await c.get("/qa/calls/c1")  # an agent opens their own call (recording, acknowledgement)
    assert own.status == 200 and "Score this call" not in await own.text()
    assert (await c.get("/qa/calls/c2")).status == 403
    assert (await c.get("/qa/calls")).status == 403  # the search is for reviewers


async def test_audio_range_roles_and_audit(qa_env: QaEnv) -> None:
    c = qa_env.client
    rid = await _recording_id(qa_env)
    url = f"/api/recordings/{rid}/audio"
    data = qa_env.wav.read_bytes()
    size = len(data)
    assert (await c.get(url)).status == 401
    await _as(qa_env, "bob")
    assert (await c.get(url)).status == 403  # not his call
    await _as(qa_env, "alice")
    whole = await c.get(url)
    assert whole.status == 200 and await whole.read() == data
    assert whole.headers["Accept-Ranges"] == "bytes" and whole.headers["Content-Type"] == "audio/wav"
    await _as(qa_env, "quinn")
    part = await c.get(url, headers={"Range": "bytes=100-199"})
    assert part.status == 206 and part.headers["Content-Range"] == f"bytes 100-199/{size}"
    assert await part.read() == data[100:200]
    tail = await c.get(url, headers={"Range": "bytes=-10"})
    assert tail.status == 206 and await tail.read() == data[-10:]
    start = await c.get(url, headers={"Range": "bytes=0-"})
    assert start.status == 206 and len(await start.read()) == size
    for bad in (f"bytes={size}-", "bytes=9-1", "lines=0-1", "bytes=0-1,4-5"):
        resp = await c.get(url, headers={"Range": bad})
        assert resp.status == 416, bad
        assert resp.headers["Content-Range"] == f"bytes */{size}"
    assert (await c.get("/api/recordings/999999/audio")).status == 404
    assert (await c.get("/api/recordings/abc/audio")).status == 404
    # audit: alice's whole-file request and quinn's range starting at 0; not the seeks
    await _as(qa_env, "sam")
    plays: list[dict[str, Any]] = (await (await c.get(f"/api/recordings/{rid}/playbacks")).json())[
        "playbacks"
    ]
    assert sorted((p["actor"], p["byte_range"]) for p in plays) == [("alice", ""), ("quinn", "bytes=0-")]
    assert all(p["remote"] for p in plays)
    await _as(qa_env, "quinn")
    assert (await c.get(f"/api/recordings/{rid}/playbacks")).status == 403


async def test_unsafe_recording_paths_are_refused(qa_env: QaEnv) -> None:
    env = qa_env
    outside = write_wav(env.recordings_dir.parent / "outside.wav", seconds=0.1)
    os.symlink(outside, env.recordings_dir / "link.wav")
    store = env.service.store
    names = ["../outside.wav", str(outside), "link.wav", "..%2Foutside.wav", "2023/../../outside.wav"]
    ids = []
    for i, name in enumerate(names):
        await store.save_recording("c2", name)
        [rec] = [r for r in await SqlRecordingStore(store.engine).recordings_for_call("c2") if r.path == name]
        ids.append(rec.id)
        assert i == len(ids) - 1
    await _as(env, "ada")
    for rid, name in zip(ids, names, strict=True):
        resp = await env.client.get(f"/api/recordings/{rid}/audio")
        assert resp.status == 404, name
        assert b"RIFF" not in await resp.read()
    for path in ("/api/recordings/..%2F..%2Fetc%2Fpasswd/audio", "/api/recordings/../../etc/passwd"):
        assert (await env.client.get(path)).status == 404


async def test_forms_evaluation_ack_calibration(qa_env: QaEnv) -> None:
    c = qa_env.client
    csrf = await _as(qa_env, "quinn")
    assert (await c.post("/api/qa/forms", json=FORM, headers={"X-CSRF-Token": csrf})).status == 403
    form_id = await _make_form(qa_env)
    answers = {"greet": {"value": 1, "comment": "warm"}, "verify": 1, "solve": 4, "upsell": None}
    csrf = await _as(qa_env, "quinn")
    url = "/api/qa/calls/c1/evaluations"
    assert (await c.post(url, json={"form_id": form_id, "answers": answers})).status == 403  # no CSRF
    resp = await c.post(url, json={"form_id": form_id, "answers": answers}, headers={"X-CSRF-Token": csrf})
    assert resp.status == 200, await resp.text()
    ev = (await resp.json())["evaluation"]
    assert ev["score"] == round(100 * (1 + 2 + 3 * 0.8) / 6, 2) and ev["agent"] == "1001"
    bad = await c.post(
        url, json={"form_id": form_id, "answers": {"greet": 1}}, headers={"X-CSRF-Token": csrf}
    )
    assert bad.status == 400
    csrf = await _as(qa_env, "quill")
    resp = await c.post(
        url,
        json={"form_id": form_id, "answers": answers | {"verify": 0}},
        headers={"X-CSRF-Token": csrf},
    )
    assert (await resp.json())["evaluation"]["score"] == 0.0
    cal = (await (await c.get("/api/qa/calls/c1/calibration")).json())["calibration"]
    assert cal["total"]["n"] == 2 and cal["total"]["min"] == 0.0 and cal["total"]["max"] == ev["score"]
    assert cal["questions"]["verify"]["stddev"] == 0.5
    # acknowledgement: only the call's agent
    ack = f"/api/qa/evaluations/{ev['id']}/acknowledge"
    assert (await c.post(ack, headers={"X-CSRF-Token": csrf})).status == 403
    csrf = await _as(qa_env, "bob")
    assert (await c.post(ack, headers={"X-CSRF-Token": csrf})).status == 403
    csrf = await _as(qa_env, "alice")
    resp = await c.post(ack, headers={"X-CSRF-Token": csrf})
    assert resp.status == 200 and (await resp.json())["evaluation"]["acknowledged_by"] == "alice"


async def test_legal_hold_api(qa_env: QaEnv) -> None:
    c = qa_env.client
    rid = await _recording_id(qa_env)
    url = f"/api/recordings/{rid}/hold"
    for user in ("quinn", "alice"):
        csrf = await _as(qa_env, user)
        assert (await c.post(url, json={"held": True}, headers={"X-CSRF-Token": csrf})).status == 403
    csrf = await _as(qa_env, "sam")
    assert (await c.post(url, json={"held": "yes"}, headers={"X-CSRF-Token": csrf})).status == 400
    resp = await c.post(url, json={"held": True, "reason": "case 42"}, headers={"X-CSRF-Token": csrf})
    assert resp.status == 200 and (await resp.json())["recording"]["held"] is True
    assert (
        await c.post("/api/recordings/999/hold", json={"held": True}, headers={"X-CSRF-Token": csrf})
    ).status == 404


async def test_openapi_documents_every_qa_route(qa_env: QaEnv) -> None:
    await _as(qa_env, "ada")
    doc = await (await qa_env.client.get("/api/openapi.json")).json()
    app = qa_env.client.app
    assert app is not None
    for route in app.router.routes():
        path = route.resource.canonical if route.resource is not None else ""
        if path.startswith(("/api/qa", "/api/recordings")):
            assert path in doc["paths"], path


async def test_agent_acknowledges_on_the_call_page(qa_env: QaEnv) -> None:
    form_id = await _make_form(qa_env)
    csrf = await _as(qa_env, "quinn")
    answers = {"greet": 1, "verify": 1, "solve": 5, "upsell": 1}
    resp = await qa_env.client.post(
        "/api/qa/calls/c1/evaluations",
        json={"form_id": form_id, "answers": answers},
        headers={"X-CSRF-Token": csrf},
    )
    ev_id = (await resp.json())["evaluation"]["id"]
    await _as(qa_env, "alice")
    html = await (await qa_env.client.get("/qa/calls/c1")).text()
    assert f'data-testid="qa-ack-{ev_id}"' in html
    await _as(qa_env, "sam")
    html = await (await qa_env.client.get("/qa/calls/c1")).text()
    assert "qa-ack-" not in html and "Score this call" in html
