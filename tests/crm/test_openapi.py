"""``GET /api/openapi.json``: a valid-looking OpenAPI 3.1 document that describes every API route."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from callcenter.app import Service
from callcenter.config import Secret, Settings
from callcenter.webapp import openapi

_PARAM = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")


def api_routes(app: web.Application) -> set[tuple[str, str]]:
    """(method, OpenAPI path) of every registered ``/api`` route (``{id:\\d+}`` → ``{id}``)."""
    out = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter") or ""
        if path.startswith("/api") and route.method != "HEAD":
            out.add((route.method.lower(), _PARAM.sub(r"{\1}", path)))
    return out


def undocumented(app: web.Application) -> list[tuple[str, str]]:
    paths = openapi.document(app)["paths"]
    return sorted((m, p) for m, p in api_routes(app) if m not in paths.get(p, {}))


def check_refs(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if ref is not None:
                assert ref.startswith("#/components/schemas/") and ref.rsplit("/", 1)[1] in schemas, ref
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(doc)


async def test_document_is_served_and_covers_the_web_app(
    client: TestClient[Any, Any], crm_app: web.Application
) -> None:
    resp = await client.get("/api/openapi.json")  # public: no login
    assert resp.status == 200
    doc = await resp.json()
    assert doc["openapi"] == "3.1.0" and doc["info"]["title"]
    for path, item in doc["paths"].items():
        for method, op in item.items():
            assert method in {"get", "post", "put", "patch", "delete"}, (path, method)
            assert op["summary"] and op["responses"], (path, method)
            names = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert names == set(_PARAM.findall(path)), (path, method, names)
    check_refs(doc)
    routes = api_routes(crm_app)
    assert {("get", "/api/calls"), ("get", "/api/calls/{call_id}"), ("get", "/api/me")} <= routes
    assert ("patch", "/api/tickets/{ticket_id}") in routes and ("get", "/api/followups/due") in routes
    assert undocumented(crm_app) == []


def test_every_route_of_the_whole_service_is_documented(tmp_path: Path) -> None:
    settings = Settings(
        session_secret=Secret("openapi-test-secret"), database_url=f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"
    )
    app = Service(settings).web_app()  # built, not started: no connection is made
    assert undocumented(app) == []
