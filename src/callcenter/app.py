"""Composition root: builds every part from ``Settings`` and owns their lifecycle.

Each resource is an aiohttp ``cleanup_ctx`` (database, Redis, the write-behind recorder, the AMI link),
started in order and stopped in reverse: the AMI link closes first so no new events arrive, then the
recorder flushes what the tracker still holds, then the database closes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from redis.asyncio import Redis

from callcenter import __version__
from callcenter.config import Settings, async_database_url, mask_url_password
from callcenter.domain.agents import AgentDirectory
from callcenter.domain.errors import StoreError
from callcenter.domain.events import LinkDown, LinkUp, PbxEvent
from callcenter.pbx.ami import AmiLink
from callcenter.pbx.message import AmiMessage
from callcenter.pbx.translate import Translator
from callcenter.services.accounts import Accounts
from callcenter.services.records import CallRecorder
from callcenter.services.tracker import CallTracker
from callcenter.state.redis_conn import connect_redis, redis_health
from callcenter.store.crm import SqlCrmStore, create_store
from callcenter.store.migrate import migrate
from callcenter.webapp.app import create_web_app

log = logging.getLogger(__name__)


class Service:
    """The running service: PBX link → translate → tracker → recorder → store, plus the web app."""

    def __init__(
        self, settings: Settings, *, agents: AgentDirectory | None = None, auto_migrate: bool = True
    ) -> None:
        self.settings = settings
        self.started_at = time.time()
        self.auto_migrate = auto_migrate
        self.translator = Translator()
        self.tracker = CallTracker(agents)
        self.store: SqlCrmStore = create_store(async_database_url(settings.database_url))
        self.recorder = CallRecorder(
            self.store,
            self.tracker.take_changes,
            batch_size=settings.store_batch_size,
            flush_interval=settings.store_flush_interval,
        )
        self.link = AmiLink(settings, self.on_pbx_item)
        self.redis: Redis | None = connect_redis(settings.redis_url) if settings.redis_url else None
        self.accounts = Accounts(self.store)
        self.handler_errors = 0

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
        ok = pbx_ok and database["state"] == "up" and redis["state"] in ("up", "disabled")
        return {
            "status": "ok" if ok else "degraded",
            "version": __version__,
            "uptime_seconds": round(time.time() - self.started_at, 1),
            "pbx": pbx,
            "database": database,
            "redis": redis,
            "calls": self.tracker.stats(),
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
        }

    # --- lifecycle --------------------------------------------------------------------------
    async def _database(self, _app: web.Application) -> AsyncIterator[None]:
        if self.auto_migrate:
            await migrate(async_database_url(self.settings.database_url))
        yield
        await self.store.close()

    async def _redis(self, _app: web.Application) -> AsyncIterator[None]:
        yield
        if self.redis is not None:
            await self.redis.aclose()

    async def _recorder(self, _app: web.Application) -> AsyncIterator[None]:
        self.recorder.start()
        yield
        await self.recorder.close()

    async def _pbx(self, _app: web.Application) -> AsyncIterator[None]:
        await self.link.start()
        yield
        await self.link.close()

    def web_app(self) -> web.Application:
        app = create_web_app(
            self.settings, store=self.store, accounts=self.accounts, health=self.health, metrics=self.metrics
        )
        # order matters: started top-down, cleaned up bottom-up
        app.cleanup_ctx.append(self._database)
        app.cleanup_ctx.append(self._redis)
        app.cleanup_ctx.append(self._recorder)
        app.cleanup_ctx.append(self._pbx)
        return app


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
