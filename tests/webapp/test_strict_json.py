"""Every JSON answer is strict JSON (RFC 8259): no ``Infinity``/``NaN``; a non-finite float is ``null``."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from callcenter.webapp.hub import encode
from callcenter.webapp.jsonenc import dumps, finite
from tests.webapp.conftest import Health

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
