"""The flow engine with a hand-written fake AgiChannel (pure, no sockets): the corners the sample flows
do not reach."""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import Mapping

import pytest

from callcenter.domain.agi import AgiReply
from callcenter.domain.errors import AgiHangup, StoreUnavailable
from callcenter.domain.ivr import Catalog, CustomerInfo, FlowSet, IvrOutcome, IvrSessionRecord
from callcenter.domain.ivr_parse import build_flow_set
from callcenter.services.ivr import IvrFlowError, IvrService


class FakeChannel:
    """Replies come from a list of digits per input command ("" = timeout); a digit may be "H" (hang-up)."""

    def __init__(self, inputs: list[str], env: Mapping[str, str] | None = None) -> None:
        self.inputs = list(inputs)
        self.sent: list[str] = []
        self.vars: dict[str, str] = {}
        self._env = {
            "uniqueid": "1.2",
            "callerid": "5551000",
            "linkedid": "1.1",
            "script": "ivr",
            **(env or {}),
        }
        self._hung_up = False

    @property
    def env(self) -> Mapping[str, str]:
        return self._env

    @property
    def uniqueid(self) -> str:
        return "1.2"

    @property
    def hung_up(self) -> bool:
        return self._hung_up

    def _input(self) -> str:
        value = self.inputs.pop(0) if self.inputs else ""
        if value == "H":
            self._hung_up = True
            raise AgiHangup("gone")
        return value

    async def command(self, line: str, *, timeout: float | None = None) -> AgiReply:
        self.sent.append(line)
        return AgiReply(200, "0")

    async def answer(self) -> None:
        self.sent.append("ANSWER")

    async def hangup(self) -> None:
        self.sent.append("HANGUP")
        self._hung_up = True

    async def stream_file(self, sound: str, escape_digits: str = "") -> AgiReply:
        self.sent.append(f"STREAM {sound} {escape_digits}")
        if escape_digits:
            digit = self._input()
            return AgiReply(200, str(ord(digit)) if digit else "0")
        return AgiReply(200, "0", endpos=8000)

    async def get_data(self, prompt: str, timeout_ms: int, max_digits: int) -> AgiReply:
        self.sent.append(f"GETDATA {prompt} {timeout_ms} {max_digits}")
        digits = self._input()
        return AgiReply(200, digits, "timeout" if not digits else None, timeout=not digits)

    async def wait_for_digit(self, timeout_ms: int) -> AgiReply:
        self.sent.append(f"WAIT {timeout_ms}")
        digit = self._input()
        return AgiReply(200, str(ord(digit)) if digit else "0")

    async def set_variable(self, name: str, value: str) -> None:
        self.sent.append(f"SET {name}={value}")
        self.vars[name] = value

    async def get_variable(self, name: str) -> str | None:
        return self.vars.get(name)

    async def exec(self, application: str, args: str = "") -> AgiReply:
        self.sent.append(f"EXEC {application} {args}")
        if application == "Dial":
            self.vars["DIALSTATUS"] = "NOANSWER"
        if application == "MSet":  # as Asterisk: name=value pairs separated by commas
            for pair in args.split(","):
                name, _, value = pair.partition("=")
                self.vars[name] = value
        return AgiReply(200, "0")

    async def verbose(self, message: str, level: int = 1) -> None:
        self.sent.append(f"VERBOSE {message}")


def flows(text: str, *more: tuple[str, str]) -> FlowSet:
    flow_set, problems = build_flow_set([("main.yaml", textwrap.dedent(text)), *more], Catalog())
    assert flow_set is not None, problems
    return flow_set


async def run(flow_set: FlowSet, channel: FakeChannel, **kwargs: object) -> IvrSessionRecord:
    records: list[IvrSessionRecord] = []
    service = IvrService(lambda: flow_set, on_session=records.append, **kwargs)  # type: ignore[arg-type]
    await service.handle(channel)  # type: ignore[arg-type]
    return records[0]


STAR = """\
flow: main
start: pin
nodes:
  pin:
    type: collect
    prompt: enter-pin
    var: pin
    min_length: 4
    max_length: 6
    terminator: "*"
    validator: luhn
    retries: 2
    next: export
    fallback: bye
  export:
    type: set
    vars: {PIN_OK: "yes ${pin}"}
    export: true
    next: bye
  bye:
    type: hangup
"""


async def test_collect_with_star_terminator_and_luhn() -> None:
    channel = FakeChannel(["1", "2", "3", "4", "*", "4", "2", "4", "2", "*"])  # 1234 fails Luhn, 4242 passes
    record = await run(flows(STAR), channel)
    step = record.path[0]
    assert step["digits"] == ["1234", "4242"] and step["invalid"] == 1
    assert channel.vars["PIN_OK"] == "yes 4242"
    assert channel.sent[0] == "STREAM enter-pin 0123456789*#" and channel.sent[-1] == "HANGUP"
    assert record.outcome is IvrOutcome.SELF_SERVED


async def test_hangup_during_input_is_abandoned() -> None:
    record = await run(flows(STAR), FakeChannel(["1", "H"]))
    assert record.outcome is IvrOutcome.ABANDONED and record.path[-1]["result"] == "hangup"


