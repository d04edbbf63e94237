"""What the IVR hands to the ACD when a caller chooses a queue, and what comes back."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class QueueRequest:
    """A caller asking for a queue, built by the IVR's ``queue`` node."""

    call_id: str  # Linkedid
    uniqueid: str  # the channel in AGI
    queue: str
    priority: int = 0  # higher first (VIP and IVR priority jump ahead)
    skills: tuple[str, ...] = ()
    caller_num: str = ""
    caller_name: str = ""
    language: str = "en"
    customer_id: int | None = None
    segment: str | None = None
    vip: bool = False
    ivr_choices: tuple[str, ...] = ()  # digits/choices on the way, for the screen pop
    variables: dict[str, str] = field(default_factory=dict)


class RouteOutcome(StrEnum):
    ANSWERED = "answered"  # bridged to an agent; the call ended after that
    ABANDONED = "abandoned"  # caller hung up while waiting
    CALLBACK = "callback"  # caller chose a callback; the call ended, a request keeps the place
    OVERFLOW = "overflow"  # max wait / max callers: ``target`` says where to go next
    VOICEMAIL = "voicemail"
    NO_AGENTS = "no_agents"  # nobody logged in: the queue's fallback applies (``target``)
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class RouteResult:
    outcome: RouteOutcome
    target: str | None = None  # overflow/fallback destination (a queue, a flow node, an extension)
    agent: str | None = None
    wait_seconds: float = 0.0
    #: ANSWERED and the agent hung up first (Dial ``g`` returned 0, caller still up): the survey flow
    survey: str | None = None
