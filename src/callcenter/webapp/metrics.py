"""Prometheus text exposition of the metrics provider's values plus the web app's own counters."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping

_SERIES = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^{}\n]*\})?")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class WebStats:
    """Counters the web layer keeps itself (logins by result)."""

    def __init__(self) -> None:
        self.logins: Counter[str] = Counter()

    def as_metrics(self) -> dict[str, float]:
        return {
            f'callcenter_web_logins_total{{result="{result}"}}': float(self.logins[result])
            for result in ("ok", "failed", "throttled", "csrf_rejected")
        }


def _format_value(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def render_prometheus(values: Mapping[str, float]) -> str:
    """Exposition text. Keys are ``name`` or ``name{label="value",...}``; invalid keys are skipped.
    Names ending in ``_total`` are typed as counters; a ``<base>_bucket{le=...}`` family with its
    ``<base>_sum`` and ``<base>_count`` as one histogram (buckets in the provider's order, ascending);
    the rest as gauges."""
    by_name: dict[str, list[tuple[str, float]]] = {}
    for series, value in values.items():
        match = _SERIES.fullmatch(series)
        if match is None or not isinstance(value, int | float):
            continue
        by_name.setdefault(match.group(1), []).append((series, float(value)))
    histograms = {
        name[: -len("_bucket")]
        for name in by_name
        if name.endswith("_bucket") and name[: -len("_bucket")] + "_count" in by_name
    }
    family: dict[str, str] = {}
    for histogram in histograms:
        for suffix in ("_bucket", "_sum", "_count"):
            family[histogram + suffix] = histogram
    lines: list[str] = []
    for name in sorted(by_name):
        base = family.get(name)
        if base is not None:
            if name != base + "_bucket":
                continue  # written with its histogram
            lines.append(f"# TYPE {base} histogram")
            for part in ("_bucket", "_sum", "_count"):
                lines.extend(
                    f"{series} {_format_value(value)}" for series, value in by_name.get(base + part, [])
                )
            continue
        kind = "counter" if name.endswith("_total") else "gauge"
        lines.append(f"# TYPE {name} {kind}")
        lines.extend(f"{series} {_format_value(value)}" for series, value in sorted(by_name[name]))
    return "\n".join(lines) + "\n"
