"""QA pages and API, recording playback (issue #8).

=======  =====================================  ============================================================
GET      /qa/calls                              call search page (qa, supervisor, admin)
GET      /qa/calls/{call_id}                    a call's review page: timeline, recording, tickets, scoring
GET      /qa/calls/{call_id}/calibration        calibration page: spread of evaluators' answers
GET      /api/qa/calls                          search (filters, sort, pagination; qa, supervisor, admin)
GET      /api/qa/calls/{call_id}                review data (qa, supervisor, admin; an agent their own calls)
GET      /api/qa/calls/{call_id}/calibration    min/max/mean/stddev per question and total (``?form_id=``)
POST     /api/qa/calls/{call_id}/evaluations    score the call with a form (qa, supervisor, admin)
GET      /api/qa/forms                          scoring forms (any role)
POST     /api/qa/forms                          define a form (admin)
POST     /api/qa/evaluations/{id}/acknowledge   the call's agent acknowledges the evaluation
GET      /api/recordings/{id}/audio             the audio file; ``Range: bytes=a-b`` → 206 (416 if bad)
POST     /api/recordings/{id}/hold              ``{"held": true, "reason": ""}``: legal hold (sup., admin)
GET      /api/recordings/{id}/playbacks         the playback audit log of a recording (supervisor, admin)
=======  =====================================  ============================================================

Playback audit: a request for the start of the file (no ``Range`` or a range starting at byte 0) is one
playback and writes one row (who, when, which recording, client address, range); seeks within the same
playback (ranges further in) are not logged again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Any

from aiohttp import web

from callcenter.domain import bounds
from callcenter.domain.errors import NotFound, PermissionDenied
from callcenter.domain.qa import sections_to_json
from callcenter.domain.qa_recordings import (
    CallSearch,
    RangeNotSatisfiable,
    RecordingInfo,
    SearchOutcome,
    SortKey,
    parse_range,
)
from callcenter.domain.users import Role
from callcenter.services.qa import CallReview, QaService
from callcenter.services.recordings import CHUNK, RecordingAccessDenied
from callcenter.webapp import openapi
from callcenter.webapp.auth import current_principal, require_role
from callcenter.webapp.errors import json_error, require_service
from callcenter.webapp.i18n import N_
from callcenter.webapp.jsonenc import json_response, loads
from callcenter.webapp.keys import TEMPLATES
from callcenter.webapp.params import BadQuery, QueryParams, path_id
from callcenter.webapp.serialize import call_json, iso
from callcenter.webapp.views_pages import LANDING, page_context

log = logging.getLogger(__name__)

QA = web.AppKey[QaService]("qa")
REVIEWERS = (Role.QA, Role.SUPERVISOR, Role.ADMIN)
HOLDERS = (Role.SUPERVISOR, Role.ADMIN)
MAX_BODY = 64 * 1024
AUDIO_TYPES = {".wav": "audio/wav", ".mp3": "audio/mpeg", ".ogg": "audio/ogg", ".opus": "audio/ogg"}


def _svc(request: web.Request) -> QaService:
    return require_service(request.app.get(QA), "QA is not available")


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "items"):  # other mappings
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def recording_json(rec: RecordingInfo) -> dict[str, Any]:
    out = _plain(rec)
    # the server's file path stays on the server: the file name is enough to tell recordings apart
    out["file_name"] = rec.path.rsplit("/", 1)[-1]
    out.pop("path", None)
    out["audio_url"] = f"/api/recordings/{rec.id}/audio"
    out["started_at_iso"] = iso(rec.started_at)
    return dict(out)


def review_json(review: CallReview) -> dict[str, Any]:
    timeline = []
    for e in review.timeline:
        item = _plain(e)
        item["at_iso"] = iso(e.at)
        timeline.append(item)
    return {
        "call": call_json(review.call, detail=True),
        "timeline": timeline,
        "recordings": [recording_json(r) for r in review.recordings],
        "tickets": _plain(list(review.tickets)),
        "evaluations": _plain(list(review.evaluations)),
        "dispositions": _plain(list(review.dispositions)),
        "ivr": _plain(list(review.ivr)),
        "survey": review.survey.as_dict() if review.survey is not None else None,
    }


async def _body(request: web.Request) -> dict[str, Any] | web.Response:
    raw = await request.content.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        return json_error(413, "request body too large")
    try:
        body = loads(raw) if raw else {}
    except ValueError:
        return json_error(400, "body must be JSON")
    if not isinstance(body, dict):
        return json_error(400, "body must be a JSON object")
    return body


SEARCH_PARAMS = frozenset(
    {
        "since", "until", "queue", "agent", "customer_id", "caller", "outcome", "disposition",
        "min_duration", "max_duration", "has_recording", "min_score", "max_score", "min_csat", "max_csat",
        "sort", "order", "limit", "offset",
    }
)  # fmt: skip
MAX_SEARCH_LIMIT = 500
MAX_SEARCH_OFFSET = 1_000_000


def parse_search(query: Any) -> CallSearch:
    """``CallSearch`` from query parameters (``BadQuery``, a 400, on bad input)."""
    q = QueryParams(query, SEARCH_PARAMS)
    order = (q.text("order") or "desc").lower()
    if order not in ("asc", "desc"):
        raise BadQuery(f"order: asc or desc, got {order[:10]!r}")
    return CallSearch(
        since=q.time("since"),
        until=q.time("until"),
        queue=q.text("queue"),
        agent=q.text("agent"),
        customer_id=q.record_id("customer_id"),
        caller=q.text("caller"),
        outcome=q.choice("outcome", SearchOutcome),
        disposition=q.text("disposition"),
        min_duration=q.number("min_duration", 0, bounds.MAX_EPOCH),
        max_duration=q.number("max_duration", 0, bounds.MAX_EPOCH),
        has_recording=q.flag("has_recording"),
        min_score=q.number("min_score", -1e6, 1e6),
        max_score=q.number("max_score", -1e6, 1e6),
        min_csat=q.optional_int("min_csat", 1, 5),  # a score 9 is a 400
        max_csat=q.optional_int("max_csat", 1, 5),
        sort=q.choice("sort", SortKey, SortKey.STARTED) or SortKey.STARTED,
        descending=order != "asc",
        limit=q.integer("limit", 50, 1, MAX_SEARCH_LIMIT),
        offset=q.integer("offset", 0, 0, MAX_SEARCH_OFFSET),
    )


# -- API -------------------------------------------------------------------------------------------------


@require_role(*REVIEWERS)
async def api_search(request: web.Request) -> web.StreamResponse:
    svc = _svc(request)
    q = parse_search(request.query)  # a BadQuery propagates: 400 (webapp/errors.py)

    async def go() -> dict[str, Any]:
        hits = await svc.search(q)
        calls = []
        for h in hits.hits:
            item = _plain(h)
            item["started_at_iso"] = iso(h.started_at)
            calls.append(item)
        return {"calls": calls, "total": hits.total, "limit": hits.limit, "offset": hits.offset}

    return json_response(await go())


@require_role()
async def api_review(request: web.Request) -> web.StreamResponse:
    svc = _svc(request)
    user = current_principal(request).user

    async def go() -> dict[str, Any]:
        return review_json(await svc.review(user, request.match_info["call_id"]))

    return json_response(await go())


@require_role(*REVIEWERS)
async def api_calibration(request: web.Request) -> web.StreamResponse:
    svc = _svc(request)
    form_id = QueryParams(request.query, ("form_id",)).record_id("form_id")

    async def go() -> dict[str, Any]:
        form, cal = await svc.calibration(request.match_info["call_id"], form_id)
        return {"form": {"id": form.id, "name": form.name, "sections": sections_to_json(form.sections)}} | {
            "calibration": _plain(cal)
        }

    return json_response(await go())


@require_role(*REVIEWERS)
async def api_evaluate(request: web.Request) -> web.StreamResponse:
    svc = _svc(request)
    body = await _body(request)
    if isinstance(body, web.Response):
        return body
    form_id = body.get("form_id")
    if not bounds.is_record_id(form_id):
        return json_error(400, "form_id must be a form id (a positive integer)")
    assert isinstance(form_id, int)
    user = current_principal(request).user

    async def go() -> dict[str, Any]:
        ev = await svc.evaluate(
            user, request.match_info["call_id"], form_id, body.get("answers"), str(body.get("comment") or "")
        )
        return {"evaluation": _plain(ev)}

    return json_response(await go())


@require_role()
async def api_forms(request: web.Request) -> web.StreamResponse:
    svc = _svc(request)

    async def go() -> dict[str, Any]:
        forms = await svc.forms(active_only=request.query.get("active") == "1")
        return {
            "forms": [
                {"id": f.id, "name": f.name, "active": f.active, "sections": sections_to_json(f.sections)}
                for f in forms
            ]
        }

    return json_response(await go())


@require_role(Role.ADMIN)
async def api_create_form(request: web.Request) -> web.StreamResponse:
    svc = _svc(request)
    body = await _body(request)
    if isinstance(body, web.Response):
        return body
    user = current_principal(request).user

    async def go() -> dict[str, Any]:
        form = await svc.create_form(user, str(body.get("name") or ""), body.get("sections"))
        return {"form": {"id": form.id, "name": form.name, "sections": sections_to_json(form.sections)}}

    return json_response(await go())


@require_role(Role.AGENT)
async def api_acknowledge(request: web.Request) -> web.StreamResponse:
    svc = _svc(request)
    ev_id = path_id(request, "evaluation_id", "evaluation")
    user = current_principal(request).user

    async def go() -> dict[str, Any]:
        return {"evaluation": _plain(await svc.acknowledge(user, ev_id))}

    return json_response(await go())


def _recording_id(request: web.Request) -> int | None:
    try:
        return path_id(request, "recording_id", "recording")
    except NotFound:
        return None


@require_role(*HOLDERS)
async def api_hold(request: web.Request) -> web.StreamResponse:
    svc = _svc(request)
    rid = _recording_id(request)
    if rid is None:
        return json_error(404, "recording not found")
    body = await _body(request)
    if isinstance(body, web.Response):
        return body
    held = body.get("held")
    if not isinstance(held, bool):
        return json_error(400, "held must be true or false")
    user = current_principal(request).user

    async def go() -> dict[str, Any]:
        rec = await svc.recordings.set_hold(user, rid, held, str(body.get("reason") or ""))
        return {"recording": recording_json(rec)}

    return json_response(await go())


@require_role(*HOLDERS)
async def api_playbacks(request: web.Request) -> web.StreamResponse:
    svc = _svc(request)
    rid = _recording_id(request)
    if rid is None:
        return json_error(404, "recording not found")

    async def go() -> dict[str, Any]:
        rows = await svc.recordings.store.playbacks(rid)
        return {"playbacks": [_plain(p) | {"at_iso": iso(p.at)} for p in rows]}

    return json_response(await go())


@require_role()
async def api_audio(request: web.Request) -> web.StreamResponse:
    svc = _svc(request)
    rid = _recording_id(request)
    if rid is None:
        return json_error(404, "recording not found")
    user = current_principal(request).user
    fmt = request.query.get("format", "wav")  # "mp3": a cached MP3 transcode (services/recordings.py)
    try:
        rec, path, size = await svc.recordings.open_for(user, rid, fmt)
    except PermissionDenied as exc:
        if not isinstance(exc, RecordingAccessDenied):  # log the refusal; webapp/errors.py answers 403
            log.warning(
                "recording playback refused",
                extra={
                    "recording_id": rid,
                    "user": user.username,
                    "role": user.role.value,
                    "agent": user.agent,
                },
            )
        raise
    header = request.headers.get("Range")
    try:
        byte_range = parse_range(header, size)
    except RangeNotSatisfiable:
        return web.Response(
            status=416, headers={"Content-Range": f"bytes */{size}", "Accept-Ranges": "bytes"}
        )
    start, end = byte_range if byte_range is not None else (0, size - 1)
    if start == 0:
        # no audit row, no playback: a StoreError propagates (503)
        await svc.recordings.log_playback(user, rec, remote=request.remote or "", byte_range=header or "")
    length = max(0, end - start + 1)
    response = web.StreamResponse(status=206 if byte_range is not None else 200)
    response.headers["Content-Type"] = AUDIO_TYPES.get(path.suffix.lower(), "application/octet-stream")
    response.headers["Accept-Ranges"] = "bytes"
    response.headers["Cache-Control"] = "private, no-store"
    response.content_length = length
    if byte_range is not None:
        response.headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    await response.prepare(request)
    if request.method == "HEAD" or length == 0:
        await response.write_eof()
        return response
    fh = await asyncio.to_thread(path.open, "rb")
    try:
        await asyncio.to_thread(fh.seek, start)
        remaining = length
        while remaining > 0:
            chunk = await asyncio.to_thread(fh.read, min(CHUNK, remaining))
            if not chunk:
                break
            await response.write(chunk)
            remaining -= len(chunk)
    finally:
        await asyncio.to_thread(fh.close)
    await response.write_eof()
    return response


# -- pages -----------------------------------------------------------------------------------------------


def _page(request: web.Request, template: str, title: str, **extra: Any) -> web.Response:
    principal = current_principal(request)
    return request.app[TEMPLATES].response(
        template, page_context(principal, page=LANDING[Role.QA], title=title, **extra)
    )


@require_role(*REVIEWERS)
async def page_calls(request: web.Request) -> web.StreamResponse:
    return _page(request, "qa_calls.html", "Call search")


@require_role()
async def page_call(request: web.Request) -> web.StreamResponse:
    """Reviewers see any call; an agent sees their own (recording, evaluations to acknowledge)."""
    svc = _svc(request)
    call_id = request.match_info["call_id"]
    review = await svc.review(current_principal(request).user, call_id)
    forms = await svc.forms(active_only=True)
    return _page(
        request,
        "qa_call.html",
        f"Call {call_id}",
        review=review,
        forms=forms,
        recordings=[recording_json(r) for r in review.recordings],
        iso=iso,
    )


@require_role(*REVIEWERS)
async def page_calibration(request: web.Request) -> web.StreamResponse:
    return _page(request, "qa_calibration.html", N_("Calibration"), call_id=request.match_info["call_id"])


# -- OpenAPI ---------------------------------------------------------------------------------------------


def _paths() -> dict[str, Any]:
    obj = {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}}
    err = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}

    def e(text: str) -> dict[str, Any]:
        return {"description": text, **err}

    common = {"401": e("not authenticated"), "403": e("role not allowed or missing CSRF token")}
    tags = ["qa"]

    def p(name: str, where: str, desc: str, schema: dict[str, Any], required: bool = False) -> dict[str, Any]:
        return {"name": name, "in": where, "required": required, "description": desc, "schema": schema}

    call_id = p("call_id", "path", "call id (Linkedid)", {"type": "string"}, True)
    num = {"type": "number", "minimum": 0}
    time = {"type": "number", "minimum": 0, "maximum": bounds.MAX_EPOCH}
    record = {"type": "integer", "minimum": 1, "maximum": bounds.MAX_RECORD_ID}
    rec_id = p("recording_id", "path", "recording id", record, True)
    search_params = [
        p("since", "query", "calls started at or after (epoch seconds, or ISO 8601)", time),
        p("until", "query", "calls started before (epoch seconds, or ISO 8601)", time),
        p("queue", "query", "queue name", {"type": "string"}),
        p("agent", "query", "agent id", {"type": "string"}),
        p("customer_id", "query", "customer id", record),
        p("caller", "query", "substring of the caller number", {"type": "string"}),
        p("outcome", "query", "call outcome", {"enum": [o.value for o in SearchOutcome]}),
        p("disposition", "query", "wrap-up code", {"type": "string"}),
        p("min_duration", "query", "talk seconds at least", num),
        p("max_duration", "query", "talk seconds at most", num),
        p("has_recording", "query", "true/false", {"type": "boolean"}),
        p("min_score", "query", "an evaluation scored at least", {"type": "number"}),
        p("max_score", "query", "an evaluation scored at most", {"type": "number"}),
        p("min_csat", "query", "post-call survey score at least (1-5)", {"type": "integer"}),
        p("max_csat", "query", "post-call survey score at most (1-5)", {"type": "integer"}),
        p("sort", "query", "sort key", {"enum": [s.value for s in SortKey]}),
        p("order", "query", "asc or desc (default)", {"enum": ["asc", "desc"]}),
        p(
            "limit",
            "query",
            "page size (1-500, default 50)",
            {"type": "integer", "minimum": 1, "maximum": MAX_SEARCH_LIMIT},
        ),
        p("offset", "query", "rows to skip", {"type": "integer", "minimum": 0, "maximum": MAX_SEARCH_OFFSET}),
    ]

    def body(props: dict[str, Any], required: list[str]) -> dict[str, Any]:
        schema = {"type": "object", "properties": props, "required": required}
        return {"required": True, "content": {"application/json": {"schema": schema}}}

    return {
        "/api/qa/calls": {
            "get": {
                "summary": "Search calls (qa, supervisor, admin)",
                "tags": tags,
                "parameters": search_params,
                "responses": {"200": obj, **common, "400": e("bad parameter"), "503": e("store unavailable")},
            }
        },
        "/api/qa/calls/{call_id}": {
            "get": {
                "summary": "A call's review: timeline (IVR, wait, offers, holds, transfers), recordings, "
                "tickets, dispositions, evaluations (an agent: own calls only)",
                "tags": tags,
                "parameters": [call_id],
                "responses": {"200": obj, **common, "404": e("unknown call")},
            }
        },
        "/api/qa/calls/{call_id}/calibration": {
            "get": {
                "summary": "Calibration: min/max/mean/stddev of each question and of the total score over "
                "the call's evaluators",
                "tags": tags,
                "parameters": [
                    call_id,
                    p("form_id", "query", "form (default: the latest used)", record),
                ],
                "responses": {"200": obj, **common, "404": e("no evaluations or unknown form")},
            }
        },
        "/api/qa/calls/{call_id}/evaluations": {
            "post": {
                "summary": "Score a call with a form. Score = 100 x sum(weight x answer/max) / sum(weight) "
                "over applicable questions; an instant-fail question answered no/0 makes the score 0",
                "tags": tags,
                "parameters": [call_id],
                "requestBody": body(
                    {
                        "form_id": {"type": "integer"},
                        "answers": {"type": "object", "description": '{"qid": {"value": 1, "comment": ""}}'},
                        "comment": {"type": "string"},
                    },
                    ["form_id", "answers"],
                ),
                "responses": {
                    "200": obj,
                    **common,
                    "400": e("invalid answers"),
                    "404": e("unknown call or form"),
                },
            }
        },
        "/api/qa/forms": {
            "get": {
                "summary": "QA scoring forms (``?active=1`` for the active ones)",
                "tags": tags,
                "responses": {"200": obj, **common},
            },
            "post": {
                "summary": "Define a scoring form: sections of weighted yes/no or scale questions, "
                "instant-fail items (admin)",
                "tags": tags,
                "requestBody": body(
                    {"name": {"type": "string"}, "sections": {"type": "array"}}, ["name", "sections"]
                ),
                "responses": {"200": obj, **common, "400": e("invalid form")},
            },
        },
        "/api/qa/evaluations/{evaluation_id}/acknowledge": {
            "post": {
                "summary": "The evaluated call's agent acknowledges the evaluation",
                "tags": tags,
                "parameters": [p("evaluation_id", "path", "evaluation id", record, True)],
                "responses": {"200": obj, **common, "404": e("unknown evaluation")},
            }
        },
        "/api/recordings/{recording_id}/audio": {
            "get": {
                "summary": "Play a recording (HTTP Range supported: 206 with Content-Range, 416 for a bad "
                "range). qa, supervisor, admin; an agent only their own calls. Audited.",
                "tags": tags,
                "parameters": [rec_id, p("Range", "header", "bytes=start-end", {"type": "string"})],
                "responses": {
                    "200": {"description": "the whole file", "content": {"audio/wav": {}}},
                    "206": {"description": "the requested range", "content": {"audio/wav": {}}},
                    "416": {"description": "range not satisfiable"},
                    **common,
                    "404": e("unknown recording or file unavailable"),
                },
            }
        },
        "/api/recordings/{recording_id}/hold": {
            "post": {
                "summary": "Set or lift a legal hold (a held recording is never purged; supervisor, admin)",
                "tags": tags,
                "parameters": [rec_id],
                "requestBody": body({"held": {"type": "boolean"}, "reason": {"type": "string"}}, ["held"]),
                "responses": {"200": obj, **common, "400": e("invalid body"), "404": e("unknown recording")},
            }
        },
        "/api/recordings/{recording_id}/playbacks": {
            "get": {
                "summary": "Who played this recording, when, from where (supervisor, admin)",
                "tags": tags,
                "parameters": [rec_id],
                "responses": {"200": obj, **common},
            }
        },
    }


def setup(app: web.Application) -> None:
    """Register the QA pages and API (``app[QA]`` is set by the composition root; 503 until then)."""
    r = app.router
    r.add_get("/qa/calls", page_calls, name="qa_calls")
    r.add_get("/qa/calls/{call_id}/calibration", page_calibration, name="qa_calibration")
    r.add_get("/qa/calls/{call_id}", page_call, name="qa_call")
    r.add_get("/api/qa/calls", api_search, name="api_qa_calls")
    r.add_get("/api/qa/calls/{call_id}/calibration", api_calibration, name="api_qa_calibration")
    r.add_post("/api/qa/calls/{call_id}/evaluations", api_evaluate, name="api_qa_evaluate")
    r.add_get("/api/qa/calls/{call_id}", api_review, name="api_qa_call")
    r.add_get("/api/qa/forms", api_forms, name="api_qa_forms")
    r.add_post("/api/qa/forms", api_create_form, name="api_qa_create_form")
    r.add_post("/api/qa/evaluations/{evaluation_id}/acknowledge", api_acknowledge, name="api_qa_ack")
    r.add_get("/api/recordings/{recording_id}/audio", api_audio, name="api_recording_audio")
    r.add_post("/api/recordings/{recording_id}/hold", api_hold, name="api_recording_hold")
    r.add_get("/api/recordings/{recording_id}/playbacks", api_playbacks, name="api_recording_playbacks")
    openapi.add_paths(app, _paths())
