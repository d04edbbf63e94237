"""The AMI wire protocol: panoramisk's ``AMIProtocol`` with whole-message framing.

``AmiProtocol`` plugs into panoramisk's ``protocol_factory`` extension point (it is an
``asyncio.Protocol`` subclass of ``panoramisk.ami_protocol.AMIProtocol``) and replaces the parts of it
that lose or corrupt data:

* panoramisk decodes every TCP chunk on its own with ``errors='ignore'``, so a UTF-8 character split
  across two reads vanishes (``José`` → ``Jos``). Here bytes are buffered and each *whole* frame is
  decoded once by :func:`callcenter.pbx.message.parse_frame`.
* The banner line (``Asterisk Call Manager/11.0.0\\r\\n``, no blank line after it, traces README fact 1)
  is consumed before any framing, wherever the reads happen to split it.
* Frames end at ``\\r\\n\\r\\n``; the search resumes where the previous one stopped, so a message that
  arrives in many small reads is not re-scanned from the start each time.
* Responses are matched to pending actions by ``ActionID``. A response with ``EventList: start`` makes
  the action a list: its item events (same ActionID) are collected until the event carrying
  ``EventList: Complete`` (fact 8). Every other response completes its action at once, whatever its
  ``Message`` says (panoramisk keeps ``QueueAdd`` and ``... successfully queued`` waiting forever).
* A frame that is neither an event nor a response is counted in :attr:`AmiProtocol.malformed_frames`
  and logged with its bytes (``repr``, truncated); it never raises out of ``data_received``.
* Header first: an event whose name is in ``skip_events`` (the ones the owner would ignore anyway) is
  counted in :attr:`AmiProtocol.skipped_events` and dropped from its first line, before the frame is
  decoded or a message built (a quarter of a filtered call's events: DeviceStateChange, BridgeCreate...).
  While any action is pending nothing is skipped: a list action's items and its ``...Complete`` event
  (``CoreShowChannelsComplete`` is an ignored name) must reach it.
* Events go to one callback (``on_event``), which must not raise (the link only enqueues). If it does
  anyway, the error is logged and counted and the read goes on (panoramisk's ``dispatch`` exception
  kills the connection).
* ``Event: Shutdown`` is delivered and then the transport is closed, so the owner reconnects at once.
* When the connection is lost, every pending action fails with ``PbxUnavailable`` (panoramisk queues
  them to be re-sent after the next login, which is wrong for Hangup/Originate).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection, Sequence
from typing import Any

from panoramisk.ami_protocol import AMIProtocol

from callcenter.domain.errors import AmiActionError, AmiProtocolError, PbxUnavailable
from callcenter.pbx.message import AmiMessage, format_action, parse_frame

log = logging.getLogger(__name__)

BANNER_PREFIX = b"Asterisk Call Manager/"
_SEP = b"\r\n\r\n"
_LOG_BYTES = 300


class PendingAction:
    """One action sent and not yet complete. ``future`` resolves to this object itself."""

    __slots__ = (
        "action",
        "action_id",
        "complete",
        "forward_items",
        "future",
        "is_list",
        "items",
        "on_complete",
        "response",
    )

    def __init__(
        self,
        action: str,
        action_id: str,
        future: asyncio.Future[PendingAction],
        *,
        forward_items: bool = False,
        on_complete: Callable[[PendingAction], None] | None = None,
    ) -> None:
        self.action = action
        self.action_id = action_id
        self.future = future
        self.forward_items = forward_items
        self.on_complete = on_complete
        self.response: AmiMessage | None = None
        self.complete: AmiMessage | None = None
        self.items: list[AmiMessage] = []
        self.is_list = False


def _excerpt(frame: bytes) -> str:
    if len(frame) <= _LOG_BYTES:
        return repr(frame)
    return f"{frame[:_LOG_BYTES]!r}... ({len(frame)} bytes)"


def _consume_exception(fut: asyncio.Future[Any]) -> None:
    """Mark a failed future's exception as retrieved (no 'never retrieved' noise if nobody waits)."""
    if fut.done() and not fut.cancelled():
        fut.exception()


