"""manager.conf accounts in the simulator (fact 35): the shipped ``[callcenter]`` eventfilter and read=
classes, manager.c's filter semantics, and the ``eventfilter-shipped`` trace (the shipped account's
session next to an unfiltered one, for the same call)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from callcenter.sim import SimConfig, Simulator
from callcenter.sim.classes import EV_AGI, EV_CALL, EV_DIALPLAN, EV_DTMF, EV_SECURITY
from callcenter.sim.eventfilter import (
    SHIPPED_MANAGER_CONF,
    FilterError,
    account_for,
    account_from_section,
    parse_filter,
    parse_manager_conf,
)

from .amiclient import AmiClient, Message, first
from .replay import normalise, replay_sessions, trace_messages
from .test_fidelity import compare

REPO = Path(__file__).resolve().parents[2]
NEWCHANNEL = b"Event: Newchannel\r\nPrivilege: call,all\r\nChannel: XXX\r\nSomeheader: YYY\r\n"
VARSET = b"Event: VarSet\r\nPrivilege: dialplan,all\r\nChannel: ABC\r\nSomeheader: XXX\r\n"


def varset(name: str) -> bytes:
    head = "Event: VarSet\r\nPrivilege: dialplan,all\r\nChannel: L;2\r\n"
    return f"{head}Variable: {name}\r\nValue: x\r\n".encode()


def test_shipped_copy_is_the_projects_manager_conf() -> None:
    real = parse_manager_conf((REPO / "dialplan" / "manager.conf").read_text())["callcenter"]
    copy = parse_manager_conf(SHIPPED_MANAGER_CONF)["callcenter"]
    assert {k: v for k, v in real.items() if k not in ("secret", "deny", "permit")} == copy


@pytest.mark.parametrize(
    ("criteria", "pattern", "event", "sent"),
    [  # manager.c's own test table (parsing_filter_tests), one account per line
        ("eventfilter", "XXX", NEWCHANNEL, True),
        ("eventfilter", "!XXX", VARSET, False),
        ("eventfilter(name(VarSet),method(none))", "", VARSET, True),
        ("eventfilter(name(Newchannel),method(regex))", "X[XYZ]X", NEWCHANNEL, True),
        ("eventfilter(name(Newchannel),method(regex))", "X[abc]X", NEWCHANNEL, False),
        ("eventfilter(action(exclude),name(Newchannel),method(regex))", "X[XYZ]X", NEWCHANNEL, False),
        ("eventfilter(action(exclude),name(Newchannel),method(regex))", "X[abc]X", NEWCHANNEL, True),
        ("eventfilter(action(include),name(VarSet),header(Channel),method(starts_with))", "AB", VARSET, True),
        ("eventfilter(action(include),name(VarSet),header(Channel),method(ends_with))", "BC", VARSET, True),
        ("eventfilter(action(include),name(VarSet),header(Channel),method(exact))", "ABC", VARSET, True),
        ("eventfilter(action(include),name(VarSet),header(Channel),method(exact))", "XXX", VARSET, False),
        ("eventfilter(name(VarSet),header(Channel),method(exact))", "!ZZZ", VARSET, True),
        ("eventfilter(action(exclude),name(VarSet),header(Channel),method(exact))", "ZZZ", VARSET, True),
        ("eventfilter(action(include),name(VarSet),header(Someheader),method(exact))", "!XXX", VARSET, True),
    ],
)
def test_filter_semantics(criteria: str, pattern: str, event: bytes, sent: bool) -> None:
    account = account_from_section("u", "s", {criteria: [pattern]})
    assert account.passes(event) is sent


@pytest.mark.parametrize(
    ("criteria", "pattern"),
    [
        ("eventfilter(action(include)", ""),
        ("eventfilter(action(inlude))", ""),
        ("eventfilter(nnnn(yyy))", "XXX"),
        ("eventfilter(name(yyy),header(VarSet),method(coantains))", "XXX"),
        ("eventfilter(name(VarSet),method(none))", "XXX"),
        ("eventfilter(name(VarSet),method(regex))", ""),
        ("eventfilter", ""),
        ("eventfilter", "("),
    ],
)
def test_filters_asterisk_refuses(criteria: str, pattern: str) -> None:
    with pytest.raises(FilterError):
        parse_filter(criteria, pattern)


def test_shipped_account() -> None:
    acc = account_for("callcenter", "x", "shipped")
    kept = ["__CC_CALLID", "CC_AGENT", "CC_IVR_RESULT", "IVR_CHOICE", "MIXMONITOR_FILENAME", "QUEUENAME"]
    dropped = ["DIALSTATUS", "BRIDGEPEER", "PLAYBACKSTATUS", "RINGTIME", "CUST_HOLD", "__TALK_1001"]
    assert [v for v in kept + dropped if acc.passes(varset(v))] == kept
    # the shipped regexes need a character after the prefix: a bare "IVR" or "CC" is not dropped
    assert acc.passes(varset("IVR")) and acc.passes(varset("CC"))
    assert not acc.passes(b"Event: Newexten\r\nPrivilege: dialplan,all\r\n")
    assert not acc.passes(b"Event: AGIExecEnd\r\nPrivilege: agi,all\r\n")
    assert acc.passes(b"Event: Newchannel\r\nPrivilege: call,all\r\n")
    assert acc.may_read(EV_CALL) and acc.may_read(EV_DIALPLAN)
    assert not acc.may_read(EV_DTMF) and not acc.may_read(EV_AGI) and not acc.may_read(EV_SECURITY)
    legacy = account_from_section("u", "s", {"eventfilter": ["!Event: Newexten", "!Variable: (DIAL|BRIDGE)"]})
    assert not legacy.passes(b"Event: Newexten\r\nPrivilege: dialplan,all\r\n")
    assert not legacy.passes(varset("DIALSTATUS"))
    assert legacy.passes(varset("CC_AGENT"))


def counts(msgs: list[Message]) -> Counter[tuple[str, str]]:
    out: Counter[tuple[str, str]] = Counter()
    for m in msgs:
        if m and m[0][0] == "Event" and m[0][1] != "DeviceStateChange":
            d = dict(m)
            out[(d["Event"], d.get("Variable", ""))] += 1
    return out


async def test_eventfilter_shipped_matches_trace() -> None:
    """ami1 logs in as the shipped account, ami2 as read=all: the filtered session gets exactly the
    events (and VarSet variables) the real Asterisk passed, DeviceStateChange aside (not simulated)."""
    msgs, _, _ = await replay_sessions(
        "eventfilter-shipped",
        10.0,
        2.0,
        ("ami1", "ami2"),
        dialplan="project",
        ami_user="ccshipped",
        ami_secret="callcenter",
        event_filter="shipped",
        ami_accounts=(("callcenter", "callcenter", "all"),),
    )
    trace1 = trace_messages("eventfilter-shipped.ami", "ami1")
    assert counts(msgs["ami1"]) == counts(trace1)
    assert sum(counts(trace1).values()) == 63 - 9  # fact 35: 63 events, 9 of them DeviceStateChange
    names = {name for name, _ in counts(msgs["ami1"])}
    assert not names & {"Newexten", "AGIExecStart", "AGIExecEnd", "DTMFBegin", "DTMFEnd", "SuccessfulAuth"}
    for conn in ("ami1", "ami2"):
        trace, sim = normalise(trace_messages("eventfilter-shipped.ami", conn)), normalise(msgs[conn])
        assert compare(trace, sim) == [], conn
        assert sorted(trace.cdrs) == sorted(sim.cdrs), conn
        assert trace.responses == sim.responses, conn


async def test_shipped_account_on_the_wire() -> None:
    """The service's user with the default (shipped) account: write= refuses Command and UserEvent
    (no command/user class) with Permission denied; the actions the service needs pass; no security,
    dtmf or agi events reach it."""
    async with Simulator(SimConfig(ami_port=0, speed=20)) as sim:
        client = await AmiClient.connect(sim.ami_port)
        try:
            await client.login()
            for action, pairs in (
                ("Command", [("Command", "core show version")]),
                ("UserEvent", [("UserEvent", "Probe")]),
            ):
                got = await client.action(action, *pairs)
                assert (first(got, "Response"), first(got, "Message")) == ("Error", "Permission denied")
            for action in ("Ping", "CoreSettings", "CoreStatus", "QueueStatus"):
                assert first(await client.action(action), "Response") == "Success", action
            got = await client.action(
                "Originate",
                ("Channel", "Local/8006@incoming/n"),
                ("Context", "customer-sim"),
                ("Exten", "caller"),
                ("Async", "true"),
            )
            assert first(got, "Message") == "Originate successfully queued"
            await client.event("Newchannel")
            names = {first(m, "Event") for m in client.msgs}
            assert not names & {"SuccessfulAuth", "RequestNotAllowed", "Newexten", "DTMFBegin"}
        finally:
            await client.close()
