"""The supervisor audit log: who did what to which agent or call, and whether it worked."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: float
    actor: str  # username
    role: str
    action: str  # monitor.listen | monitor.whisper | monitor.barge | agent.pause | agent.unpause | ...
    target: str = ""  # the agent (or queue) acted on
    ok: bool = True
    detail: dict[str, Any] = field(default_factory=dict)
    id: int | None = None
