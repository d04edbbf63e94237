"""Cross-check of IVR flows against the ACD configuration (``callcenter ivr check``), pure.

For every node that hands calls to a queue (``queue`` nodes, and ``callback`` nodes naming a queue):

* the queue must exist in the ACD configuration (error);
* some agent must be able to answer its calls (error otherwise: "nobody can answer"): a member of the
  queue (listed in the agent's ``queues``) with every required skill at the required level, the
  required skills being the queue's ``required_skills`` merged with the node's ``skills`` (the higher
  level wins), exactly as the ACD matches them (``routing.merge_skills`` / ``routing.has_skills``);
* fewer than ``MIN_ABLE_AGENTS`` such agents is a warning (one absence and nobody answers).

This checks the configuration file only: agents and queues changed later through the admin API are
not seen. The ACD's overflow and fallback targets are not followed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from callcenter.domain.acd import AcdConfig, AgentConfig, QueueConfig, Skills, parse_skills
from callcenter.domain.errors import ConfigError
from callcenter.domain.ivr import CallbackNode, Flow, Node, Problem, QueueNode
from callcenter.domain.routing import has_skills, merge_skills

__all__ = ["MIN_ABLE_AGENTS", "StaffingReport", "check_queue_staffing"]

#: Fewer agents able to answer a queue's calls than this is a warning.
MIN_ABLE_AGENTS = 2


@dataclass(slots=True)
class StaffingReport:
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)


def _fmt(skills: Skills) -> str:
    return ", ".join(f"{name!r} (level {level}+)" for name, level in skills)


def _names(agents: Iterable[AgentConfig]) -> str:
    return ", ".join(a.id for a in agents)


def check_queue_staffing(
    flows: Iterable[Flow], acd: AcdConfig, *, source: str = "the ACD configuration"
) -> StaffingReport:
    """Errors and warnings (file and line of the node) for the queues the flows route to."""
    report = StaffingReport()
    queues = {q.name: q for q in acd.queues}
    for flow in sorted(flows, key=lambda f: (f.file, f.name)):
        for node in sorted(flow.nodes.values(), key=lambda n: (n.line, n.id)):
            if isinstance(node, QueueNode | CallbackNode) and node.queue:
                _check_node(report, flow, node, node.queue, acd, queues, source)
    return report


def _check_node(
    report: StaffingReport,
    flow: Flow,
    node: Node,
    queue_name: str,
    acd: AcdConfig,
    queues: dict[str, QueueConfig],
    source: str,
) -> None:
    where = f"flow {flow.name!r}, node {node.id!r}"

    def error(message: str) -> None:
        report.errors.append(Problem(flow.file, node.line, f"{where}: {message}"))

    queue = queues.get(queue_name)
    if queue is None:
        known = ", ".join(sorted(queues)) or "none"
        error(f"queue {queue_name!r} is not in {source} (its queues: {known})")
        return
    node_skills: Skills = ()
    if isinstance(node, QueueNode) and node.skills:
        try:
            node_skills = parse_skills(list(node.skills), f"skills {list(node.skills)}")
        except ConfigError as exc:
            error(f"queue {queue_name!r}: {exc}")
            return
    required = merge_skills(queue.required_skills, node_skills)
    members = [a for a in acd.agents if a.penalty(queue_name) is not None]
    if not members:
        error(f"queue {queue_name!r} has no agents in {source}: nobody can answer its calls")
        return
    able = [a for a in members if has_skills(dict(a.skills), required)]
    needs = f" with skill(s) {_fmt(required)}" if required else ""
    if not able:
        lacking = [
            (name, level)
            for name, level in required
            if not any(dict(a.skills).get(name, 0) >= level for a in members)
        ]
        if lacking:
            why = "; ".join(
                f"no agent of the queue has skill {name!r} at level {level} or more"
                for name, level in lacking
            )
        else:
            why = "no single agent of the queue has all of them"
        error(
            f"nobody can answer queue {queue_name!r}{needs}: {why} (agents of the queue: {_names(members)})"
        )
        return
    if len(able) < MIN_ABLE_AGENTS:
        report.warnings.append(
            Problem(
                flow.file,
                node.line,
                f"{where}: only {len(able)} agent ({_names(able)}) can answer queue {queue_name!r}{needs}; "
                f"fewer than {MIN_ABLE_AGENTS}",
            )
        )
