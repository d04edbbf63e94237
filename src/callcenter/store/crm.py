"""``SqlCrmStore``: the ``CrmStore`` port on SQLAlchemy 2 Core over an ``AsyncEngine``.

Write path (``save_calls``) — the hot path, fed in batches by the records service:

1. the batch is deduplicated in memory (highest ``version`` per call id wins);
2. one ``SELECT id, version`` finds the stored versions; records whose version is not higher are
   dropped *with their legs, offers and transfers*, so a stale replay can never overwrite newer
   children either;
3. one ``INSERT ... ON CONFLICT`` executemany per table, all in one transaction: calls (``DO UPDATE
   ... WHERE calls.version < excluded.version``, which also guards against a concurrent writer), legs by
   ``uniqueid``, offers by ``(call_id, uniqueid)``, transfers by ``(call_id, at, kind, target)`` and
   recordings by ``path`` (``DO NOTHING``: ``save_recording`` owns the file metadata).

A call's ``customer_id`` is filled from ``customer_phones`` by the normalised caller number (one
``SELECT ... IN`` per batch) and never cleared by a later snapshot.

Merging a newer snapshot into a stored call (why: a service restart mid-call). The tracker then
resumes the call from a resync (``CoreShowChannels``): it knows only what the live channels tell, so
its snapshot has a later or missing ``queued_at``/``offered_at``/``answered_at``, no queue, agent or
recording, and a ``started_at`` rebuilt from a whole-second channel age. A higher version must not
erase what was stored before the restart, so each column of ``calls`` follows one rule:

* **earliest wins** (the earlier non-NULL of stored and new, ``LEAST``): ``started_at``. The tracker
  itself only moves it earlier (a call first seen mid-way is corrected from the channel age).
* **first known wins** (the stored value unless it is NULL, ``COALESCE(stored, new)``): ``ivr_at``,
  ``queued_at``, ``offered_at``, ``answered_at``. The tracker sets each of these once, from the event
  itself, so in normal operation this is the same as taking the new value; after a restart the
  snapshot has them later, missing, or (``ivr_at``: the channel's start) approximated.
* **latest known wins** (the new value unless it is unknown: NULL, ``''``, or direction
  ``internal``, the tracker's "not seen yet"): ``queue``, ``agent_id``, ``recording_file``,
  ``hangup_cause``, ``caller_num``, ``caller_name``, ``dnis``, ``direction``, ``customer_id``;
  ``extra`` is the union of both (new keys win).
* **latest wins**: ``ended_at``, ``outcome``, ``hangup_by``, ``talk_seconds``, ``hold_seconds``,
  ``version``, ``updated_at``.
* **derived from the merged times**: ``wait_seconds`` is recomputed with the tracker's definition
  (answered, else ended, minus queued, else offered) whenever merging changed one of its times; and a
  final outcome other than ``answered`` becomes ``answered`` when the merged ``answered_at`` is known
  (the tracker's rule: answered if any agent answered).

The SQL ``ON CONFLICT`` clause applies the first-known/latest-known rules itself (``CASE``/``COALESCE``,
portable to SQLite and PostgreSQL), so a concurrent writer cannot undo them; the derived columns are
computed in Python from the start times read in step 2. Legs follow the same idea: ``started_at``
earliest wins, ``answered_at`` first known wins, ``agent_id``/``hangup_cause``/``dial_status`` latest
known wins.
Talk and hold are the tracker's accumulators and cannot be merged here: after a restart the tracker
itself loads the stored record of each resumed call (``services/resume``: ``get_call``) and adds the
talk and hold from before the restart; calls still stored as in progress that no live channel shows are
closed from ``open_call_ids`` (``extra.closed_by = resume``).

Times: the domain uses epoch floats, the database timezone-aware UTC timestamps; converted here.
Errors: SQLAlchemy/driver exceptions become ``StoreUnavailable`` / ``StoreError`` / ``DuplicateError``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, Table, case, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from callcenter.domain.calls import (
    CallOutcome,
    CallPage,
    CallQuery,
    CallRecord,
    HangupSide,
    LegRecord,
    LegRole,
    OfferRecord,
    TransferRecord,
)
from callcenter.domain.customers import Customer as CustomerRecord
from callcenter.domain.customers import Segment
from callcenter.domain.errors import StoreError, StoreUnavailable
from callcenter.domain.name_search import search_key
from callcenter.domain.phones import normalize_phone
from callcenter.domain.users import Role, User, UserCredentials
from callcenter.store.engine import (
    DEFAULT_CONNECT_TIMEOUT,
    DuplicateError,
    make_engine,
    translate_errors,
)
from callcenter.store.models import (
    Agent,
    ApiToken,
    Call,
    CallLeg,
    CallOffer,
    CallTransfer,
    Customer,
    CustomerPhone,
    Recording,
    UserRow,
)

log = logging.getLogger(__name__)

__all__ = ["DuplicateError", "SqlCrmStore", "create_store"]

#: ``user_for_token`` writes ``last_used_at`` at most this often per token.
TOKEN_TOUCH_INTERVAL = timedelta(seconds=60)
#: Rows per ``IN (...)`` list, well under SQLite's bound-parameter limit.
_IN_CHUNK = 900

_CALLS: Table = Call.__table__  # type: ignore[assignment]
_LEGS: Table = CallLeg.__table__  # type: ignore[assignment]
_OFFERS: Table = CallOffer.__table__  # type: ignore[assignment]
_TRANSFERS: Table = CallTransfer.__table__  # type: ignore[assignment]
_RECORDINGS: Table = Recording.__table__  # type: ignore[assignment]
_AGENTS: Table = Agent.__table__  # type: ignore[assignment]
_PHONES: Table = CustomerPhone.__table__  # type: ignore[assignment]
_CUSTOMERS: Table = Customer.__table__  # type: ignore[assignment]
_USERS: Table = UserRow.__table__  # type: ignore[assignment]
_TOKENS: Table = ApiToken.__table__  # type: ignore[assignment]

#: ``calls`` columns where the earliest value wins, and where the first known value wins (see the
#: module docstring).
CALL_EARLIEST = ("started_at",)
CALL_FIRST_KNOWN = ("ivr_at", "queued_at", "offered_at", "answered_at")
_CALL_TIMES = (*CALL_EARLIEST, *CALL_FIRST_KNOWN)
#: ``calls`` columns where a NULL (unknown) new value keeps the stored one.
_CALL_LATEST_KNOWN = ("queue", "agent_id", "recording_file", "hangup_cause", "customer_id")
#: ``calls`` text columns where an empty new value keeps the stored one.
_CALL_LATEST_TEXT = ("caller_num", "caller_name", "dnis")
_CALL_UPDATE_COLUMNS = [
    c.name
    for c in _CALLS.columns
    if c.name not in ("id", "direction", "extra", *_CALL_TIMES, *_CALL_LATEST_KNOWN, *_CALL_LATEST_TEXT)
]
_LEG_EARLIEST = ("started_at",)
_LEG_FIRST_KNOWN = ("answered_at",)
_LEG_LATEST_KNOWN = ("agent_id", "hangup_cause", "dial_status")
_LEG_UPDATE_COLUMNS = [
    c.name
    for c in _LEGS.columns
    if c.name not in ("uniqueid", *_LEG_EARLIEST, *_LEG_FIRST_KNOWN, *_LEG_LATEST_KNOWN)
]
_OFFER_UPDATE_COLUMNS = ["agent_id", "rang_at", "ended_at", "answered", "dial_status"]


def _dt(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


def _dt_req(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _ep(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def _now() -> datetime:
    return datetime.now(UTC)


def _chunks(items: Sequence[Any], size: int = _IN_CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass(frozen=True, slots=True)
class _Statements:
    """The upsert statements for one dialect, built once."""

    calls: Any
    legs: Any
    offers: Any
    transfers: Any
    recordings: Any
    recording_meta: Any
    agents: Any


def _earliest(stored: Any, new: Any) -> ColumnElement[Any]:
    """The earlier non-NULL of two timestamps (``LEAST`` ignoring NULLs, spelled portably: SQLite's
    ``min()`` returns NULL when one argument is; its timestamps are fixed-width text that sorts like time)."""
    return case((stored.is_(None), new), (new.is_(None), stored), (new < stored, new), else_=stored)


def _known(stored: Any, new: Any, unknown: str) -> ColumnElement[Any]:
    """The new value unless it equals ``unknown`` (``''``, ``'internal'``): then the stored one."""
    return case((new == unknown, stored), else_=new)


def _build_statements(dialect: str) -> _Statements:
    insert: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert

    calls = insert(_CALLS)
    new = calls.excluded
    merged_extra = (
        _CALLS.c.extra.op("||")(new.extra)
        if dialect == "postgresql"
        else func.json_patch(_CALLS.c.extra, new.extra)  # extra is NOT NULL
    )
    calls = calls.on_conflict_do_update(
        index_elements=[_CALLS.c.id],
        set_={
            **{name: new[name] for name in _CALL_UPDATE_COLUMNS},
            **{name: _earliest(_CALLS.c[name], new[name]) for name in CALL_EARLIEST},
            **{name: func.coalesce(_CALLS.c[name], new[name]) for name in CALL_FIRST_KNOWN},
            **{name: func.coalesce(new[name], _CALLS.c[name]) for name in _CALL_LATEST_KNOWN},
            **{name: _known(_CALLS.c[name], new[name], "") for name in _CALL_LATEST_TEXT},
            "direction": _known(_CALLS.c.direction, new.direction, "internal"),
            "extra": merged_extra,
        },
        where=_CALLS.c.version < new.version,
    )
    legs = insert(_LEGS)
    legs = legs.on_conflict_do_update(
        index_elements=[_LEGS.c.uniqueid],
        set_={
            **{name: legs.excluded[name] for name in _LEG_UPDATE_COLUMNS},
            **{name: _earliest(_LEGS.c[name], legs.excluded[name]) for name in _LEG_EARLIEST},
            **{name: func.coalesce(_LEGS.c[name], legs.excluded[name]) for name in _LEG_FIRST_KNOWN},
            **{name: func.coalesce(legs.excluded[name], _LEGS.c[name]) for name in _LEG_LATEST_KNOWN},
        },
    )
    offers = insert(_OFFERS)
    offers = offers.on_conflict_do_update(
        index_elements=[_OFFERS.c.call_id, _OFFERS.c.uniqueid],
        set_={name: offers.excluded[name] for name in _OFFER_UPDATE_COLUMNS},
    )
    transfers = insert(_TRANSFERS).on_conflict_do_nothing(
        index_elements=[_TRANSFERS.c.call_id, _TRANSFERS.c.at, _TRANSFERS.c.kind, _TRANSFERS.c.target]
    )
    recordings = insert(_RECORDINGS).on_conflict_do_nothing(index_elements=[_RECORDINGS.c.path])
    meta = insert(_RECORDINGS)
    meta = meta.on_conflict_do_update(
        index_elements=[_RECORDINGS.c.path],
        set_={
            name: func.coalesce(meta.excluded[name], _RECORDINGS.c[name])
            for name in ("uniqueid", "started_at", "size_bytes", "duration_seconds", "sha256")
        }
        | {"call_id": meta.excluded.call_id},
    )
    agents = insert(_AGENTS)
    agents = agents.on_conflict_do_update(
        index_elements=[_AGENTS.c.id],
        set_={"name": agents.excluded.name, "endpoint": agents.excluded.endpoint},
    )
    return _Statements(calls, legs, offers, transfers, recordings, meta, agents)


@dataclass(frozen=True, slots=True)
class _StoredCall:
    version: int
    times: dict[str, float | None]  # CALL_EARLIEST / CALL_FIRST_KNOWN name -> epoch


def _wait(record: CallRecord) -> float | None:
    """The tracker's wait: (answered, else ended) - (queued, else first offer); None if either is unknown."""
    start = record.queued_at if record.queued_at is not None else record.offered_at
    end = record.answered_at if record.answered_at is not None else record.ended_at
    if start is None or end is None:
        return None
    return max(0.0, end - start)


