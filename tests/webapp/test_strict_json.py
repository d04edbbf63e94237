"""Every JSON answer is strict JSON (RFC 8259): no ``Infinity``/``NaN``; a non-finite float is ``null``."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pytest
import requests
from aiohttp.test_utils import TestClient

from callcenter.webapp.hub import encode
from callcenter.webapp.jsonenc import dumps, finite
from tests.webapp.conftest import Health
from tests.webapp.live_server import USERS, LiveService

SRC = Path(__file__).resolve().parents[2] / "src" / "callcenter" / "webapp"


def strict_loads(text: str) -> Any:
    """``json.loads`` that refuses ``Infinity``, ``-Infinity`` and ``NaN`` (as browsers' JSON.parse does)."""

    def refuse(name: str) -> Any:
        raise AssertionError(f"not strict JSON: {name} in {text[:200]}")

    return json.loads(text, parse_constant=refuse)


def test_non_finite_floats_become_null() -> None:
    value = {"asa": math.inf, "sl": [math.nan, 0.5, -math.inf], "nested": ({"x": 1.0, "y": math.inf},)}
    text = dumps(value)
    assert strict_loads(text) == {"asa": None, "sl": [None, 0.5, None], "nested": [{"x": 1.0, "y": None}]}
    assert finite(math.nan) is None and finite(2.5) == 2.5 and finite("inf") == "inf"


def test_finite_values_are_encoded_unchanged() -> None:
    value = {"a": 1, "b": 2.5, "c": None, "d": [True, "x"], "e": {"f": -0.0}}
    assert dumps(value) == json.dumps(value)
    assert dumps(value, compact=True) == json.dumps(value, separators=(",", ":"))


def test_websocket_messages_are_strict_too() -> None:
    assert strict_loads(encode({"type": "update", "asa": math.inf})) == {"type": "update", "asa": None}


async def test_healthz_with_an_infinite_figure_is_strict(
    client: TestClient[Any, Any], health: Health
) -> None:
    health.report = {
        "status": "ok",
        "pbx": {"connected": True, "last_ping_rtt": math.inf, "history": [math.nan]},
        "database": {"ok": True, "rtt_ms": -math.inf},
        "redis": {"enabled": False},
    }
    resp = await client.get("/healthz")
    body = strict_loads(await resp.text())
    assert body["pbx"]["last_ping_rtt"] is None
    assert body["pbx"]["history"] == [None]
    assert body["database"]["rtt_ms"] is None


def test_the_web_layer_has_one_json_encoder() -> None:
    """Views answer with ``jsonenc.json_response``; ``aiohttp.web.json_response`` (which writes
    ``Infinity``) is called only inside ``jsonenc``."""
    offenders = []
    for path in sorted(SRC.glob("*.py")):
        if path.name == "jsonenc.py":
            continue
        text = path.read_text()
        for match in re.finditer(r"web\.json_response\(|json\.dumps\(", text):
            line = text.count("\n", 0, match.start()) + 1
            if path.name == "sessions.py" and match.group(0) == "json.dumps(":
                continue  # the session cookie's payload, not an answer
            offenders.append(f"{path.name}:{line}: {match.group(0)}")
    assert offenders == []


def test_every_json_endpoint_of_the_service_is_strict(live_service: LiveService) -> None:
    """The whole service with no answered call (every ratio and average undefined) and a PBX whose last
    round trip is infinite: each JSON GET of the OpenAPI document, for each role, is strict JSON."""
    live = live_service

    async def infinite_ping() -> None:
        assert live.service is not None
        live.service.link.last_ping_rtt = math.inf
        live.service.pbx_health.record(math.inf)

    live.run(infinite_ping())
    doc = requests.get(live.url + "/api/openapi.json", timeout=10).json()
    paths = ["/healthz"] + [p for p, ops in doc["paths"].items() if "get" in ops and "{" not in p]
    assert "/api/wallboard" in paths and "/api/kpis/report" in paths
    checked = 0
    for role in ("anonymous", *USERS):
        for path in paths:
            resp = requests.get(live.url + path, headers=live.auth(role), timeout=10)
            assert resp.status_code < 500 or path == "/healthz", (role, path, resp.status_code)
            if "json" in resp.headers.get("Content-Type", ""):
                strict_loads(resp.text)
                checked += 1
    assert checked > 5 * 10
    board = requests.get(live.url + "/api/wallboard", headers=live.auth("supervisor"), timeout=10).json()
    assert board["pbx"]["ping_ms"] is None or board["pbx"]["ping_ms"] < 1e6  # inf → null, or a newer ping
    health = requests.get(live.url + "/healthz", timeout=10)
    strict_loads(health.text)


@pytest.mark.parametrize("body", ['{"x": NaN}', '{"x": Infinity}', '{"x": -Infinity}', '{"x": 1e400}'])
def test_request_bodies_must_be_strict_json_too(live_service: LiveService, body: str) -> None:
    """A non-finite number in a body is a 400, never a value stored as NaN or infinity."""
    live = live_service
    headers = {**live.auth("admin"), "Content-Type": "application/json"}
    value = body.replace('{"x": ', "").rstrip("}")
    cases = {
        "/api/acd/queues/strict-q": ("put", f'{{"service_level": {{"threshold": {value}, "target": 0.8}}}}'),
        "/api/customers": ("post", f'{{"name": "Strict", "value_score": {value}}}'),
        "/api/tickets": ("post", f'{{"customer_id": 1, "subject": "s", "due_at": {value}}}'),
        "/api/qa/calls/c1/evaluations": (
            "post",
            f'{{"form_id": 1, "answers": {{"greet": {{"value": {value}}}}}}}',
        ),
        "/api/supervisor/agents/1001/state": ("post", f'{{"action": "pause", "reason": {value}}}'),
    }
    for path, (method, text) in cases.items():
        resp = requests.request(method, live.url + path, data=text, headers=headers, timeout=10)
        assert resp.status_code == 400, (path, resp.status_code, resp.text)
    assert requests.get(live.url + "/api/acd/queues/strict-q", headers=headers, timeout=10).status_code == 404


def test_loads_is_strict() -> None:
    from callcenter.webapp.jsonenc import loads

    assert loads('{"a": 1.5, "b": [1, 2e10]}') == {"a": 1.5, "b": [1, 2e10]}
    for text in ("NaN", '{"a": Infinity}', "[-Infinity]", "1e400", "-1e999"):
        with pytest.raises(ValueError, match="not strict JSON"):
            loads(text)
