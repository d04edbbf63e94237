"""Standard reports (issue #8): periods, buckets, CSV and chart geometry. Pure Python.

The numbers themselves come from the KPI engine (``domain/kpis.py``: ``KpiEngine`` fed with store rows,
``figures`` over its tallies); this module only says *which* period, how its intervals are cut in the
viewer's timezone, and how a table becomes a CSV file or an SVG bar chart.

CSV cells are neutralised against formula injection (OWASP "CSV injection"): a text cell that starts with
``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading apostrophe, so a spreadsheet shows
it as text instead of evaluating it. Numbers are written as numbers.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from callcenter.domain.errors import CallcenterError

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class ValidationError(CallcenterError):
    """A report request with a bad parameter (HTTP 400)."""


class PeriodKind(StrEnum):
    DAY = "day"
    WEEK = "week"  # Monday to Sunday
    MONTH = "month"


class Granularity(StrEnum):
    QUARTER = "15m"
    HOUR = "hour"
    DAY = "day"


@dataclass(frozen=True, slots=True)
class Period:
    kind: PeriodKind
    first_day: date
    tz: str
    since: float  # epoch seconds, inclusive
    until: float  # epoch seconds, exclusive

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    def label(self) -> str:
        if self.kind is PeriodKind.DAY:
            return self.first_day.isoformat()
        if self.kind is PeriodKind.WEEK:
            return f"week of {self.first_day.isoformat()}"
        return self.first_day.strftime("%Y-%m")

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "first_day": self.first_day.isoformat(),
            "tz": self.tz,
            "since": self.since,
            "until": self.until,
            "label": self.label(),
        }

    def default_granularity(self) -> Granularity:
        return Granularity.HOUR if self.kind is PeriodKind.DAY else Granularity.DAY


def zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(f"unknown timezone: {tz!r}") from exc


def _local_midnight(day: date, tzinfo: ZoneInfo) -> float:
    return datetime(day.year, day.month, day.day, tzinfo=tzinfo).timestamp()


#: The days a report can be about (``domain.bounds``: 1970 to 3000).
FIRST_DAY = date(1970, 1, 1)
LAST_DAY = date(2999, 12, 31)


def period(kind: str, day: str | date, tz: str = "UTC") -> Period:
    """The period of ``kind`` (day, week, month) containing ``day`` (``YYYY-MM-DD``), in timezone ``tz``:
    from local midnight of its first day to local midnight after its last day (23 or 25 hours on DST
    change days)."""
    try:
        k = PeriodKind(kind)
    except ValueError as exc:
        raise ValidationError("period must be day, week or month") from exc
    if isinstance(day, str):
        try:
            day = date.fromisoformat(day)
        except ValueError as exc:
            raise ValidationError("date must be YYYY-MM-DD") from exc
    if not FIRST_DAY <= day <= LAST_DAY:  # the period, and its intervals, must be times datetime can hold
        raise ValidationError(f"date must be between {FIRST_DAY.isoformat()} and {LAST_DAY.isoformat()}")
    tzinfo = zone(tz)
    if k is PeriodKind.DAY:
        first, after = day, day + timedelta(days=1)
    elif k is PeriodKind.WEEK:
        first = day - timedelta(days=day.weekday())
        after = first + timedelta(days=7)
    else:
        first = day.replace(day=1)
        after = (first + timedelta(days=32)).replace(day=1)
    return Period(k, first, tz, _local_midnight(first, tzinfo), _local_midnight(after, tzinfo))


def bucket_start(at: float, granularity: Granularity, tzinfo: ZoneInfo) -> float:
    """The start of the local interval (15 minutes, hour, day) holding ``at``."""
    local = datetime.fromtimestamp(at, tzinfo)
    if granularity is Granularity.DAY:
        return _local_midnight(local.date(), tzinfo)
    if granularity is Granularity.HOUR:
        return local.replace(minute=0, second=0, microsecond=0).timestamp()
    return local.replace(minute=local.minute - local.minute % 15, second=0, microsecond=0).timestamp()


def local_label(at: float, granularity: Granularity, tzinfo: ZoneInfo) -> str:
    local = datetime.fromtimestamp(at, tzinfo)
    if granularity is Granularity.DAY:
        return local.strftime("%Y-%m-%d")
    return local.strftime("%Y-%m-%d %H:%M")


# --- CSV ----------------------------------------------------------------------------------------------


def csv_cell(value: Any) -> str | int | float:
    """One CSV cell: numbers as they are, ``None`` empty, text neutralised against formula injection."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return value
    text = str(value)
    if text.startswith(_FORMULA_START):
        return "'" + text
    return text


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    title: str
    kind: str = "text"  # text | int | number | ratio | seconds


def to_csv(columns: Sequence[Column], rows: Iterable[Mapping[str, Any]]) -> str:
    """RFC 4180 CSV (CRLF line ends) with a header row of the column titles."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([csv_cell(c.title) for c in columns])
    for row in rows:
        writer.writerow([csv_cell(row.get(c.key)) for c in columns])
    return out.getvalue()


# --- SVG bar chart geometry -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    series: int
    label: str
    value: float


@dataclass(frozen=True, slots=True)
class BarChart:
    width: int
    height: int
    bars: tuple[Bar, ...]
    series: tuple[str, ...]
    max_value: float
    ticks: tuple[tuple[float, str], ...]  # (y, label) of the value axis
    labels: tuple[tuple[float, str], ...]  # (x, label) of the category axis (thinned)


def bar_chart(
    categories: Sequence[str],
    series: Mapping[str, Sequence[float | None]],
    *,
    width: int = 720,
    height: int = 220,
    margin_left: int = 40,
    margin_bottom: int = 30,
) -> BarChart:
    """Grouped bars: one group per category, one bar per series (``None`` counts as 0)."""
    names = tuple(series)
    values = [[float(v or 0.0) for v in series[n]] for n in names]
    top = max((v for vs in values for v in vs), default=0.0)
    max_value = top if top > 0 else 1.0
    plot_w = width - margin_left - 5
    plot_h = height - margin_bottom - 10
    n = max(1, len(categories))
    group = plot_w / n
    bar_w = max(1.0, group * 0.8 / max(1, len(names)))
    bars: list[Bar] = []
    for i, cat in enumerate(categories):
        for s, vs in enumerate(values):
            v = vs[i] if i < len(vs) else 0.0
            h = plot_h * v / max_value
            x = margin_left + i * group + group * 0.1 + s * bar_w
            bars.append(Bar(round(x, 1), round(10 + plot_h - h, 1), round(bar_w, 1), round(h, 1), s, cat, v))
    ticks = tuple((round(10 + plot_h - plot_h * f, 1), f"{max_value * f:g}") for f in (0.0, 0.5, 1.0))
    step = max(1, (n + 11) // 12)
    labels = tuple(
        (round(margin_left + i * group + group / 2, 1), cat)
        for i, cat in enumerate(categories)
        if i % step == 0
    )
    return BarChart(width, height, tuple(bars), names, max_value, ticks, labels)
