"""Hand-written fakes for the ACD service tests: an AGI channel, agent phones, a PBX, a transition log."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from callcenter.domain.acd import AgentConfig, AgentTransition, Membership, QueueConfig
from callcenter.domain.agi import AgiReply
from callcenter.domain.errors import AgiHangup
from callcenter.domain.queueing import QueueRequest
from callcenter.services.acd import AcdOptions, AcdService
from callcenter.state.bus import InProcessBus


@dataclass
class Phone:
    """How one agent's phone behaves when dialed."""

    behaviour: str = "answer"  # answer | noanswer | busy | unavail
    ring: float = 0.0
    talk: float = 0.0


class Phones:
    """Agent phones reached by ``EXEC Dial``: checks that no phone rings for two calls at once."""

    def __init__(self, default: Phone | None = None) -> None:
        self.default = default or Phone()
        self.phones: dict[str, Phone] = {}
        self.active: dict[str, str] = {}  # endpoint → call
        self.violations: list[str] = []
        self.offers: list[tuple[str, str]] = []  # (call, endpoint) in order
        self.answered: dict[str, list[str]] = {}

    def set(self, endpoint: str, phone: Phone) -> None:
        self.phones[endpoint] = phone

    async def dial(self, channel: FakeChannel, args: str) -> tuple[str, int]:
        endpoint, timeout, *_ = args.split(",")
        call = channel.call_id
        if endpoint in self.active:
            self.violations.append(
                f"{endpoint} offered {call} while ringing/talking for {self.active[endpoint]}"
            )
        self.active[endpoint] = call
        self.offers.append((call, endpoint))
        phone = self.phones.get(endpoint, self.default)
        try:
            if phone.behaviour in ("busy", "unavail"):
                return ("BUSY" if phone.behaviour == "busy" else "CHANUNAVAIL"), 0
            if phone.behaviour == "noanswer":
                await channel.sleep(float(timeout) if phone.ring <= 0 else phone.ring)
                return ("CANCEL" if channel.hung_up else "NOANSWER"), 0
            await channel.sleep(phone.ring)
            if channel.hung_up:
                return "CANCEL", -1
            self.answered.setdefault(call, []).append(endpoint)
            await channel.sleep(phone.talk)
            channel.vars["ANSWEREDTIME"] = str(int(phone.talk))
            return "ANSWER", -1
        finally:
            del self.active[endpoint]


class FakeChannel:
    """An ``AgiChannel`` for one caller: digits pressed at given times, an optional hang-up time."""

    def __init__(
        self,
        phones: Phones,
        call_id: str,
        *,
        digits: Sequence[tuple[float, str]] = (),
        hangup_after: float | None = None,
    ) -> None:
        self.phones = phones
        self.call_id = call_id
        self.started = time.monotonic()
        self.digits = sorted(digits)
        self.hangup_after = hangup_after
        self.vars: dict[str, str] = {}
        self.commands: list[str] = []
        self.dead = False  # the PBX died (kill -9): the AGI socket reached EOF
        self.idle_waits = 0
        self.dropped_digits: list[str] = []

    @property
    def env(self) -> Mapping[str, str]:
        return {"uniqueid": self.call_id}

    @property
    def uniqueid(self) -> str:
        return self.call_id

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def hung_up(self) -> bool:
        return self.dead or (self.hangup_after is not None and self.elapsed() >= self.hangup_after)

    async def sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while not self.hung_up and time.monotonic() < end:
            await asyncio.sleep(min(0.005, max(0.0, end - time.monotonic())))

    def _digit(self) -> str | None:
        if self.digits and self.digits[0][0] <= self.elapsed():
            return self.digits.pop(0)[1]
        return None

    async def command(self, line: str, *, timeout: float | None = None) -> AgiReply:
        self.commands.append(line)
        if self.hung_up:
            return AgiReply(511, text="511 Command Not Permitted on a dead channel")
        await asyncio.sleep(0)
        return AgiReply(200, "0")

    async def answer(self) -> None:
        self.commands.append("ANSWER")

    async def hangup(self) -> None:
        self.commands.append("HANGUP")
        self.hangup_after = 0.0

    async def stream_file(self, sound: str, escape_digits: str = "") -> AgiReply:
        self.commands.append(f"STREAM FILE {sound} {escape_digits}")
        if self.hung_up:
            raise AgiHangup("caller gone")
        await asyncio.sleep(0)
        digit = self._digit()
        if digit is not None and digit in escape_digits:
            return AgiReply(200, str(ord(digit)))
        return AgiReply(200, "0")

    async def get_data(self, prompt: str, timeout_ms: int, max_digits: int) -> AgiReply:
        raise NotImplementedError

    async def wait_for_digit(self, timeout_ms: int) -> AgiReply:
        self.commands.append(f"WAIT FOR DIGIT {timeout_ms}")
        end = time.monotonic() + timeout_ms / 1000
        while time.monotonic() < end:
            if self.hung_up:
                return AgiReply(200, "-1")
            digit = self._digit()
            if digit is not None:
                return AgiReply(200, str(ord(digit)))
            await asyncio.sleep(min(0.005, max(0.0, end - time.monotonic())))
        return AgiReply(200, "-1" if self.hung_up else "0")

    async def wait_idle(self, timeout: float) -> bool:
        """No command outstanding (``ports.IdleAgiChannel``): like Asterisk, DTMF pressed meanwhile is
        dropped; a hang-up is noticed at once (the asynchronous HANGUP line)."""
        self.idle_waits += 1
        end = time.monotonic() + timeout
        while True:
            while self.digits and self.digits[0][0] <= self.elapsed():
                self.dropped_digits.append(self.digits.pop(0)[1])
            if self.hung_up:
                return True
            left = end - time.monotonic()
            if left <= 0:
                return False
            await asyncio.sleep(min(0.005, left))

    async def set_variable(self, name: str, value: str) -> None:
        self.vars[name] = value

    async def get_variable(self, name: str) -> str | None:
        return self.vars.get(name)

    async def exec(self, application: str, args: str = "") -> AgiReply:
        self.commands.append(f"EXEC {application} {args}")
        if application == "Dial":
            status, result = await self.phones.dial(self, args)
            if self.dead:
                raise AgiHangup("EOF: the PBX is gone")
            self.vars["DIALSTATUS"] = status
            return AgiReply(200, str(result))
        return AgiReply(200, "0")

    async def verbose(self, message: str, level: int = 1) -> None:
        return None


