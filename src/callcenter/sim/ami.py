"""AMI server that answers like Asterisk 22 (``Asterisk Call Manager/11.0.0``) on real TCP.

One ``asyncio.Protocol`` per session. Events arrive as ready bytes from the PBX core and are
buffered per session; one ``transport.write`` per event-loop iteration sends them all.
Actions of one session run in order; a synchronous action (``Originate`` with ``Async: false``)
holds back both the session's later actions and its event delivery until its response is written,
as Asterisk's session thread does.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import deque
from collections.abc import Coroutine
from typing import Any

from callcenter.sim.ami_calls import CallActions
from callcenter.sim.amiproto import Action, Result, parse_message, resp
from callcenter.sim.amiproto import eventtv as _eventtv
from callcenter.sim.classes import EV_AGENT, EV_ALL, EV_CALL, EV_SECURITY, EV_SYSTEM, EV_USER, EVENT_CLASSES
from callcenter.sim.config import SimConfig
from callcenter.sim.eventfilter import AmiAccount, account_for
from callcenter.sim.pbx import (
    STATE_DESC,
    Channel,
    Pbx,
    QueueMember,
    clean,
)

log = logging.getLogger(__name__)

BANNER = b"Asterisk Call Manager/11.0.0\r\n"
AMI_VERSION = "11.0.0"
#: flush the session's output when this much is buffered, without waiting for the loop turn
_FLUSH_BYTES = 256 * 1024
#: a client that does not read: drop the session beyond this much unsent data
_MAX_BACKLOG = 64 * 1024 * 1024


class AmiSession(asyncio.Protocol):
    def __init__(self, server: AmiServer) -> None:
        self.server = server
        self.pbx = server.pbx
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.authed = False
        self.username = ""
        self.events_on = True
        self.mask = EV_ALL
        #: the manager.conf account logged in as (read= classes, eventfilter); None before Login
        self.account: AmiAccount | None = None
        self.out: list[bytes] = []
        self.out_size = 0
        self.flush_scheduled = False
        self.hold = 0
        self.held: list[bytes] = []
        self.busy = False
        self.pending: deque[Action] = deque()
        self.closing = False
        self.session_id = f"0x{id(self):x}"
        self.remote = "IPV4/TCP/127.0.0.1/0"
        self.local = f"IPV4/TCP/{server.cfg.ami_host}/{server.cfg.ami_port}"
        self.session_tv = ""
        self._task: asyncio.Task[None] | None = None

    # -- transport -------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        if peer:
            self.remote = f"IPV4/TCP/{peer[0]}/{peer[1]}"
        sock = transport.get_extra_info("sockname")
        if sock:
            self.local = f"IPV4/TCP/{sock[0]}/{sock[1]}"
        self.server.sessions.add(self)
        transport.write(BANNER)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        self.server.sessions.discard(self)
        self.server.listeners.discard(self)
        self.server.update_listening()
        if self._task is not None and not self._task.done():
            self._task.cancel()

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return
        self.buf += data
        while True:
            idx = self.buf.find(b"\r\n\r\n")
            if idx < 0:
                if len(self.buf) > 1_000_000:
                    self.close()
                return
            raw, self.buf = self.buf[:idx], self.buf[idx + 4 :]
            if not raw.strip():
                continue
            action = Action(parse_message(raw))
            if self.busy:
                self.pending.append(action)
            else:
                self.run(action)
            if self.closing:
                return

    def write(self, text: str) -> None:
        """Write a response (ahead of queued events only if events are on hold)."""
        if self.transport is None or self.transport.is_closing():
            return
        self._flush()
        self.transport.write(text.encode("utf-8", "replace"))

    def push(self, data: bytes) -> None:
        if self.hold:
            self.held.append(data)
            return
        self.out.append(data)
        self.out_size += len(data)
        if self.out_size >= _FLUSH_BYTES:
            self._flush()
        elif not self.flush_scheduled:
            self.flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self.flush_scheduled = False
        if not self.out:
            return
        data = b"".join(self.out)
        self.out.clear()
        self.out_size = 0
        t = self.transport
        if t is None or t.is_closing():
            return
        t.write(data)
        if t.get_write_buffer_size() > _MAX_BACKLOG:
            log.warning("AMI client %s does not read its events: closing the session", self.remote)
            self.close()

    def close(self) -> None:
        self.closing = True
        self.server.listeners.discard(self)
        self.server.update_listening()
        if self.transport is not None and not self.transport.is_closing():
            self._flush()
            self.transport.close()

    def set_listening(self) -> None:
        if self.authed and self.events_on and not self.closing:
            self.server.listeners.add(self)
        else:
            self.server.listeners.discard(self)
        self.server.update_listening()

    # -- action dispatch -------------------------------------------------------------------------
    def run(self, action: Action) -> None:
        try:
            result = self.server.dispatch(self, action)
        except Exception:
            log.exception("AMI action %s failed", action.name)
            result = resp(action.aid, "Error", "Internal error")
        if isinstance(result, str):
            if result:
                self.write(result)
            return
        self.busy = True
        self._task = asyncio.get_running_loop().create_task(self._run_async(result))

    async def _run_async(self, coro: Coroutine[Any, Any, str]) -> None:
        try:
            text = await coro
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("AMI action failed")
            text = resp(None, "Error", "Internal error")
        if text:
            self.write(text)
        self.release_hold()
        self.busy = False
        while self.pending and not self.busy and not self.closing:
            self.run(self.pending.popleft())

    def release_hold(self) -> None:
        if self.hold:
            self.hold -= 1
            if not self.hold and self.held:
                held, self.held = self.held, []
                for data in held:
                    self.push(data)


class AmiServer(CallActions):
    """Serves AMI; ``publish`` is the PBX's event sink."""

    def __init__(self, cfg: SimConfig, pbx: Pbx) -> None:
        self.cfg = cfg
        self.pbx = pbx
        self.sessions: set[AmiSession] = set()
        self.listeners: set[AmiSession] = set()
        self._security: set[AmiSession] = set()
        self.listening = False
        self.server: asyncio.Server | None = None
        self.port = cfg.ami_port
        self.start_time = time.time()
        self.reload_time = self.start_time
        pbx.sink = self
        #: manager.conf accounts: the service's user with ``cfg.event_filter``, plus ``cfg.ami_accounts``
        self.accounts: dict[str, AmiAccount] = {
            cfg.ami_user: account_for(cfg.ami_user, cfg.ami_secret, cfg.event_filter)
        }
        for user, secret, spec in cfg.ami_accounts:
            self.accounts[user] = account_for(user, secret, spec)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(lambda: AmiSession(self), self.cfg.ami_host, self.cfg.ami_port)
        sock = self.server.sockets[0]
        self.port = sock.getsockname()[1]

    async def stop(self) -> None:
        """``Event: Shutdown`` to every session, then close them and the listener."""
        self.publish(
            EV_SYSTEM,
            b"Event: Shutdown\r\nPrivilege: system,all\r\nShutdown: Cleanly\r\nRestart: False\r\n\r\n",
        )
        for s in list(self.sessions):
            s.close()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None

    def update_listening(self) -> None:
        self.listening = bool(self.listeners)

    def publish(self, cls: int, data: bytes) -> None:
        # a copy: push() may close a session that does not read, which removes it from the set
        for s in tuple(self.listeners):
            if cls & s.mask:
                acc = s.account
                if acc is not None and acc.filtered and not (acc.may_read(cls) and acc.passes(data)):
                    continue
                s.push(data)

    def security(self, text: str) -> None:
        data = text.encode("utf-8", "replace")
        for s in tuple(self.listeners):
            if s.mask & EV_SECURITY and (s.account is None or s.account.may_read(EV_SECURITY)):
                s.push(data)

    # -- dispatch --------------------------------------------------------------------------------
    def dispatch(self, s: AmiSession, a: Action) -> Result:
        name = a.name.lower()
        if not a.name:
            return resp(a.aid, "Error", "Missing action in request")
        if name == "login":
            return self.login(s, a)
        if name == "logoff":
            s.write(resp(a.aid, "Goodbye", "Thanks for all the fish."))
            s.close()
            return ""
        if not s.authed:
            self.security(
                "Event: RequestNotAllowed\r\nPrivilege: security,all\r\n"
                f"EventTV: {_eventtv()}\r\nSeverity: Error\r\nService: AMI\r\nEventVersion: 1\r\n"
                "AccountID: \r\n"
                f"SessionID: {s.session_id}\r\nLocalAddress: {s.local}\r\nRemoteAddress: {s.remote}\r\n"
                f"RequestType: Action: {a.name}\r\nSessionTV: 1970-01-01T00:00:00.000+0000\r\n\r\n"
            )
            return resp(a.aid, "Error", "Permission denied")
        handler = getattr(self, "act_" + name, None)
        if handler is None:
            self.security(
                "Event: RequestBadFormat\r\nPrivilege: security,all\r\n"
                f"EventTV: {_eventtv()}\r\nSeverity: Error\r\nService: AMI\r\nEventVersion: 1\r\n"
                f"SessionID: {s.session_id}\r\nLocalAddress: {s.local}\r\nRemoteAddress: {s.remote}\r\n"
                f"RequestType: Action: {a.name}\r\nSessionTV: {s.session_tv}\r\n"
                f"AccountID: {s.username}\r\n\r\n"
            )
            return resp(
                a.aid,
                "Error",
                f"Invalid/unknown command: {a.name}. Use Action: ListCommands to show available commands.",
            )
        if s.account is not None and not s.account.may_write(name):
            self.security(
                "Event: RequestNotAllowed\r\nPrivilege: security,all\r\n"
                f"EventTV: {_eventtv()}\r\nSeverity: Error\r\nService: AMI\r\nEventVersion: 1\r\n"
                f"AccountID: {s.username}\r\nSessionID: {s.session_id}\r\nLocalAddress: {s.local}\r\n"
                f"RemoteAddress: {s.remote}\r\nRequestType: Action: {a.name}\r\n"
                f"SessionTV: {s.session_tv}\r\n\r\n"
            )
            return resp(a.aid, "Error", "Permission denied")
        result: Result = handler(s, a)
        return result

    def login(self, s: AmiSession, a: Action) -> Result:
        user, secret = a.get("Username"), a.get("Secret")
        account = self.accounts.get(user)
        if account is not None and secret == account.secret:
            s.account = account
            s.authed = True
            s.username = user
            s.session_tv = _eventtv()
            events = a.get("Events", "on").strip().lower()
            self._apply_mask(s, events)
            s.write(resp(a.aid, "Success", "Authentication accepted"))
            s.set_listening()
            if s.events_on and s.mask & EV_SYSTEM:
                up = int(time.time() - self.start_time)
                s.push(
                    "Event: FullyBooted\r\nPrivilege: system,all\r\n"
                    f"Uptime: {up}\r\nLastReload: {int(time.time() - self.reload_time)}\r\n"
                    "Status: Fully Booted\r\n\r\n".encode()
                )
            self.security(
                "Event: SuccessfulAuth\r\nPrivilege: security,all\r\n"
                f"EventTV: {_eventtv()}\r\nSeverity: Informational\r\nService: AMI\r\nEventVersion: 1\r\n"
                f"AccountID: {user}\r\nSessionID: {s.session_id}\r\nLocalAddress: {s.local}\r\n"
                f"RemoteAddress: {s.remote}\r\nUsingPassword: 0\r\nSessionTV: {s.session_tv}\r\n\r\n"
            )
            return ""
        self.security(
            "Event: InvalidPassword\r\nPrivilege: security,all\r\n"
            f"EventTV: {_eventtv()}\r\nSeverity: Error\r\nService: AMI\r\nEventVersion: 2\r\n"
            f"AccountID: {clean(user)}\r\nSessionID: {s.session_id}\r\nLocalAddress: {s.local}\r\n"
            f"RemoteAddress: {s.remote}\r\nSessionTV: 1970-01-01T00:00:00.000+0000\r\n\r\n"
        )
        return self._auth_failed(s, a)

    async def _auth_failed(self, s: AmiSession, a: Action) -> str:
        await asyncio.sleep(self.cfg.auth_fail_delay)
        s.write(resp(a.aid, "Error", "Authentication failed"))
        s.close()
        return ""

    @staticmethod
    def _apply_mask(s: AmiSession, events: str) -> None:
        if events in ("off", "no", "false", "0", "none"):
            s.events_on = False
            return
        s.events_on = True
        if events in ("on", "yes", "true", "1", "all", ""):
            s.mask = EV_ALL
            return
        mask = 0
        for part in events.split(","):
            mask |= EVENT_CLASSES.get(part.strip(), 0)
        s.mask = mask or EV_ALL

    # -- simple actions --------------------------------------------------------------------------
    def act_ping(self, s: AmiSession, a: Action) -> Result:
        return resp(a.aid, "Success", None, f"Ping: Pong\r\nTimestamp: {time.time():.6f}\r\n")

    def act_events(self, s: AmiSession, a: Action) -> Result:
        mask = a.get("EventMask", "on").strip().lower()
        self._apply_mask(s, mask)
        s.set_listening()
        return resp(a.aid, "Success", None, f"Events: {'On' if s.events_on else 'Off'}\r\n")

    def act_coresettings(self, s: AmiSession, a: Action) -> Result:
        return resp(
            a.aid,
            "Success",
            None,
            f"AMIversion: {AMI_VERSION}\r\nAsteriskVersion: {self.cfg.asterisk_version}\r\n"
            f"SystemName: {self.cfg.system_name}\r\nCoreMaxCalls: 0\r\nCoreMaxLoadAvg: 0.000000\r\n"
            "CoreRunUser: \r\nCoreRunGroup: \r\nCoreMaxFilehandles: 0\r\nCoreRealTimeEnabled: No\r\n"
            "CoreCDRenabled: Yes\r\nCoreHTTPenabled: No\r\nSoundsSearchCustomDir: No\r\n",
        )

    def _active_calls(self) -> int:
        return len({c.linkedid for c in self.pbx.channels.values()})

    def act_corestatus(self, s: AmiSession, a: Action) -> Result:
        t = time.localtime(self.start_time)
        r = time.localtime(self.reload_time)
        return resp(
            a.aid,
            "Success",
            None,
            f"CoreStartupDate: {time.strftime('%Y-%m-%d', t)}\r\n"
            f"CoreStartupTime: {time.strftime('%H:%M:%S', t)}\r\n"
            f"CoreReloadDate: {time.strftime('%Y-%m-%d', r)}\r\n"
            f"CoreReloadTime: {time.strftime('%H:%M:%S', r)}\r\n"
            f"CoreCurrentCalls: {self._active_calls()}\r\nCoreProcessedCalls: {self.pbx.processed_calls}\r\n",
        )

    def _aid_line(self, a: Action) -> str:
        return f"ActionID: {a.aid}\r\n" if a.aid is not None else ""

    def _duration(self, chan: Channel) -> str:
        secs = max(0, int(self.pbx.clock.now() - chan.created))
        return f"{secs // 3600:02d}:{secs // 60 % 60:02d}:{secs % 60:02d}"

    def act_coreshowchannels(self, s: AmiSession, a: Action) -> Result:
        aid = self._aid_line(a)
        chans = list(self.pbx.channels.values())[::-1]
        parts = [resp(a.aid, "Success", None, "EventList: start\r\nMessage: Channels will follow\r\n")]
        for c in chans:
            bridge = c.bridge.uid if c.bridge is not None else ""
            parts.append(
                f"Event: CoreShowChannel\r\n{aid}{c.snap()}Application: {c.app}\r\n"
                f"ApplicationData: {c.appdata}\r\n"
                f"Duration: {self._duration(c)}\r\nBridgeId: {bridge}\r\n\r\n"
            )
        parts.append(
            f"Event: CoreShowChannelsComplete\r\n{aid}EventList: Complete\r\nListItems: {len(chans)}\r\n\r\n"
        )
        return "".join(parts)

    def act_status(self, s: AmiSession, a: Action) -> Result:
        name = a.get("Channel")
        if name:
            chan = self.pbx.find_channel(name)
            if chan is None:
                return resp(a.aid, "Error", "No such channel")
            chans = [chan]
        else:
            chans = list(self.pbx.channels.values())[::-1]
        variables = [v.strip() for v in a.get("Variables").split(",") if v.strip()]
        aid = self._aid_line(a)
        parts = [resp(a.aid, "Success", None, "EventList: start\r\nMessage: Channel status will follow\r\n")]
        for c in chans:
            peer = c.bridge.uid if c.bridge is not None else ""
            varlines = "".join(
                f"Variable: {v}={val if (val := c.getvar(v)) is not None else '(null)'}\r\n"
                for v in variables
            )
            secs = max(0, int(self.pbx.clock.now() - c.created))
            parts.append(
                f"Event: Status\r\nPrivilege: Call\r\n{c.snap()}Type: {c.tech}\r\nDNID: \r\n"
                f"EffectiveConnectedLineNum: {c.conn_num}\r\nEffectiveConnectedLineName: {c.conn_name}\r\n"
                f"TimeToHangup: 0\r\nBridgeID: {peer}\r\nApplication: {c.app}\r\nData: {c.appdata}\r\n"
                "Nativeformats: (slin)\r\nReadformat: slin\r\nReadtrans: \r\nWriteformat: slin\r\n"
                "Writetrans: \r\n"
                f"Callgroup: 0\r\nPickupgroup: 0\r\nSeconds: {secs}\r\n{varlines}{aid}\r\n"
            )
        parts.append(
            f"Event: StatusComplete\r\n{aid}EventList: Complete\r\nListItems: {len(chans)}\r\n"
            f"Items: {len(chans)}\r\n\r\n"
        )
        return "".join(parts)

    def act_getvar(self, s: AmiSession, a: Action) -> Result:
        var = a.get("Variable")
        if not var:
            return resp(a.aid, "Error", "No variable specified")
        name = a.get("Channel")
        value: str | None
        if name:
            chan = self.pbx.find_channel(name)
            if chan is None:
                return resp(a.aid, "Error", "No such channel")
            value = chan.getvar(var)
        else:
            value = self.pbx.globals.get(var)
        return resp(a.aid, "Success", None, f"Variable: {var}\r\nValue: {value or ''}\r\n")

    def act_setvar(self, s: AmiSession, a: Action) -> Result:
        var = a.get("Variable")
        if not var:
            return resp(a.aid, "Error", "No variable specified")
        name = a.get("Channel")
        if name:
            chan = self.pbx.find_channel(name)
            if chan is None:
                return resp(a.aid, "Error", "No such channel")
            s.write(resp(a.aid, "Success", "Variable Set"))
            self.pbx.set_var(chan, var, a.get("Value"))
            return ""
        return resp(a.aid, "Success", "Variable Set")

    def act_userevent(self, s: AmiSession, a: Action) -> Result:
        name = a.get("UserEvent")
        if not name:
            return resp(a.aid, "Error", "UserEvent header missing")
        s.write(resp(a.aid, "Success", "Event Sent"))
        body = "".join(f"{k}: {v}\r\n" for k, v in a.headers if k.lower() not in ("action", "userevent"))
        self.publish(
            EV_USER, f"Event: UserEvent\r\nPrivilege: user,all\r\nUserEvent: {name}\r\n{body}\r\n".encode()
        )
        return ""

    def act_listcommands(self, s: AmiSession, a: Action) -> Result:
        names = sorted(n[4:] for n in dir(self) if n.startswith("act_"))
        body = "".join(f"{n}: {n}\r\n" for n in names)
        return resp(a.aid, "Success", None, body)

    # -- calls -----------------------------------------------------------------------------------
    def act_originate(self, s: AmiSession, a: Action) -> Result:
        channel = a.get("Channel")
        if not channel:
            return resp(a.aid, "Error", "Channel not specified")
        exten, context, app = a.get("Exten"), a.get("Context"), a.get("Application")
        if not app and not exten:
            return resp(a.aid, "Error", "Exten not specified")
        try:
            priority = int(a.get("Priority") or "1")
            timeout = int(a.get("Timeout") or "30000") / 1000.0
        except ValueError:
            return resp(a.aid, "Error", "Invalid priority")
        num, name = parse_callerid(a.get("CallerID"))
        variables: list[tuple[str, str]] = []
        for item in a.all("Variable"):
            key, _, value = item.partition("=")
            if key:
                variables.append((key.strip(), value))
        is_async = a.get("Async").strip().lower() in ("true", "yes", "1", "on")
        kwargs: dict[str, Any] = {
            "context": context or "default",
            "exten": exten,
            "priority": priority,
            "application": app,
            "data": a.get("Data"),
            "cid_num": num,
            "cid_name": name,
            "answer_timeout": timeout,
            "variables": variables,
            "chan_id": a.get("ChannelId") or None,
            "other_id": a.get("OtherChannelId") or None,
        }
        if is_async:
            s.write(resp(a.aid, "Success", "Originate successfully queued"))
            self.pbx.spawn(self._originate_async(a, channel, kwargs))
            return ""
        s.hold += 1
        return self._originate_sync(a, channel, kwargs)

    async def _originate_sync(self, a: Action, channel: str, kwargs: dict[str, Any]) -> str:
        result = await self.pbx.originate(channel, **kwargs)
        if result.success:
            return resp(a.aid, "Success", "Originate successfully queued")
        return resp(a.aid, "Error", "Originate failed")

    async def _originate_async(self, a: Action, channel: str, kwargs: dict[str, Any]) -> None:
        result = await self.pbx.originate(channel, **kwargs)
        if not self.listening:
            return
        app = kwargs["application"]
        target = (
            f"Application: {app}\r\nData: {kwargs['data']}\r\n"
            if app
            else f"Context: {kwargs['context']}\r\nExten: {kwargs['exten']}\r\n"
        )
        aid = self._aid_line(a)
        chan = result.channel
        if result.success and chan is not None:
            chanvars = "".join(
                f"ChanVariable({chan.name}): {v}={chan.vars.get(v, '')}\r\n" for v in self.cfg.channelvars
            )
            text = (
                f"Event: OriginateResponse\r\nPrivilege: call,all\r\n{aid}Response: Success\r\n"
                f"Channel: {chan.name}\r\n{target}Reason: {result.reason}\r\nUniqueid: {chan.uniqueid}\r\n"
                f"CallerIDNum: {chan.cid_num}\r\nCallerIDName: {chan.cid_name}\r\n{chanvars}\r\n"
            )
        else:
            num = kwargs["cid_num"] or "<unknown>"
            name = kwargs["cid_name"] or "<unknown>"
            if result.reason == 0:
                num = name = "<unknown>"
            # with ChannelId every failure carries it as Uniqueid (originate-outcomes.ami, fact 37)
            uid = kwargs.get("chan_id") or "<unknown>"
            text = (
                f"Event: OriginateResponse\r\nPrivilege: call,all\r\n{aid}Response: Failure\r\n"
                f"Channel: {channel}\r\n{target}Reason: {result.reason}\r\nUniqueid: {uid}\r\n"
                f"CallerIDNum: {num}\r\nCallerIDName: {name}\r\n\r\n"
            )
        self.publish(EV_CALL, text.encode("utf-8", "replace"))

    def _chan_or_error(self, a: Action, header: str = "Channel") -> Channel | str:
        name = a.get(header)
        if not name:
            return resp(a.aid, "Error", "Channel not specified")
        chan = self.pbx.find_channel(name)
        if chan is None:
            return resp(a.aid, "Error", f"Channel does not exist: {name}")
        return chan

    def act_redirect(self, s: AmiSession, a: Action) -> Result:
        chan = self._chan_or_error(a)
        if isinstance(chan, str):
            return chan
        try:
            priority = int(a.get("Priority") or "1")
        except ValueError:
            return resp(a.aid, "Error", "Invalid priority")
        extra_name = a.get("ExtraChannel")
        other = None
        if extra_name:
            # manager.c action_redirect: both channels are checked before either moves
            other = self.pbx.find_channel(extra_name)
            if other is None:
                return resp(a.aid, "Error", f"ExtraChannel does not exist: {extra_name}")
        if not self.pbx.redirect(chan, a.get("Context"), a.get("Exten"), priority):
            return resp(a.aid, "Error", "Redirect failed, extension not found")
        if other is None:
            return resp(a.aid, "Success", "Redirect successful")
        try:
            extra_priority = int(a.get("ExtraPriority") or priority)
        except ValueError:
            extra_priority = priority
        if self.cfg.dual_redirect_unbridged == "secondary-failed" and _unbridged_half(other):
            # seen on a live Asterisk (not in the recorded trace): the ;2 half's redirect is refused,
            # the customer's went through; app_dial then tears the agent pair down all the same
            return resp(a.aid, "Error", "Secondary redirect failed")
        if not self.pbx.redirect(
            other,
            a.get("ExtraContext") or a.get("Context"),
            a.get("ExtraExten") or a.get("Exten"),
            extra_priority,
        ):
            return resp(a.aid, "Error", "Secondary redirect failed")
        return resp(a.aid, "Success", "Dual Redirect successful")

    def act_hangup(self, s: AmiSession, a: Action) -> Result:
        name = a.get("Channel")
        if not name:
            return resp(a.aid, "Error", "No channel specified")
        try:
            cause = int(a.get("Cause") or "16")
        except ValueError:
            cause = 16
        if len(name) > 1 and name.startswith("/") and name.endswith("/"):
            try:
                regex = re.compile(name[1:-1])
            except re.error:
                return resp(a.aid, "Error", "Invalid regex")
            matches = [c for c in list(self.pbx.channels.values())[::-1] if regex.search(c.name)]
            aid = self._aid_line(a)
            out = [
                resp(a.aid, "Success", None, "EventList: start\r\nMessage: Channels hung up will follow\r\n")
            ]
            for c in matches:
                out.append(f"Event: ChannelHungup\r\nChannel: {c.name}\r\n{aid}\r\n")
            out.append(
                f"Event: ChannelsHungupListComplete\r\n{aid}EventList: Complete\r\n"
                f"ListItems: {len(matches)}\r\n\r\n"
            )
            s.write("".join(out))
            for c in matches:
                self.pbx.request_hangup(c, cause, event=False)
            return ""
        chan = self.pbx.find_channel(name)
        if chan is None:
            return resp(a.aid, "Error", "No such channel")
        s.write(resp(a.aid, "Success", "Channel Hungup"))
        self.pbx.request_hangup(chan, cause, event=False)
        return ""

    def act_atxfer(self, s: AmiSession, a: Action) -> Result:
        chan = self._chan_or_error(a)
        if isinstance(chan, str):
            return chan
        exten = a.get("Exten")
        if not exten:
            return resp(a.aid, "Error", "No extension specified")
        if chan.bridge is None:
            return resp(a.aid, "Error", "Channel is not in a bridge")
        s.write(resp(a.aid, "Success", "Atxfer successfully queued"))
        self.pbx.spawn(self.pbx.atxfer(chan, a.get("Context") or "transfer", exten))
        return ""

    def act_bridge(self, s: AmiSession, a: Action) -> Result:
        """features.c action_bridge: both channels are pulled out of whatever they run (a channel in
        dialplan stops its application) into a new basic bridge; when the bridge ends, a channel that
        was running dialplan goes on at the next priority."""
        name1, name2 = a.get("Channel1"), a.get("Channel2")
        if not name1 or not name2:
            return resp(a.aid, "Error", "Missing channel parameter in request")
        one = self.pbx.find_channel(name1)
        if one is None:
            return resp(a.aid, "Error", f"Channel1 does not exist: {name1}")
        two = self.pbx.find_channel(name2)
        if two is None:
            return resp(a.aid, "Error", f"Channel2 does not exist: {name2}")
        pbx = self.pbx
        s.write(resp(a.aid, "Success", "Channels have been bridged"))
        for c in (one, two):
            pbx.yank(c)
            if c.bridge is not None:
                pbx.bridge_leave(c)
        bridge = pbx.bridge_create()
        pbx.bridge_enter(bridge, one)
        pbx.bridge_enter(bridge, two)
        # cdr.c: the older channel is party A of the bridge's CDR, the other its DestinationChannel
        older, newer = sorted((one, two), key=lambda c: c.created)
        older.cdr_dest = newer.name
        # each side's connected line becomes the other's caller id; a Local half passes it on to
        # its other half as that half's caller id (hold-dual-redirect.ami, the resume)
        for a_, b_ in ((one, two), (two, one)):
            if (a_.conn_num, a_.conn_name) != (b_.cid_num, b_.cid_name):
                pbx.set_connected(a_, b_.cid_num, b_.cid_name)
                peer = a_.peer
                if (
                    peer is not None
                    and not peer.gone
                    and (peer.cid_num, peer.cid_name)
                    != (
                        b_.cid_num,
                        b_.cid_name,
                    )
                ):
                    pbx.set_callerid(peer, b_.cid_num, b_.cid_name)
        return ""

    def act_playdtmf(self, s: AmiSession, a: Action) -> Result:
        chan = self._chan_or_error(a)
        if isinstance(chan, str):
            return chan
        digit = a.get("Digit")
        if not digit:
            return resp(a.aid, "Error", "No digit specified")
        s.write(resp(a.aid, "Success", "DTMF successfully queued"))
        self.pbx.spawn(self.pbx.send_dtmf(chan, chan, digit[0]))
        return ""

    def act_mixmonitor(self, s: AmiSession, a: Action) -> Result:
        chan = self._chan_or_error(a)
        if isinstance(chan, str):
            return chan
        fname = a.get("File") or f"{chan.name.replace('/', '-')}-{int(time.time())}.wav"
        s.write(resp(a.aid, "Success"))
        self.pbx.mixmonitor(chan, fname)
        return ""

    def act_stopmixmonitor(self, s: AmiSession, a: Action) -> Result:
        chan = self._chan_or_error(a)
        if isinstance(chan, str):
            return chan
        s.write(resp(a.aid, "Success", "Stopped monitoring channel"))
        self.pbx.stop_mixmonitor(chan)
        return ""

    def act_command(self, s: AmiSession, a: Action) -> Result:
        cmd = a.get("Command").strip()
        words = cmd.split()
        out: list[str] | None = None
        if words == ["core", "show", "version"]:
            out = [f"Asterisk {self.cfg.asterisk_version} built by root @ sim on a x86_64 running Linux"]
        elif words[:3] == ["core", "show", "channels"]:
            out = self._cli_channels(concise="concise" in words)
        elif words[:3] == ["core", "show", "uptime"]:
            up = int(time.time() - self.start_time)
            out = [f"System uptime: {up} seconds", f"Last reload: {up} seconds"]
        elif words[:2] == ["queue", "show"]:
            out = self._cli_queue(words[2] if len(words) > 2 else "")
        if out is None:
            hint = " ".join(words[:2]) if len(words) >= 2 else cmd
            text = f"No such command '{cmd}' (type 'core show help {hint}' for other possible commands)"
            return resp(a.aid, "Error", "Command output follows", f"Output: {text}\r\n")
        body = "".join(f"Output: {line}\r\n" for line in out)
        return resp(a.aid, "Success", "Command output follows", body)

    def _cli_channels(self, concise: bool) -> list[str]:
        chans = list(self.pbx.channels.values())[::-1]
        if concise:
            return [
                f"{c.name}!{c.context}!{c.exten}!{c.priority}!{STATE_DESC.get(c.state, 'Unknown')}!{c.app}!"
                f"{c.appdata}!{c.cid_num}!!!3!{int(self.pbx.clock.now() - c.created)}!"
                f"{c.bridge.uid if c.bridge else '(None)'}!{c.uniqueid}"
                for c in chans
            ]
        lines = [f"{'Channel':<32} {'Location':<24} {'State':<7} Application(Data)"]
        for c in chans:
            loc = f"{c.exten}@{c.context}:{c.priority}"
            lines.append(
                f"{c.name[:32]:<32} "
                f"{loc[:24]:<24} {STATE_DESC.get(c.state, 'Unknown'):<7} {c.app}({c.appdata})"
            )
        n = len(chans)
        calls = self._active_calls()
        lines.append(f"{n} active channel{'s' if n != 1 else ''}")
        lines.append(f"{calls} active call{'s' if calls != 1 else ''}")
        lines.append(
            f"{self.pbx.processed_calls} call{'s' if self.pbx.processed_calls != 1 else ''} processed"
        )
        lines.append("")
        return lines

    def _cli_queue(self, name: str) -> list[str]:
        lines: list[str] = []
        for q in self.pbx.queues.values():
            if name and q.name != name:
                continue
            lines.append(
                f"{q.name} "
                f"has 0 calls (max unlimited) in '{q.strategy}' strategy (0s holdtime, 0s talktime), "
                "W:0, C:0, A:0, SL:0.0%, SL2:0.0% within 0s"
            )
            lines.append("   Members: ")
            for m in q.members.values():
                state = "(paused) " if m.paused else ""
                lines.append(
                    f"      {m.name} ({m.interface}) (ringinuse disabled) {state}(Not in use)"
                    " has taken no calls yet"
                )
            lines.append("   No Callers")
            lines.append("")
        lines.append("")
        return lines

    # -- app_queue-style management --------------------------------------------------------------
    def _member_block(self, q_name: str, m: QueueMember, name_key: str = "Name") -> str:
        status = 2 if m.interface.split("/")[1].split("@")[0] in self.pbx.agent_in_use else 1
        return (
            f"Queue: {q_name}\r\n{name_key}: {m.name}\r\n"
            f"{'Location' if name_key == 'Name' else 'Interface'}: {m.interface}\r\n"
            f"StateInterface: {m.interface}\r\nMembership: {m.membership}\r\nPenalty: {m.penalty}\r\n"
            f"CallsTaken: {m.calls_taken}\r\nLastCall: {m.last_call}\r\nLastPause: {m.last_pause}\r\n"
            f"LoginTime: {m.login_time}\r\nInCall: 0\r\nStatus: {status}\r\nPaused: {int(m.paused)}\r\n"
            f"PausedReason: {m.reason}\r\n"
        )

    def _member_event(self, name: str, q_name: str, m: QueueMember) -> None:
        self.publish(
            EV_AGENT,
            f"Event: {name}\r\nPrivilege: agent,all\r\n{self._member_block(q_name, m, 'MemberName')}"
            "Ringinuse: 0\r\nWrapuptime: 0\r\n\r\n".encode(),
        )

    def act_queuestatus(self, s: AmiSession, a: Action) -> Result:
        want = a.get("Queue")
        aid = self._aid_line(a)
        parts = [resp(a.aid, "Success", None, "EventList: start\r\nMessage: Queue status will follow\r\n")]
        n = 0
        for q in self.pbx.queues.values():
            if want and q.name != want:
                continue
            parts.append(
                f"Event: QueueParams\r\nQueue: {q.name}\r\nMax: 0\r\nStrategy: {q.strategy}\r\nCalls: 0\r\n"
                "Holdtime: 0\r\nTalkTime: 0\r\nCompleted: 0\r\nAbandoned: 0\r\nServiceLevel: 0\r\n"
                f"ServicelevelPerf: 0.0\r\nServicelevelPerf2: 0.0\r\nWeight: 0\r\n{aid}\r\n"
            )
            n += 1
            for m in q.members.values():
                parts.append(
                    f"Event: QueueMember\r\n{self._member_block(q.name, m)}Wrapuptime: 0\r\n{aid}\r\n"
                )
                n += 1
        parts.append(f"Event: QueueStatusComplete\r\n{aid}EventList: Complete\r\nListItems: {n}\r\n\r\n")
        return "".join(parts)

    def act_queuesummary(self, s: AmiSession, a: Action) -> Result:
        want = a.get("Queue")
        aid = self._aid_line(a)
        parts = [resp(a.aid, "Success", None, "EventList: start\r\nMessage: Queue summary will follow\r\n")]
        n = 0
        for q in self.pbx.queues.values():
            if want and q.name != want:
                continue
            avail = sum(1 for m in q.members.values() if not m.paused)
            parts.append(
                f"Event: QueueSummary\r\nQueue: {q.name}\r\nLoggedIn: {len(q.members)}\r\n"
                f"Available: {avail}\r\n"
                f"Callers: 0\r\nHoldTime: 0\r\nTalkTime: 0\r\nLongestHoldTime: 0\r\n{aid}\r\n"
            )
            n += 1
        parts.append(f"Event: QueueSummaryComplete\r\n{aid}EventList: Complete\r\nListItems: {n}\r\n\r\n")
        return "".join(parts)

    def act_queueadd(self, s: AmiSession, a: Action) -> Result:
        q = self.pbx.queues.get(a.get("Queue"))
        iface = a.get("Interface")
        if q is None or not iface:
            return resp(
                a.aid, "Error", "Unable to add interface: No such queue" if iface else "'Interface' not set."
            )
        if iface in q.members:
            return resp(a.aid, "Error", "Unable to add interface: Already there")
        now = int(time.time())
        paused = a.get("Paused").lower() in ("true", "yes", "1")
        m = QueueMember(
            iface,
            a.get("MemberName") or iface,
            "dynamic",
            int(a.get("Penalty") or 0),
            paused,
            a.get("Reason") if paused else "",
            0,
            0,
            now,
            now,
        )
        q.members[iface] = m
        s.write(resp(a.aid, "Success", "Added interface to queue"))
        self._member_event("QueueMemberAdded", q.name, m)
        return ""

    def act_queueremove(self, s: AmiSession, a: Action) -> Result:
        q = self.pbx.queues.get(a.get("Queue"))
        iface = a.get("Interface")
        if q is None:
            return resp(a.aid, "Error", "Unable to remove interface from queue: No such queue")
        m = q.members.get(iface)
        if m is None:
            return resp(a.aid, "Error", "Unable to remove interface: Not there")
        if m.membership == "static":
            return resp(a.aid, "Error", "Unable to remove interface: Not dynamic")
        del q.members[iface]
        s.write(resp(a.aid, "Success", "Removed interface from queue"))
        self._member_event("QueueMemberRemoved", q.name, m)
        return ""

    def act_queuepause(self, s: AmiSession, a: Action) -> Result:
        iface = a.get("Interface")
        if not iface:
            return resp(a.aid, "Error", "Need 'Interface' and 'Paused' headers.")
        paused = a.get("Paused").lower() in ("true", "yes", "1")
        want = a.get("Queue")
        hits = [
            (q, q.members[iface])
            for q in self.pbx.queues.values()
            if iface in q.members and (not want or q.name == want)
        ]
        if not hits:
            return resp(a.aid, "Error", "Interface not found")
        s.write(resp(a.aid, "Success", f"Interface {'paused' if paused else 'unpaused'} successfully"))
        now = int(time.time())
        for q, m in hits:
            m.paused = paused
            m.reason = a.get("Reason") if paused else ""
            if paused:
                m.last_pause = now
            self._member_event("QueueMemberPause", q.name, m)
        return ""


def _unbridged_half(chan: Channel) -> bool:
    """The ``;2`` half of a Local pair whose ``;1`` is the one in the bridge (fact 32)."""
    peer = chan.peer
    return chan.bridge is None and peer is not None and peer.bridge is not None


def parse_callerid(text: str) -> tuple[str, str]:
    """``"Name" <num>`` / ``Name <num>`` / ``num`` -> (num, name)."""
    text = text.strip()
    if not text:
        return "", ""
    m = re.match(r'^\s*(?:"(?P<q>[^"]*)"|(?P<n>[^<]*?))\s*<(?P<num>[^>]*)>\s*$', text)
    if m:
        name = m.group("q") if m.group("q") is not None else (m.group("n") or "")
        return m.group("num"), name.strip()
    if re.fullmatch(r"[0-9*#+]+", text):
        return text, ""
    return "", text