def merge_stored_times(record: CallRecord, stored: dict[str, float | None]) -> CallRecord:
    """``record`` with the start times merged with ``stored`` (``CALL_EARLIEST``: the earlier one;
    ``CALL_FIRST_KNOWN``: the stored one when known), and what derives from them (``wait_seconds``, an
    ``answered`` outcome) redone when a time changed. The same merge the upsert does in SQL; see the
    module docstring."""
    changes: dict[str, Any] = {}
    for name in _CALL_TIMES:
        old, new = stored.get(name), getattr(record, name)
        if old is None or old == new:
            continue
        if name in CALL_FIRST_KNOWN or new is None or old < new:
            changes[name] = old
    if not changes:
        return record
    merged = dataclasses.replace(record, **changes)
    derived: dict[str, Any] = {}
    if changes.keys() & {"queued_at", "offered_at", "answered_at"}:
        derived["wait_seconds"] = _wait(merged)
    if merged.answered_at is not None and merged.outcome not in (
        CallOutcome.IN_PROGRESS,
        CallOutcome.ANSWERED,
    ):
        derived["outcome"] = CallOutcome.ANSWERED
    return dataclasses.replace(merged, **derived)


def create_store(
    url: str,
    *,
    echo: bool = False,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    default_country_code: str = "1",
) -> SqlCrmStore:
    """A store on ``url`` (``sqlite+aiosqlite:///path.db`` or ``postgresql+asyncpg://user@host/db``).

    Connects lazily; call ``await store.ping()`` to check the database and ``await store.close()``
    at shutdown. The schema must exist: run ``callcenter.store.migrate.migrate(url)`` first.
    """
    engine = make_engine(url, echo=echo, connect_timeout=connect_timeout)
    return SqlCrmStore(engine, connect_timeout=connect_timeout, default_country_code=default_country_code)


