"""The simulated PBX's data model: channels, bridges, calls, queues, clock, and small helpers."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from callcenter.sim.pbx import PbxCore

STATE_DESC = {0: "Down", 3: "Dialing", 4: "Ring", 5: "Ringing", 6: "Up", 7: "Busy"}
CAUSE_TXT = {
    0: "Unknown",
    16: "Normal Clearing",
    17: "User busy",
    19: "No user responding",
    21: "Call Rejected",
    34: "Circuit/channel congestion",
}
#: seconds of audio of the prompts the simulated PBX "plays"
PROMPT_SECONDS = {
    "hello-world": 1.4,
    "goodbye": 0.93,
    "beep": 0.25,
    "queue-thankyou": 1.59,
    "pls-hold-while-try": 2.42,
}
DEFAULT_PROMPT_SECONDS = 1.0
MONITOR_DIR = "/var/spool/asterisk/monitor/"

_CLEAN = str.maketrans({"\r": " ", "\n": " "})


def clean(value: str) -> str:
    """Header values must not break the framing."""
    return value.translate(_CLEAN) if ("\r" in value or "\n" in value) else value


class EventSink(Protocol):
    """The AMI server side: gets every event as ready bytes."""

    listening: bool

    def publish(self, cls: int, data: bytes) -> None: ...


class _NullSink:
    listening = False

    def publish(self, cls: int, data: bytes) -> None:
        return None


class Clock:
    """Simulated time: ``speed`` simulated seconds pass per wall second."""

    def __init__(self, speed: float) -> None:
        self.speed = speed
        self._loop = asyncio.get_running_loop()
        self._wall0 = time.time()
        self._mono0 = self._loop.time()

    def mono(self) -> float:
        """Simulated monotonic seconds."""
        return self._loop.time() * self.speed

    def now(self) -> float:
        """Simulated epoch seconds."""
        return self._wall0 + (self._loop.time() - self._mono0) * self.speed

    def wall(self, sim_seconds: float) -> float:
        return sim_seconds / self.speed

    async def sleep(self, sim_seconds: float) -> None:
        await asyncio.sleep(max(0.0, sim_seconds) / self.speed)


@dataclass(slots=True)
class CdrRecord:
    src: str
    dst: str
    dcontext: str
    clid: str
    channel: str
    dstchannel: str
    lastapp: str
    lastdata: str
    start: float
    answer: float | None
    end: float
    disposition: str
    uniqueid: str


class Channel:
    __slots__ = (
        "_snaps",
        "accountcode",
        "agent",
        "answered_at",
        "app",
        "appdata",
        "bridge",
        "busy",
        "call",
        "cdr_after_fork",
        "cdr_answer",
        "cdr_dest",
        "cdr_records",
        "cdr_reopened",
        "cdr_start",
        "cid_name",
        "cid_num",
        "conn_name",
        "conn_num",
        "context",
        "created",
        "dead",
        "dialer",
        "digits",
        "exten",
        "gone",
        "goto",
        "hangup_cause",
        "hangup_requested",
        "hr_pending",
        "kind",
        "language",
        "linkedid",
        "moh",
        "name",
        "no_cdr",
        "pbx",
        "peer",
        "priority",
        "replaced_by",
        "softhangup_agi",
        "state",
        "tech",
        "uniqueid",
        "vars",
        "waiter",
        "yanked",
    )

    def __init__(
        self,
        pbx: PbxCore,
        name: str,
        uniqueid: str,
        linkedid: str,
        context: str,
        exten: str,
        state: int,
        tech: str,
    ) -> None:
        self.pbx = pbx
        self.name = name
        self.uniqueid = uniqueid
        self.linkedid = linkedid
        self.context = context
        self.exten = exten
        self.priority = 1
        self.state = state
        self.tech = tech
        self.cid_num = "<unknown>"
        self.cid_name = "<unknown>"
        self.conn_num = "<unknown>"
        self.conn_name = "<unknown>"
        self.language = "en"
        self.accountcode = ""
        self.vars: dict[str, str] = {}
        self._snaps: dict[str, str] = {}
        self.peer: Channel | None = None  # other half of a Local pair
        self.bridge: Bridge | None = None
        self.kind = "leg"  # "dialplan" | "app" | "leg": who ends the channel
        self.hangup_requested = False
        self.hr_pending = False  # hung up by AMI: HangupRequest still due when the peer goes first
        self.hangup_cause: int | None = None
        self.gone = False
        self.dead = False
        self.goto: tuple[str, str, int] | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.digits: list[str] = []
        self.dialer: Channel | None = None
        self.created = pbx.clock.now()
        self.answered_at: float | None = None
        self.app = ""
        self.appdata = ""
        self.cdr_records: list[CdrRecord] = []
        self.cdr_start = self.created
        self.cdr_answer: float | None = None
        #: a Dial forked the CDR and the channel went on: its next dialplan app opens a new CDR
        self.cdr_after_fork = False
        self.cdr_reopened = False
        #: DestinationChannel of the channel's open CDR (the party B of a bridge it joined)
        self.cdr_dest = ""
        self.no_cdr = False
        self.busy = False
        self.moh = False
        self.agent: str | None = None
        self.call: CallStat | None = None
        self.softhangup_agi = False
        self.replaced_by: tuple[Channel, Bridge] | None = None  # attended transfer target
        self.yanked = False  # pulled out of its application into a bridge by the AMI Bridge action

    # -- snapshots -------------------------------------------------------------------------------
    def touch(self) -> None:
        self._snaps.clear()

    def snap(self, p: str = "") -> str:
        s = self._snaps.get(p)
        if s is None:
            s = (
                f"{p}Channel: {self.name}\r\n{p}ChannelState: {self.state}\r\n"
                f"{p}ChannelStateDesc: {STATE_DESC.get(self.state, 'Unknown')}\r\n"
                f"{p}CallerIDNum: {self.cid_num}\r\n{p}CallerIDName: {self.cid_name}\r\n"
                f"{p}ConnectedLineNum: {self.conn_num}\r\n{p}ConnectedLineName: {self.conn_name}\r\n"
                f"{p}Language: {self.language}\r\n{p}AccountCode: {self.accountcode}\r\n"
                f"{p}Context: {self.context}\r\n{p}Exten: {self.exten}\r\n{p}Priority: {self.priority}\r\n"
                f"{p}Uniqueid: {self.uniqueid}\r\n{p}Linkedid: {self.linkedid}\r\n"
            )
            for var in self.pbx.chanvars:
                s += f"{p}ChanVariable: {var}={self.vars.get(var, '')}\r\n"
            self._snaps[p] = s
        return s

    @property
    def interrupted(self) -> bool:
        return self.hangup_requested or self.goto is not None or self.yanked

    @property
    def agi_dead(self) -> bool:
        """What AGI sees as a hang-up: a real one, or an async goto (AMI Redirect, a blind transfer)
        pulling the channel out of AGI(): ``ast_read`` fails, AGI sends ``HANGUP``, live-only commands
        get 511, and the dialplan continues at the goto once the FastAGI server closes."""
        return self.dead or self.goto is not None

    def getvar(self, name: str) -> str | None:
        name = name.lstrip("_")
        funcs = {
            "CALLERID(num)": self.cid_num,
            "CALLERID(name)": self.cid_name,
            "CALLERID(all)": f'"{self.cid_name}" <{self.cid_num}>',
            "CONNECTEDLINE(num)": self.conn_num,
            "CONNECTEDLINE(name)": self.conn_name,
            "UNIQUEID": self.uniqueid,
            "LINKEDID": self.linkedid,
            "CHANNEL": self.name,
            "CHANNEL(linkedid)": self.linkedid,
            "CHANNEL(uniqueid)": self.uniqueid,
            "CHANNEL(name)": self.name,
            "EXTEN": self.exten,
            "CONTEXT": self.context,
            "PRIORITY": str(self.priority),
            "HANGUPCAUSE": str(self.hangup_cause if self.hangup_cause is not None else 16)
            if self.dead
            else "",
            "CHANNEL(state)": STATE_DESC.get(self.state, "Unknown"),
        }
        if name in funcs and funcs[name] is not None:
            return funcs[name]
        return self.vars.get(name)


class Bridge:
    __slots__ = ("_block", "channels", "uid")

    def __init__(self) -> None:
        self.uid = str(uuid.uuid4())
        self.channels: list[Channel] = []

    def block(self, p: str = "") -> str:
        return (
            f"{p}BridgeUniqueid: {self.uid}\r\n{p}BridgeType: basic\r\n{p}BridgeTechnology: simple_bridge\r\n"
            f"{p}BridgeCreator: <unknown>\r\n{p}BridgeName: <unknown>\r\n"
            f"{p}BridgeNumChannels: {len(self.channels)}\r\n{p}BridgeVideoSourceMode: none\r\n"
        )


@dataclass(slots=True)
class CallStat:
    """Outcome bookkeeping for one simulated customer call."""

    placed_at: float
    number: str = ""
    name: str = ""
    connected: bool = False
    ended: bool = False
    failed: bool = False
    agent: str | None = None


@dataclass(slots=True)
class OriginateResult:
    success: bool
    reason: int
    channel: Channel | None
    dialstring: str


@dataclass(slots=True)
class AgentPlan:
    ring: float | None  # None: never answers
    busy: bool
    talk: float
    agent_hangs_up: bool
    playback: bool = False


@dataclass(slots=True)
class QueueMember:
    interface: str
    name: str
    membership: str
    penalty: int = 0
    paused: bool = False
    reason: str = ""
    calls_taken: int = 0
    last_call: int = 0
    last_pause: int = 0
    login_time: int = 0


@dataclass(slots=True)
class Queue:
    name: str
    strategy: str
    members: dict[str, QueueMember]


DialplanProgram = Callable[["Channel"], Coroutine[Any, Any, None]]
#: the console's hold contexts and the queue-transfer context (``dialplan/extensions.conf``)
HOLD_CONTEXT = "cc-hold"
HOLD_AGENT_CONTEXT = "cc-hold-agent"
QUEUE_CONTEXT = "cc-queue"
HOLD_MAX_SECONDS = 3600.0
_QUEUE_EXTEN = re.compile(r"[a-z0-9].+")
_DIAL_RE = re.compile(r"^(?P<tech>Local|PJSIP|SIP)/(?P<rest>[^,&]+)$", re.IGNORECASE)


#: set on a customer's channel once the post-call survey's first question reached them (sim/survey.py)
IN_SURVEY = "CUST_IN_SURVEY"


def dial_options(opts: str) -> dict[str, str]:
    """app_dial's option string (``tTm(default)U(mixmon)``) -> {letter: argument or ""}."""
    out: dict[str, str] = {}
    i = 0
    while i < len(opts):
        letter = opts[i]
        i += 1
        arg = ""
        if i < len(opts) and opts[i] == "(":
            end = opts.find(")", i)
            end = len(opts) if end < 0 else end
            arg = opts[i + 1 : end]
            i = end + 1
        out[letter] = arg
    return out


def _wake(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


def _fmt_time(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


def _float(text: str, default: float) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return default


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _prompt_seconds(name: str) -> float:
    name = name.split(",")[0].strip().strip('"')
    total = 0.0
    for part in name.split("&"):
        total += PROMPT_SECONDS.get(part, DEFAULT_PROMPT_SECONDS)
    return total
