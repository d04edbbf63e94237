"""AmiProtocol: framing, decoding, matching. Each defect test is paired with an ``upstream_*`` canary that
shows plain panoramisk 1.4 still has the defect (if one starts failing, upstream fixed it)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from panoramisk.actions import Action
from panoramisk.ami_protocol import AMIProtocol
from panoramisk.message import Message

from callcenter.domain.errors import AmiActionError, PbxUnavailable
from callcenter.pbx.message import AmiMessage
from callcenter.pbx.protocol import AmiProtocol
from tests.support.traces import ami_traces, connections, rx_chunks, split_frames

BANNER = b"Asterisk Call Manager/11.0.0\r\n"


class FakeTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written: list[bytes] = []
        self.closing = False
        self.proto: asyncio.Protocol | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closing

    def abort(self) -> None:
        self.close()

    def close(self) -> None:
        if not self.closing:
            self.closing = True
            assert self.proto is not None
            asyncio.get_running_loop().call_soon(self.proto.connection_lost, None)


def make_proto(events: list[AmiMessage] | None = None) -> tuple[AmiProtocol, FakeTransport, list[AmiMessage]]:
    sink: list[AmiMessage] = [] if events is None else events
    proto = AmiProtocol(sink.append, label="test")
    transport = FakeTransport()
    transport.proto = proto
    proto.connection_made(transport)
    return proto, transport, sink


# --- 1. UTF-8 decoded per whole message --------------------------------------------------------------


async def test_utf8_split_across_reads_is_kept() -> None:
    proto, _, events = make_proto()
    raw = "Event: Newchannel\r\nCallerIDName: José Müller\r\nUniqueid: 1.1\r\n\r\n".encode()
    cut = raw.index(b"\xc3") + 1  # in the middle of the two-byte é
    proto.data_received(BANNER + raw[:cut])
    proto.data_received(raw[cut:])
    assert [e["CallerIDName"] for e in events] == ["José Müller"]


def test_upstream_panoramisk_drops_split_utf8() -> None:
    proto = AMIProtocol()
    proto.connection_made(None)
    got: list[Message] = []

    class Factory:
        save_stream = None

        def dispatch(self, msg: Message) -> None:
            got.append(msg)

    proto.factory = Factory()
    proto.encoding = "utf8"
    raw = "Event: Newchannel\r\nCallerIDName: José\r\n\r\n".encode()
    cut = raw.index(b"\xc3") + 1
    proto.data_received(raw[:cut])
    proto.data_received(raw[cut:])
    assert got[0]["CallerIDName"] == "Jos"  # the defect our protocol fixes


# --- banner and framing -------------------------------------------------------------------------------


async def test_banner_alone_then_split_banner_and_messages() -> None:
    proto, _, events = make_proto()
    proto.data_received(b"Asterisk Call Man")
    assert proto.version is None
    proto.data_received(b"ager/11.0.0\r")
    proto.data_received(b"\n")
    assert proto.version == "11.0.0"
    assert proto.banner.result() == "Asterisk Call Manager/11.0.0"
    proto.data_received(b"Event: A\r\n\r\nEvent: B\r\n")
    proto.data_received(b"\r\nEvent: C\r\n\r")
    assert [e.event for e in events] == ["A", "B"]
    proto.data_received(b"\n")
    assert [e.event for e in events] == ["A", "B", "C"]
    assert proto.malformed_frames == 0


async def test_banner_and_first_message_in_one_read() -> None:
    proto, _, events = make_proto()
    proto.data_received(BANNER + b"Event: FullyBooted\r\nStatus: Fully Booted\r\n\r\n")
    assert proto.version == "11.0.0"
    assert [e.event for e in events] == ["FullyBooted"]


async def test_every_split_point_gives_the_same_messages() -> None:
    stream = (
        BANNER
        + "Event: Newchannel\r\nCallerIDName: Zoë ☎\r\nChanVariable: A=1\r\nChanVariable: B=\r\n\r\n".encode()
        + b"Event: Hangup\r\nCause: 16\r\n\r\n"
    )
    reference = None
    for i in range(1, len(stream)):
        for j in range(i, len(stream), 7):
            proto, _, events = make_proto()
            proto.data_received(stream[:i])
            proto.data_received(stream[i:j])
            proto.data_received(stream[j:])
            got = [e.pairs for e in events]
            reference = reference or got
            assert got == reference, (i, j)
    assert reference is not None and len(reference) == 2
    assert reference[0][1] == ("CallerIDName", "Zoë ☎")


async def test_malformed_frame_is_counted_and_logged_never_raises(caplog: pytest.LogCaptureFixture) -> None:
    proto, _, events = make_proto()
    caplog.set_level(logging.WARNING, "callcenter.pbx.protocol")
    proto.data_received(BANNER + b"garbage without colon\r\n\r\nEvent: After\r\n\r\n")
    assert proto.malformed_frames == 1
    assert [e.event for e in events] == ["After"]
    assert "garbage without colon" in caplog.text
    big = b"X" * 5000
    proto.data_received(big + b"\r\n\r\n")
    assert proto.malformed_frames == 2
    assert "5000 bytes" in caplog.text  # truncated, length given


async def test_stray_blank_lines_are_not_messages() -> None:
    proto, _, events = make_proto()
    proto.data_received(BANNER + b"\r\n\r\nEvent: A\r\n\r\n\r\n\r\nEvent: B\r\n\r\n")
    assert [e.event for e in events] == ["A", "B"]
    assert proto.malformed_frames == 0


# --- 7. headers ---------------------------------------------------------------------------------------


async def test_repeated_headers_are_lists_single_are_strings_case_insensitive() -> None:
    proto, _, events = make_proto()
    proto.data_received(
        BANNER
        + b"Event: Cdr\r\nUniqueID: 1.5\r\nChanVariable: CC_CALLID=1.5\r\nChanVariable: IVR_CHOICE=2\r\n"
        + b"Variable: X=1\r\n\r\n"
    )
    msg = events[0]
    assert msg["uniqueid"] == msg["Uniqueid"] == "1.5"
    assert msg.get_all("chanvariable") == ["CC_CALLID=1.5", "IVR_CHOICE=2"]
    as_dict = msg.as_dict()
    assert as_dict["ChanVariable"] == ["CC_CALLID=1.5", "IVR_CHOICE=2"]
    assert as_dict["Variable"] == "X=1"


# --- matching responses -------------------------------------------------------------------------------


async def test_response_matched_by_action_id_and_not_delivered_as_event() -> None:
    proto, transport, events = make_proto()
    proto.data_received(BANNER)
    p = proto.send_action("Ping", [], "cc-1")
    assert transport.written == [b"Action: Ping\r\nActionID: cc-1\r\n\r\n"]
    proto.data_received(b"Response: Success\r\nActionID: cc-1\r\nPing: Pong\r\n\r\n")
    assert (await p.future).response is not None
    assert events == [] and proto.pending == {}


async def test_error_response_raises_action_error() -> None:
    proto, _, _ = make_proto()
    proto.data_received(BANNER)
    p = proto.send_action("Foo", [], "cc-1")
    proto.data_received(b"Response: Error\r\nActionID: cc-1\r\nMessage: Invalid/unknown command: Foo\r\n\r\n")
    with pytest.raises(AmiActionError, match="Invalid/unknown command: Foo") as info:
        await p.future
    assert info.value.message == "Invalid/unknown command: Foo"


async def test_queueadd_response_resolves() -> None:
    proto, _, _ = make_proto()
    proto.data_received(BANNER)
    p = proto.send_action("QueueAdd", [("Queue", "support")], "cc-1")
    proto.data_received(b"Response: Success\r\nActionID: cc-1\r\nMessage: Added interface to queue\r\n\r\n")
    assert p.future.done()
    assert (await p.future).response["Message"] == "Added interface to queue"  # type: ignore[index]


async def test_upstream_panoramisk_queueadd_never_resolves() -> None:
    action = Action({"Action": "QueueAdd", "Queue": "support"})
    msg = Message.from_line("Response: Success\r\nActionID: x\r\nMessage: Added interface to queue")
    action.add_message(msg)
    assert not action.future.done()  # the defect
    action.future.cancel()


async def test_list_action_collects_items_until_complete_with_interleaved_events() -> None:
    proto, _, events = make_proto()
    proto.data_received(BANNER)
    p = proto.send_action("CoreShowChannels", [], "cc-7")
    proto.data_received(
        b"Response: Success\r\nActionID: cc-7\r\nEventList: start\r\nMessage: Channels will follow\r\n\r\n"
        b"Event: CoreShowChannel\r\nActionID: cc-7\r\nUniqueid: 1.1\r\n\r\n"
        b"Event: Newexten\r\nUniqueid: 1.9\r\n\r\n"
        b"Event: CoreShowChannel\r\nActionID: cc-7\r\nUniqueid: 1.2\r\n\r\n"
    )
    assert not p.future.done()
    proto.data_received(
        b"Event: CoreShowChannelsComplete\r\nActionID: cc-7\r\nEventList: Complete\r\nListItems: 2\r\n\r\n"
    )
    done = await p.future
    assert [i["Uniqueid"] for i in done.items] == ["1.1", "1.2"]
    assert done.complete is not None and done.complete["ListItems"] == "2"
    assert [e.event for e in events] == ["Newexten"]


async def test_list_items_forwarded_in_stream_order_when_asked() -> None:
    proto, _, events = make_proto()
    proto.data_received(BANNER)
    order: list[str] = []
    p = proto.send_action(
        "CoreShowChannels", [], "cc-1", forward_items=True, on_complete=lambda _: order.append("complete")
    )
    proto.data_received(
        b"Response: Success\r\nActionID: cc-1\r\nEventList: start\r\n\r\n"
        b"Event: CoreShowChannel\r\nActionID: cc-1\r\nUniqueid: 1.1\r\n\r\n"
        b"Event: CoreShowChannelsComplete\r\nActionID: cc-1\r\nEventList: Complete\r\n\r\n"
        b"Event: Newchannel\r\nUniqueid: 1.3\r\n\r\n"
    )
    await p.future
    assert [e.event for e in events] == ["CoreShowChannel", "Newchannel"]
    assert order == ["complete"]


async def test_command_response_is_a_single_message_with_output_list() -> None:
    proto, _, _ = make_proto()
    proto.data_received(BANNER)
    p = proto.send_action("Command", [("Command", "queue show support")], "cc-1")
    proto.data_received(
        b"Response: Success\r\nActionID: cc-1\r\nMessage: Command output follows\r\n"
        b"Output: support has 0 calls\r\nOutput:    Members: \r\nOutput: \r\n\r\n"
    )
    done = await p.future
    assert done.response is not None
    assert done.response.get_all("Output") == ["support has 0 calls", "   Members: ", ""]


async def test_originate_response_event_after_response_goes_to_handler() -> None:
    proto, _, events = make_proto()
    proto.data_received(BANNER)
    p = proto.send_action("Originate", [("Channel", "Local/1@x")], "cc-3")
    proto.data_received(
        b"Response: Success\r\nActionID: cc-3\r\nMessage: Originate successfully queued\r\n\r\n"
    )
    await p.future
    proto.data_received(
        b"Event: OriginateResponse\r\nActionID: cc-3\r\nResponse: Success\r\nReason: 4\r\n\r\n"
    )
    assert [e.event for e in events] == ["OriginateResponse"]


async def test_connection_lost_fails_pending_with_pbx_unavailable() -> None:
    proto, _, _ = make_proto()
    proto.data_received(BANNER)
    p = proto.send_action("Ping", [], "cc-1")
    proto.connection_lost(ConnectionResetError("reset"))
    with pytest.raises(PbxUnavailable, match="connection lost"):
        await p.future
    assert proto.lost.result().startswith("ConnectionResetError")
    with pytest.raises(PbxUnavailable):
        proto.send_action("Ping", [], "cc-2")


async def test_shutdown_event_is_delivered_then_connection_closed() -> None:
    proto, transport, events = make_proto()
    proto.data_received(BANNER + b"Event: Shutdown\r\nShutdown: Cleanly\r\nRestart: True\r\n\r\n")
    assert [e.event for e in events] == ["Shutdown"]
    assert transport.closing
    reason = await asyncio.wait_for(proto.lost, 1)
    assert "Shutdown" in reason and "Restart: True" in reason


# --- 2. a raising callback never kills the read -----------------------------------------------------


async def test_raising_callback_is_logged_and_reading_continues(caplog: pytest.LogCaptureFixture) -> None:
    got: list[str] = []

    def on_event(msg: AmiMessage) -> None:
        if msg.event == "Boom":
            raise RuntimeError("handler bug")
        got.append(msg.event or "")

    proto = AmiProtocol(on_event)
    transport = FakeTransport()
    transport.proto = proto
    proto.connection_made(transport)
    proto.data_received(BANNER + b"Event: Boom\r\nLinkedid: 17.1\r\n\r\nEvent: After\r\n\r\n")
    assert got == ["After"] and proto.callback_errors == 1
    assert not transport.closing
    assert "17.1" in caplog.text


def test_upstream_panoramisk_callback_exception_escapes_data_received() -> None:
    proto = AMIProtocol()
    proto.connection_made(None)

    class Factory:
        save_stream = None

        def dispatch(self, msg: Message) -> None:
            raise RuntimeError("handler bug")

    proto.factory = Factory()
    # in asyncio an exception out of data_received is a fatal error: the transport is closed
    with pytest.raises(RuntimeError):
        proto.data_received(b"Event: Boom\r\n\r\n")


# --- 10. every real trace ----------------------------------------------------------------------------


def _conn_params() -> list[tuple[Path, str]]:
    return [(path, conn) for path in ami_traces() for conn in connections(path) if rx_chunks(path, conn)]


@pytest.mark.parametrize(("path", "conn"), _conn_params(), ids=lambda v: v.name if isinstance(v, Path) else v)
async def test_every_trace_connection_parses_exactly(path: Path, conn: str) -> None:
    chunks = rx_chunks(path, conn)
    stream = b"".join(chunks)
    expected = split_frames(stream)
    proto, _, events = make_proto()
    for chunk in chunks:
        proto.data_received(chunk)
    # no action is pending here, so responses are parsed and dropped: every frame counts
    assert proto.frames == len(expected)
    assert proto.malformed_frames == 0
    assert proto.version == "11.0.0"
    first = expected[0].split(b"\r\n", 1)[1]  # the banner is glued to the first frame
    n_events = sum(1 for f in [first, *expected[1:]] if f.startswith(b"Event: "))
    assert len(events) == n_events
    # byte-by-byte feeding (worst case chunking) gives the same messages
    proto2, _, events2 = make_proto()
    for i in range(0, len(stream), 97):
        proto2.data_received(stream[i : i + 97])
    assert [e.pairs for e in events2] == [e.pairs for e in events]


# --- header-first intake: ignored events dropped from their first line -------------------------------


def _skipping_proto(events: list[AmiMessage]) -> AmiProtocol:
    proto = AmiProtocol(
        events.append, label="test", skip_events=("DeviceStateChange", "CoreShowChannelsComplete")
    )
    transport = FakeTransport()
    transport.proto = proto
    proto.connection_made(transport)
    return proto


async def test_skipped_events_are_counted_never_delivered_and_the_rest_parse_as_before() -> None:
    events: list[AmiMessage] = []
    proto = _skipping_proto(events)
    proto.data_received(
        BANNER + b"Event: DeviceStateChange\r\nDevice: PJSIP/1001\r\nState: INUSE\r\n\r\n"
        b"Event: Newchannel\r\nUniqueid: 1.1\r\n\r\n"
        b"Event: DeviceStateChangeX\r\nDevice: x\r\n\r\n"  # only the exact name is skipped
        b"Event: DeviceStateChange\r\n\r\n"
        b"Event: DeviceStateChange"
    )
    proto.data_received(b"\r\n\r\n")  # a one-line frame split from its end
    assert [e.event for e in events] == ["Newchannel", "DeviceStateChangeX"]
    assert proto.skipped_events == 3
    assert proto.frames == 5


async def test_nothing_is_skipped_while_an_action_is_pending_so_lists_complete() -> None:
    events: list[AmiMessage] = []
    proto = _skipping_proto(events)
    proto.data_received(BANNER)
    p = proto.send_action("CoreShowChannels", [], "cc-1")
    proto.data_received(
        b"Response: Success\r\nActionID: cc-1\r\nEventList: start\r\n\r\n"
        b"Event: DeviceStateChange\r\nDevice: PJSIP/1001\r\n\r\n"
        b"Event: CoreShowChannel\r\nActionID: cc-1\r\nUniqueid: 1.1\r\n\r\n"
        b"Event: CoreShowChannelsComplete\r\nActionID: cc-1\r\nEventList: Complete\r\n\r\n"
    )
    done = await asyncio.wait_for(p.future, 1)
    assert [i["Uniqueid"] for i in done.items] == ["1.1"]
    assert done.complete is not None
    # delivered while the list was pending: the owner's translator ignores it as before
    assert [e.event for e in events] == ["DeviceStateChange"]
    assert proto.skipped_events == 0
    proto.data_received(b"Event: DeviceStateChange\r\nDevice: PJSIP/1001\r\n\r\n")
    assert proto.skipped_events == 1


@pytest.mark.parametrize(("path", "conn"), _conn_params(), ids=lambda v: v.name if isinstance(v, Path) else v)
async def test_trace_with_skipping_delivers_the_same_events_minus_the_skipped(path: Path, conn: str) -> None:
    from callcenter.pbx.translate import IGNORED_EVENTS

    chunks = rx_chunks(path, conn)
    proto, _, plain = make_proto()
    for chunk in chunks:
        proto.data_received(chunk)
    kept: list[AmiMessage] = []
    skipping = AmiProtocol(kept.append, label="test", skip_events=IGNORED_EVENTS)
    transport = FakeTransport()
    transport.proto = skipping
    skipping.connection_made(transport)
    for chunk in chunks:
        skipping.data_received(chunk)
    expected = [e.pairs for e in plain if e.event not in IGNORED_EVENTS]
    assert [e.pairs for e in kept] == expected
    assert skipping.skipped_events == len(plain) - len(expected)


def test_parsed_message_index_and_pairs_agree_with_the_pairs_constructor() -> None:
    from callcenter.pbx.message import parse_message

    text = (
        "Event: Newchannel\r\nChanVariable: CC_CALLID=1\r\nUniqueID: 1.1\r\nchanvariable: IVR_CHOICE=2\r\n"
        "Uniqueid: 9.9\r\nOutput:\r\nno colon here\r\nKey: a: b\r\nEmpty: \r\nCHANVARIABLE: X=\r\n"
    )
    parsed = parse_message(text)
    built = AmiMessage(parsed.pairs)
    assert parsed.pairs[:3] == (("Event", "Newchannel"), ("ChanVariable", "CC_CALLID=1"), ("UniqueID", "1.1"))
    for key in ("chanVariable", "uniqueid", "Output", "", "key", "empty", "missing", "Event"):
        assert parsed.get_all(key) == built.get_all(key), key
        assert parsed.get(key) == built.get(key), key
    assert parsed.get_all("ChanVariable") == ["CC_CALLID=1", "IVR_CHOICE=2", "X="]
    assert parsed["UNIQUEID"] == "1.1" and parsed["key"] == "a: b" and parsed[""] == "no colon here"
    assert parsed.as_dict() == built.as_dict()
    got = parsed.get_all("ChanVariable")
    got.append("mutated")
    assert parsed.get_all("ChanVariable") == ["CC_CALLID=1", "IVR_CHOICE=2", "X="]
