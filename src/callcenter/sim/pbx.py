"""The simulated PBX core: channels, bridges, a small fixed dialplan, Dial and Originate.

It reproduces what a real Asterisk 22 puts on AMI for the call shapes in ``tests/fixtures/pbx-traces``
(see ``README.md`` in this package for the fidelity table). Everything is single-threaded asyncio:
a channel that "runs dialplan" is one task; apps block by napping on the channel's waiter future,
which is woken (``poke``) by anything that changes what the app waits for (answer, hangup, DTMF,
redirect). Event text is built once per event (channel snapshots are cached until the channel
changes) and handed to the AMI server as bytes.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

from callcenter.sim.classes import (  # noqa: F401  (re-exported for ami.py / agi.py)
    EV_AGENT,
    EV_AGI,
    EV_ALL,
    EV_CALL,
    EV_CDR,
    EV_DIALPLAN,
    EV_DTMF,
    EV_SECURITY,
    EV_SYSTEM,
    EV_USER,
    EVENT_CLASSES,
)
from callcenter.sim.config import SimConfig
from callcenter.sim.project import AGENT_SIM_CONTEXT, ProjectDialplan

log = logging.getLogger(__name__)

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
        pbx: Pbx,
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


class Pbx:
    def __init__(self, cfg: SimConfig, sink: EventSink | None = None) -> None:
        self.cfg = cfg
        self.clock = Clock(cfg.speed)
        self.rng = random.Random(cfg.seed)  # ids and odds and ends
        #: customers and arrivals: one stream, drawn in arrival order, so a seed reproduces a run
        self.cust_rng = random.Random(f"{cfg.seed}/customers")
        self._agent_calls: dict[str, int] = {}
        self.sink: EventSink = sink or _NullSink()
        self.chanvars = cfg.channelvars
        self.channels: dict[str, Channel] = {}
        self._uid = 0
        self._chan_seq = 0
        self._tasks: set[asyncio.Task[Any]] = set()
        self.start_time = self.clock.now()
        self.processed_calls = 0
        self.events_emitted = 0
        # agents
        self.agents: list[str] = cfg.agent_extens()
        self.agent_set = set(self.agents)
        self.agent_busy_until: dict[str, float] = {}
        self.agent_in_use: set[str] = set()
        self._rr = 0
        self.dtmf_gap = 0.1
        # app_queue-style management (QueueStatus/QueueAdd/...); routing stays in the service
        self.queues: dict[str, Queue] = {}
        login = int(self.start_time)
        members = {}
        for ext in self.agents[:2] if cfg.trace_agents else self.agents:
            iface = f"Local/{ext}@{cfg.agent_context}/n"
            members[iface] = QueueMember(iface, f"Agent {ext}", "static", login_time=login)
        self.queues["support"] = Queue("support", "rrmemory", members)
        # hook for the AGI client (set by the simulator); avoids an import cycle
        self.agi_runner: Callable[[Channel, str, list[str]], Awaitable[str]] | None = None
        #: called as each AGI command starts (scripted customers, ``sim/script.py``)
        self.agi_hook: Callable[[Channel, tuple[str, ...], list[str]], None] | None = None
        self.calls: list[CallStat] = []
        self.stopping = False
        self.globals: dict[str, str] = {}
        self.agi_db: dict[tuple[str, str], str] = {}
        #: live FastAGI sessions (``sim/agi.py``), so a crash can close their sockets
        self.agi_sessions: set[Any] = set()
        self.project = ProjectDialplan(self) if cfg.dialplan == "project" else None

    # -- bookkeeping -----------------------------------------------------------------------------
    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("simulator task failed", exc_info=task.exception())

    def tasks(self) -> set[asyncio.Task[Any]]:
        return set(self._tasks)

    def silence(self) -> None:
        """No more events from this PBX (a killed process sends nothing)."""
        self.sink = _NullSink()

    async def shutdown(self) -> None:
        """Hang up everything (SoftHangupRequest cause 4 as at ``core restart now``) and stop tasks."""
        self.stopping = True
        for chan in list(self.channels.values()):
            if chan.kind == "dialplan" and not chan.gone:
                self.ev("SoftHangupRequest", chan, "Cause: 4\r\n")
            self.request_hangup(chan, 0, event=False)
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=1.0)
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def new_uid(self) -> str:
        uid = f"{int(self.clock.now())}.{self._uid}"
        self._uid += 1
        return uid

    def next_seq(self) -> int:
        seq = self._chan_seq
        self._chan_seq = (seq + 1) & 0xFFFFFFFF
        return seq

    # -- events ----------------------------------------------------------------------------------
    def raw(self, cls: int, text: str) -> None:
        """Publish one complete event (text ends with the blank line)."""
        if self.sink.listening:
            self.events_emitted += 1
            self.sink.publish(cls, text.encode("utf-8", "replace"))

    def ev(
        self, name: str, chan: Channel, extra: str = "", priv: str = "call,all", cls: int = EV_CALL
    ) -> None:
        if self.sink.listening:
            self.events_emitted += 1
            self.sink.publish(
                cls,
                f"Event: {name}\r\nPrivilege: {priv}\r\n{chan.snap()}{extra}\r\n".encode("utf-8", "replace"),
            )

    def ev2(self, name: str, chan: Channel | None, dest: Channel, extra: str = "") -> None:
        if self.sink.listening:
            first = chan.snap() if chan is not None else ""
            self.events_emitted += 1
            self.sink.publish(
                EV_CALL,
                f"Event: {name}\r\nPrivilege: call,all\r\n{first}{dest.snap('Dest')}{extra}\r\n".encode(
                    "utf-8", "replace"
                ),
            )

    def set_state(self, chan: Channel, state: int) -> None:
        if chan.state == state:
            return
        chan.state = state
        chan.touch()
        if state == 6 and chan.answered_at is None:
            chan.answered_at = self.clock.now()
            if chan.cdr_answer is None:
                chan.cdr_answer = chan.answered_at
        self.ev("Newstate", chan)
        self.poke(chan)

    def set_var(self, chan: Channel, name: str, value: str, event: bool = True) -> None:
        key = name.lstrip("_")
        chan.vars[key] = value
        if name != key:
            chan.vars["__inherit__" + key] = name[: len(name) - len(key)]
        if key in self.chanvars:
            chan.touch()
        if event and self.cfg.dialplan_events:
            self.ev("VarSet", chan, f"Variable: {name}\r\nValue: {value}\r\n", "dialplan,all", EV_DIALPLAN)

    def inherit_vars(self, src: Channel, dst: Channel) -> None:
        for key, value in list(src.vars.items()):
            if key.startswith("__inherit__"):
                continue
            prefix = src.vars.get("__inherit__" + key)
            if prefix:
                # "__X" stays inheritable, "_X" only one level
                self.set_var(dst, ("__" if prefix == "__" else "") + key, value)

    def newexten(
        self, chan: Channel, priority: int, app: str, data: str = "", exten: str | None = None
    ) -> None:
        chan.priority = priority
        chan.app = app
        chan.appdata = data
        chan.touch()
        if chan.cdr_after_fork:
            # cdr.c: a channel that leaves a Dial's bridge and runs a new application gets a new CDR
            chan.cdr_after_fork = False
            chan.cdr_reopened = True
            chan.cdr_start = self.clock.now()
            chan.cdr_answer = chan.cdr_start if chan.state == 6 else None
        if self.cfg.dialplan_events and self.sink.listening:
            ext = chan.exten if exten is None else exten
            self.ev(
                "Newexten",
                chan,
                f"Extension: {ext}\r\nApplication: {app}\r\nAppData: {data}\r\n",
                "dialplan,all",
                EV_DIALPLAN,
            )

    def set_callerid(self, chan: Channel, num: str, name: str) -> None:
        chan.cid_num, chan.cid_name = clean(num) or "<unknown>", clean(name) or "<unknown>"
        chan.touch()
        self.ev("NewCallerid", chan, "CID-CallingPres: 0 (Presentation Allowed, Not Screened)\r\n")

    def set_connected(self, chan: Channel, num: str, name: str) -> None:
        chan.conn_num, chan.conn_name = clean(num) or "<unknown>", clean(name) or "<unknown>"
        chan.touch()
        self.ev("NewConnectedLine", chan)

    # -- waiting ---------------------------------------------------------------------------------
    def poke(self, chan: Channel) -> None:
        w = chan.waiter
        if w is not None and not w.done():
            w.set_result(None)
        d = chan.dialer
        if d is not None:
            w = d.waiter
            if w is not None and not w.done():
                w.set_result(None)

    async def nap(self, chan: Channel, seconds: float | None) -> bool:
        """Sleep up to ``seconds`` simulated seconds; wakes early on ``poke``. True if interrupted."""
        if chan.interrupted:
            return True
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        chan.waiter = fut
        handle = None
        if seconds is not None:
            handle = loop.call_later(max(0.0, seconds) / self.clock.speed, _wake, fut)
        try:
            await fut
        finally:
            if handle is not None:
                handle.cancel()
            if chan.waiter is fut:
                chan.waiter = None
        return chan.interrupted

    async def wait_app(self, chan: Channel, seconds: float) -> bool:
        """Wait() / Playback(): runs the full time unless hung up or redirected. True if interrupted."""
        deadline = self.clock.mono() + seconds
        while True:
            left = deadline - self.clock.mono()
            if left <= 1e-9:
                return chan.interrupted
            if await self.nap(chan, left):
                return True

    # -- hangup ----------------------------------------------------------------------------------
    def request_hangup(self, chan: Channel, cause: int, event: bool = True) -> None:
        """Ask a channel to hang up (its owner then ends it). Emits HangupRequest like a peer hangup."""
        if chan.gone:
            return
        if chan.hangup_requested:
            if event and chan.hr_pending:
                chan.hr_pending = False
                self.ev("HangupRequest", chan, f"Cause: {chan.hangup_cause}\r\n")
            return
        chan.hangup_requested = True
        chan.hr_pending = not event
        chan.dead = True
        chan.hangup_cause = cause
        if event:
            self.ev("HangupRequest", chan, f"Cause: {cause}\r\n")
        self.poke(chan)
        if chan.bridge is not None:
            for other in chan.bridge.channels:
                if other is not chan:
                    self.poke(other)

    def finish(self, chan: Channel, cause: int | None = None, dialplan_end: bool = False) -> None:
        """End a channel: [SoftHangupRequest], BridgeLeave, Cdr, peer HangupRequest, Hangup."""
        if chan.gone:
            return
        if cause is None:
            cause = chan.hangup_cause if chan.hangup_cause is not None else 16
        chan.dead = True
        chan.hangup_requested = True
        if chan.hangup_cause is None:
            chan.hangup_cause = cause
        if dialplan_end:
            self.ev("SoftHangupRequest", chan, "Cause: 16\r\n")
        if chan.moh:
            self.moh_stop(chan)
        if chan.bridge is not None:
            self.bridge_leave(chan)
        chan.gone = True
        if not chan.no_cdr:
            self.emit_cdrs(chan)
        peer = chan.peer
        if peer is not None and not peer.gone:
            self.request_hangup(peer, cause)
        self.ev("Hangup", chan, f"Cause: {cause}\r\nCause-txt: {CAUSE_TXT.get(cause, 'Unknown')}\r\n")
        self.channels.pop(chan.name, None)
        if chan.agent is not None:
            self.release_agent(chan.agent)
        if (
            chan.call is not None
            and chan.kind != "leg"
            and chan.name.endswith(";1")
            and chan.context == "customer-sim"
        ):
            chan.call.ended = True
        self.poke(chan)

    # -- CDRs ------------------------------------------------------------------------------------
    def cdr_fork(self, chan: Channel, dstchannel: str, disposition: str, lastapp: str, lastdata: str) -> None:
        now = self.clock.now()
        chan.cdr_records.append(
            CdrRecord(
                src=chan.cid_num if chan.cid_num != "<unknown>" else "",
                dst=chan.exten,
                dcontext=chan.context,
                clid=self._clid(chan),
                channel=chan.name,
                dstchannel=dstchannel,
                lastapp=lastapp,
                lastdata=lastdata,
                start=chan.cdr_start,
                answer=chan.cdr_answer,
                end=now,
                disposition=disposition,
                uniqueid=chan.uniqueid,
            )
        )
        chan.cdr_start = now
        chan.cdr_answer = now if chan.state == 6 else None
        chan.cdr_after_fork = not chan.hangup_requested
        chan.cdr_reopened = False

    @staticmethod
    def _clid(chan: Channel) -> str:
        if chan.cid_num == "<unknown>":
            return ""
        return f'"{chan.cid_name}" <{chan.cid_num}>' if chan.cid_name != "<unknown>" else chan.cid_num

    def emit_cdrs(self, chan: Channel) -> None:
        if not chan.cdr_records or chan.cdr_reopened:
            if chan.state == 6 or chan.answered_at is not None:
                disp = "ANSWERED"
            elif chan.hangup_cause == 19:
                disp = "NO ANSWER"
            elif chan.hangup_cause == 17:
                disp = "BUSY"
            else:
                disp = "FAILED"
            self.cdr_fork(chan, chan.cdr_dest, disp, chan.app, chan.appdata)
        if not self.sink.listening:
            chan.cdr_records.clear()
            return
        fmt = _fmt_time
        for r in chan.cdr_records:
            duration = int(r.end - r.start)
            billable = int(r.end - r.answer) if r.answer is not None else 0
            self.raw(
                EV_CDR,
                "Event: Cdr\r\nPrivilege: cdr,all\r\nAccountCode: \r\n"
                f"Source: {r.src}\r\nDestination: {r.dst}\r\nDestinationContext: {r.dcontext}\r\n"
                f"CallerID: {r.clid}\r\nChannel: {r.channel}\r\nDestinationChannel: {r.dstchannel}\r\n"
                f"LastApplication: {r.lastapp}\r\nLastData: {r.lastdata}\r\nStartTime: {fmt(r.start)}\r\n"
                f"AnswerTime: {fmt(r.answer) if r.answer is not None else ''}\r\nEndTime: {fmt(r.end)}\r\n"
                f"Duration: {duration}\r\nBillableSeconds: {billable}\r\nDisposition: {r.disposition}\r\n"
                f"AMAFlags: DOCUMENTATION\r\nUniqueID: {r.uniqueid}\r\nUserField: \r\n\r\n",
            )
        chan.cdr_records.clear()

    # -- bridges ---------------------------------------------------------------------------------
    def bridge_create(self) -> Bridge:
        bridge = Bridge()
        if self.sink.listening:
            self.raw(EV_CALL, f"Event: BridgeCreate\r\nPrivilege: call,all\r\n{bridge.block()}\r\n")
        return bridge

    def bridge_enter(self, bridge: Bridge, chan: Channel) -> None:
        bridge.channels.append(chan)
        chan.bridge = bridge
        if self.sink.listening:
            self.raw(
                EV_CALL, f"Event: BridgeEnter\r\nPrivilege: call,all\r\n{bridge.block()}{chan.snap()}\r\n"
            )
        if len(bridge.channels) == 2:
            # bridge_basic sets BRIDGEPEER on both (a VarSet only with dialplan events on)
            a, b = bridge.channels
            self.set_var(a, "BRIDGEPEER", b.name)
            self.set_var(b, "BRIDGEPEER", a.name)
        for other in bridge.channels:
            if other is not chan:
                self.poke(other)
        if chan.peer is not None:
            self.poke(chan.peer)

    def bridge_leave(self, chan: Channel) -> None:
        bridge = chan.bridge
        if bridge is None:
            return
        if chan in bridge.channels:
            bridge.channels.remove(chan)
        chan.bridge = None
        if self.sink.listening:
            self.raw(
                EV_CALL, f"Event: BridgeLeave\r\nPrivilege: call,all\r\n{bridge.block()}{chan.snap()}\r\n"
            )
        for other in bridge.channels:
            self.poke(other)

    def bridge_destroy(self, bridge: Bridge) -> None:
        for chan in list(bridge.channels):
            self.bridge_leave(chan)
        if self.sink.listening:
            self.raw(EV_CALL, f"Event: BridgeDestroy\r\nPrivilege: call,all\r\n{bridge.block()}\r\n")

    # -- channel creation ------------------------------------------------------------------------
    def new_local(
        self, exten: str, context: str, linkedid: str | None, uid1: str | None = None, uid2: str | None = None
    ) -> tuple[Channel, Channel]:
        base = f"Local/{exten}@{context}-{self.next_seq():08x}"
        u1 = uid1 or self.new_uid()
        u2 = uid2 or self.new_uid()
        link = linkedid or u1
        one = Channel(self, base + ";1", u1, link, context, exten, 0, "Local")
        two = Channel(self, base + ";2", u2, link, context, exten, 4, "Local")
        one.peer, two.peer = two, one
        self.channels[one.name] = one
        self.channels[two.name] = two
        self.ev("Newchannel", one)
        self.ev("Newchannel", two)
        return one, two

    def new_pjsip(self, endpoint: str, linkedid: str | None, uid: str | None = None) -> Channel:
        u = uid or self.new_uid()
        chan = Channel(
            self,
            f"PJSIP/{endpoint}-{self.next_seq():08x}",
            u,
            linkedid or u,
            self.cfg.agent_context,
            "s",
            0,
            "PJSIP",
        )
        self.channels[chan.name] = chan
        self.ev("Newchannel", chan)
        return chan

    def local_bridge_event(self, one: Channel, two: Channel) -> None:
        if self.sink.listening:
            self.raw(
                EV_CALL,
                f"Event: LocalBridge\r\nPrivilege: call,all\r\n{one.snap('LocalOne')}{two.snap('LocalTwo')}"
                f"Context: {two.context}\r\nExten: {two.exten}\r\nLocalOptimization: No\r\n\r\n",
            )

    def bridges(self) -> list[Bridge]:
        """Live bridges (with at least one channel), in creation order."""
        seen: dict[str, Bridge] = {}
        for chan in self.channels.values():
            if chan.bridge is not None:
                seen.setdefault(chan.bridge.uid, chan.bridge)
        return list(seen.values())

    def find_channel(self, name: str) -> Channel | None:
        return self.channels.get(name)

    # -- media-ish helpers -----------------------------------------------------------------------
    def moh_start(self, chan: Channel, cls: str = "default") -> None:
        if not chan.moh:
            chan.moh = True
            self.ev("MusicOnHoldStart", chan, f"Class: {cls}\r\n")

    def moh_stop(self, chan: Channel) -> None:
        if chan.moh:
            chan.moh = False
            self.ev("MusicOnHoldStop", chan)

    def mixmonitor(self, chan: Channel, filename: str) -> None:
        path = filename if filename.startswith("/") else MONITOR_DIR + filename
        self.set_var(chan, "MIXMONITOR_FILENAME", path)
        self.ev("MixMonitorStart", chan)

    async def send_dtmf(self, src: Channel, target: Channel, digits: str, gap: float = 0.25) -> None:
        for digit in digits:
            if target.gone or src.interrupted:
                return
            self.ev("DTMFBegin", target, f"Digit: {digit}\r\nDirection: Received\r\n", "dtmf,all", EV_DTMF)
            await self.clock.sleep(0.1)
            if target.gone:
                return
            self.ev(
                "DTMFEnd",
                target,
                f"Digit: {digit}\r\nDurationMs: 100\r\nDirection: Received\r\n",
                "dtmf,all",
                EV_DTMF,
            )
            target.digits.append(digit)
            self.poke(target)
            await self.clock.sleep(max(0.0, gap - 0.1))

    def answer(self, chan: Channel) -> None:
        if chan.state != 6:
            self.set_state(chan, 6)
        peer = chan.peer
        if peer is not None and not peer.gone and peer.state != 6:
            self.set_state(peer, 6)

    def ringing(self, chan: Channel) -> None:
        target = chan.peer if chan.peer is not None else chan
        if not target.gone and target.state not in (5, 6):
            self.set_state(target, 5)

    # -- agents ----------------------------------------------------------------------------------
    def agent_plan(self, ext: str) -> AgentPlan:
        if self.cfg.trace_agents or (ext in ("1001", "1002", "1003", "1004") and not self.agents):
            if ext == "1003":
                return AgentPlan(None, False, 0.0, False)
            if ext == "1004":
                return AgentPlan(2.0, False, 2.5, True, playback=True)
            return AgentPlan(2.0, False, 60.0, False, playback=True)
        ph = self.cfg.phones
        # one stream per agent and call: independent of how calls interleave
        n = self._agent_calls.get(ext, 0)
        self._agent_calls[ext] = n + 1
        r = random.Random(f"{self.cfg.seed}/{ext}/{n}")
        if r.random() < ph.busy_prob:
            return AgentPlan(None, True, 0.0, False)
        if r.random() < ph.no_answer_prob:
            return AgentPlan(None, False, 0.0, False)
        return AgentPlan(
            r.uniform(ph.ring_min, ph.ring_max),
            False,
            r.uniform(ph.talk_min, ph.talk_max),
            r.random() < ph.agent_hangs_up_prob,
        )

    def pick_agent(self) -> str | None:
        """Round robin over free agents (not in use, wrap-up over)."""
        n = len(self.agents)
        now = self.clock.mono()
        for i in range(n):
            ext = self.agents[(self._rr + i) % n]
            if ext in self.agent_in_use or self.agent_busy_until.get(ext, 0.0) > now:
                continue
            self._rr = (self._rr + i + 1) % n
            return ext
        return None

    def claim_agent(self, ext: str) -> None:
        self.agent_in_use.add(ext)

    def release_agent(self, ext: str) -> None:
        if ext in self.agent_in_use:
            self.agent_in_use.discard(ext)
            self.agent_busy_until[ext] = self.clock.mono() + self.cfg.phones.wrapup

    def agent_dialstring(self, ext: str) -> str:
        if self.cfg.agent_tech == "PJSIP" and not self.cfg.trace_agents:
            return f"PJSIP/{ext}"
        return f"Local/{ext}@{self.cfg.agent_context}/n"

    # -- dialplan --------------------------------------------------------------------------------
    def lookup(self, context: str, exten: str) -> DialplanProgram | None:
        if self.project is not None:
            prog = self.project.lookup(context, exten)
            if prog is not None:
                return prog
        if context == "incoming":
            if exten == "s" or (len(exten) == 4 and exten.startswith("80") and exten.isdigit()):
                return self._ctx_incoming
            return None
        if context == "customer-sim":
            return self.ctx_customer if exten in ("caller", "idle") else None
        if context == self.cfg.agent_context:
            return self._ctx_agent if (exten in self.agent_set or self._trace_agent(exten)) else None
        if context == "transfer":
            return (
                self._ctx_transfer
                if (len(exten) == 4 and exten.startswith("10") and exten.isdigit())
                else None
            )
        if context == "supervisor":
            return self._ctx_supervisor if exten == "listen" else None
        if context == "outbound":
            return (
                self._ctx_outbound
                if (len(exten) == 7 and exten.startswith("555") and exten.isdigit())
                else None
            )
        if context == HOLD_CONTEXT:
            return self._ctx_hold if exten == "s" else None
        if context == HOLD_AGENT_CONTEXT:
            return self._ctx_hold_agent if exten == "s" else None
        if context == QUEUE_CONTEXT:
            return self._ctx_queue if _QUEUE_EXTEN.fullmatch(exten) else None
        return None

    def _trace_agent(self, exten: str) -> bool:
        return self.cfg.trace_agents and exten in ("1001", "1002", "1003", "1004")

    def start_dialplan(self, chan: Channel) -> None:
        chan.kind = "dialplan"
        self.spawn(self._pbx_thread(chan))

    async def _pbx_thread(self, chan: Channel) -> None:
        try:
            while not chan.hangup_requested:
                if chan.goto is not None:
                    # an async goto set before the PBX started (a redirected Dial callee)
                    chan.context, chan.exten, chan.priority = chan.goto
                    chan.goto = None
                    chan.touch()
                prog = self.lookup(chan.context, chan.exten)
                if prog is None:
                    break
                await prog(chan)
                if chan.yanked:
                    # AMI Bridge pulled the channel out of its application: it stays in the bridge,
                    # then goes on in the dialplan (bridge "after go on"), here: the end of the context
                    await self.stay_bridged(chan)
                    if chan.hangup_requested and not chan.gone:
                        # hung up while in the bridge: it ends there, no dialplan runs to its end
                        # (no SoftHangupRequest; hold-dual-redirect.ami, the resumed customer)
                        self.finish(chan)
                        return
                if chan.goto is not None and not chan.hangup_requested:
                    continue
                break
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("dialplan failed on %s (linkedid %s)", chan.name, chan.linkedid)
        finally:
            if not chan.gone:
                self.finish(chan, dialplan_end=True)

    async def _ctx_incoming(self, chan: Channel) -> None:
        exten = chan.exten
        if exten == "s":
            chan.goto = ("incoming", self.cfg.agi_exten, 1)
            return
        if exten == self.cfg.direct_exten:
            self.newexten(
                chan, 1, "NoOp", f"Direct call CLI={chan.cid_num} to agent {chan.vars.get('AGENT', '')}"
            )
        else:
            self.newexten(chan, 1, "NoOp", f"Inbound call DNIS={exten} CLI={chan.cid_num}")
        self.newexten(chan, 2, "Set", f"__CC_CALLID={chan.uniqueid}")
        self.set_var(chan, "__CC_CALLID", chan.uniqueid)
        self.newexten(chan, 3, "Answer")
        self.answer(chan)
        # the originator (or the caller's channel driver) sees the answer before the next app runs
        if await self.wait_app(chan, 0.02):
            return
        if exten == self.cfg.direct_exten:
            await self._direct_dial(chan)
        else:
            args: list[str] = []
            script = self.cfg.agi_script
            if exten == "8010":
                script += "?queue=support&lang=en"
                args = ["first arg", chan.cid_num]
            url = f"agi://{self.cfg.agi_host}:{self.cfg.agi_port}/{script}"
            self.newexten(chan, 4, "AGI", ",".join([url, *args]))
            if self.agi_runner is None:
                status = "FAILURE"
            else:
                status = await self.agi_runner(chan, url, args)
            self.set_var(chan, "AGISTATUS", status)
            if status == "FAILURE" and chan.call is not None:
                chan.call.failed = True
        if chan.goto is None and not chan.hangup_requested:
            self.newexten(chan, 5, "Hangup")

    async def _direct_dial(self, chan: Channel) -> None:
        fixed = chan.vars.get("AGENT")
        opts = "tTU(mixmon)"
        if fixed or self.cfg.trace_agents:
            ext = fixed or "1001"
            data = f"{self.agent_dialstring(ext)},{_num(self.cfg.dial_timeout)},{opts}"
            self.newexten(chan, 4, "Dial", data)
            await self.dial(chan, data)
            return
        # simulated ACD-less routing: round robin over free agents, MOH while none is free
        while not chan.interrupted:
            free = self.pick_agent()
            if free is None:
                self.moh_start(chan)
                await self.nap(chan, 1.0)
                continue
            self.moh_stop(chan)
            data = f"{self.agent_dialstring(free)},{_num(self.cfg.dial_timeout)},{opts}"
            self.newexten(chan, 4, "Dial", data)
            status, _ = await self.dial(chan, data)
            if status == "ANSWER":
                return
        self.moh_stop(chan)

    async def ctx_customer(self, chan: Channel) -> None:
        if chan.exten == "idle":
            self.newexten(chan, 1, "Answer")
            self.answer(chan)
            self.newexten(chan, 2, "Wait", "60")
            if await self.wait_app(chan, 60):
                return
            self.newexten(chan, 3, "Hangup")
            return
        v = chan.vars
        wait, dtmf, hold = v.get("CUST_WAIT", ""), v.get("CUST_DTMF", ""), v.get("CUST_HOLD", "")
        self.newexten(chan, 1, "NoOp", f"Customer wait={wait} dtmf={dtmf} hold={hold}")
        self.newexten(chan, 2, "Wait", wait or "1")
        if await self.wait_app(chan, _float(wait, 1.0)):
            return
        self.newexten(chan, 3, "ExecIf", f'$["{dtmf}"!=""]?SendDTMF({dtmf},250)')
        if dtmf and chan.peer is not None:
            await self.send_dtmf(chan, chan.peer, dtmf)
            if chan.interrupted:
                return
        patience = v.get("CUST_PATIENCE")
        if patience is not None:
            # generated traffic: wait for an agent (patience), then talk, then hang up
            talk = _float(v.get("CUST_TALK", ""), 60.0)
            self.newexten(chan, 4, "Wait", hold or "30")
            deadline = self.clock.mono() + _float(patience, 30.0)
            while not chan.interrupted:
                two = chan.peer
                if two is not None and two.bridge is not None:
                    if chan.call is not None:
                        chan.call.connected = True
                    if await self.wait_app(chan, talk):
                        return
                    break
                left = deadline - self.clock.mono()
                if left <= 0:
                    break
                await self.nap(chan, left)
            if chan.interrupted:
                return
        else:
            self.newexten(chan, 4, "Wait", hold or "30")
            if await self.wait_app(chan, _float(hold, 30.0)):
                return
        self.newexten(chan, 5, "Hangup")

    async def _ctx_agent(self, chan: Channel) -> None:
        ext = chan.exten
        plan = self.agent_plan(ext)
        self.newexten(chan, 1, "NoOp", f"Agent {ext} ringing")
        if plan.busy:
            self.newexten(chan, 2, "Busy")
            chan.busy = True
            chan.hangup_cause = 17
            if chan.peer is not None:
                chan.peer.busy = True
            return
        self.newexten(chan, 2, "Ringing")
        self.ringing(chan)
        if plan.ring is None:
            self.newexten(chan, 3, "Wait", "120")
            if await self.wait_app(chan, 120):
                return
            self.newexten(chan, 4, "Hangup")
            return
        self.newexten(chan, 3, "Wait", _num(plan.ring))
        if await self.wait_app(chan, plan.ring):
            return
        self.newexten(chan, 4, "Answer")
        self.answer(chan)
        talk = plan.talk
        if plan.playback:
            self.newexten(chan, 5, "Playback", "hello-world")
            if await self.wait_app(chan, PROMPT_SECONDS["hello-world"]):
                return
            self.set_var(chan, "PLAYBACKSTATUS", "SUCCESS")
        self.newexten(chan, 6, "Wait", _num(talk))
        if await self.wait_app(chan, talk):
            return
        if not plan.agent_hangs_up:
            # the customer ends the call: stay up (bounded) until then
            await self.wait_app(chan, 3600.0)
            if chan.interrupted:
                return
        self.newexten(chan, 7, "Hangup")

    async def _ctx_transfer(self, chan: Channel) -> None:
        self.newexten(chan, 1, "NoOp", f"Transfer target {chan.exten}")
        data = f"Local/{chan.exten}@{self.cfg.agent_context}/n,20,tT"
        self.newexten(chan, 2, "Dial", data)
        await self.dial(chan, data)
        if not chan.interrupted:
            self.newexten(chan, 3, "Hangup")

    async def _ctx_supervisor(self, chan: Channel) -> None:
        self.newexten(chan, 1, "Answer")
        self.answer(chan)
        secs = chan.vars.get("SPY_SECS", "")
        self.newexten(chan, 2, "Wait", secs or "6")
        if await self.wait_app(chan, _float(secs, 6.0)):
            return
        self.newexten(chan, 3, "Hangup")

    async def _ctx_hold(self, chan: Channel) -> None:
        """``[cc-hold]``: the console's hold. The customer hears music until redirected, bridged again
        (AMI Bridge) or hung up."""
        self.newexten(chan, 1, "NoOp", f"On hold: linkedid={chan.linkedid}")
        self.newexten(chan, 2, "MusicOnHold", "default")
        self.moh_start(chan, "default")
        interrupted = await self.wait_app(chan, HOLD_MAX_SECONDS)
        self.moh_stop(chan)
        if not interrupted:
            self.newexten(chan, 3, "Hangup")

    async def _ctx_hold_agent(self, chan: Channel) -> None:
        """``[cc-hold-agent]``: the agent's channel waits (silence) while the customer is on hold."""
        self.newexten(chan, 1, "NoOp", f"Agent waiting: linkedid={chan.linkedid}")
        self.newexten(chan, 2, "Wait", _num(HOLD_MAX_SECONDS))
        if not await self.wait_app(chan, HOLD_MAX_SECONDS):
            self.newexten(chan, 3, "Hangup")

    async def _ctx_queue(self, chan: Channel) -> None:
        """``[cc-queue]``: a call transferred to a queue goes back to the service's ACD over FastAGI."""
        queue = chan.exten
        self.newexten(chan, 1, "NoOp", f"Transfer to queue {queue}")
        url = f"agi://{self.cfg.agi_host}:{self.cfg.agi_port}/queue?queue={queue}&linkedid={chan.linkedid}"
        self.newexten(chan, 2, "AGI", url)
        status = "FAILURE" if self.agi_runner is None else await self.agi_runner(chan, url, [])
        self.set_var(chan, "AGISTATUS", status)
        if chan.goto is None and not chan.hangup_requested:
            result = chan.vars.get("CC_IVR_RESULT", "")
            self.newexten(chan, 3, "GotoIf", f'$["{result}" != "done"]?cc-failsafe,s,1')
            self.newexten(chan, 4, "Hangup")

    async def stay_bridged(self, chan: Channel) -> None:
        """A channel the AMI Bridge action joined to another: it stays until the other party leaves
        (basic bridges dissolve on hang-up), it is hung up or redirected."""
        chan.yanked = False
        while not chan.interrupted:
            bridge = chan.bridge
            if bridge is None or len(bridge.channels) < 2:
                break
            await self.nap(chan, None)
        bridge = chan.bridge
        if bridge is not None and not chan.gone:
            self.bridge_leave(chan)
            if not bridge.channels:
                self.bridge_destroy(bridge)

    def yank(self, chan: Channel) -> None:
        """AMI Bridge on a channel running dialplan: its application stops at once (music too)."""
        if chan.moh:
            self.moh_stop(chan)
        if chan.kind == "dialplan" and chan.dialer is None:
            chan.yanked = True
            self.poke(chan)

    async def _ctx_outbound(self, chan: Channel) -> None:
        self.newexten(chan, 1, "NoOp", f"Outbound call to {chan.exten}")
        self.newexten(chan, 2, "Dial", "Local/idle@customer-sim/n,30")
        await self.dial(chan, "Local/idle@customer-sim/n,30")
        if not chan.interrupted:
            self.newexten(chan, 3, "Hangup")

    # -- Dial --------------------------------------------------------------------------------------
    def _create_leg(self, target: str, caller: Channel | None) -> tuple[Channel, Channel | None] | None:
        """Request the outbound channel for a dial string. Returns (leg, local ;2 or None)."""
        m = _DIAL_RE.match(target)
        if m is None:
            return None
        tech, rest = m.group("tech"), m.group("rest")
        linkedid = caller.linkedid if caller is not None else None
        if tech.lower() == "local":
            spec = rest.split("/", 1)[0]
            if "@" not in spec:
                return None
            exten, context = spec.split("@", 1)
            if self.lookup(context, exten) is None:
                one, two = self.new_local(exten, context, linkedid)
                one.no_cdr = True
                one.hangup_requested = True
                self.finish(two, 0)
                self.finish(one, 0)
                return None
            one, two = self.new_local(exten, context, linkedid)
            one.no_cdr = True
            # the dialed half runs no dialplan: app_dial shows it as AppDial "(Outgoing Line)"
            one.app, one.appdata = "AppDial", "(Outgoing Line)"
            if context in (self.cfg.agent_context, AGENT_SIM_CONTEXT):
                one.agent = exten
                self.claim_agent(exten)
            return one, two
        endpoint = rest.split("/", 1)[0]
        if endpoint not in self.agent_set:
            return None
        leg = self.new_pjsip(endpoint, linkedid)
        leg.no_cdr = True
        leg.app, leg.appdata = "AppDial", "(Outgoing Line)"
        leg.agent = endpoint
        self.claim_agent(endpoint)
        return leg, None

    async def dial(self, chan: Channel, data: str) -> tuple[str, int]:
        """app_dial. Returns (DIALSTATUS, app result: 0 not answered, -1 answered-and-ended or hangup)."""
        parts = data.split(",")
        target = parts[0].strip()
        timeout = _float(parts[1], 0.0) if len(parts) > 1 else 0.0
        opts = parts[2] if len(parts) > 2 else ""
        for name in ("DIALSTATUS", "DIALEDPEERNUMBER", "DIALEDPEERNAME", "ANSWEREDTIME", "DIALEDTIME"):
            self.set_var(chan, name, "")
        created = self._create_leg(target, chan)
        if created is None:
            self.set_var(chan, "DIALSTATUS", "CHANUNAVAIL")
            self.cdr_fork(chan, "", "FAILED", "Dial", data)
            return "CHANUNAVAIL", 0
        leg, two = created
        leg.dialer = chan
        if chan.call is not None:
            leg.call = chan.call
        dialstring = target.split("/", 1)[1]
        # caller id: the dialed leg shows the dialing extension, the customer as connected line
        if two is not None:
            self.set_var(leg, "DIALEDPEERNUMBER", dialstring, event=True)
            self.inherit_vars(chan, leg)
            leg.exten = chan.exten
            self.set_callerid(leg, chan.exten, chan.cid_name)
            self.set_connected(leg, chan.cid_num, chan.cid_name)
            self.set_var(two, "DIALEDPEERNUMBER", dialstring, event=True)
            self.inherit_vars(chan, two)
            self.set_callerid(two, chan.cid_num, chan.cid_name)
            self.set_connected(two, chan.exten, chan.cid_name)
            self.local_bridge_event(leg, two)
        else:
            self.inherit_vars(chan, leg)
            leg.exten = chan.exten
            self.set_callerid(leg, chan.exten, chan.cid_name)
            self.set_connected(leg, chan.cid_num, chan.cid_name)
        if two is not None:
            # the callee's dialplan usually signals Ringing before DialBegin is published
            self.start_dialplan(two)
            await asyncio.sleep(0)
            self.ev2("DialBegin", chan, leg, f"DialString: {dialstring}\r\n")
        else:
            self.ev2("DialBegin", chan, leg, f"DialString: {dialstring}\r\n")
            self.spawn(self._phone(leg))
        moh_class = dial_options(opts).get("m")
        if moh_class is not None:
            # Dial m(class): the caller hears music instead of ringing until the callee answers
            self.moh_start(chan, moh_class or "default")
        dial_start = self.clock.mono()
        deadline = dial_start + timeout if timeout > 0 else None
        ringing_sent = False
        status = ""
        while True:
            if chan.interrupted:
                status = "CANCEL"
                break
            if leg.state == 5 and not ringing_sent:
                ringing_sent = True
                self.ev2("DialState", chan, leg, "DialStatus: RINGING\r\n")
            if leg.state == 6:
                status = "ANSWER"
                break
            if leg.hangup_requested or leg.gone:
                status = "BUSY" if leg.busy else "NOANSWER" if leg.hangup_cause == 19 else "CHANUNAVAIL"
                break
            left = None if deadline is None else deadline - self.clock.mono()
            if left is not None and left <= 0:
                status = "NOANSWER"
                break
            await self.nap(chan, left)
        if status != "ANSWER":
            self.ev2("DialEnd", chan, leg, f"DialStatus: {status}\r\n")
            if moh_class is not None:
                self.moh_stop(chan)
            cause = 17 if status == "BUSY" else 0
            self.finish(leg, cause)
            self.set_var(chan, "DIALSTATUS", status)
            disp = {"NOANSWER": "NO ANSWER", "BUSY": "BUSY", "CANCEL": "NO ANSWER"}.get(status, "FAILED")
            self.cdr_fork(chan, leg.name, disp, "Dial", data)
            return status, (-1 if status == "CANCEL" and chan.hangup_requested else 0)
        # answered
        if chan.state != 6:
            self.answer(chan)
        if "U" in dial_options(opts):
            self._gosub_mixmon(leg, chan)
        if leg.tech == "Local":
            leg.exten = ""
            leg.touch()
        self.set_var(chan, "DIALSTATUS", "ANSWER")
        self.set_var(chan, "DIALEDPEERNAME", leg.name)
        self.ev2("DialEnd", chan, leg, "DialStatus: ANSWER\r\n")
        if moh_class is not None:
            self.moh_stop(chan)
        if chan.call is not None:
            chan.call.connected = True
            chan.call.agent = leg.agent
        bridge = self.bridge_create()
        self.bridge_enter(bridge, leg)
        self.bridge_enter(bridge, chan)
        while True:
            while not (chan.interrupted or leg.interrupted or leg.gone or chan.bridge is not bridge):
                await self.nap(chan, None)
            swap = leg.replaced_by
            if swap is None or chan.interrupted or not leg.hangup_requested or swap[0].interrupted:
                break
            # attended transfer completes: the transferer goes, the target joins the caller's bridge
            xfer_target, second = swap
            leg.replaced_by = None
            if self.sink.listening:
                self.raw(
                    EV_CALL,
                    "Event: AttendedTransfer\r\nPrivilege: call,all\r\nResult: Success\r\n"
                    f"{leg.snap('OrigTransferer')}{bridge.block('Orig')}"
                    f"{leg.snap('SecondTransferer')}{second.block('Second')}"
                    f"{chan.snap('Transferee')}{xfer_target.snap('TransferTarget')}"
                    f"IsExternal: No\r\nDestType: Bridge\r\nDestBridgeUniqueid: {bridge.uid}\r\n\r\n",
                )
            self.bridge_leave(leg)
            self.finish(leg)
            self.bridge_destroy(second)
            self.moh_stop(chan)
            self.ev("Unhold", chan)
            xfer_target.dialer = chan
            self.bridge_enter(bridge, xfer_target)
            leg = xfer_target
        if leg.gone or leg.hangup_requested:
            # the agent side ended the call
            if leg.bridge is not None:
                self.bridge_leave(leg)
            self.finish(leg)
            if chan.bridge is bridge:
                self.bridge_leave(chan)
        else:
            if chan.bridge is bridge:
                self.bridge_leave(chan)
            if leg.goto is not None:
                # the agent leg was redirected: it runs its own dialplan now, with its own CDR
                self.bridge_leave(leg)
                leg.dialer = None
                leg.no_cdr = False
                leg.cdr_start = self.clock.now()
                leg.cdr_answer = leg.cdr_start
                self.start_dialplan(leg)
            elif not leg.gone:
                self.bridge_leave(leg)
                self.finish(leg, chan.hangup_cause if chan.hangup_requested else 16)
        self.bridge_destroy(bridge)
        if chan.goto is not None and not chan.hangup_requested:
            # the caller was redirected out of the bridge (console hold): app_dial returns 0 and
            # leaves ANSWEREDTIME/DIALEDTIME empty (hold-dual-redirect.agi)
            self.set_var(chan, "DIALSTATUS", "ANSWER")
            self.cdr_fork(chan, leg.name, "ANSWERED", "Dial", data)
            return "ANSWER", 0
        now = self.clock.now()
        up = int(now - (chan.answered_at or now))
        self.set_var(chan, "ANSWEREDTIME", str(up))
        self.set_var(chan, "DIALEDTIME", str(int(now - chan.created)))
        self.set_var(chan, "DIALSTATUS", "ANSWER")
        self.cdr_fork(chan, leg.name, "ANSWERED", "Dial", data)
        return "ANSWER", -1

    def _gosub_mixmon(self, leg: Channel, caller: Channel) -> None:
        ctx, ext = leg.context, leg.exten
        leg.context, leg.exten = "mixmon", "s"
        self.newexten(leg, 0, "AppDial", "(Outgoing Line)")
        fname = f"{leg.vars.get('CC_CALLID', caller.uniqueid)}-{leg.uniqueid}.wav"
        self.newexten(leg, 1, "MixMonitor", f"{fname},b")
        self.mixmonitor(leg, fname)
        self.newexten(leg, 2, "Return")
        leg.context, leg.exten, leg.priority = ctx, ext, 1
        leg.app, leg.appdata = "AppDial", "(Outgoing Line)"
        leg.touch()

    async def _phone(self, leg: Channel) -> None:
        """A SIP agent phone: rings, maybe answers, talks, maybe hangs up."""
        plan = self.agent_plan(leg.agent or "")
        try:
            await self.clock.sleep(0.02)
            if leg.interrupted:
                return
            if plan.busy:
                leg.busy = True
                self.request_hangup(leg, 17)
                return
            self.set_state(leg, 5)
            if plan.ring is None:
                await self.nap_until_gone(leg, None)
                return
            if await self.wait_app(leg, plan.ring):
                return
            self.set_state(leg, 6)
            if await self.wait_app(leg, plan.talk):
                return
            if plan.agent_hangs_up:
                self.request_hangup(leg, 16)
        except asyncio.CancelledError:
            raise

    async def nap_until_gone(self, chan: Channel, seconds: float | None) -> None:
        while not chan.interrupted:
            await self.nap(chan, seconds)

    # -- Originate -------------------------------------------------------------------------------
    async def originate(
        self,
        channel: str,
        *,
        context: str = "",
        exten: str = "",
        priority: int = 1,
        application: str = "",
        data: str = "",
        cid_num: str = "",
        cid_name: str = "",
        answer_timeout: float = 30.0,
        variables: list[tuple[str, str]] | None = None,
        chan_id: str | None = None,
        other_id: str | None = None,
        call: CallStat | None = None,
    ) -> OriginateResult:
        m = _DIAL_RE.match(channel)
        if m is None:
            return OriginateResult(False, 0, None, channel)
        tech, rest = m.group("tech"), m.group("rest")
        variables = variables or []
        self.processed_calls += 1
        if tech.lower() == "local":
            spec = rest.split("/", 1)[0]
            if "@" not in spec:
                return OriginateResult(False, 0, None, channel)
            lexten, lcontext = spec.split("@", 1)
            one, two = self.new_local(lexten, lcontext, None, chan_id, other_id)
            one.call = two.call = call
            if self.lookup(lcontext, lexten) is None:
                one.hangup_requested = True
                self.finish(two, 0)
                self.finish(one, 0)
                return OriginateResult(False, 0, None, channel)
            for name, value in variables:
                self.set_var(one, name, value)
            for name, value in reversed(variables):
                self.set_var(two, name, value)
            if cid_num or cid_name:
                self.set_callerid(one, cid_num, cid_name)
                self.set_connected(one, cid_num, cid_name)
                self.set_callerid(two, cid_num, cid_name)
                self.set_connected(two, cid_num, cid_name)
            self.local_bridge_event(one, two)
            self.ev2("DialBegin", None, one, f"DialString: {rest}\r\n")
            self.start_dialplan(two)
        else:
            endpoint = rest.split("/", 1)[0]
            if endpoint not in self.agent_set:
                return OriginateResult(False, 0, None, channel)
            one = self.new_pjsip(endpoint, None, chan_id)
            one.agent = endpoint
            one.call = call
            self.claim_agent(endpoint)
            for name, value in variables:
                self.set_var(one, name, value)
            if cid_num or cid_name:
                self.set_callerid(one, cid_num, cid_name)
                self.set_connected(one, cid_num, cid_name)
            self.ev2("DialBegin", None, one, f"DialString: {endpoint}\r\n")
            two = None
            self.spawn(self._phone(one))
        deadline = self.clock.mono() + answer_timeout
        ringing_sent = False
        while True:
            if one.state == 5 and not ringing_sent:
                ringing_sent = True
                self.ev2("DialState", None, one, "DialStatus: RINGING\r\n")
            if one.state == 6:
                break
            if one.hangup_requested or one.gone:
                reason = 5 if one.busy else 1
                if not one.gone:
                    self.ev2("DialEnd", None, one, f"DialStatus: {'BUSY' if one.busy else 'CHANUNAVAIL'}\r\n")
                    self.finish(one, one.hangup_cause)
                return OriginateResult(False, reason, None, channel)
            left = deadline - self.clock.mono()
            if left <= 0:
                one.cdr_records.clear()
                self.finish(one, 19)
                return OriginateResult(False, 3, None, channel)
            await self.nap(one, left)
        self.ev2("DialEnd", None, one, "DialStatus: ANSWER\r\n")
        if one.tech == "PJSIP":
            one.dialer = None
        if application:
            one.app, one.appdata = application, data
            one.kind = "app"
            self.spawn(self._run_app(one, application, data))
        else:
            one.context, one.exten, one.priority = context, exten, priority
            one.touch()
            self.start_dialplan(one)
        return OriginateResult(True, 4, one, channel)

    async def _run_app(self, chan: Channel, app: str, data: str) -> None:
        try:
            a = app.lower()
            if a == "wait":
                await self.wait_app(chan, _float(data, 0.0))
            elif a == "chanspy":
                await self._chanspy(chan, data)
            elif a in ("playback", "background"):
                await self.wait_app(chan, _prompt_seconds(data))
            elif a == "musiconhold":
                self.moh_start(chan, data.split(",")[0] or "default")
                secs = data.split(",")[1] if "," in data else ""
                await self.wait_app(chan, _float(secs, 3600.0))
                self.moh_stop(chan)
            else:
                await self.wait_app(chan, 0.0)
        finally:
            if not chan.gone:
                self.finish(chan, chan.hangup_cause if chan.hangup_cause is not None else 0)

    async def _chanspy(self, chan: Channel, data: str) -> None:
        target_name = data.split(",")[0]
        await self.wait_app(chan, 0.1)
        spyee = self.channels.get(target_name)
        if spyee is None or chan.interrupted:
            return
        if self.sink.listening:
            self.raw(
                EV_CALL,
                "Event: ChanSpyStart\r\nPrivilege: call,all\r\n"
                f"{chan.snap('Spyer')}{spyee.snap('Spyee')}\r\n",
            )
        while not chan.interrupted and not spyee.gone:
            spyee.dialer = spyee.dialer  # nothing to wire: the spy just waits
            await self.nap(chan, 0.5)
        if self.sink.listening:
            self.raw(
                EV_CALL,
                f"Event: ChanSpyStop\r\nPrivilege: call,all\r\n{chan.snap('Spyer')}{spyee.snap('Spyee')}\r\n",
            )

    # -- transfers (AMI) -------------------------------------------------------------------------
    def redirect(self, chan: Channel, context: str, exten: str, priority: int) -> bool:
        if self.lookup(context, exten) is None:
            return False
        self.goto(chan, context, exten, priority)
        return True

    def blind_transfer(self, transferer: Channel, context: str, exten: str) -> str | None:
        """``ast_bridge_transfer_blind`` (fact 33). Not in a bridge (the ``;2`` half of a Local agent):
        ``BlindTransfer`` ``Result: Invalid`` and "Transfer invalid". Else ``Result: Success`` and the
        transferee leaves for context,exten,1 (not checked: a missing context hangs it up there);
        app_dial then hangs up the transferer's side. Returns the error, or None on success."""
        bridge = transferer.bridge
        others = [c for c in bridge.channels if c is not transferer] if bridge is not None else []
        if bridge is None or not others:
            self.raw(
                EV_CALL,
                "Event: BlindTransfer\r\nPrivilege: call,all\r\nResult: Invalid\r\n"
                f"{transferer.snap('Transferer')}IsExternal: Yes\r\n"
                f"Context: {context}\r\nExtension: {exten}\r\n\r\n",
            )
            return "Transfer invalid"
        transferee = others[0]
        self.ev("Unhold", transferer)
        self.raw(
            EV_CALL,
            "Event: BlindTransfer\r\nPrivilege: call,all\r\nResult: Success\r\n"
            f"{transferer.snap('Transferer')}{transferee.snap('Transferee')}{bridge.block()}"
            f"IsExternal: Yes\r\nContext: {context}\r\nExtension: {exten}\r\n\r\n",
        )
        self.goto(transferee, context, exten, 1)
        return None

    def goto(self, chan: Channel, context: str, exten: str, priority: int) -> None:
        """Async goto without an extension check (a blind transfer's transferee)."""
        chan.goto = (context, exten, priority)
        self.poke(chan)
        if chan.bridge is not None:
            for other in chan.bridge.channels:
                self.poke(other)

    async def atxfer(self, transferer: Channel, context: str, exten: str) -> None:
        """Attended transfer, simplified: hold the transferee, dial the target from the transferer's
        side; when the transferer hangs up, the target joins the transferee's bridge."""
        bridge = transferer.bridge
        if bridge is None:
            return
        others = [c for c in bridge.channels if c is not transferer]
        if not others:
            return
        transferee = others[0]
        # features.conf atxfer: the injected *2 and the digits show as DTMFEnd on the transferer
        for i, digit in enumerate("*2" + exten):
            self.ev(
                "DTMFEnd",
                transferer,
                f"Digit: {digit}\r\nDurationMs: 100\r\nDirection: Received\r\n",
                "dtmf,all",
                EV_DTMF,
            )
            if i == 1:
                self.ev("Hold", transferer)
        self.moh_start(transferee)
        one, two = self.new_local(exten, context, transferer.linkedid)
        one.no_cdr = True
        self.inherit_vars(transferer, one)
        self.set_callerid(one, transferer.cid_num, transferer.cid_name)
        self.set_callerid(two, transferer.cid_num, transferer.cid_name)
        self.local_bridge_event(one, two)
        self.ev2("DialBegin", None, one, f"DialString: {exten}@{context}\r\n")
        self.start_dialplan(two)
        while not (one.state == 6 or one.interrupted or transferer.interrupted):
            await self.nap(one, 30.0)
        if one.state != 6 or one.interrupted:
            self.ev2("DialEnd", None, one, "DialStatus: NOANSWER\r\n")
            self.finish(one, 0)
            self.moh_stop(transferee)
            self.ev("Unhold", transferer)
            return
        self.ev2("DialEnd", None, one, "DialStatus: ANSWER\r\n")
        second = self.bridge_create()
        # the caller's Dial swaps the target in when the transferer hangs up (see dial())
        transferer.replaced_by = (one, second)
        one.dialer = transferer.dialer
        while not (transferer.gone or one.interrupted or transferee.interrupted):
            await self.nap(one, None)
        if transferer.replaced_by is not None:
            # transfer abandoned (target or transferee gone first)
            transferer.replaced_by = None
            self.bridge_destroy(second)
            self.moh_stop(transferee)
            if not one.gone:
                self.request_hangup(one, 16)
                self.finish(one)


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
