"""Standard reports (issue #8): page, JSON and CSV.

=======  ============================  ===============================================================
GET      /reports                      the reports page (supervisor, qa, admin): table + SVG chart + CSV link
GET      /api/reports                  the reports available
GET      /api/reports/{name}           one report as JSON (queue, agents, hourly, abandoned, dispositions, qa)
GET      /api/reports/{name}.csv       the same as CSV (formula injection neutralised)
=======  ============================  ===============================================================

Parameters: ``period`` (day | week | month, default day), ``date`` (YYYY-MM-DD inside the period, default
today), ``tz`` (IANA name, default UTC), ``queue``, ``agent``, ``interval`` (15m | hour | day).
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Any

from aiohttp import web

from callcenter.domain.errors import CallcenterError, NotFound
from callcenter.domain.reports import Granularity, ValidationError, bar_chart, period, to_csv, zone
from callcenter.domain.users import Role
from callcenter.services.reports import REPORTS, Report, ReportRequest, ReportService
from callcenter.webapp import openapi
from callcenter.webapp.auth import current_principal, require_role
from callcenter.webapp.errors import public_error, require_service
from callcenter.webapp.i18n import N_
from callcenter.webapp.jsonenc import json_response
from callcenter.webapp.keys import TEMPLATES
from callcenter.webapp.views_pages import page_context

log = logging.getLogger(__name__)

REPORT_SERVICE = web.AppKey[ReportService]("reports")
VIEWERS = (Role.SUPERVISOR, Role.QA, Role.ADMIN)
TITLES = {
    "queue": N_("Queue by interval"),
    "agents": N_("Agents"),
    "hourly": N_("Hourly distribution"),
    "abandoned": N_("Abandoned calls"),
    "dispositions": N_("Dispositions"),
    "qa": N_("QA scores by agent"),
}


def parse_request(query: Any) -> ReportRequest:
    tz = query.get("tz") or "UTC"
    day = query.get("date") or datetime.fromtimestamp(time.time(), zone(tz)).date().isoformat()
    granularity = None
    if query.get("interval"):
        try:
            granularity = Granularity(query["interval"])
        except ValueError as exc:
            raise ValidationError("interval must be 15m, hour or day") from exc
    return ReportRequest(
        period(query.get("period") or "day", day, tz),
        queue=(query.get("queue") or "").strip() or None,
        agent=(query.get("agent") or "").strip() or None,
        granularity=granularity,
    )


async def _run(request: web.Request, name: str) -> Report:
    """Run report ``name``; errors propagate to ``webapp/errors.py`` (bad parameter 400, store 503)."""
    svc = require_service(request.app.get(REPORT_SERVICE), "reports are not available")
    if name not in REPORTS:
        raise NotFound(f"no report {name!r}")
    return await svc.run(name, parse_request(request.query))


@require_role(*VIEWERS)
async def list_reports(request: web.Request) -> web.StreamResponse:
    return json_response({"reports": [{"name": n, "title": TITLES[n]} for n in REPORTS]})


@require_role(*VIEWERS)
async def get_report(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    csv_wanted = name.endswith(".csv")
    if csv_wanted:
        name = name[: -len(".csv")]
    result = await _run(request, name)
    if not csv_wanted:
        return json_response(result.as_dict())
    rows = [*result.rows, *([result.totals] if result.totals else [])]
    filename = f"{name}-{result.request.period.kind.value}-{result.request.period.first_day.isoformat()}.csv"
    return web.Response(
        body=to_csv(result.columns, rows).encode("utf-8"),
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="{filename}"',
        },
    )


def _chart(report: Report) -> Any:
    if report.chart is None or not report.rows:
        return None
    category, values = report.chart
    titles = {c.key: c.title for c in report.columns}  # the series by their columns' titles (translated)
    return bar_chart(
        [str(r.get(category, "")) for r in report.rows],
        {titles.get(v, v): [r.get(v) for r in report.rows] for v in values},
    )


def _fmt(value: Any, kind: str) -> str:
    if value is None:
        return "—"
    if kind == "ratio" and isinstance(value, int | float):
        return f"{value * 100:.1f} %"
    if kind == "seconds" and isinstance(value, int | float):
        return f"{value:,.1f}"
    return str(value)


@require_role(*VIEWERS)
async def reports_page(request: web.Request) -> web.StreamResponse:
    principal = current_principal(request)
    name = request.query.get("report") or "queue"
    report: Report | None = None
    error = ""
    if request.query:
        try:
            report = await _run(request, name)
        except (CallcenterError, web.HTTPException) as exc:  # shown in the form, by the one mapping
            mapped = public_error(exc)
            if mapped is None:
                raise
            error = mapped[1]
    table: list[list[str]] = []
    totals: list[str] | None = None
    if report is not None:
        table = [[_fmt(r.get(c.key), c.kind) for c in report.columns] for r in report.rows]
        if report.totals:
            totals = [_fmt(report.totals.get(c.key), c.kind) for c in report.columns]
    csv_query = request.query_string
    return request.app[TEMPLATES].response(
        "reports.html",
        page_context(
            principal,
            title="Reports",
            reports=[(n, TITLES[n]) for n in REPORTS],
            selected=name,
            q=request.query,
            report=report,
            table=table,
            totals=totals,
            chart=_chart(report) if report is not None else None,
            csv_url=f"/api/reports/{name}.csv?{csv_query}" if report is not None else "",
            json_url=f"/api/reports/{name}?{csv_query}" if report is not None else "",
            error=error,
        ),
    )


def _paths() -> dict[str, Any]:
    err = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    common = {
        "401": {"description": "not authenticated", **err},
        "403": {"description": "role not allowed", **err},
        "503": {"description": "the store is unavailable", **err},
    }

    def q(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
        return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}

    params = [
        q(
            "period",
            "day, week (Monday to Sunday) or month (default day)",
            {"enum": ["day", "week", "month"]},
        ),
        q(
            "date",
            "a day inside the period, YYYY-MM-DD, 1970-01-01 to 2999-12-31 (default today in tz)",
            {"type": "string", "format": "date"},
        ),
        q("tz", "IANA timezone of the period and intervals (default UTC)", {"type": "string"}),
        q("queue", "only this queue", {"type": "string"}),
        q("agent", "only this agent", {"type": "string"}),
        q(
            "interval",
            "interval of the queue report (default hour for a day, else day)",
            {"enum": ["15m", "hour", "day"]},
        ),
    ]
    name = {
        "name": "name",
        "in": "path",
        "required": True,
        "description": "queue, agents, hourly, abandoned, dispositions or qa; add .csv for CSV",
        "schema": {"type": "string"},
    }
    tags = ["reports"]
    return {
        "/api/reports": {
            "get": {
                "summary": "The standard reports available (supervisor, qa, admin)",
                "tags": tags,
                "responses": {
                    "200": {
                        "description": "OK",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    },
                    **common,
                },
            }
        },
        "/api/reports/{name}": {
            "get": {
                "summary": "One standard report for a period: columns, rows, totals (KPI formulas: "
                "domain/kpis.py); `{name}.csv` gives the same rows as CSV (cells starting with = + - @ "
                "tab or CR are prefixed with an apostrophe)",
                "tags": tags,
                "parameters": [name, *params],
                "responses": {
                    "200": {
                        "description": "OK",
                        "content": {
                            "application/json": {"schema": {"type": "object"}},
                            "text/csv": {"schema": {"type": "string"}},
                        },
                    },
                    "400": {"description": "bad parameter", **err},
                    "404": {"description": "no such report", **err},
                    **common,
                },
            }
        },
    }


def setup(app: web.Application) -> None:
    """Register before ``views_pages.setup``."""
    app.router.add_get("/reports", reports_page, name="reports")
    app.router.add_get("/api/reports", list_reports, name="api_reports")
    app.router.add_get("/api/reports/{name}", get_report, name="api_report")
    openapi.add_paths(app, _paths())