class SqlCrmStore:
    """``ports.CrmStore`` on SQLite or PostgreSQL, plus the CRM helpers (agents, customers)."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        default_country_code: str = "1",
    ) -> None:
        self._engine = engine
        self._connect_timeout = connect_timeout
        self._cc = default_country_code
        self._stmts = _build_statements(engine.dialect.name)

    @property
    def engine(self) -> AsyncEngine:
        return self._engine

    @property
    def dialect(self) -> str:
        return self._engine.dialect.name

    async def close(self) -> None:
        await self._engine.dispose()

    async def ping(self) -> None:
        """Raise ``StoreUnavailable`` unless the database answers ``SELECT 1`` within the connect timeout."""
        try:
            with translate_errors("ping"):
                async with asyncio.timeout(self._connect_timeout * 2), self._engine.connect() as conn:
                    await conn.exec_driver_sql("SELECT 1")
        except StoreUnavailable:
            raise
        except StoreError as error:
            raise StoreUnavailable(str(error)) from error

    # -- calls: write ------------------------------------------------------------------------------

    async def save_calls(self, calls: Sequence[CallRecord]) -> None:
        """Upsert a batch of call snapshots with their children in one transaction (idempotent)."""
        if not calls:
            return
        latest: dict[str, CallRecord] = {}
        for record in calls:
            seen = latest.get(record.call_id)
            if seen is None or record.version > seen.version:
                latest[record.call_id] = record
        with translate_errors("save_calls"):
            async with self._engine.begin() as conn:
                stored = await self._stored_calls(conn, list(latest))
                fresh: list[CallRecord] = []
                for record in latest.values():
                    row = stored.get(record.call_id)
                    if row is None:
                        fresh.append(record)
                    elif record.version > row.version:
                        fresh.append(merge_stored_times(record, row.times))
                if not fresh:
                    return
                customers = await self._customers_for(conn, fresh)
                await self._write(conn, fresh, customers)

    async def _stored_calls(self, conn: AsyncConnection, ids: list[str]) -> dict[str, _StoredCall]:
        """Version and start times (``CALL_EARLIEST``, ``CALL_FIRST_KNOWN``) of the stored calls among
        ``ids``."""
        out: dict[str, _StoredCall] = {}
        columns = [_CALLS.c.id, _CALLS.c.version, *(_CALLS.c[name] for name in _CALL_TIMES)]
        for chunk in _chunks(ids):
            result = await conn.execute(select(*columns).where(_CALLS.c.id.in_(chunk)))
            for row in result:
                times = {name: _ep(value) for name, value in zip(_CALL_TIMES, row[2:], strict=True)}
                out[row[0]] = _StoredCall(row[1], times)
        return out

    async def _customers_for(self, conn: AsyncConnection, records: list[CallRecord]) -> dict[str, int]:
        numbers: set[str] = set()
        for record in records:
            if record.caller_num:
                number = normalize_phone(record.caller_num, self._cc)
                if number is not None and number.startswith("+"):
                    numbers.add(number)
        out: dict[str, int] = {}
        for chunk in _chunks(sorted(numbers)):
            result = await conn.execute(
                select(_PHONES.c.number_e164, _PHONES.c.customer_id).where(_PHONES.c.number_e164.in_(chunk))
            )
            out.update((row[0], row[1]) for row in result)
        return out

    async def _write(
        self, conn: AsyncConnection, records: list[CallRecord], customers: dict[str, int]
    ) -> None:
        now = _now()
        call_rows: list[dict[str, Any]] = []
        legs: dict[str, dict[str, Any]] = {}
        offers: dict[tuple[str, str], dict[str, Any]] = {}
        transfers: dict[tuple[str, datetime, str, str], dict[str, Any]] = {}
        recordings: dict[str, dict[str, Any]] = {}
        cc = self._cc
        for r in records:
            customer_id = None
            if customers and r.caller_num:
                number = normalize_phone(r.caller_num, cc)
                customer_id = customers.get(number) if number else None
            call_rows.append(
                {
                    "id": r.call_id,
                    "direction": r.direction,
                    "started_at": _dt_req(r.started_at),
                    "ivr_at": _dt(r.ivr_at),
                    "queued_at": _dt(r.queued_at),
                    "offered_at": _dt(r.offered_at),
                    "answered_at": _dt(r.answered_at),
                    "ended_at": _dt(r.ended_at),
                    "caller_num": r.caller_num,
                    "caller_name": r.caller_name,
                    "dnis": r.dnis,
                    "queue": r.queue,
                    "agent_id": r.agent,
                    "customer_id": customer_id,
                    "wait_seconds": r.wait_seconds,
                    "talk_seconds": r.talk_seconds,
                    "hold_seconds": r.hold_seconds,
                    "outcome": r.outcome.value,
                    "hangup_cause": r.hangup_cause,
                    "hangup_by": None if r.hangup_by is None else r.hangup_by.value,
                    "recording_file": r.recording_file,
                    "version": r.version,
                    "updated_at": now,
                    "extra": dict(r.extra),
                }
            )
            for leg in r.legs:
                legs[leg.uniqueid] = {
                    "uniqueid": leg.uniqueid,
                    "call_id": r.call_id,  # the record owns its legs, whatever leg.call_id says
                    "channel": leg.channel,
                    "role": leg.role.value,
                    "agent_id": leg.agent,
                    "started_at": _dt_req(leg.started_at),
                    "answered_at": _dt(leg.answered_at),
                    "ended_at": _dt(leg.ended_at),
                    "hangup_cause": leg.hangup_cause,
                    "dial_status": leg.dial_status,
                }
            for offer in r.offers:
                offers[(r.call_id, offer.uniqueid)] = {
                    "call_id": r.call_id,
                    "uniqueid": offer.uniqueid,
                    "agent_id": offer.agent,
                    "rang_at": _dt_req(offer.rang_at),
                    "ended_at": _dt(offer.ended_at),
                    "answered": offer.answered,
                    "dial_status": offer.dial_status,
                }
            for transfer in r.transfers:
                at = _dt_req(transfer.at)
                transfers[(r.call_id, at, transfer.kind, transfer.target)] = {
                    "call_id": r.call_id,
                    "at": at,
                    "kind": transfer.kind,
                    "target": transfer.target,
                    "from_agent": transfer.from_agent,
                }
            if r.recording_file:
                recordings[r.recording_file] = {
                    "call_id": r.call_id,
                    "uniqueid": None,
                    "path": r.recording_file,
                    "started_at": _dt(r.answered_at if r.answered_at is not None else r.started_at),
                    "size_bytes": None,
                    "duration_seconds": None,
                    "sha256": None,
                }
        stmts = self._stmts
        await conn.execute(stmts.calls, call_rows)
        if legs:
            await conn.execute(stmts.legs, list(legs.values()))
        if offers:
            await conn.execute(stmts.offers, list(offers.values()))
        if transfers:
            await conn.execute(stmts.transfers, list(transfers.values()))
        if recordings:
            await conn.execute(stmts.recordings, list(recordings.values()))

    async def save_recording(
        self,
        call_id: str,
        path: str,
        *,
        uniqueid: str | None = None,
        started_at: float | None = None,
        size_bytes: int | None = None,
        duration_seconds: float | None = None,
        sha256: str | None = None,
    ) -> None:
        """Insert or complete the row of a recording file (keyed by ``path``; the call must exist).
        ``None`` arguments keep what is stored."""
        row = {
            "call_id": call_id,
            "uniqueid": uniqueid,
            "path": path,
            "started_at": _dt(started_at),
            "size_bytes": size_bytes,
            "duration_seconds": duration_seconds,
            "sha256": sha256,
        }
        with translate_errors("save_recording"):
            async with self._engine.begin() as conn:
                await conn.execute(self._stmts.recording_meta, [row])

    # -- calls: read -------------------------------------------------------------------------------

    async def get_call(self, call_id: str) -> CallRecord | None:
        with translate_errors("get_call"):
            async with self._engine.connect() as conn:
                calls = await self._load_calls(conn, select(_CALLS).where(_CALLS.c.id == call_id))
        return calls[0] if calls else None

    async def list_calls(self, query: CallQuery) -> CallPage:
        """Calls matching ``query``, newest first (``started_at DESC, id``), with the total count."""
        conditions: list[Any] = []
        if query.since is not None:
            conditions.append(_CALLS.c.started_at >= _dt_req(query.since))
        if query.until is not None:
            conditions.append(_CALLS.c.started_at < _dt_req(query.until))
        if query.caller:
            pattern = "%" + _escape_like(query.caller) + "%"
            conditions.append(_CALLS.c.caller_num.like(pattern, escape="\\"))
        if query.agent:
            conditions.append(_CALLS.c.agent_id == query.agent)
        if query.queue:
            conditions.append(_CALLS.c.queue == query.queue)
        if query.outcome is not None:
            conditions.append(_CALLS.c.outcome == CallOutcome(query.outcome).value)
        limit = max(0, query.limit)
        offset = max(0, query.offset)
        page = (
            select(_CALLS)
            .where(*conditions)
            .order_by(_CALLS.c.started_at.desc(), _CALLS.c.id)
            .limit(limit)
            .offset(offset)
        )
        count = select(func.count()).select_from(_CALLS).where(*conditions)
        with translate_errors("list_calls"):
            async with self._engine.connect() as conn:
                total = int((await conn.execute(count)).scalar_one())
                calls = await self._load_calls(conn, page) if limit and offset < total else []
        return CallPage(calls=tuple(calls), total=total, limit=limit, offset=offset)

    async def open_call_ids(self) -> Sequence[str]:
        stmt = (
            select(_CALLS.c.id).where(_CALLS.c.outcome == CallOutcome.IN_PROGRESS.value).order_by(_CALLS.c.id)
        )
        with translate_errors("open_call_ids"):
            async with self._engine.connect() as conn:
                return list((await conn.execute(stmt)).scalars())

    async def _load_calls(self, conn: AsyncConnection, stmt: Select[Any]) -> list[CallRecord]:
        rows = (await conn.execute(stmt)).mappings().all()
        if not rows:
            return []
        ids = [row["id"] for row in rows]
        legs: dict[str, list[LegRecord]] = {}
        offers: dict[str, list[OfferRecord]] = {}
        transfers: dict[str, list[TransferRecord]] = {}
        for chunk in _chunks(ids):
            result = await conn.execute(
                select(_LEGS).where(_LEGS.c.call_id.in_(chunk)).order_by(_LEGS.c.started_at, _LEGS.c.uniqueid)
            )
            for m in result.mappings():
                legs.setdefault(m["call_id"], []).append(
                    LegRecord(
                        uniqueid=m["uniqueid"],
                        call_id=m["call_id"],
                        channel=m["channel"],
                        role=LegRole(m["role"]),
                        started_at=m["started_at"].timestamp(),
                        agent=m["agent_id"],
                        answered_at=_ep(m["answered_at"]),
                        ended_at=_ep(m["ended_at"]),
                        hangup_cause=m["hangup_cause"],
                        dial_status=m["dial_status"],
                    )
                )
            result = await conn.execute(
                select(_OFFERS).where(_OFFERS.c.call_id.in_(chunk)).order_by(_OFFERS.c.rang_at, _OFFERS.c.id)
            )
            for m in result.mappings():
                offers.setdefault(m["call_id"], []).append(
                    OfferRecord(
                        agent=m["agent_id"],
                        uniqueid=m["uniqueid"],
                        rang_at=m["rang_at"].timestamp(),
                        ended_at=_ep(m["ended_at"]),
                        answered=bool(m["answered"]),
                        dial_status=m["dial_status"],
                    )
                )
            result = await conn.execute(
                select(_TRANSFERS)
                .where(_TRANSFERS.c.call_id.in_(chunk))
                .order_by(_TRANSFERS.c.at, _TRANSFERS.c.id)
            )
            for m in result.mappings():
                transfers.setdefault(m["call_id"], []).append(
                    TransferRecord(
                        at=m["at"].timestamp(), kind=m["kind"], target=m["target"], from_agent=m["from_agent"]
                    )
                )
        return [
            CallRecord(
                call_id=row["id"],
                started_at=row["started_at"].timestamp(),
                direction=row["direction"],
                caller_num=row["caller_num"],
                caller_name=row["caller_name"],
                dnis=row["dnis"],
                queue=row["queue"],
                agent=row["agent_id"],
                ivr_at=_ep(row["ivr_at"]),
                queued_at=_ep(row["queued_at"]),
                offered_at=_ep(row["offered_at"]),
                answered_at=_ep(row["answered_at"]),
                ended_at=_ep(row["ended_at"]),
                wait_seconds=row["wait_seconds"],
                talk_seconds=row["talk_seconds"],
                hold_seconds=row["hold_seconds"],
                outcome=CallOutcome(row["outcome"]),
                hangup_cause=row["hangup_cause"],
                hangup_by=None if row["hangup_by"] is None else HangupSide(row["hangup_by"]),
                recording_file=row["recording_file"],
                legs=tuple(legs.get(row["id"], ())),
                offers=tuple(offers.get(row["id"], ())),
                transfers=tuple(transfers.get(row["id"], ())),
                version=row["version"],
                extra={str(k): str(v) for k, v in (row["extra"] or {}).items()},
            )
            for row in rows
        ]

    async def call_customer_id(self, call_id: str) -> int | None:
        """The customer linked to a stored call (by caller number), if any."""
        with translate_errors("call_customer_id"):
            async with self._engine.connect() as conn:
                result = await conn.execute(select(_CALLS.c.customer_id).where(_CALLS.c.id == call_id))
                return result.scalar_one_or_none()

    # -- users and API tokens ----------------------------------------------------------------------

    async def add_user(
        self,
        username: str,
        password_hash: str,
        role: Role,
        *,
        display_name: str = "",
        agent: str | None = None,
    ) -> User:
        """Store a new user. A taken username raises ``DuplicateError`` (a ``StoreError`` and a
        ``ValueError``)."""
        role = Role(role)
        values = {
            "username": username,
            "password_hash": password_hash,
            "role": role.value,
            "display_name": display_name,
            "agent_id": agent,
            "active": True,
            "created_at": _now(),
        }
        try:
            with translate_errors("add_user"):
                async with self._engine.begin() as conn:
                    result = await conn.execute(_USERS.insert().values(values).returning(_USERS.c.id))
                    user_id = int(result.scalar_one())
        except DuplicateError as error:
            raise DuplicateError(f"username {username!r} is already taken") from error.__cause__
        return User(
            id=user_id, username=username, role=role, display_name=display_name, agent=agent, active=True
        )

    async def get_credentials(self, username: str) -> UserCredentials | None:
        stmt = select(_USERS).where(_USERS.c.username == username)
        with translate_errors("get_credentials"):
            async with self._engine.connect() as conn:
                row = (await conn.execute(stmt)).mappings().one_or_none()
        if row is None:
            return None
        return UserCredentials(user=_user(row), password_hash=row["password_hash"])

    async def get_user(self, user_id: int) -> User | None:
        stmt = select(_USERS).where(_USERS.c.id == user_id)
        with translate_errors("get_user"):
            async with self._engine.connect() as conn:
                row = (await conn.execute(stmt)).mappings().one_or_none()
        return None if row is None else _user(row)

    async def set_user_active(self, user_id: int, active: bool) -> None:
        with translate_errors("set_user_active"):
            async with self._engine.begin() as conn:
                await conn.execute(update(_USERS).where(_USERS.c.id == user_id).values(active=active))

    async def set_user_language(self, user_id: int, language: str) -> None:
        with translate_errors("set_user_language"):
            async with self._engine.begin() as conn:
                stmt = update(_USERS).where(_USERS.c.id == user_id).values(language=language)
                await conn.execute(stmt)

    async def add_api_token(self, user_id: int, token_hash: str, label: str = "") -> None:
        values = {"user_id": user_id, "token_hash": token_hash, "label": label, "created_at": _now()}
        with translate_errors("add_api_token"):
            async with self._engine.begin() as conn:
                await conn.execute(_TOKENS.insert().values(values))

    async def user_for_token(self, token_hash: str) -> User | None:
        """The active user owning the token with this digest. ``last_used_at`` is written at most once
        per ``TOKEN_TOUCH_INTERVAL`` per token, so authenticated requests stay read-only."""
        stmt = (
            select(_USERS, _TOKENS.c.id.label("token_id"), _TOKENS.c.last_used_at.label("token_last_used_at"))
            .join(_TOKENS, _TOKENS.c.user_id == _USERS.c.id)
            .where(_TOKENS.c.token_hash == token_hash, _USERS.c.active.is_(True))
        )
        with translate_errors("user_for_token"):
            async with self._engine.connect() as conn:
                row = (await conn.execute(stmt)).mappings().one_or_none()
                if row is None:
                    return None
                now = _now()
                last = row["token_last_used_at"]
                if last is None or now - last >= TOKEN_TOUCH_INTERVAL:
                    await conn.execute(
                        update(_TOKENS)
                        .where(
                            _TOKENS.c.id == row["token_id"],
                            or_(_TOKENS.c.last_used_at.is_(None), _TOKENS.c.last_used_at < now),
                        )
                        .values(last_used_at=now)
                    )
                    await conn.commit()
        return _user(row)

    # -- agents and customers ----------------------------------------------------------------------

    async def upsert_agents(self, agents: Sequence[tuple[str, str, str]]) -> None:
        """Insert or update agents given as ``(id, name, endpoint)``, e.g.
        ``("1001", "Ann", "PJSIP/1001")``."""
        if not agents:
            return
        rows = {
            agent_id: {"id": agent_id, "name": name, "endpoint": endpoint}
            for agent_id, name, endpoint in agents
        }
        with translate_errors("upsert_agents"):
            async with self._engine.begin() as conn:
                await conn.execute(self._stmts.agents, list(rows.values()))

    async def list_agents(self) -> list[tuple[str, str, str]]:
        """All agents as ``(id, name, endpoint)``, by id."""
        with translate_errors("list_agents"):
            async with self._engine.connect() as conn:
                result = await conn.execute(
                    select(_AGENTS.c.id, _AGENTS.c.name, _AGENTS.c.endpoint).order_by(_AGENTS.c.id)
                )
                return [(row[0], row[1], row[2]) for row in result]

    async def add_customer(
        self,
        name: str,
        phones: Sequence[str | tuple[str, str]] = (),
        *,
        company: str = "",
        email: str = "",
        segment: Segment | str = Segment.NEW,
        vip: bool | None = None,
        value_score: float = 0.0,
        notes: str = "",
    ) -> CustomerRecord:
        """Store a customer with phone numbers (raw strings, or ``(raw, label)`` pairs), normalised to
        E.164 with the store's default country code. An unparseable number raises ``ValueError``;
        a number that already belongs to a customer raises ``DuplicateError``. ``vip`` defaults to
        ``segment == "vip"``."""
        segment = Segment(segment)
        vip = segment is Segment.VIP if vip is None else vip
        phone_rows: dict[str, tuple[str, str]] = {}
        for item in phones:
            raw, label = (item, "") if isinstance(item, str) else item
            number = normalize_phone(raw, self._cc)
            if number is None or not number.startswith("+"):
                raise ValueError(f"not a phone number: {raw!r}")
            phone_rows.setdefault(number, (raw, label))
        now = _now()
        values = {
            "name": name,
            "name_search": search_key(name),
            "company": company,
            "email": email,
            "segment": segment.value,
            "vip": vip,
            "value_score": value_score,
            "notes": notes,
            "created_at": now,
            "updated_at": now,
        }
        try:
            with translate_errors("add_customer"):
                async with self._engine.begin() as conn:
                    result = await conn.execute(_CUSTOMERS.insert().values(values).returning(_CUSTOMERS.c.id))
                    customer_id = int(result.scalar_one())
                    if phone_rows:
                        await conn.execute(
                            _PHONES.insert(),
                            [
                                {
                                    "customer_id": customer_id,
                                    "number_e164": number,
                                    "raw": raw,
                                    "label": label,
                                }
                                for number, (raw, label) in phone_rows.items()
                            ],
                        )
        except DuplicateError as error:
            raise DuplicateError(
                f"a phone number of {name!r} belongs to another customer"
            ) from error.__cause__
        return CustomerRecord(
            id=customer_id,
            name=name,
            company=company,
            email=email,
            segment=segment,
            vip=vip,
            value_score=value_score,
            notes=notes,
            phones=tuple(phone_rows),
        )

    async def find_customer_by_phone(self, number: str) -> CustomerRecord | None:
        """The customer owning ``number`` (E.164, or anything ``normalize_phone`` understands)."""
        e164 = normalize_phone(number, self._cc)
        if e164 is None or not e164.startswith("+"):
            return None
        owner = select(_PHONES.c.customer_id).where(_PHONES.c.number_e164 == e164).scalar_subquery()
        with translate_errors("find_customer_by_phone"):
            async with self._engine.connect() as conn:
                row = (
                    (await conn.execute(select(_CUSTOMERS).where(_CUSTOMERS.c.id == owner)))
                    .mappings()
                    .one_or_none()
                )
                if row is None:
                    return None
                result = await conn.execute(
                    select(_PHONES.c.number_e164)
                    .where(_PHONES.c.customer_id == row["id"])
                    .order_by(_PHONES.c.id)
                )
                phones = tuple(result.scalars())
        return CustomerRecord(
            id=row["id"],
            name=row["name"],
            company=row["company"],
            email=row["email"],
            segment=Segment(row["segment"]),
            vip=bool(row["vip"]),
            value_score=row["value_score"],
            notes=row["notes"],
            phones=phones,
        )


def _user(row: Any) -> User:
    return User(
        id=row["id"],
        username=row["username"],
        role=Role(row["role"]),
        display_name=row["display_name"],
        agent=row["agent_id"],
        active=bool(row["active"]),
        language=row["language"] or "",
    )


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
