"""Composition root: builds every part from ``Settings`` and owns their lifecycle.

Each resource is an aiohttp ``cleanup_ctx`` (database, Redis, the write-behind recorder, the AMI link),
started in order and stopped in reverse: the AMI link closes first so no new events arrive, then the
recorder flushes what the tracker still holds, then the database closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiohttp import web
from redis.asyncio import Redis

from callcenter import __version__
from callcenter.config import Settings, async_database_url, journal_path, mask_url_password
from callcenter.domain.agents import AgentDirectory
from callcenter.domain.calls import LegRecord
from callcenter.domain.cases import SlaPolicy, WarrantyPolicy, parse_sla_days, parse_warranty_months
from callcenter.domain.errors import ConfigError, StoreError
from callcenter.domain.events import IvrSessionStarted, LinkDown, LinkUp, PbxEvent
from callcenter.domain.qa_recordings import parse_retention
from callcenter.notify.smtp import SmtpSender
from callcenter.notify.webhook import WebhookSender
from callcenter.pbx.ami import AmiLink
from callcenter.pbx.dialing import AmiDialing
from callcenter.pbx.fastagi import AgiHandler, FastAgiConfig, FastAgiServer
from callcenter.pbx.message import AmiMessage
from callcenter.pbx.translate import IGNORED_EVENTS, Translator
from callcenter.ports import AgiChannel, CallRouter
from callcenter.services.accounts import Accounts
from callcenter.services.acd import AcdService, build_acd_options
from callcenter.services.acd_config import load_acd_config_if_present
from callcenter.services.admin import AdminService
from callcenter.services.admin_settings import AdminSettings
from callcenter.services.campaigns import CampaignService
from callcenter.services.cases import CaseService, flows_calendar
from callcenter.services.console import ConsoleService, load_console_config
from callcenter.services.crm import CrmService
from callcenter.services.customer_lookup import CustomerLookup
from callcenter.services.dialer import DialerOptions, DialerService
from callcenter.services.dialer_preview import PreviewDialer
from callcenter.services.ivr import IvrService
from callcenter.services.ivr_flows import FlowLibrary
from callcenter.services.ivr_records import IvrSessionRecorder
from callcenter.services.journal import CallJournal
from callcenter.services.kpi import KpiService
from callcenter.services.kpi_config import load_kpi_config
from callcenter.services.missed_calls import MissedCallWorklist
from callcenter.services.notify import Notifier, NotifyOptions, parse_urls
from callcenter.services.outbox import OutboxService, Sender
from callcenter.services.pbx_health import PbxHealth
from callcenter.services.qa import QaService
from callcenter.services.recordings import RecordingService
from callcenter.services.records import CallRecorder
from callcenter.services.reports import ReportService
from callcenter.services.resume import CallResumer
from callcenter.services.screenpop import RequestTap, ScreenPopService
from callcenter.services.supervisor import SupervisorService, agent_channel_finder
from callcenter.services.surveys import SurveyService
from callcenter.services.tracker import CallTracker
from callcenter.services.wrapup_rule import WrapupRule
from callcenter.state.acd_factory import acd_backends, hold_backend
from callcenter.state.redis_conn import connect_redis, redis_health
from callcenter.store.admin_settings import SqlAdminSettings
from callcenter.store.agent_log import SqlAgentStateLog
from callcenter.store.audit import SqlAuditLog
from callcenter.store.cases import SqlCaseStore
from callcenter.store.console import SqlDispositionStore
from callcenter.store.crm import SqlCrmStore, create_store
from callcenter.store.crm_records import SqlCrmRecords
from callcenter.store.customer_lookup import SqlCustomerLookup
from callcenter.store.ivr import SqlIvrSessionStore
from callcenter.store.migrate import migrate
from callcenter.store.outbound import SqlOutboundStore
from callcenter.store.outbox import SqlOutboxStore
from callcenter.store.pop_card import SqlPopCardReader
from callcenter.store.qa import SqlQaStore
from callcenter.store.recordings import SqlRecordingStore
from callcenter.store.reports import SqlReportStore
from callcenter.store.surveys import SqlSurveyStore
from callcenter.store.user_admin import SqlUserAdmin
from callcenter.webapp import (
    views_acd,
    views_admin,
    views_admin_settings,
    views_cases,
    views_console,
    views_ivr,
    views_outbound,
    views_outbox,
    views_qa,
    views_reports,
    views_supervisor,
    views_wallboard,
)
from callcenter.webapp.app import create_web_app
from callcenter.webapp.hub import HUB
from callcenter.webapp.keys import AUDIT_LOG

log = logging.getLogger(__name__)


class Service:
    """The running service: PBX link → translate → tracker → recorder → store, plus the web app."""

    def __init__(
        self,
        settings: Settings,
        *,
        agents: AgentDirectory | None = None,
        auto_migrate: bool = True,
        router: CallRouter | None = None,
    ) -> None:
        self.settings = settings
        self.started_at = time.time()
        self.auto_migrate = auto_migrate
        self.translator = Translator()
        self.tracker = CallTracker(agents)
        self.store: SqlCrmStore = create_store(async_database_url(settings.database_url))
        journal = journal_path(settings)
        self.recorder = CallRecorder(
            self.store,
            self.tracker.take_changes,
            batch_size=settings.store_batch_size,
            flush_interval=settings.store_flush_interval,
            flush_size=settings.store_flush_size,
            journal=CallJournal(journal) if journal else None,
        )
        self.tracker.on_change(self.recorder.notify)
        # after a restart: merge stored state into resumed calls, close calls that ended meanwhile
        self.resumer = CallResumer(self.tracker, self.store)
        # events the translator ignores anyway are dropped by name before they are parsed
        self.link = AmiLink(settings, self.on_pbx_item, skip_events=IGNORED_EVENTS)
        self.redis: Redis | None = connect_redis(settings.redis_url) if settings.redis_url else None
        self.accounts = Accounts(self.store)
        self.crm = CrmService(SqlCrmRecords(self.store.engine))  # customers, notes, tickets (issue #6)
        self.handler_errors = 0
        # ACD (issue #5): queues/agents from settings.acd_config; shared state in Redis when configured
        self.acd_log = SqlAgentStateLog(self.store.engine)
        self.acd_state, self.acd_bus = acd_backends(self.redis, settings.acd_redis_prefix)
        self.acd = AcdService(
            self.acd_state,
            self.acd_bus,
            pbx=self.link,
            transitions=self.acd_log,
            directory=self.tracker.agents,
            options=build_acd_options(settings.acd_wait_slice),
        )
        # agent console (issue #6): screen pop on the ACD's call.offered, call controls, dispositions
        self.dispositions = SqlDispositionStore(self.store.engine)
        # one customer lookup per call: the IVR's lookup node hands what it found to the pop's card
        self.customer_lookup = CustomerLookup(SqlCustomerLookup(self.store.engine))
        self.screenpop = ScreenPopService(
            self.crm, dispositions=self.dispositions, lookup=self.customer_lookup
        )
        # the console's holds: shared in Redis when configured, so any instance can resume or end them
        self.holds = hold_backend(self.redis, settings.acd_redis_prefix)
        self.audit = SqlAuditLog(self.store.engine)  # supervisor actions and the console's failed holds
        self.console = ConsoleService(
            self.acd,
            self.screenpop,
            pbx=self.link,
            dispositions=self.dispositions,
            holds=self.holds,
            agent_legs=self.agent_legs,
            call_legs=self.call_legs,
            bridge_peers=self.tracker.bridge_peers,
            audit=self.audit,
        )
        self.tracker.on_leg_ended(self.console.on_leg_ended)
        # one wrap-up rule: a timed wrap-up waits for a required disposition (config/console.yaml)
        self.console.wrapup_rule = WrapupRule(lambda: self.console.rules, self.dispositions, self.acd)
        self.acd.wrapup_gate = self.console.wrapup_rule.may_end
        self.screenpop.queue_rules = self.console.queue_rules
        # wallboard (issue #7): one KPI engine fed by finished calls and the ACD bus; supervisor actions
        self.kpi = KpiService(self.acd, store=self.store, transitions=self.acd_log)
        self.tracker.on_finished(self.kpi.on_call_finished)
        # PBX health: the AMI Ping round trips, on the wallboard (alert when slow) and in /metrics
        self.pbx_health = PbxHealth(
            slow_ms=settings.pbx_slow_ping_ms,
            slow_for=settings.pbx_slow_for,
            history=settings.pbx_ping_history,
            on_alert=self.kpi.wake,
        )
        self.link.on_ping = self.pbx_health.record
        self.kpi.pbx = self.pbx_health
        self.supervisor = SupervisorService(
            self.acd, pbx=self.link, audit=self.audit, channel_of=agent_channel_finder(self.tracker)
        )
        # IVR (issue #4): flows from ivr_flows/ run on our FastAGI server; the queue node hands calls to
        # ``self.ivr.router`` (the ACD; None: the queue node takes its no-agents fallback)
        self.ivr_flows = FlowLibrary(settings.ivr_flows_dir)
        # /admin's disposition codes, supervisor phones and business hours: stored over the files
        self.admin_settings = AdminSettings(
            SqlAdminSettings(self.store.engine),
            console=self.console,
            supervisor=self.supervisor,
            flows=self.ivr_flows,
            queue_names=lambda: self.acd.queues,
        )
        # service cases (RMA, issue 16): per-stage SLA in working days of the IVR's business hours
        self.cases = CaseService(
            SqlCaseStore(self.store.engine),
            self.crm,
            audit=self.audit,
            warranty=WarrantyPolicy(
                settings.cases_warranty_months, parse_warranty_months(settings.cases_warranty)
            ),
            sla=SlaPolicy(days=parse_sla_days(settings.cases_sla)),
            calendar=flows_calendar(lambda: self.ivr_flows.current),
        )
        # notifications and webhooks (issue 16): a durable outbox delivered by one worker task
        self.outbox_store = SqlOutboxStore(self.store.engine)
        self.webhook_sender = WebhookSender(settings.webhook_secret.reveal())
        senders: dict[str, Sender] = {"webhook": self.webhook_sender}
        if settings.smtp_host:
            senders["email"] = SmtpSender(
                settings.smtp_host,
                settings.smtp_port,
                sender=settings.smtp_from,
                username=settings.smtp_user,
                password=settings.smtp_password.reveal(),
                starttls=settings.smtp_starttls,
            )
        self.outbox = OutboxService(self.outbox_store, senders)
        self.notifier = Notifier(
            self.outbox,
            self.crm,
            self.outbox_store,
            NotifyOptions(
                email=bool(settings.smtp_host),
                webhook_urls=parse_urls(settings.webhook_urls),
                public_url=settings.public_url,
                link_days=settings.status_link_days,
            ),
        )
        self.cases.listeners.append(self.notifier.on_case_changed)
        self.crm.ticket_listeners.append(self.notifier.on_ticket_changed)
        self.tracker.on_finished(self.notifier.on_call_finished)
        # post-call surveys (CSAT, issue 16): the survey node's answers, the survey.answered webhook, a
        # ticket for a low score on a complaint
        self.surveys = SurveyService(
            SqlSurveyStore(self.store.engine),
            tickets=self.crm,
            audit=self.audit,
            complaint_queues=[q.strip() for q in settings.csat_complaint_queues.split(",") if q.strip()],
        )
        self.surveys.listeners.append(self.notifier.on_survey_answered)
        self.ivr_sessions = SqlIvrSessionStore(self.store.engine)
        self.ivr_recorder = IvrSessionRecorder(self.ivr_sessions)
        self.ivr = IvrService(
            self.ivr_flows,
            router=router if router is not None else RequestTap(self.acd, self.screenpop.note_request),
            directory=self.customer_lookup,
            callbacks=self.acd,  # the callback node files its request with the ACD
            on_session=self.ivr_recorder,
            cases=self.cases,  # the case_status node (self-service repair status)
            surveys=self.surveys,  # the survey node (post-call CSAT)
        )
        # QA and recordings (issue #8): call search and review, scoring, playback with audit, retention
        recording_store = SqlRecordingStore(self.store.engine)
        self.recordings = RecordingService(
            recording_store,
            settings.recordings_dir,
            retention=parse_retention(settings.recordings_retention, settings.recordings_retention_days),
        )
        self.tracker.on_finished(self.recordings.on_call_finished)  # metadata filled when a call ends
        self.screenpop.recording_ids = recording_store.recording_ids_for_calls  # the pop's play controls
        self.screenpop.card_read = SqlPopCardReader(self.store.engine).card_records  # one read per card
        self.qa = QaService(
            SqlQaStore(self.store.engine, default_country_code=settings.default_country),
            calls=self.store,
            recordings=self.recordings,
            ivr=self.ivr_sessions,
            dispositions=self.dispositions,
            surveys=self.surveys,
        )
        # standard reports (issue #8): the KPI engine fed from the store, per period
        self.reports = ReportService(
            SqlReportStore(self.store.engine),
            threshold_of=self.kpi.threshold_of,
            convention=self.kpi.convention,
            short_abandon=lambda: self.kpi.config.short_abandon,
            queues=lambda: tuple(self.acd.queues),
            csat=self.surveys.store,
        )
        self.fastagi = FastAgiServer(
            self._agi_route, FastAgiConfig(host=settings.agi_host, port=settings.agi_port)
        )
        # outbound campaigns (issue 17): its own service and port (Originate on the trunk)
        self.outbound_store = SqlOutboundStore(self.store.engine)
        self.dialer = DialerService(
            self.outbound_store,
            self.acd,
            AmiDialing(self.link, trunk=settings.outbound_trunk),
            options=DialerOptions(tick=settings.dialer_tick),
        )
        self.missed_calls = MissedCallWorklist(
            self.outbound_store, settings.missed_calls_campaign, default_country=settings.default_country
        )
        self.preview = PreviewDialer(self.dialer)  # preview dialing: the agent's card, Call / Skip
        self.campaigns = CampaignService(
            self.outbound_store,
            self.dialer,
            audit=self.audit,
            queues=lambda: frozenset(self.acd.queues),
            transitions=self.acd_log,
            default_country=settings.default_country,
        )
        self.ivr_ready = asyncio.Event()  # set once the flows are loaded and FastAGI listens
        self._ivr_reload_task: asyncio.Task[dict[str, Any]] | None = None

    # --- the event path (called by the AMI link's single consumer task) ---------------------
    def on_pbx_item(self, item: AmiMessage | PbxEvent) -> None:
        if isinstance(item, AmiMessage):
            event = self.translator(item)
            if event is None:
                return
        else:
            event = item
            if isinstance(item, LinkUp):
                log.info("PBX link up", extra={"attempt": item.attempt})
            elif isinstance(item, LinkDown):
                log.warning("PBX link down", extra={"reason": item.reason})
        self.tracker.handle(event)
        self.acd.observe(event)
        self.dialer.observe(event)  # OriginateResponses of the outbound dialer's calls
        self.supervisor.observe(event)  # monitoring sessions (ChanSpyStart/Stop)

    # --- the agent console's view of live calls -------------------------------------------------
    def agent_legs(self, agent: str) -> list[LegRecord]:
        """The live legs of the tracker where ``agent``'s phone is."""
        return [leg.record() for leg in self.tracker.legs.values() if leg.agent == agent]

    def call_legs(self, call_id: str) -> list[LegRecord]:
        call = self.tracker.snapshot(call_id)
        return list(call.legs) if call is not None else []

    # --- health and metrics -----------------------------------------------------------------
    async def health(self) -> dict[str, Any]:
        pbx = self.link.status()
        pbx_ok = pbx.get("state") == "up"
        database: dict[str, Any] = {"url": mask_url_password(self.settings.database_url)}
        try:
            started = time.perf_counter()
            await asyncio.wait_for(self.store.ping(), timeout=2.0)
            database.update(state="up", rtt_ms=round((time.perf_counter() - started) * 1000, 2))
        except (StoreError, TimeoutError) as exc:
            database.update(state="down", error=str(exc) or type(exc).__name__)
        database["recorder"] = self.recorder.stats()
        if self.redis is not None and self.settings.redis_url:
            redis = await redis_health(self.redis, self.settings.redis_url)
        else:
            redis = {"state": "disabled"}
        ivr = self.ivr_status()
        ok = pbx_ok and database["state"] == "up" and redis["state"] in ("up", "disabled")
        ok = ok and ivr["fastagi"]["state"] == "listening"
        return {
            "status": "ok" if ok else "degraded",
            "version": __version__,
            "uptime_seconds": round(time.time() - self.started_at, 1),
            "pbx": pbx,
            "database": database,
            "redis": redis,
            "ivr": ivr,
            "calls": self.tracker.stats(),
            "resume": self.resumer.stats(),
            "translator": self.translator.stats(),
        }

    def metrics(self) -> dict[str, float]:
        link = self.link.status()
        tracker = self.tracker.stats()
        recorder = self.recorder
        rtt = link.get("last_ping_rtt")
        return {
            "callcenter_pbx_up": 1.0 if link.get("state") == "up" else 0.0,
            "callcenter_pbx_ping_seconds": float(rtt) if rtt is not None else -1.0,
            "callcenter_ami_events_received_total": float(link.get("events_received", 0)),
            "callcenter_ami_events_dropped_total": float(link.get("events_dropped", 0)),
            "callcenter_ami_malformed_frames_total": float(link.get("malformed_frames", 0)),
            "callcenter_ami_reconnects_total": float(link.get("reconnects", 0)),
            "callcenter_ami_handler_errors_total": float(link.get("handler_errors", 0)),
            "callcenter_ami_unknown_events_total": float(self.translator.stats()["unknown"]),
            "callcenter_live_calls": float(tracker["live_calls"]),
            "callcenter_calls_finished_total": float(tracker["calls_finished"]),
            "callcenter_records_written_total": float(recorder.written),
            "callcenter_records_pending": float(recorder.pending),
            "callcenter_store_failures_total": float(recorder.failures),
            "callcenter_records_recovered_total": float(recorder.recovered),
            "callcenter_records_fields_truncated_total": float(recorder.truncated_fields),
            "callcenter_ami_fields_truncated_total": float(self.translator.stats()["truncated"]),
            "callcenter_calls_restored_total": float(tracker["calls_restored"]),
            "callcenter_calls_closed_on_resume_total": float(tracker["calls_closed_on_resume"]),
            "callcenter_resume_store_failures_total": float(self.resumer.store_failures),
            "callcenter_fastagi_sessions_active": float(self.fastagi.stats.sessions_active),
            "callcenter_fastagi_sessions_total": float(self.fastagi.stats.accepted),
            "callcenter_fastagi_failsafe_total": float(self.fastagi.stats.failsafe),
            "callcenter_ivr_flow_reloads_rejected_total": float(self.ivr_flows.rejected),
            **self.screenpop.metrics(),
            **self.kpi.metrics(),
            **self.pbx_health.metrics(),
            **self.acd.metrics(),  # routing counters and the reconciler's repairs
            **self.dialer.metrics(),  # outbound dials, connects, abandons, DNC blocks
        }

    # --- lifecycle --------------------------------------------------------------------------
    async def _database(self, _app: web.Application) -> AsyncIterator[None]:
        if self.auto_migrate:
            await migrate(async_database_url(self.settings.database_url))
        try:  # QA can score out of the box: the shipped form when none exists (domain/qa_default.py)
            if await self.qa.ensure_default_form() is not None:
                log.info("default QA form stored")
        except StoreError as exc:  # the store is down: tried again at the next start
            log.warning("default QA form not stored: %s", exc)
        yield
        await self.store.close()

    async def _redis(self, _app: web.Application) -> AsyncIterator[None]:
        yield
        if self.redis is not None:
            await self.redis.aclose()

    async def _recorder(self, _app: web.Application) -> AsyncIterator[None]:
        await self.recorder.recover()  # what a crashed process left in the journal, before any event
        self.recorder.start()
        yield
        await self.resumer.close()  # calls waiting for their stored state are finished first
        await self.recorder.close()

    async def _pbx(self, _app: web.Application) -> AsyncIterator[None]:
        await self.link.start()
        yield
        await self.link.close()

    # --- IVR / FastAGI -----------------------------------------------------------------------
    def _agi_route(self, script: str) -> AgiHandler | None:
        """``agi://host/ivr`` or ``agi://host/<flow name>`` run the IVR; ``agi://host/queue?queue=<name>``
        (``[cc-queue]``: a call the console transferred to a queue) goes straight to that queue's ACD;
        other scripts are refused."""
        if script == "queue":
            return self.ivr.handle_queue
        if script == "outbound":  # [cc-outbound]: a customer the dialer called answered
            return self.dialer.handle_agi
        if script == "preview":  # [cc-preview]: an agent answered their preview call
            return self.preview.handle_agi
        flows = self.ivr_flows.current
        if script == "ivr" or (flows is not None and script in flows.flows):
            return self._ivr_session
        return None

    async def _ivr_session(self, channel: AgiChannel) -> None:
        """An IVR session: the tracker learns that the call entered the IVR (``ivr_at``) from here, since
        the shipped eventfilter removes Newexten and AGIExec from AMI (traces fact 35)."""
        env = channel.env
        self.tracker.handle(
            IvrSessionStarted(
                at=time.time(),
                uniqueid=channel.uniqueid,
                linkedid=env.get("linkedid") or channel.uniqueid,
                script=env.get("network_script", ""),
            )
        )
        await self.ivr.handle(channel)

    def ivr_status(self) -> dict[str, Any]:
        return {
            "ready": self.ivr_ready.is_set(),
            "router": type(self.ivr.router).__name__ if self.ivr.router is not None else None,
            "flows": self.ivr_flows.status(),
            "fastagi": self.fastagi.status(),
            "sessions": {
                "active": self.ivr.stats.active,
                "total": self.ivr.stats.sessions,
                "outcomes": dict(self.ivr.stats.outcomes),
            },
            "recorder": self.ivr_recorder.stats(),
        }

    async def reload_ivr(self) -> dict[str, Any]:
        """Reload ``ivr_flows/`` (SIGHUP, ``POST /api/admin/ivr/reload``); a bad version is not used."""
        router = self.ivr.router
        self.ivr_flows.has_queue = router.has_queue if router is not None else None
        return (await self.ivr_flows.load()).as_dict()

    def _on_sighup(self) -> None:
        if self._ivr_reload_task is None or self._ivr_reload_task.done():
            self._ivr_reload_task = asyncio.get_running_loop().create_task(
                self.reload_ivr(), name="ivr-reload"
            )

    async def _fastagi(self, _app: web.Application) -> AsyncIterator[None]:
        report = await self.reload_ivr()
        if not report["ok"]:
            raise ConfigError(
                "IVR flows in {}:\n  {}".format(self.settings.ivr_flows_dir, "\n  ".join(report["problems"]))
            )
        self.ivr_recorder.start()
        await self.fastagi.start()
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signal.SIGHUP, self._on_sighup)
        self.ivr_ready.set()
        yield
        self.ivr_ready.clear()
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.remove_signal_handler(signal.SIGHUP)
        if self._ivr_reload_task is not None:
            with contextlib.suppress(Exception):
                await self._ivr_reload_task
        await self.fastagi.close()
        await self.ivr_recorder.close()

    async def _outbox_ctx(self, _app: web.Application) -> AsyncIterator[None]:
        await self.outbox.start()
        yield
        with contextlib.suppress(StoreError):
            await self.outbox.close()
        await self.webhook_sender.close()

    async def _acd_ctx(self, _app: web.Application) -> AsyncIterator[None]:
        config = await asyncio.to_thread(load_acd_config_if_present, self.settings.acd_config)
        await self.acd_bus.start()
        await self.acd.start(config)
        yield
        await self.acd.close()
        await self.acd_bus.close()

    async def _dialer_ctx(self, _app: web.Application) -> AsyncIterator[None]:
        unsubscribe = self.acd_bus.subscribe(self.missed_calls.on_bus)
        await self.missed_calls.start()
        await self.dialer.start()
        yield
        await self.dialer.close()
        unsubscribe()
        await self.missed_calls.close()

    async def _console_ctx(self, _app: web.Application) -> AsyncIterator[None]:
        path = Path(self.settings.acd_config).with_name("console.yaml")
        self.console.rules = await asyncio.to_thread(load_console_config, path)
        unsubscribe = self.acd_bus.subscribe(self.screenpop.on_bus)
        await self.screenpop.start()
        await self.console.start()
        yield
        unsubscribe()
        await self.console.close()
        await self.screenpop.close()

    async def _reports_ctx(self, _app: web.Application) -> AsyncIterator[None]:
        """Settled report intervals rolled up in the background (every instance may run it: a window is
        replaced in one transaction, so two instances write the same rows)."""
        task = asyncio.get_running_loop().create_task(self.reports.rollup_forever(), name="report-rollup")
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _recordings_ctx(self, _app: web.Application) -> AsyncIterator[None]:
        """Size, duration and checksum of finished calls' recordings, filled in the background."""
        task = asyncio.get_running_loop().create_task(
            self.recordings.fill_meta_forever(), name="recording-meta"
        )
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _wallboard_ctx(self, _app: web.Application) -> AsyncIterator[None]:
        path = Path(self.settings.acd_config).with_name("wallboard.yaml")
        config = await asyncio.to_thread(load_kpi_config, path)
        self.kpi.configure(config)
        self.supervisor.config = config
        await self.kpi.start()
        await self.admin_settings.start()  # over the console and wallboard files, before the flows load
        yield
        await self.kpi.close()

    def web_app(self) -> web.Application:
        app = create_web_app(
            self.settings,
            store=self.store,
            accounts=self.accounts,
            health=self.health,
            metrics=self.metrics,
            crm=self.crm,
            console_setup=lambda web_app: views_console.setup(web_app, self.console, crm=self.crm),
        )
        app[AUDIT_LOG] = self.audit
        app[views_acd.ACD] = self.acd
        app[views_acd.ACD_LOG] = self.acd_log
        app[views_wallboard.KPI] = self.kpi
        app[views_supervisor.SUPERVISOR] = self.supervisor
        app[views_qa.QA] = self.qa
        app[views_admin_settings.ADMIN_SETTINGS] = self.admin_settings
        app[views_admin.ADMIN] = AdminService(
            self.accounts, SqlUserAdmin(self.store.engine), audit=self.audit
        )
        views_cases.setup(app)  # /cases, /api/cases/...
        app[views_cases.CASES] = self.cases
        views_outbound.setup(app)  # /campaigns, /api/outbound/...
        app[views_outbound.CAMPAIGNS] = self.campaigns
        app[views_outbound.PREVIEW] = self.preview
        views_outbox.setup(app)  # /api/admin/outbox/..., /status/{token}
        app[views_outbox.OUTBOX] = views_outbox.OutboxViews(self.outbox_store, self.notifier)
        app[views_reports.REPORT_SERVICE] = self.reports
        self.kpi.attach(views_wallboard.HubBroadcaster(app[HUB]))
        views_ivr.setup(
            app,
            views_ivr.IvrAdmin(reload=self.reload_ivr, status=self.ivr_status, sessions=self.ivr_sessions),
        )
        # order matters: started top-down, cleaned up bottom-up
        app.cleanup_ctx.append(self._database)
        # the Redis client closes after everything that uses it (ACD state and bus, console holds)
        app.cleanup_ctx.append(self._redis)
        app.cleanup_ctx.append(self._acd_ctx)
        app.cleanup_ctx.append(self._console_ctx)
        app.cleanup_ctx.append(self._dialer_ctx)
        app.cleanup_ctx.append(self._wallboard_ctx)
        app.cleanup_ctx.append(self._reports_ctx)
        app.cleanup_ctx.append(self._recordings_ctx)
        app.cleanup_ctx.append(self._outbox_ctx)
        app.cleanup_ctx.append(self._fastagi)
        app.cleanup_ctx.append(self._recorder)
        app.cleanup_ctx.append(self._pbx)
        app.cleanup_ctx.append(_freeze_startup_objects)
        return app


async def _freeze_startup_objects(_app: web.Application) -> AsyncIterator[None]:
    """Move everything built at start into the GC's permanent generation: full collections then scan
    only what the running service allocates (measured: screen-pop p99 20-33 ms → 9.6 ms under load)."""
    gc.collect()
    gc.freeze()
    yield
    gc.unfreeze()


def run_service(settings: Settings) -> None:
    """``callcenter serve``: run until SIGINT/SIGTERM."""
    service = Service(settings)
    log.info("starting callcenter", extra={"version": __version__, "settings": settings.public_dict()})
    web.run_app(
        service.web_app(),
        host=settings.http_host,
        port=settings.http_port,
        print=lambda text: log.info(
            "web listening", extra={"url": f"http://{settings.http_host}:{settings.http_port}/"}
        ),
        shutdown_timeout=10.0,
        access_log=None,
    )