async def test_subflow_returns_and_flow_chosen_by_query() -> None:
    other = (
        "o.yaml",
        "flow: other\nstart: hi\nnodes:\n  hi:\n    type: play\n    prompts: [hi]\n    next: r\n"
        "  r:\n    type: return\n",
    )
    text = """\
    flow: main
    start: s
    nodes:
      s:
        type: subflow
        flow: other
        next: done
      done:
        type: play
        prompts: [done]
        next: end
      end:
        type: return
    """
    flow_set = flows(text, other)
    record = await run(flow_set, FakeChannel([]))
    assert [s["node"] for s in record.path] == ["s", "hi", "r", "done", "end"]
    assert record.path[1]["flow"] == "other"
    # ?flow=other runs the other flow directly
    record = await run(flow_set, FakeChannel([], {"query_flow": "other"}))
    assert record.flow == "other" and [s["node"] for s in record.path] == ["hi", "r"]


LOOKUP = """\
flow: main
start: who
nodes:
  who:
    type: lookup
    next: q
    found: known
  known:
    type: play
    prompts: [hello]
    next: q
  q:
    type: queue
    queue: sales
    vip_priority: 9
    on_no_agents: t
  t:
    type: transfer
    to: "+33100000000"
    timeout: 15
    on_fail: bye
  bye:
    type: hangup
    outcome: self_served
"""


class SlowDirectory:
    def __init__(self, mode: str) -> None:
        self.mode = mode

    async def find_by_phone(self, number: str) -> CustomerInfo | None:
        if self.mode == "slow":
            await asyncio.sleep(10)
        if self.mode == "down":
            raise StoreUnavailable("db down")
        return CustomerInfo(1, "A", "vip", True)

    async def find_by_id(self, customer_id: int) -> CustomerInfo | None:
        return None


@pytest.mark.parametrize("mode", ["slow", "down"])
async def test_lookup_failure_is_not_found(mode: str) -> None:
    channel = FakeChannel([])
    record = await run(flows(LOOKUP), channel, directory=SlowDirectory(mode), lookup_timeout=0.05)
    assert record.path[0]["result"] == "not found" and record.customer_id is None


async def test_no_router_queue_falls_back_and_external_transfer_fails_over() -> None:
    channel = FakeChannel([])
    record = await run(flows(LOOKUP), channel, directory=SlowDirectory("ok"))
    assert [s["node"] for s in record.path] == ["who", "known", "q", "t", "bye"]
    assert channel.vars["CC_QUEUE"] == "sales" and channel.vars["CC_PRIORITY"] == "9"  # a VIP
    assert "EXEC Dial Local/+33100000000@outbound/n,15" in channel.sent
    assert record.path[3]["result"] == "+33100000000: NOANSWER"
    assert record.outcome is IvrOutcome.SELF_SERVED and record.route_outcome == "no_agents"


async def test_no_flows_loaded_raises() -> None:
    service = IvrService(lambda: None)
    with pytest.raises(IvrFlowError):
        await service.handle(FakeChannel([]))  # type: ignore[arg-type]


async def test_runaway_flow_is_an_error() -> None:
    # a menu loop that always gets a valid choice never waits forever, but the step cap ends it
    text = """\
    flow: main
    start: m
    nodes:
      m:
        type: menu
        prompt: p
        options: {"1": m}
        fallback: m
    """
    records: list[IvrSessionRecord] = []
    service = IvrService(lambda: flows(text), on_session=records.append)
    with pytest.raises(IvrFlowError, match="steps"):
        await service.handle(FakeChannel(["1"] * 600))  # type: ignore[arg-type]
    assert records[0].outcome is IvrOutcome.ERROR and "steps" in (records[0].error or "")


# --- the queue node's channel variables: one round trip ---------------------------------------------

MENU_TO_QUEUE = """\
flow: main
start: menu
nodes:
  menu:
    type: menu
    prompt: pick
    options: {"2": q}
    fallback: q
  q:
    type: queue
    queue: sales
    priority: 3
    on_no_agents: bye
  bye:
    type: hangup
"""


async def test_queue_variables_go_in_one_mset() -> None:
    channel = FakeChannel(["2"])
    await run(flows(MENU_TO_QUEUE), channel)
    assert "EXEC MSet CC_QUEUE=sales,CC_PRIORITY=3,IVR_CHOICE=2" in channel.sent
    assert not [line for line in channel.sent if line.startswith("SET ")]
    assert (channel.vars["CC_QUEUE"], channel.vars["CC_PRIORITY"], channel.vars["IVR_CHOICE"]) == (
        "sales",
        "3",
        "2",
    )


class NoMSetChannel(FakeChannel):
    """A PBX without the application: EXEC answers -2."""

    async def exec(self, application: str, args: str = "") -> AgiReply:
        if application == "MSet":
            self.sent.append(f"EXEC {application} {args}")
            return AgiReply(200, "-2")
        return await super().exec(application, args)


async def test_refused_mset_and_unsafe_values_fall_back_to_one_set_each() -> None:
    channel = NoMSetChannel(["2"])
    await run(flows(MENU_TO_QUEUE), channel)
    assert [line for line in channel.sent if line.startswith("SET ")] == [
        "SET CC_QUEUE=sales",
        "SET CC_PRIORITY=3",
        "SET IVR_CHOICE=2",
    ]
    exported = FakeChannel([])
    await run(
        flows(
            """\
            flow: main
            start: s
            nodes:
              s:
                type: set
                vars: {A: "x,y", B: "2"}
                export: true
                next: bye
              bye:
                type: hangup
            """
        ),
        exported,
    )
    # a comma would split MSet's argument: each variable on its own
    assert [line for line in exported.sent if line.startswith(("SET ", "EXEC MSet"))] == [
        "SET A=x,y",
        "SET B=2",
    ]
