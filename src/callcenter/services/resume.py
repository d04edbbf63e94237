"""Resume after a service restart: merge the store's record of calls that were already up.

When the service starts (or reconnects) while calls are in progress, the tracker rebuilds each live call
from the resync snapshot (CoreShowChannels): it knows the channels, not the call's history. Two things
only the store knows are brought back here, after every resync (``CallTracker.on_resync``):

1. **Live calls the resync created** (unknown to this process: it restarted). Their stored record (times,
   queue, agent, customer, recording, IVR data, legs, offers, transfers, talk and hold so far) is loaded
   with ``CrmStore.get_call`` and merged into the tracker's call (``CallTracker.restore``). Design:
   the tracker never waits on the database. Live events for such a call keep being applied as they come;
   the merge is order-independent (times: earliest / first known, a snapshot estimate yields to the
   stored time; descriptive fields: the live value when known; talk/hold: the pre-restart part is added).
   The one thing that must wait is the *final* record: a call that ends before its stored state arrived
   is held by the tracker ("parked", still counted live) and finished by the restore, so the screen pop,
   KPIs and the store only ever see the merged final record. Every call taken here is answered with
   ``restore`` or ``restore_failed`` (``finally``), so nothing stays parked.
2. **Calls the store has as in progress that no live channel shows** (``CrmStore.open_call_ids``, minus
   anything the tracker knows: live, parked or finished by this process): they ended while the service
   was down. ``CallTracker.close_stale`` closes them (answered if they had an ``answered_at``, else lost;
   ``ended_at`` = the last time the store saw them, bounded by the resync; ``extra.closed_by=resume``).

If the store fails or times out, the failure is logged and counted, and the calls go on with the
snapshot-only view (``restore_failed``); the stale pass is retried at the next resync.

The work runs in one task owned by this object (started on the first resync, stopped by ``close``);
the tracker's listener only records what to do and sets an event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from callcenter.domain.call_model import ResyncDone
from callcenter.domain.calls import CallOutcome
from callcenter.domain.errors import StoreError
from callcenter.ports import StoredCalls
from callcenter.services.tracker import CallTracker

log = logging.getLogger(__name__)


class CallResumer:
    def __init__(self, tracker: CallTracker, store: StoredCalls, *, timeout: float = 5.0) -> None:
        self._tracker = tracker
        self._store = store
        self._timeout = timeout
        self._pending: set[str] = set()
        self._resync_at: float | None = None
        self._wanted = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.passes = 0
        self.restored = 0
        self.missing = 0
        self.closed_stale = 0
        self.store_failures = 0
        self.last_error: str | None = None
        tracker.on_resync(self._on_resync)

    # --- called by the tracker in the event path: note the work, never wait -----------------
    def _on_resync(self, done: ResyncDone) -> None:
        self._pending |= done.new_calls
        if not done.continued:
            self._resync_at = done.at  # a continued call (callback) needs no stale pass
        if self._closed:
            self._give_up(set(self._pending))
            self._pending.clear()
            return
        self._wanted.set()
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="call-resumer")

    # --- the resume task -------------------------------------------------------------------
    async def _run(self) -> None:
        while not self._closed:
            await self._wanted.wait()
            self._wanted.clear()
            if self._closed:
                return
            try:
                await self.run_once()
            except Exception:  # the task boundary: one failed pass must not end the resumer
                log.exception("resume pass failed")

    async def run_once(self) -> None:
        """One pass: restore the calls the last resyncs created, then close stale open calls."""
        ids, self._pending = self._pending, set()
        bound, self._resync_at = self._resync_at, None
        try:
            try:
                await self._restore(ids)
            finally:
                self._give_up(ids)  # whatever was not restored goes on with the snapshot only
            if bound is not None and not await self._close_stale(bound):
                self._resync_at = self._resync_at or bound  # retried by the next pass
        finally:
            self.passes += 1

    async def _restore(self, ids: set[str]) -> None:
        for call_id in sorted(ids):
            try:
                stored = await asyncio.wait_for(self._store.get_call(call_id), self._timeout)
            except (StoreError, TimeoutError) as exc:
                self._failed("load the stored state of resumed calls", exc, calls=len(ids))
                return  # the others would fail the same way: snapshot only for all of them
            ids.discard(call_id)
            if stored is None:
                self.missing += 1
                self._tracker.restore_failed(call_id, missing=True)
                log.info("resumed call has no stored record", extra={"linkedid": call_id})
            elif self._tracker.restore(stored):
                self.restored += 1

    async def _close_stale(self, bound: float) -> bool:
        try:
            open_ids = await asyncio.wait_for(self._store.open_call_ids(), self._timeout)
            for call_id in open_ids:
                if self._tracker.knows(call_id):
                    continue
                stored = await asyncio.wait_for(self._store.get_call(call_id), self._timeout)
                if stored is None or stored.outcome is not CallOutcome.IN_PROGRESS:
                    continue
                if self._tracker.close_stale(stored, bound) is not None:
                    self.closed_stale += 1
        except (StoreError, TimeoutError) as exc:
            self._failed("close calls that ended while the service was down", exc)
            return False
        return True

    def _failed(self, what: str, exc: BaseException, **extra: object) -> None:
        self.store_failures += 1
        self.last_error = str(exc) or type(exc).__name__
        log.error(
            "resume: could not %s; going on with the PBX snapshot only",
            what,
            extra={"error": self.last_error, **extra},
        )

    def _give_up(self, ids: set[str]) -> None:
        for call_id in ids:
            self._tracker.restore_failed(call_id)

    async def close(self) -> None:
        """Stop the task; calls still waiting for their stored state go on with the snapshot."""
        self._closed = True
        self._wanted.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._give_up(set(self._pending))
        self._pending.clear()

    def stats(self) -> dict[str, object]:
        return {
            "passes": self.passes,
            "restored": self.restored,
            "missing": self.missing,
            "closed_stale": self.closed_stale,
            "store_failures": self.store_failures,
            "last_error": self.last_error,
        }
