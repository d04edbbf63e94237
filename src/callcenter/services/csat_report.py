"""The CSAT figures of the agent and queue reports (issue 16): surveys offered, the average score of
those answered, and the response rate (answered / offered), from ``call_surveys`` directly.

They are not part of the report rollup (``report_intervals``): the survey table has one row per surveyed
call and an index on the offer time, so the period's sum is one grouped read whatever the rollup holds,
and the reports are the same with no, half or full rollup. A survey counts in the 15-minute interval in
which it was offered (right after the agent hung up), by the agent and queue of that call.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol

from callcenter.domain.kpis import INTERVAL
from callcenter.domain.reports import Column, Granularity, Period, bucket_start
from callcenter.domain.surveys import CsatTally
from callcenter.domain.text import N_


class CsatSource(Protocol):
    async def csat_tallies(
        self,
        since: float,
        until: float,
        group: Literal["agent", "queue", "interval"],
        *,
        queue: str | None = None,
        agent: str | None = None,
    ) -> dict[str | int, CsatTally]: ...


CSAT_COLUMNS = (
    Column("surveys", N_("Surveys"), "int"),
    Column("csat", N_("CSAT (1-5)"), "number"),
    Column("csat_rate", N_("Survey response"), "ratio"),
)
CSAT_NOTE = N_(
    "CSAT: average post-call survey score (1-5) of the surveys answered; response = answered / offered."
)


def csat_cells(t: CsatTally | None) -> dict[str, Any]:
    t = t or CsatTally()
    return {"surveys": t.offered, "csat": t.average, "csat_rate": t.response_rate}


async def by_agent(
    source: CsatSource | None, period: Period, queue: str | None, agent: str | None
) -> dict[str, CsatTally]:
    if source is None:
        return {}
    rows = await source.csat_tallies(period.since, period.until, "agent", queue=queue, agent=agent)
    return {str(k): v for k, v in rows.items()}


async def by_bucket(
    source: CsatSource | None, period: Period, gran: Granularity, queue: str | None, agent: str | None
) -> dict[float, CsatTally]:
    """The period's survey sums per report interval (local 15 minutes, hours or days)."""
    if source is None:
        return {}
    rows = await source.csat_tallies(period.since, period.until, "interval", queue=queue, agent=agent)
    out: dict[float, CsatTally] = {}
    for index, tally in rows.items():
        key = bucket_start(int(index) * INTERVAL, gran, period.zone)
        out.setdefault(key, CsatTally()).add(tally)
    return out
