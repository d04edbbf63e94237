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
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, cast

from callcenter.sim.audio import Recording, inside, recording_path, write_wav
from callcenter.sim.calls import CallFlows
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
from callcenter.sim.dialplan import TracesDialplan
from callcenter.sim.model import (
    _DIAL_RE,
    CAUSE_TXT,
    MONITOR_DIR,
    PROMPT_SECONDS,
    STATE_DESC,
    AgentPlan,
    Bridge,
    CallStat,
    CdrRecord,
    Channel,
    Clock,
    DialplanProgram,
    EventSink,
    OriginateResult,
    Queue,
    QueueMember,
    _float,
    _fmt_time,
    _NullSink,
    _prompt_seconds,
    _wake,
    clean,
    dial_options,
)
from callcenter.sim.outbound import OutboundFlows
from callcenter.sim.project import AGENT_SIM_CONTEXT, ProjectDialplan

log = logging.getLogger(__name__)


class PbxCore:
    def __init__(self, cfg: SimConfig, sink: EventSink | None = None) -> None:
        self.cfg = cfg
        self.clock = Clock(cfg.speed)
        self.rng = random.Random(cfg.seed)  # ids and odds and ends
        #: customers and arrivals: one stream, drawn in arrival order, so a seed reproduces a run
        self.cust_rng = random.Random(f"{cfg.seed}/customers")
        self._agent_calls: dict[str, int] = {}
        #: outbound dialer customers (``sim/outbound.py``): dials per number, plans of live channels
        self.outbound_counts: dict[str, int] = {}
        self.outbound_plans: dict[str, Any] = {}
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
        #: MixMonitors in progress by uniqueid (``sim/audio.py``; only with ``cfg.recordings_dir``)
        self.recordings: dict[str, Recording] = {}
        self.project = ProjectDialplan(cast("Pbx", self)) if cfg.dialplan == "project" else None

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

    def sound_missing(self, prompt: str) -> bool:
        """A prompt (``a&b`` plays each) this PBX does not have (``SimConfig.missing_sounds``: names, or
        prefixes ending in ``*``)."""
        missing = self.cfg.missing_sounds
        if not missing:
            return False
        for part in prompt.split(",")[0].strip().strip('"').split("&"):
            for name in missing:
                if part == name or (name.endswith("*") and part.startswith(name[:-1])):
                    return True
        return False

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
        self._close_recording(chan)
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
        rec_dir = self.cfg.recordings_dir
        if rec_dir:
            path = recording_path(rec_dir, filename)
        else:
            path = filename if filename.startswith("/") else MONITOR_DIR + filename
        self.set_var(chan, "MIXMONITOR_FILENAME", path)
        self.ev("MixMonitorStart", chan)
        if rec_dir:
            if inside(rec_dir, path):
                self.recordings[chan.uniqueid] = Recording(path, self.clock.mono())
            else:
                log.warning("MixMonitor file outside the recordings dir, not written: %s", path)

    def stop_mixmonitor(self, chan: Channel) -> None:
        """``StopMixMonitor``: the event, then the file is closed (written, ``sim/audio.py``)."""
        self.ev("MixMonitorStop", chan)
        self._close_recording(chan)

    def _close_recording(self, chan: Channel) -> None:
        rec = self.recordings.pop(chan.uniqueid, None)
        if rec is None:
            return
        seconds = max(0.0, self.clock.mono() - rec.started)
        self.spawn(asyncio.to_thread(write_wav, rec.path, seconds, chan.uniqueid))

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
        """The program of context,exten (``sim/dialplan.py``, ``sim/project.py``); None if none."""
        raise NotImplementedError

    # customers on the trunk: ``sim/outbound.py`` (mixed into ``Pbx``) overrides these
    def is_trunk(self, endpoint: str) -> bool:
        return False

    def new_trunk_leg(self, endpoint: str, linkedid: str | None) -> Channel:
        raise NotImplementedError

    async def trunk_callee(self, leg: Channel) -> None:
        raise NotImplementedError

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
        if self.is_trunk(endpoint):  # a customer on the trunk (preview dialing, sim/outbound.py)
            leg = self.new_trunk_leg(endpoint, linkedid)
            leg.no_cdr = True
            leg.app, leg.appdata = "AppDial", "(Outgoing Line)"
            return leg, None
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
            trunk = leg.uniqueid in self.outbound_plans
            self.spawn(self.trunk_callee(leg) if trunk else self._phone(leg))
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
                status = (
                    "BUSY"
                    if leg.busy
                    else "NOANSWER"
                    if leg.hangup_cause == 19
                    else "CONGESTION"
                    if leg.hangup_cause == 34
                    else "CHANUNAVAIL"
                )
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
        callee_ended = bool(leg.gone or leg.hangup_requested) and not chan.hangup_requested
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
        # app_dial: the bridge's end returns -1 (hang up) unless option g is set, the callee ended it
        # and the caller is still up (``OPT_GO_ON && !ast_check_hangup(chan)``): then 0, and the
        # caller's dialplan (or AGI session) goes on. A caller hang-up is always -1.
        if callee_ended and not chan.hangup_requested and "g" in dial_options(opts):
            return "ANSWER", 0
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


class Pbx(TracesDialplan, CallFlows, OutboundFlows, PbxCore):
    """The simulated PBX: the core (channels, bridges, Dial, events) plus the dialplan programs and
    the Originate/transfer flows."""


__all__ = [
    "CAUSE_TXT",
    "PROMPT_SECONDS",
    "STATE_DESC",
    "AgentPlan",
    "Bridge",
    "CallStat",
    "CdrRecord",
    "Channel",
    "Clock",
    "DialplanProgram",
    "EventSink",
    "OriginateResult",
    "Pbx",
    "PbxCore",
    "Queue",
    "QueueMember",
    "_float",
    "_prompt_seconds",
    "clean",
    "dial_options",
]