class AmiProtocol(AMIProtocol):  # type: ignore[misc]  # panoramisk has no type hints
    """Framing, parsing and action matching for one AMI TCP session.

    ``on_event`` is called synchronously from ``data_received`` with every event message that is not an
    item of one of our list actions (and with those too when the action asked for ``forward_items``).
    """

    def __init__(
        self,
        on_event: Callable[[AmiMessage], None],
        *,
        label: str = "ami",
        skip_events: Collection[str] = (),
    ) -> None:
        loop = asyncio.get_running_loop()
        self._on_event = on_event
        self._skip = frozenset(name.encode("ascii") for name in skip_events)
        self.skipped_events = 0
        self.label = label
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.version: str | None = None
        self.banner: asyncio.Future[str] = loop.create_future()
        self.lost: asyncio.Future[str] = loop.create_future()
        self.pending: dict[str, PendingAction] = {}
        self.malformed_frames = 0
        self.callback_errors = 0
        self.frames = 0
        self._buf = b""
        self._scan = 0
        self._close_reason: str | None = None
        # panoramisk's attributes, kept so the base class's helpers never trip over a missing name
        self.factory = None
        self.responses = self.pending
        self.log = log

    # --- asyncio.Protocol ---------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self._buf:
            buf = self._buf + data
        else:
            buf = data
            self._scan = 0
        start = 0
        if self.version is None:
            eol = buf.find(b"\r\n")
            if eol < 0:
                self._buf = buf
                return
            self._on_banner(buf[:eol])
            start = eol + 2
            self._scan = start
        find = buf.find
        handle = self._handle
        skip = self._skip
        pos = find(_SEP, max(self._scan, start))
        while pos >= 0:
            frame = buf[start:pos]
            start = pos + 4
            if skip and not self.pending and frame.startswith(b"Event: "):
                eol = frame.find(b"\r\n")
                if (frame[7:eol] if eol >= 0 else frame[7:]) in skip:
                    self.frames += 1
                    self.skipped_events += 1
                    continue
            if frame.strip(b"\r\n"):
                self.frames += 1
                try:
                    msg = parse_frame(frame)
                except AmiProtocolError:  # pragma: no cover - parse_frame only refuses empty frames
                    self._malformed(frame, "unparsable")
                else:
                    handle(msg, frame)
            pos = find(_SEP, start)
        rest = buf[start:] if start else buf
        self._buf = rest
        self._scan = max(len(rest) - 3, 0)
        if self._close_reason is not None and not self.closed:
            self.close(self._close_reason)

    def eof_received(self) -> bool | None:
        self._close_reason = self._close_reason or "EOF"
        return None  # let the transport close itself

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if exc is not None:
            reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        else:
            reason = self._close_reason or "EOF"
        if self._buf.strip(b"\r\n") and self.version is not None:
            log.warning(
                "%s: connection lost with %d bytes of an unfinished frame: %s",
                self.label,
                len(self._buf),
                _excerpt(self._buf),
            )
        if not self.banner.done():
            self.banner.set_exception(PbxUnavailable(f"connection closed before the banner ({reason})"))
            _consume_exception(self.banner)
        pending, self.pending = self.pending, {}
        self.responses = self.pending
        for p in pending.values():
            if not p.future.done():
                p.future.set_exception(PbxUnavailable(f"{p.action}: connection lost ({reason})"))
                _consume_exception(p.future)
        if not self.lost.done():
            self.lost.set_result(reason)

    # --- sending ------------------------------------------------------------------------------
    def send_action(
        self,
        action: str,
        fields: Sequence[tuple[str, str]],
        action_id: str,
        *,
        forward_items: bool = False,
        on_complete: Callable[[PendingAction], None] | None = None,
    ) -> PendingAction:
        """Write one action and register it as pending; ``fields`` must not contain ActionID."""
        if self.closed or self.transport is None or self.transport.is_closing():
            raise PbxUnavailable(f"{action}: not connected to the PBX")
        if action_id in self.pending:
            raise AmiProtocolError(f"{action}: ActionID {action_id!r} is already pending")
        data = format_action(action, [("ActionID", action_id), *fields])
        pending = PendingAction(
            action,
            action_id,
            asyncio.get_running_loop().create_future(),
            forward_items=forward_items,
            on_complete=on_complete,
        )
        self.pending[action_id] = pending
        self.transport.write(data)
        return pending

    def forget(self, action_id: str) -> None:
        """Drop a pending action (its caller gave up, e.g. on timeout); a late reply is ignored."""
        self.pending.pop(action_id, None)

    def send(self, data: object, as_list: bool = False) -> None:  # panoramisk API, unused here
        raise NotImplementedError("use AmiProtocol.send_action")

    def close(self, reason: str = "closed by us") -> None:
        """Close the connection now (abort: a silent peer must not hold us in a flush)."""
        if self._close_reason is None:
            self._close_reason = reason
        if self.transport is not None and not self.transport.is_closing():
            self.transport.abort()

    # --- receiving ----------------------------------------------------------------------------
    def _on_banner(self, line: bytes) -> None:
        text = line.decode("utf-8", errors="replace").strip()
        if not line.startswith(BANNER_PREFIX):
            log.warning("%s: unexpected AMI banner %r", self.label, text[:200])
        self.version = text.partition("/")[2] or text
        if not self.banner.done():
            self.banner.set_result(text)

    def _malformed(self, frame: bytes, why: str) -> None:
        self.malformed_frames += 1
        log.warning(
            "%s: malformed AMI frame (%s) #%d: %s", self.label, why, self.malformed_frames, _excerpt(frame)
        )

    def _handle(self, msg: AmiMessage, frame: bytes) -> None:
        index = msg._index
        if self.pending:
            aid = index.get("actionid")
            if aid is not None:
                p = self.pending.get(aid)
                if p is not None and self._to_pending(p, msg, index):
                    return
        event = index.get("event")
        if event is not None:
            if len(event) == 8 and event.lower() == "shutdown":
                how, restart = index.get("shutdown", "?"), index.get("restart", "?")
                self._close_reason = f"Event: Shutdown (Shutdown: {how}, Restart: {restart})"
            self._deliver(msg)
        elif "response" in index:
            log.debug("%s: response to no pending action (ActionID %r)", self.label, index.get("actionid"))
        else:
            self._malformed(frame, "neither Event nor Response")

    def _deliver(self, msg: AmiMessage) -> None:
        try:
            self._on_event(msg)
        except Exception:
            self.callback_errors += 1
            linkedid = msg.get("Linkedid")
            log.exception("%s: event callback failed on %r (linkedid=%s)", self.label, msg, linkedid)

    def _to_pending(self, p: PendingAction, msg: AmiMessage, index: dict[str, str]) -> bool:
        """Give ``msg`` to the pending action ``p``; False if it is not part of that action's reply."""
        if p.response is None:
            response = index.get("response")
            if response is None:
                return False  # an event that merely echoes our ActionID before the response
            p.response = msg
            if response.lower() == "error":
                message = index.get("message", "")
                self._finish(p, AmiActionError(p.action, message))
            elif index.get("eventlist", "").lower() == "start":
                p.is_list = True
            else:
                self._finish(p, None)
            return True
        if not p.is_list or "event" not in index:
            return False
        if index.get("eventlist", "").lower() == "complete":
            p.complete = msg
            self._finish(p, None)
        else:
            p.items.append(msg)
            if p.forward_items:
                self._deliver(msg)
        return True

    def _finish(self, p: PendingAction, error: Exception | None) -> None:
        self.pending.pop(p.action_id, None)
        if p.future.done():
            return
        if error is not None:
            p.future.set_exception(error)
            return
        if p.on_complete is not None:
            try:
                p.on_complete(p)
            except Exception:
                log.exception("%s: completion callback of %s failed", self.label, p.action)
        p.future.set_result(p)
