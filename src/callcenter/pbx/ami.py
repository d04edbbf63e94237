"""The hardened AMI link: one long-lived, self-healing session to Asterisk's manager interface.

Built on panoramisk 1.4 through its ``protocol_factory`` extension point (:class:`AmiProtocol` is a
subclass of ``panoramisk.ami_protocol.AMIProtocol``). panoramisk's ``Manager`` is *not* used to run the
connection: its connect/reconnect (``call_later`` chains, fire-and-forget tasks), its keepalive (never
checks the reply), its actions (no timeout, re-sent after a reconnect), its login (a wrong secret retries
forever without an error) and its ``dispatch`` (a callback exception kills the read) are exactly the
defects listed in DESIGN.md "Stack notes". :class:`AmiLink` owns that part instead:

* **one connection task** connects (``ami_connect_timeout`` covers TCP connect *and* the banner; a
  connection reset before the banner is a failed attempt, fact 29), logs in, emits ``LinkUp``, resyncs,
  and on loss emits ``LinkDown(reason)`` and reconnects with capped exponential backoff plus jitter
  (``ami_reconnect_min`` .. ``ami_reconnect_max``). EOF, ``Event: Shutdown`` (fact 28), connection refused,
  a missed Ping and a failed resync all lead there.
* **one consumer task** drains a bounded ``asyncio.Queue`` (``ami_event_queue``) in order and calls the
  handler. The protocol callback only enqueues. A handler exception is logged with the message's
  Linkedid and counted; the link stays up.
* **overflow**: when the queue is full, the events that do not fit are dropped *and counted*, the
  episode is logged at ERROR, and once the consumer has drained the queue to half its size a resync runs
  (QueueStatus if observed, then CoreShowChannels → ``ResyncComplete``), so the tracker heals instead of
  silently diverging. Link events (LinkUp/LinkDown/ResyncComplete) are never dropped.
* **resync** after every login and after every overflow: the CoreShowChannel items go to the handler as
  ordinary ``AmiMessage`` events, in stream order with live events, then ``ResyncComplete(live_uniqueids)``
  is enqueued at the exact point of ``CoreShowChannelsComplete`` in the stream. With
  ``observe_queues`` (or when the app_queue is observed), a ``QueueStatus`` runs first and its
  QueueParams/QueueMember/QueueEntry items flow to the handler the same way.
* **watchdog**: every ``ami_ping_interval`` a Ping with ``ami_ping_timeout``; a missed reply (Asterisk
  deadlocked with its socket open) aborts the transport, which reconnects. ``status()["last_ping_rtt"]``
  is the PBX health figure for ``/healthz``.
* **login**: ``Message: Authentication failed`` → state ``login_failed``, an ERROR log on every attempt,
  and retries continue with backoff (an admin fixing the secret needs no restart). ``wait_ready`` raises
  :class:`AmiLoginFailed` as soon as an attempt is refused.

Handler contract: ``handler(item)`` is called from the single consumer task, in order, with every AMI
*event* (``AmiMessage``; never a response to our own actions, never an item of a list action other than
the resync ones, never an event named in ``skip_events``: those are dropped from their first line by the
protocol, before any parsing, and counted in ``status()["events_skipped"]``) and with ``LinkUp`` /
``LinkDown`` / ``ResyncComplete``. It must be quick and synchronous.

``send_action`` returns the response in the normal form of :meth:`AmiMessage.as_dict` (repeated keys as
lists). For a list action (the response carries ``EventList: start``) it waits for the ``…Complete`` event
and returns ``{"response": {...}, "events": [{...}, ...], "complete": {...}}``.

Caveat (fact 10): a *synchronous* action (``Originate`` with ``Async: false``) blocks all output of the
session, Ping replies included, so one that runs longer than ``ami_ping_timeout`` trips the watchdog.
:meth:`originate` is always asynchronous.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import time
from collections import deque
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from callcenter.config import Settings
from callcenter.domain.errors import (
    AmiActionError,
    AmiActionTimeout,
    AmiLoginFailed,
    PbxError,
    PbxUnavailable,
)
from callcenter.domain.events import LinkDown, LinkUp, PbxEvent, ResyncComplete
from callcenter.pbx.message import AmiMessage
from callcenter.pbx.protocol import AmiProtocol, PendingAction

if TYPE_CHECKING:
    from callcenter.ports import PbxControl

log = logging.getLogger(__name__)

State = Literal["connecting", "up", "down", "login_failed", "closed"]
Item = AmiMessage | PbxEvent
Handler = Callable[[Item], None]

_YIELD_EVERY = 256  # consumer yields to the loop this often when the queue is busy


class AmiLink:
    """A hardened AMI session; satisfies :class:`callcenter.ports.PbxControl`."""

    def __init__(
        self,
        settings: Settings,
        handler: Handler,
        *,
        observe_queues: bool = False,
        skip_events: Collection[str] = (),
    ) -> None:
        self._s = settings
        self._handler = handler
        self._skip_events = frozenset(skip_events)
        self.observe_queues = observe_queues
        self._queue: asyncio.Queue[Item] | None = None
        self._deferred: deque[Item] = deque()  # link events waiting for room in a full queue
        self._proto: AmiProtocol | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._ids = itertools.count(1)
        self._state: State = "down"
        self._changed: asyncio.Event | None = None
        self._closing = False
        self._started = False
        self._resync_wanted: asyncio.Event | None = None
        # counters / health
        self.last_ping_rtt: float | None = None
        #: called with each measured Ping round trip (seconds): the PBX health history (services/pbx_health)
        self.on_ping: Callable[[float], None] | None = None
        self.last_error: str | None = None
        self.protocol_version: str | None = None
        self.logins = 0
        self.reconnects = 0
        self.connect_attempts = 0
        self.events_received = 0
        self.events_dropped = 0
        self.queue_overflows = 0
        self.handler_errors = 0
        self.resyncs = 0
        self._malformed_before = 0  # malformed frames of closed connections
        self._skipped_before = 0  # events skipped at intake by closed connections
        self._overflowing = False
        self._overflow_epoch = 0
        # backpressure: pause reading at half the queue, resume at a quarter
        self._paused = False
        self._high_water = max(settings.ami_event_queue // 2, 1)
        self._low_water = max(settings.ami_event_queue // 4, 0)
        self.read_pauses = 0
        self._login_error: str | None = None

    # --- lifecycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        """Start the connection, consumer and watchdog tasks and return at once (see ``wait_ready``)."""
        if self._started:
            raise RuntimeError("AmiLink already started")
        self._started = True
        self._queue = asyncio.Queue(maxsize=self._s.ami_event_queue)
        self._changed = asyncio.Event()
        self._resync_wanted = asyncio.Event()
        self._set_state("connecting")
        self._tasks = [
            asyncio.create_task(self._consume(), name="ami-consumer"),
            asyncio.create_task(self._run(), name="ami-connection"),
        ]

    async def wait_ready(self, timeout: float) -> None:
        """Wait until logged in. Raise ``AmiLoginFailed`` as soon as the PBX refuses our credentials,
        ``PbxUnavailable`` (with the last error) when not logged in within ``timeout`` or when closed."""
        if not self._started:
            raise RuntimeError("AmiLink.start() was not called")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if self._state == "up":
                return
            if self._state == "login_failed":
                raise AmiLoginFailed(self._login_error or "AMI login refused")
            if self._state == "closed":
                raise PbxUnavailable("AMI link is closed")
            remaining = deadline - loop.time()
            changed = self._changed
            assert changed is not None
            if remaining <= 0:
                raise PbxUnavailable(
                    f"AMI not ready after {timeout:g}s ({self._s.ami_host}:{self._s.ami_port}): "
                    f"{self.last_error or 'no connection yet'}"
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)

    async def close(self) -> None:
        """Logoff if connected, stop every task, deliver what is queued (bounded wait), emit LinkDown."""
        if self._closing:
            return
        self._closing = True
        proto = self._proto
        if proto is not None and self._state == "up" and not proto.closed:
            try:
                await self._request(proto, "Logoff", (), min(self._s.ami_action_timeout, 2.0))
            except PbxError as exc:
                log.debug("ami: Logoff on close failed: %s", exc)
        consumer, others = (self._tasks[0], self._tasks[1:]) if self._tasks else (None, [])
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
        if proto is not None and not proto.closed:
            proto.close("link closed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(proto.lost), 1.0)
        if self._state == "up":
            self._emit_link(LinkDown(at=time.time(), reason="link closed"))
        self._set_state("closed")
        if consumer is not None:
            if self._queue is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._queue.join(), 2.0)
            consumer.cancel()
            await asyncio.gather(consumer, return_exceptions=True)
        self._tasks = []
        self._proto = None

    async def __aenter__(self) -> AmiLink:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def _where(self) -> str:
        return f"{self._s.ami_host}:{self._s.ami_port}"

    # --- status -------------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        proto = self._proto
        return self._state == "up" and proto is not None and not proto.closed

    @property
    def state(self) -> State:
        return self._state

    @property
    def malformed_frames(self) -> int:
        proto = self._proto
        return self._malformed_before + (proto.malformed_frames if proto is not None else 0)

    @property
    def events_skipped(self) -> int:
        """Events dropped at intake, from their name alone (``skip_events``): never parsed or queued."""
        proto = self._proto
        return self._skipped_before + (proto.skipped_events if proto is not None else 0)

    def status(self) -> dict[str, Any]:
        """Health for ``/healthz`` and ``/metrics``; ``last_ping_rtt`` (seconds) is the PBX health."""
        return {
            "state": self._state,
            "connected": self.connected,
            "host": f"{self._s.ami_host}:{self._s.ami_port}",
            "protocol_version": self.protocol_version,
            "last_ping_rtt": self.last_ping_rtt,
            "logins": self.logins,
            "reconnects": self.reconnects,
            "connect_attempts": self.connect_attempts,
            "events_received": self.events_received + self.events_skipped,
            "events_skipped": self.events_skipped,
            "events_dropped": self.events_dropped,
            "queue_size": self._queue.qsize() if self._queue is not None else 0,
            "malformed_frames": self.malformed_frames,
            "queue_overflows": self.queue_overflows,
            "read_pauses": self.read_pauses,
            "handler_errors": self.handler_errors,
            "resyncs": self.resyncs,
            "last_error": self.last_error,
        }

    # --- actions (PbxControl) -----------------------------------------------------------------
    async def send_action(
        self,
        action: str,
        fields: Mapping[str, str | Sequence[str]] | None = None,
        *,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Send one action and wait for its reply (``timeout`` defaults to ``ami_action_timeout``).

        A sequence value is sent as repeated lines (``Variable``). An ``ActionID`` in ``fields`` is used
        as is (it must not be pending); otherwise ``cc-<n>``. Raises ``PbxUnavailable`` when not
        connected or when the connection drops, ``AmiActionTimeout``, ``AmiActionError`` (Response: Error).
        """
        proto = self._proto
        if proto is None or not self.connected:
            raise PbxUnavailable(f"{action}: not connected to the PBX ({self._state})")
        pairs: list[tuple[str, str]] = []
        action_id: str | None = None
        for key, value in (fields or {}).items():
            if key.lower() == "actionid" and isinstance(value, str):
                action_id = value
            elif key.lower() == "action":
                continue
            elif isinstance(value, str):
                pairs.append((key, value))
            else:
                pairs.extend((key, str(v)) for v in value)
        limit = self._s.ami_action_timeout if timeout is None else timeout
        p = await self._request(proto, action, pairs, limit, action_id=action_id)
        return _result(p)

    async def ping(self) -> float:
        proto = self._proto
        if proto is None or not self.connected:
            raise PbxUnavailable("Ping: not connected to the PBX")
        return await self._ping(proto, self._s.ami_ping_timeout)

    async def hangup(self, channel: str, cause: int = 16) -> None:
        await self.send_action("Hangup", {"Channel": channel, "Cause": str(cause)})

    async def redirect(self, channel: str, context: str, exten: str, priority: int = 1) -> None:
        await self.send_action(
            "Redirect", {"Channel": channel, "Context": context, "Exten": exten, "Priority": str(priority)}
        )

    async def originate(
        self,
        channel: str,
        *,
        context: str | None = None,
        exten: str | None = None,
        priority: int = 1,
        application: str | None = None,
        data: str | None = None,
        caller_id: str | None = None,
        timeout_ms: int = 30000,
        variables: Mapping[str, str] | None = None,
        action_id: str | None = None,
    ) -> str:
        """Async Originate (``Async: true``); returns the ActionID that the later
        ``OriginateResponse`` event carries (fact 10). Repeated ``Variable:`` lines, one per variable."""
        if application is None and (context is None or exten is None):
            raise ValueError("originate needs either application or context and exten")
        fields: dict[str, str | Sequence[str]] = {"Channel": channel}
        if application is not None:
            fields["Application"] = application
            if data is not None:
                fields["Data"] = data
        else:
            assert context is not None and exten is not None
            fields.update({"Context": context, "Exten": exten, "Priority": str(priority)})
        if caller_id is not None:
            fields["CallerID"] = caller_id
        fields["Timeout"] = str(timeout_ms)
        fields["Async"] = "true"
        if variables:
            fields["Variable"] = [f"{k}={v}" for k, v in variables.items()]
        action_id = action_id or self._next_id()
        fields["ActionID"] = action_id
        await self.send_action("Originate", fields)
        return action_id

    # --- internals: requests --------------------------------------------------------------------
    def _next_id(self) -> str:
        return f"cc-{next(self._ids)}"

    async def _request(
        self,
        proto: AmiProtocol,
        action: str,
        pairs: Sequence[tuple[str, str]],
        limit: float,
        *,
        action_id: str | None = None,
        forward_items: bool = False,
        on_complete: Callable[[PendingAction], None] | None = None,
    ) -> PendingAction:
        aid = action_id or self._next_id()
        p = proto.send_action(action, pairs, aid, forward_items=forward_items, on_complete=on_complete)
        try:
            return await asyncio.wait_for(asyncio.shield(p.future), limit)
        except TimeoutError:
            proto.forget(aid)
            raise AmiActionTimeout(f"{action}: no response within {limit:g}s (ActionID {aid})") from None
        except asyncio.CancelledError:
            proto.forget(aid)
            raise

    async def _ping(self, proto: AmiProtocol, limit: float) -> float:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        await self._request(proto, "Ping", (), limit)
        rtt = loop.time() - t0
        self.last_ping_rtt = rtt
        if self.on_ping is not None:
            self.on_ping(rtt)
        return rtt

    # --- internals: the queue -------------------------------------------------------------------
    def _on_event(self, msg: AmiMessage) -> None:
        """Protocol callback (synchronous, in data_received): enqueue only."""
        self.events_received += 1
        queue = self._queue
        assert queue is not None
        if self._overflowing:
            self.events_dropped += 1
            return
        try:
            queue.put_nowait(msg)
        except asyncio.QueueFull:
            self._start_overflow()
            self.events_dropped += 1
            return
        if not self._paused and queue.qsize() >= self._high_water:
            self._pause_reading()

    def _pause_reading(self) -> None:
        """Backpressure: stop reading the socket while the consumer catches up (TCP holds the rest)."""
        proto = self._proto
        transport = getattr(proto, "transport", None) if proto is not None else None
        if transport is None or transport.is_closing():
            return
        transport.pause_reading()
        self._paused = True
        self.read_pauses += 1

    def _resume_reading(self) -> None:
        self._paused = False
        proto = self._proto
        transport = getattr(proto, "transport", None) if proto is not None else None
        if transport is not None and not transport.is_closing():
            transport.resume_reading()

    def _emit_link(self, item: PbxEvent) -> None:
        """Enqueue a link event; never dropped (held back in order while the queue is full)."""
        queue = self._queue
        assert queue is not None
        if self._deferred or queue.full():
            if not self._overflowing:
                self._start_overflow()
            self._deferred.append(item)
            return
        queue.put_nowait(item)

    def _start_overflow(self) -> None:
        self._overflowing = True
        self._overflow_epoch += 1
        self.queue_overflows += 1
        log.error(
            "ami: event queue full (%d); dropping events until the consumer catches up, then resyncing "
            "(overflow #%d)",
            self._s.ami_event_queue,
            self.queue_overflows,
        )

    def _end_overflow(self) -> None:
        self._overflowing = False
        log.warning(
            "ami: event queue drained after overflow #%d (%d events dropped so far); resync requested",
            self.queue_overflows,
            self.events_dropped,
        )
        if self._resync_wanted is not None:
            self._resync_wanted.set()

    async def _consume(self) -> None:
        queue = self._queue
        assert queue is not None
        handler = self._handler
        low_water = max(self._s.ami_event_queue // 2, 1)
        deferred = self._deferred
        n = 0
        while True:
            item = await queue.get()
            if self._paused and queue.qsize() <= self._low_water:
                self._resume_reading()
            try:
                handler(item)
            except Exception:
                self.handler_errors += 1
                linkedid = item.get("Linkedid") if isinstance(item, AmiMessage) else None
                log.exception("ami: event handler failed on %r (linkedid=%s)", item, linkedid)
            finally:
                queue.task_done()
            if deferred:
                while deferred and not queue.full():
                    queue.put_nowait(deferred.popleft())
            if self._overflowing and not deferred and queue.qsize() <= low_water:
                self._end_overflow()
            n += 1
            if n % _YIELD_EVERY == 0:
                await asyncio.sleep(0)

    # --- internals: connection ------------------------------------------------------------------
    def _set_state(self, state: State) -> None:
        if state == self._state:
            return
        log.debug("ami: state %s -> %s", self._state, state)
        self._state = state
        if self._changed is not None:
            self._changed.set()
            self._changed = asyncio.Event()

    def _backoff(self, failures: int) -> float:
        lo, hi = self._s.ami_reconnect_min, self._s.ami_reconnect_max
        base: float = min(hi, lo * 2.0 ** min(failures, 30))
        return max(lo, min(hi, base * random.uniform(0.75, 1.25)))

    async def _run(self) -> None:
        failures = 0
        while True:
            self.connect_attempts += 1
            try:
                proto = await self._open()
            except (OSError, PbxUnavailable) as exc:
                self._failed(exc, "connect")
            else:
                try:
                    await self._login(proto)
                except AmiLoginFailed as exc:
                    self.last_error = self._login_error = f"login failed: {exc}"
                    log.error(
                        "ami: login to %s:%s as %r refused: %s (retrying with backoff)",
                        self._s.ami_host,
                        self._s.ami_port,
                        self._s.ami_user,
                        exc,
                    )
                    self._set_state("login_failed")
                    await self._drop(proto, "login failed")
                except PbxError as exc:
                    self._failed(exc, "login")
                    await self._drop(proto, "login error")
                else:
                    failures = 0
                    reason = await self._session(proto)
                    self._malformed_before += proto.malformed_frames
                    self._skipped_before += proto.skipped_events
                    self.last_error = f"connection lost: {reason}"
                    log.warning("ami: connection to %s lost: %s", self._where, reason)
                    self._set_state("down")
                    self._emit_link(LinkDown(at=time.time(), reason=reason))
            delay = self._backoff(failures)
            failures += 1
            log.debug("ami: reconnecting in %.2fs", delay)
            await asyncio.sleep(delay)
            if self._state != "login_failed":
                self._set_state("connecting")

    def _failed(self, exc: BaseException, phase: str) -> None:
        detail = str(exc) or type(exc).__name__
        self.last_error = f"{phase}: {detail}"
        if self._state != "login_failed":
            self._set_state("down")
        log.warning("ami: %s to %s failed: %s", phase, self._where, detail)

    async def _drop(self, proto: AmiProtocol, reason: str) -> None:
        self._malformed_before += proto.malformed_frames
        self._skipped_before += proto.skipped_events
        if self._proto is proto:
            self._proto = None
        proto.close(reason)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(proto.lost), 1.0)

    async def _open(self) -> AmiProtocol:
        """TCP connect and wait for the banner, both within ``ami_connect_timeout``."""
        loop = asyncio.get_running_loop()
        timeout = self._s.ami_connect_timeout
        proto: AmiProtocol | None = None

        def factory() -> AmiProtocol:
            return AmiProtocol(
                self._on_event, label=f"ami#{self.connect_attempts}", skip_events=self._skip_events
            )

        try:
            async with asyncio.timeout(timeout):
                _, proto = await loop.create_connection(factory, self._s.ami_host, self._s.ami_port)
                banner = await asyncio.shield(proto.banner)
        except BaseException as exc:
            if proto is not None:
                proto.close("no banner")
            if isinstance(exc, TimeoutError):
                if proto is not None:
                    raise PbxUnavailable(f"connected but no AMI banner within {timeout:g}s") from None
                raise PbxUnavailable(f"TCP connect timed out after {timeout:g}s") from None
            raise
        self.protocol_version = proto.version
        log.debug("ami: connected to %s:%s, banner %r", self._s.ami_host, self._s.ami_port, banner)
        return proto

    async def _login(self, proto: AmiProtocol) -> None:
        self._proto = proto
        self._paused = False
        attempt = self.logins + 1

        def logged_in(_: PendingAction) -> None:
            # runs inside data_received, so LinkUp is queued before FullyBooted and every later event
            self.logins += 1
            self.last_error = self._login_error = None
            if self.logins > 1:
                self.reconnects += 1
            self._set_state("up")
            self._emit_link(LinkUp(at=time.time(), attempt=attempt))

        fields = [
            ("Username", self._s.ami_user),
            ("Secret", self._s.ami_secret.reveal()),
            ("Events", "on"),
        ]
        try:
            await self._request(proto, "Login", fields, self._s.ami_action_timeout, on_complete=logged_in)
        except AmiActionError as exc:
            if "authentication" in exc.message.lower():
                raise AmiLoginFailed(exc.message) from exc
            raise
        log.info(
            "ami: logged in to %s:%s as %r (AMI %s, login #%d)",
            self._s.ami_host,
            self._s.ami_port,
            self._s.ami_user,
            proto.version,
            self.logins,
        )

    async def _session(self, proto: AmiProtocol) -> str:
        """Run watchdog and resyncs until the connection is lost; return the reason."""
        assert self._resync_wanted is not None
        self._resync_wanted.clear()
        helpers = [
            asyncio.create_task(self._watchdog(proto), name="ami-watchdog"),
            asyncio.create_task(self._resync_loop(proto), name="ami-resync"),
        ]
        try:
            await asyncio.wait([proto.lost])
            return proto.lost.result()
        finally:
            for task in helpers:
                task.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
            if self._proto is proto:
                self._proto = None

    async def _watchdog(self, proto: AmiProtocol) -> None:
        while not proto.closed:
            await asyncio.sleep(self._s.ami_ping_interval)
            pauses_before = self.read_pauses
            try:
                await self._ping(proto, self._s.ami_ping_timeout)
            except AmiActionTimeout:
                if self._paused or self.read_pauses != pauses_before:
                    # we stopped reading ourselves (backpressure): the reply is waiting in the socket
                    continue
                log.error(
                    "ami: no Ping reply within %gs from %s:%s; closing the connection",
                    self._s.ami_ping_timeout,
                    self._s.ami_host,
                    self._s.ami_port,
                )
                proto.close(f"no Ping reply within {self._s.ami_ping_timeout:g}s")
                return
            except AmiActionError as exc:
                log.warning("ami: Ping answered with an error: %s", exc)
            except PbxUnavailable:
                return

    async def _resync_loop(self, proto: AmiProtocol) -> None:
        assert self._resync_wanted is not None
        await self._resync(proto)
        while not proto.closed:
            await self._resync_wanted.wait()
            self._resync_wanted.clear()
            await self._resync(proto)

    async def _resync(self, proto: AmiProtocol) -> None:
        epoch = self._overflow_epoch
        timeout = self._s.ami_action_timeout

        def complete(p: PendingAction) -> None:
            # runs inside data_received at CoreShowChannelsComplete: exact stream position
            if self._overflowing or epoch != self._overflow_epoch:
                log.warning("ami: resync overlapped a queue overflow; another resync follows")
                return
            live = frozenset(u for u in (item.get("Uniqueid") for item in p.items) if u)
            self.resyncs += 1
            self._emit_link(ResyncComplete(at=time.time(), live_uniqueids=live))

        try:
            if self.observe_queues:
                try:
                    await self._request(proto, "QueueStatus", (), timeout, forward_items=True)
                except AmiActionError as exc:
                    log.warning("ami: QueueStatus resync refused: %s", exc)
            await self._request(
                proto, "CoreShowChannels", (), timeout, forward_items=True, on_complete=complete
            )
        except AmiActionTimeout as exc:
            log.error("ami: resync timed out (%s); reconnecting", exc)
            proto.close("resync timed out")
        except AmiActionError as exc:
            log.error("ami: resync refused: %s (check the AMI user's read permissions)", exc)
        except PbxUnavailable:
            pass


def _result(p: PendingAction) -> dict[str, Any]:
    assert p.response is not None
    response = p.response.as_dict()
    if not p.is_list:
        return response
    return {
        "response": response,
        "events": [item.as_dict() for item in p.items],
        "complete": p.complete.as_dict() if p.complete is not None else {},
    }


if TYPE_CHECKING:  # mypy proves that AmiLink satisfies the port

    def _is_pbx_control(link: AmiLink) -> PbxControl:
        return link