class FakeLog:
    def __init__(self) -> None:
        self.rows: list[AgentTransition] = []

    async def save_transitions(self, transitions: Sequence[AgentTransition]) -> None:
        self.rows.extend(transitions)

    async def list_transitions(
        self, agent: str | None = None, since: float | None = None, limit: int = 1000
    ) -> list[AgentTransition]:
        return [t for t in self.rows if agent is None or t.agent == agent][:limit]


@dataclass
class Originated:
    channel: str
    kwargs: dict[str, Any] = field(default_factory=dict)


class FakePbx:
    connected = True

    def __init__(self) -> None:
        self.originated: list[Originated] = []

    async def send_action(self, action: str, fields: Any = None, *, timeout: float | None = None) -> Any:
        return {"Response": "Success"}

    async def ping(self) -> float:
        return 0.001

    async def hangup(self, channel: str, cause: int = 16) -> None:
        return None

    async def redirect(self, channel: str, context: str, exten: str, priority: int = 1) -> None:
        return None

    async def originate(self, channel: str, **kwargs: Any) -> str:
        self.originated.append(Originated(channel, kwargs))
        return str(kwargs.get("action_id") or "x")


class Events:
    def __init__(self, bus: InProcessBus) -> None:
        self.items: list[dict[str, Any]] = []
        bus.subscribe(lambda topic, event: self.items.append(dict(event)))

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.items if e.get("type") == kind]


FAST = AcdOptions(wait_slice=0.01, tick=0.01, log_flush=0.02)


def queue(name: str = "support", **kw: Any) -> QueueConfig:
    defaults: dict[str, Any] = {"announce_interval": 0.0, "ring_timeout": 1.0, "busy_rest": 5.0}
    return QueueConfig(name=name, **{**defaults, **kw})


def agents(n: int, queue_name: str = "support", first: int = 1001) -> list[AgentConfig]:
    return [
        AgentConfig(
            id=str(first + i), endpoint=f"PJSIP/{first + i}", queues=(Membership(queue_name),), order=i + 1
        )
        for i in range(n)
    ]


def request(call_id: str, queue_name: str = "support", **kw: Any) -> QueueRequest:
    return QueueRequest(call_id=call_id, uniqueid=call_id, queue=queue_name, caller_num="5551234", **kw)


async def login_all(acd: AcdService) -> None:
    for agent in acd.agents:
        await acd.login(agent)
