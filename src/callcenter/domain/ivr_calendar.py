"""Business hours and holidays set by an administrator over the flow files' ``hours`` nodes.

An override is keyed by ``flow/node`` (``main/opening_hours``) and replaces that node's whole calendar
(time zone, weekly hours, holidays). The flow files stay the starting point: a node without an override
keeps the file's calendar, an override whose node the files no longer have is reported and not used.
The stored form is the flow file's (``{timezone, weekly: {mon: "08:00-19:00"}, holidays: [{date, name}]}``)
and is read back with :func:`callcenter.domain.ivr_parse.parse_schedule`, the flow files' own checks.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import time
from typing import Any

from callcenter.domain.ivr import WEEKDAYS, Flow, FlowSet, Holiday, HoursNode, Schedule


def hours_key(flow: str, node: str) -> str:
    return f"{flow}/{node}"


def ranges_text(ranges: tuple[tuple[time, time], ...]) -> str:
    """``((08:00, 12:00), (14:00, 18:00))`` → ``"08:00-12:00, 14:00-18:00"``; none → ``"closed"``."""
    if not ranges:
        return "closed"
    parts = []
    for start, end in ranges:
        last = "24:00" if end == time.max else end.strftime("%H:%M")
        parts.append(f"{start.strftime('%H:%M')}-{last}")
    return ", ".join(parts)


def holiday_date(holiday: Holiday) -> str:
    """``MM-DD`` (every year) or ``YYYY-MM-DD`` (once), as in the flow files."""
    day = f"{holiday.month:02d}-{holiday.day:02d}"
    return f"{holiday.year:04d}-{day}" if holiday.year is not None else day


def schedule_to_mapping(schedule: Schedule) -> dict[str, Any]:
    """The flow file's form of a calendar (what is stored, what the page shows)."""
    return {
        "timezone": schedule.timezone,
        "weekly": {day: ranges_text(schedule.weekly[i]) for i, day in enumerate(WEEKDAYS)},
        "holidays": [{"date": holiday_date(h), "name": h.name} for h in schedule.holidays],
    }


def hours_nodes(flow_set: FlowSet | None) -> list[tuple[str, Flow, HoursNode]]:
    """Every ``hours`` node of the flows, the default flow first: (``flow/node``, flow, node)."""
    if flow_set is None:
        return []
    names = sorted(flow_set.flows, key=lambda name: (name != flow_set.default, name))
    out: list[tuple[str, Flow, HoursNode]] = []
    for name in names:
        flow = flow_set.flows[name]
        for node in flow.nodes.values():
            if isinstance(node, HoursNode):
                out.append((hours_key(flow.name, node.id), flow, node))
    return out


def apply_hours(flow_set: FlowSet, overrides: Mapping[str, Schedule]) -> tuple[FlowSet, list[str]]:
    """``flow_set`` with each overridden ``hours`` node's calendar replaced; notes name the overrides
    that match no ``hours`` node of these flows (they are kept, unused)."""
    used: set[str] = set()
    flows: dict[str, Flow] = {}
    for name, flow in flow_set.flows.items():
        nodes = dict(flow.nodes)
        changed = False
        for node_id, node in flow.nodes.items():
            key = hours_key(flow.name, node_id)
            if isinstance(node, HoursNode) and key in overrides:
                nodes[node_id] = dataclasses.replace(node, schedule=overrides[key])
                used.add(key)
                changed = True
        flows[name] = dataclasses.replace(flow, nodes=nodes) if changed else flow
    notes = [
        f"business hours set for {key}: the flows have no such hours node (not used)"
        for key in sorted(set(overrides) - used)
    ]
    if not used:
        return flow_set, notes
    return dataclasses.replace(flow_set, flows=flows), notes
