"""Fixtures of the QA suite: migrated databases on both backends, a small WAV file, the whole service
with a temp ``recordings_dir`` and a few users and calls."""

from __future__ import annotations

import asyncio
import dataclasses
import math
import shutil
import struct
import wave
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from callcenter.app import Service
from callcenter.config import Secret
from callcenter.domain.calls import CallOutcome, LegRecord, LegRole, OfferRecord, TransferRecord
from callcenter.domain.users import Role
from callcenter.store.crm import SqlCrmStore, create_store
from tests.store.conftest import TABLES, PgServer, _dsn, pg, sqlite_template  # noqa: F401 - fixtures
from tests.support.ami_server import FakeAmiServer
from tests.webapp.helpers import PASSWORD, T0, make_call

QA_TABLES = (
    *TABLES,
    "recording_holds",
    "recording_playbacks",
    "qa_evaluations",
    "qa_forms",
    "ivr_sessions",
    "tickets",
    "call_dispositions",
)


def write_wav(path: Path, seconds: float = 2.0, rate: int = 8000) -> Path:
    """A real mono 16-bit PCM WAV file (a 440 Hz tone)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = b"".join(
        struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / rate)))
        for i in range(int(seconds * rate))
    )
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(frames)
    return path


async def _truncate(url: str) -> None:
    conn = await asyncpg.connect(_dsn(*url.rsplit("/", 1)), timeout=3)
    try:
        await conn.execute(f"TRUNCATE {', '.join(QA_TABLES)} RESTART IDENTITY CASCADE")
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def qa_db_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:  # noqa: F811
    if request.param == "sqlite":
        path = tmp_path / "qa.db"
        shutil.copyfile(sqlite_template, path)
        return f"sqlite+aiosqlite:///{path}"
    server: PgServer = request.getfixturevalue("pg")
    url = server.require()
    asyncio.run(_truncate(url))
    return url


@pytest.fixture
async def crm(qa_db_url: str) -> AsyncIterator[SqlCrmStore]:
    store = create_store(qa_db_url)
    try:
        yield store
    finally:
        await store.close()


def sample_calls() -> list[Any]:
    """Four calls: c1 answered by 1001 with a recording, a hold and a transfer; c2 answered by 1002;
    c3 abandoned in queue; c4 abandoned in the IVR."""
    c1 = make_call(
        "c1",
        agent="1001",
        queue="sales",
        caller_num="+15550001",
        hold_seconds=12.0,
        queued_at=T0 + 5,
        recording_file="2023/c1.wav",
        offers=(
            OfferRecord("1002", "c1.2", T0 + 10, T0 + 15, False, "NOANSWER"),
            OfferRecord("1001", "c1.3", T0 + 16, T0 + 20, True, "ANSWER"),
        ),
        legs=(LegRecord("c1.3", "c1", "PJSIP/1001-1", LegRole.AGENT, T0 + 16, "1001", T0 + 20, T0 + 200),),
        transfers=(TransferRecord(T0 + 150, "blind", "2000", "1001"),),
    )
    c2 = make_call(
        "c2", agent="1002", queue="support", caller_num="+15550002", started_at=T0 + 3600, talk_seconds=30.0
    )
    c3 = make_call(
        "c3",
        agent=None,
        queue="sales",
        caller_num="+15550003",
        started_at=T0 + 7200,
        outcome=CallOutcome.ABANDONED,
        answered_at=None,
        talk_seconds=0.0,
    )
    c4 = make_call(
        "c4",
        agent=None,
        queue=None,
        caller_num="+15550004",
        started_at=T0 + 7300,
        outcome=CallOutcome.ABANDONED_IN_IVR,
        answered_at=None,
        talk_seconds=0.0,
    )
    return [c1, c2, c3, c4]


@dataclasses.dataclass
class QaEnv:
    service: Service
    client: TestClient[Any, Any]
    recordings_dir: Path
    wav: Path


@pytest.fixture
async def qa_env(tmp_path: Path) -> AsyncIterator[QaEnv]:
    recordings = tmp_path / "recordings"
    wav = write_wav(recordings / "2023" / "c1.wav")
    async with FakeAmiServer() as pbx:
        settings = dataclasses.replace(
            pbx.settings(),
            database_url=f"sqlite+aiosqlite:///{tmp_path / 'qa.db'}",
            session_secret=Secret("qa-test-secret-0123456789abcdef"),
            http_port=0,
            agi_port=0,
            recordings_dir=str(recordings),
        )
        service = Service(settings)
        async with TestClient(TestServer(service.web_app())) as client:
            await service.link.wait_ready(5)
            accounts = service.accounts
            await accounts.create_user("alice", PASSWORD, Role.AGENT, "Alice", agent="1001")
            await accounts.create_user("bob", PASSWORD, Role.AGENT, "Bob", agent="1002")
            await accounts.create_user("sam", PASSWORD, Role.SUPERVISOR, "Sam")
            await accounts.create_user("quinn", PASSWORD, Role.QA, "Quinn")
            await accounts.create_user("quill", PASSWORD, Role.QA, "Quill")
            await accounts.create_user("ada", PASSWORD, Role.ADMIN, "Ada")
            await service.store.save_calls(sample_calls())
            yield QaEnv(service, client, recordings, wav)


FORM = {
    "name": "Standard",
    "sections": [
        {
            "title": "Opening",
            "questions": [
                {"id": "greet", "text": "Greeted the caller", "kind": "yes_no", "weight": 1},
                {
                    "id": "verify",
                    "text": "Verified identity",
                    "kind": "yes_no",
                    "weight": 2,
                    "instant_fail": True,
                },
            ],
        },
        {
            "title": "Resolution",
            "questions": [
                {"id": "solve", "text": "Resolved the issue", "kind": "scale", "weight": 3, "max_points": 5},
                {
                    "id": "upsell",
                    "text": "Offered an upgrade",
                    "kind": "yes_no",
                    "weight": 1,
                    "allow_na": True,
                },
            ],
        },
    ],
}
