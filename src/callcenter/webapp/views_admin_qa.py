"""Administration pages for QA forms and IVR flows (admin role; every change audited).

=======  ===========================  ================================================================
GET      /admin/qa-forms              the forms in use and the form builder (``static/admin_qa.js``)
POST     /admin/qa-forms              JSON ``{"name", "sections"}`` (the ``POST /api/qa/forms`` shape):
                                      store a form; 400 with the validator's message
GET      /admin/ivr                   the flow files (read-only view), what is loaded, the last reload
POST     /admin/ivr/validate          check the files on disk without using them (``file:line`` errors)
POST     /admin/ivr/reload            reload them (a rejected version keeps the running flows)
=======  ===========================  ================================================================
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from aiohttp import web

from callcenter.domain.errors import CallcenterError
from callcenter.domain.qa import sections_to_json
from callcenter.domain.users import Role
from callcenter.services.ivr_flows import check_paths
from callcenter.webapp.auth import current_principal, require_role
from callcenter.webapp.errors import require_service
from callcenter.webapp.jsonenc import dumps, json_response, loads
from callcenter.webapp.serialize import iso
from callcenter.webapp.views_acd import ACD
from callcenter.webapp.views_admin import admin_service, error_text, render
from callcenter.webapp.views_ivr import IVR_ADMIN
from callcenter.webapp.views_qa import QA

MAX_BODY = 256 * 1024
MAX_FILE = 256 * 1024
FLOW_SUFFIXES = (".yaml", ".yml", ".txt")


# --- QA forms --------------------------------------------------------------------------------------------


@require_role(Role.ADMIN)
async def qa_forms_page(request: web.Request) -> web.StreamResponse:
    svc = require_service(request.app.get(QA), "QA is not available on this instance")
    forms = await svc.forms()
    rows = [
        {
            "id": f.id,
            "name": f.name,
            "active": f.active,
            "created_by": f.created_by,
            "created_at": iso(f.created_at) if f.created_at else "",
            "sections": f.sections,
            "json": dumps({"name": f.name, "sections": sections_to_json(f.sections)}),
        }
        for f in forms
    ]
    return render(request, "admin_qa_forms.html", "QA forms", forms=rows)


@require_role(Role.ADMIN)
async def qa_form_create(request: web.Request) -> web.StreamResponse:
    svc = require_service(request.app.get(QA), "QA is not available on this instance")
    raw = await request.read()
    if len(raw) > MAX_BODY:
        return json_response({"error": "request body too large"}, status=413)
    try:
        body = loads(raw)
    except ValueError:
        return json_response({"error": "body must be JSON"}, status=400)
    if not isinstance(body, dict):
        return json_response({"error": "body must be a JSON object"}, status=400)
    user = current_principal(request).user
    try:
        form = await svc.create_form(user, str(body.get("name") or ""), body.get("sections"))
    except (CallcenterError, ValueError) as exc:
        return json_response({"error": error_text(exc)}, status=400)
    questions = form.questions()
    await admin_service(request).record(
        user,
        "admin.qa_form.create",
        form.name,
        {
            "form_id": form.id,
            "questions": len(questions),
            "instant_fail": sum(q.instant_fail for q in questions),
        },
    )
    return json_response(
        {"form": {"id": form.id, "name": form.name, "sections": sections_to_json(form.sections)}}
    )


# --- IVR flows -------------------------------------------------------------------------------------------


def _read_flow_files(directory: Path) -> list[dict[str, str]]:
    """Blocking (run in a thread): the flow directory's files, for the read-only view."""
    files: list[dict[str, str]] = []
    if not directory.is_dir():
        return files
    for path in sorted(directory.iterdir()):
        if path.is_file() and path.suffix in FLOW_SUFFIXES:
            text = path.read_bytes()[:MAX_FILE].decode("utf-8", errors="replace")
            files.append({"name": path.name, "text": text})
    return files


def _directory(request: web.Request) -> Path:
    admin = require_service(request.app.get(IVR_ADMIN), "the IVR is not running on this instance")
    flows = admin.status().get("flows") or {}
    return Path(str(flows.get("directory") or "ivr_flows"))


async def _ivr_page(
    request: web.Request, report: dict[str, Any] | None = None, status: int = 200
) -> web.Response:
    admin = require_service(request.app.get(IVR_ADMIN), "the IVR is not running on this instance")
    state = admin.status()
    directory = _directory(request)
    files = await asyncio.to_thread(_read_flow_files, directory)
    return render(
        request,
        "admin_ivr.html",
        "IVR flows",
        status=status,
        directory=str(directory),
        loaded=(state.get("flows") or {}),
        files=files,
        report=report,
    )


@require_role(Role.ADMIN)
async def ivr_page(request: web.Request) -> web.StreamResponse:
    return await _ivr_page(request)


@require_role(Role.ADMIN)
async def ivr_validate(request: web.Request) -> web.StreamResponse:
    directory = _directory(request)
    acd = request.app.get(ACD)
    has_queue = acd.has_queue if acd is not None else None
    flow_set, problems, notes = await asyncio.to_thread(check_paths, [directory], has_queue=has_queue)
    report = {
        "action": "validate",
        "ok": flow_set is not None,
        "problems": [str(p) for p in problems],
        "notes": notes,
        "flows": sorted(flow_set.flows) if flow_set is not None else [],
    }
    return await _ivr_page(request, report, 200 if report["ok"] else 422)


@require_role(Role.ADMIN)
async def ivr_reload(request: web.Request) -> web.StreamResponse:
    admin = require_service(request.app.get(IVR_ADMIN), "the IVR is not running on this instance")
    report = {"action": "reload", **(await admin.reload())}
    await admin_service(request).record(
        current_principal(request).user,
        "admin.ivr.reload",
        "ivr_flows",
        {"problems": report.get("problems", [])[:20], "flows": report.get("flows", [])},
        ok=bool(report.get("ok")),
    )
    return await _ivr_page(request, report, 200 if report.get("ok") else 422)


def setup(app: web.Application) -> None:
    app.router.add_get("/admin/qa-forms", qa_forms_page, name="admin_qa_forms")
    app.router.add_post("/admin/qa-forms", qa_form_create, name="admin_qa_form_create")
    app.router.add_get("/admin/ivr", ivr_page, name="admin_ivr")
    app.router.add_post("/admin/ivr/validate", ivr_validate, name="admin_ivr_validate")
    app.router.add_post("/admin/ivr/reload", ivr_reload, name="admin_ivr_reload")
