"""Simulator configuration: one frozen dataclass, filled from the CLI or from the service settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

CallMode = Literal["direct", "agi"]
AgentTech = Literal["Local", "PJSIP"]
DialplanKind = Literal["traces", "project"]
DualRedirectReply = Literal["success", "secondary-failed"]

#: hostile caller-ID names: screen pops must escape them
HOSTILE_NAMES: tuple[str, ...] = (
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "Robert'); DROP TABLE calls;--",
    "{{7*7}} ${7*7}",
)


@dataclass(frozen=True, slots=True)
class AgentPhoneProfile:
    """How simulated agent phones behave (every value in simulated seconds / probabilities)."""

    ring_min: float = 1.0
    ring_max: float = 4.0
    no_answer_prob: float = 0.05
    busy_prob: float = 0.02
    talk_min: float = 20.0
    talk_max: float = 120.0
    #: probability that the agent (not the customer) ends an answered call
    agent_hangs_up_prob: float = 0.3
    wrapup: float = 2.0


@dataclass(frozen=True, slots=True)
class SurveyProfile:
    """How simulated customers answer the post-call survey (``sim/survey.py``): the service's survey flow
    asks with GET DATA on ``score_prompt`` (then ``solved_prompt``); a share ``answer_prob`` answers,
    the others hang up at the question. ``scores``: the weights of the scores 1..5."""

    score_prompt: str = "cc-survey-score"
    solved_prompt: str = "cc-survey-solved"
    answer_prob: float = 0.7
    scores: tuple[float, float, float, float, float] = (0.06, 0.06, 0.13, 0.35, 0.40)
    #: of those who answer, the share who also answer the yes/no question, and the share of "yes"
    solved_answer_prob: float = 0.9
    solved_yes_prob: float = 0.75
    yes_digit: str = "1"
    no_digit: str = "2"
    #: simulated seconds an answering customer stays on the line after their talk time (the survey)
    stay: float = 60.0

    def __post_init__(self) -> None:
        probs = (self.answer_prob, self.solved_answer_prob, self.solved_yes_prob)
        if any(not 0.0 <= p <= 1.0 for p in probs):
            raise ValueError("invalid simulator config: survey probabilities must be between 0 and 1")
        if len(self.scores) != 5 or any(w < 0 for w in self.scores) or sum(self.scores) <= 0:
            raise ValueError("invalid simulator config: survey scores are 5 weights >= 0, not all 0")


@dataclass(frozen=True, slots=True)
class CustomerProfile:
    """How simulated customers behave."""

    #: caller numbers of known customers (e.g. CRM records), picked with ``known_prob``
    known_numbers: tuple[str, ...] = ()
    known_prob: float = 0.6
    hostile_name_prob: float = 0.05
    #: IVR choices sent as DTMF after ``dtmf_delay`` seconds (agi mode); "" sends nothing
    dtmf_choices: tuple[str, ...] = ("1", "2", "3", "")
    dtmf_delay: float = 3.0
    #: agi mode: scripted customers (``sim/script.py`` syntax), one picked per call; () = dtmf_choices
    scripts: tuple[str, ...] = ()
    patience_min: float = 10.0
    patience_max: float = 90.0
    talk_min: float = 20.0
    talk_max: float = 180.0
    #: the post-call survey (agi mode, when the agent hung up first)
    survey: SurveyProfile = field(default_factory=SurveyProfile)


@dataclass(frozen=True, slots=True)
class OutboundProfile:
    """How the customers the service dials out to (``PJSIP/<number>@<trunk>``) behave.

    Shares of what happens to a dial (normalised over their sum): a person answers (``human``), an
    answering machine answers (``machine``), the line is busy, nobody answers (rings until the
    originate's timeout), or the carrier fails it (congestion). ``fixed`` pins numbers to one outcome
    (``(("+15550001", "busy"),)``) for tests. Ring and talk times are simulated seconds."""

    trunk: str = "trunk"
    human: float = 0.45
    machine: float = 0.15
    busy: float = 0.10
    no_answer: float = 0.25
    failed: float = 0.05
    #: answered, then hung up at once: Success / Reason 4, but the call never reaches FastAGI (fact 37)
    hangup: float = 0.0
    ring_min: float = 3.0
    ring_max: float = 12.0
    talk_min: float = 30.0
    talk_max: float = 180.0
    #: a person who answered hangs up after this much silence with nobody on the line ("hello?")
    patience_min: float = 4.0
    patience_max: float = 8.0
    greeting_min: float = 3.0  # answering machine greeting
    greeting_max: float = 6.0
    #: AMD() gets it wrong this often (a person taken for a machine or the reverse)
    amd_error: float = 0.02
    fixed: tuple[tuple[str, str], ...] = ()


OUTBOUND_BEHAVIOURS = ("human", "machine", "busy", "no_answer", "failed", "hangup")


@dataclass(frozen=True, slots=True)
class SimConfig:
    # AMI server
    ami_host: str = "127.0.0.1"
    ami_port: int = 5038
    ami_user: str = "callcenter"
    ami_secret: str = "callcenter"
    #: delay before "Authentication failed" (Asterisk: about 1 s)
    auth_fail_delay: float = 1.0
    # FastAGI server of the service (the simulated PBX connects to it)
    agi_host: str = "127.0.0.1"
    agi_port: int = 4573
    agi_script: str = "ivr"
    agi_connect_timeout: float = 3.0
    # call engine
    mode: CallMode = "direct"
    agents: int = 10
    first_agent: int = 1001
    #: ``PJSIP``: one channel per agent leg (chan_pjsip-like); ``Local``: ``Local/<ext>@<agent_context>/n``,
    #: two channels per leg as in Asterisk (``;1`` dialed half bridged to the customer, ``;2`` runs the
    #: agent's dialplan, never bridged; fact 30). End-to-end tests parametrize over both.
    agent_tech: AgentTech = "PJSIP"
    agent_context: str = "agents"
    #: extensions.conf-compatible agents 1001-1004 (ring 2 s / never answers / hangs up) instead of
    #: randomly behaving phones: what the fidelity tests use
    trace_agents: bool = False
    #: ``traces``: the recorder's extensions.conf of the first traces; ``project``: the project's
    #: dialplan/extensions.conf + extensions-live.conf (``[incoming]`` AGI ``ivr?flow=main&linkedid=``,
    #: ``[agent-sim]``, ``[cc-failsafe]``; ``sim/project.py``)
    dialplan: DialplanKind = "traces"
    direct_exten: str = "8006"
    agi_exten: str = "8002"
    dial_timeout: float = 20.0
    # traffic
    rate: float = 0.0  # calls per simulated second; 0 = no generated traffic (AMI driven only)
    duration: float = 0.0  # simulated seconds of arrivals; 0 = until stopped
    max_calls: int = 0  # 0 = unlimited
    drain_timeout: float = 120.0  # simulated seconds to let calls finish after arrivals stop
    speed: float = 1.0  # >1 runs simulated time faster than wall time
    seed: int = 1
    customers: CustomerProfile = field(default_factory=CustomerProfile)
    phones: AgentPhoneProfile = field(default_factory=AgentPhoneProfile)
    #: customers the service dials out to (the outbound dialer, issue 17; ``sim/outbound.py``)
    outbound: OutboundProfile = field(default_factory=OutboundProfile)
    # AMI output
    channelvars: tuple[str, ...] = ("CC_CALLID", "IVR_CHOICE")
    #: the ``manager.conf`` account of ``ami_user`` (``sim/eventfilter.py``): ``"shipped"`` = the
    #: project's dialplan/manager.conf ``[callcenter]`` (read=system,call,agent,user,cdr,dialplan and its
    #: eventfilter lines: no Newexten/AGIExec/DTMF/security events, VarSet only for CC_*, IVR_*, MIX*,
    #: QUEUE*), as a real Asterisk applies it to the service; ``"all"`` = read=all, no filter (the
    #: recorder's account, for fidelity replays); or the path of a manager.conf
    event_filter: str = "shipped"
    #: more AMI accounts: (username, secret, event_filter spec as above)
    ami_accounts: tuple[tuple[str, str, str], ...] = ()
    #: emit VarSet/Newexten events (Asterisk does; a manager.conf eventfilter usually drops most)
    dialplan_events: bool = True
    #: reply to a dual Redirect whose ExtraChannel is the un-bridged ``;2`` half of a Local agent (fact
    #: 32): ``success`` = ``Dual Redirect successful`` as recorded; ``secondary-failed`` = ``Response:
    #: Error / Message: Secondary redirect failed`` as a live run reported. Either way the customer goes
    #: to [cc-hold] and the agent pair is hung up.
    dual_redirect_unbridged: DualRedirectReply = "success"
    #: prompts this PBX does not have (names, or prefixes ending in ``*``: ``("cc-*",)`` is an
    #: Asterisk without the project's prompts installed). As res_agi does (missing-prompt.agi): STREAM
    #: FILE / GET OPTION answer ``200 result=-1 endpos=0`` and GET DATA ``200 result=-1`` at once, the
    #: caller still on the line; EXEC Playback returns 0 with PLAYBACKSTATUS=FAILED
    missing_sounds: tuple[str, ...] = ()
    #: wall seconds the PBX stays down in ``Simulator.restart()`` after ``crash()`` (trace: ~1.9 s)
    restart_delay: float = 0.2
    #: MixMonitor writes real audio (``sim/audio.py``: 8 kHz 16-bit mono WAV of the recording's
    #: duration) under this directory; "" = file names under /var/spool/asterisk/monitor/, nothing written
    recordings_dir: str = ""
    system_name: str = ""
    asterisk_version: str = "22.10.1"

    def __post_init__(self) -> None:
        problems = []
        if self.speed <= 0:
            problems.append("speed must be > 0")
        if self.rate < 0:
            problems.append("rate must be >= 0")
        if self.agents < 0:
            problems.append("agents must be >= 0")
        if self.mode not in ("direct", "agi"):
            problems.append(f"mode must be direct or agi, got {self.mode!r}")
        if self.agent_tech not in ("Local", "PJSIP"):
            problems.append(f"agent_tech must be Local or PJSIP, got {self.agent_tech!r}")
        if self.dialplan not in ("traces", "project"):
            problems.append(f"dialplan must be traces or project, got {self.dialplan!r}")
        ob = self.outbound
        if min(ob.human, ob.machine, ob.busy, ob.no_answer, ob.failed) < 0 or (
            ob.human + ob.machine + ob.busy + ob.no_answer + ob.failed <= 0
        ):
            problems.append("outbound shares must be >= 0 with a positive sum")
        if any(b not in OUTBOUND_BEHAVIOURS for _, b in ob.fixed):
            problems.append(f"outbound.fixed behaviours must be one of {', '.join(OUTBOUND_BEHAVIOURS)}")
        if problems:
            raise ValueError("invalid simulator config: " + "; ".join(problems))

    def agent_extens(self) -> list[str]:
        if self.trace_agents:
            return ["1001", "1002", "1003", "1004"]
        return [str(self.first_agent + i) for i in range(self.agents)]
