"""The one JSON encoder (and request-body decoder) of the web layer: strict JSON only (RFC 8259).

Python's ``json.dumps`` writes ``Infinity`` and ``NaN`` for non-finite floats, which no strict parser
(browsers' ``JSON.parse`` included) accepts. Every JSON answer (``json_response``) and websocket message
(``webapp/hub.py``) is encoded here with ``allow_nan=False``, and the mapping is defined: **a non-finite
float (inf, -inf, nan) becomes ``null``**, the same value the API already uses for "no figure" (an ASA
with no answered call, a PBX never pinged). The tree is only walked when the fast strict encoding fails.

Request bodies are read with :func:`loads`, as strict: ``NaN``, ``Infinity`` and numbers past the float
range (``1e400``, which Python would read as infinity) are not JSON, so they are a 400 like any other
malformed body instead of a non-finite value reaching a configuration or a store.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web


def finite(value: Any) -> Any:
    """``value`` with every non-finite float (at any depth of dicts, lists and tuples) replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


def dumps(value: Any, *, compact: bool = False, default: Callable[[Any], Any] | None = None) -> str:
    """Strict JSON text of ``value`` (non-finite floats as ``null``)."""
    separators = (",", ":") if compact else None
    try:
        return json.dumps(value, allow_nan=False, separators=separators, default=default)
    except ValueError:  # a non-finite float somewhere (circular references are ValueErrors too: re-raised)
        return json.dumps(finite(value), allow_nan=False, separators=separators, default=default)


def _constant(name: str) -> Any:
    raise ValueError(f"not strict JSON: {name}")


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"not strict JSON: {text[:20]} is past the float range")
    return value


def loads(raw: str | bytes) -> Any:
    """Strict JSON of a request body; ``ValueError`` for malformed JSON, ``NaN``/``Infinity`` and numbers
    past the float range (``UnicodeDecodeError``, a ``ValueError`` too, for bytes that are not UTF-8)."""
    return json.loads(raw, parse_constant=_constant, parse_float=_float)


def json_response(
    data: Any,
    *,
    status: int = 200,
    reason: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    """``aiohttp.web.json_response`` with the strict encoder."""
    return web.json_response(data, status=status, reason=reason, headers=headers, dumps=dumps)
