"""Pages and messages in zh-CN and en: the user's stored language, else the browser's
Accept-Language, else the default; POST /language stores it (audited); the scripts' strings come from
the same catalogue; API errors keep their English ``error`` and add a translated ``message``."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from callcenter.domain.audit import AuditEntry
from callcenter.domain.users import User
from callcenter.webapp.i18n import negotiate, parse_accept_language
from callcenter.webapp.keys import AUDIT_LOG
from tests.webapp.fakes import FakeCrmStore
from tests.webapp.helpers import csrf_from, login

ZH = {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"}


class MemoryAudit:
    def __init__(self) -> None:
        self.entries: list[AuditEntry] = []

    async def save_audit(self, entry: AuditEntry) -> int:
        self.entries.append(entry)
        return len(self.entries)


@pytest.fixture
def audit(app: web.Application) -> MemoryAudit:
    log = MemoryAudit()
    app[AUDIT_LOG] = log
    return log


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("zh-CN,zh;q=0.9", ["zh-CN"]),
        ("en-US,en;q=0.9,zh;q=0.8", ["en", "zh-CN"]),
        ("zh-Hans-CN;q=0.4, en;q=0.6", ["en", "zh-CN"]),
        ("zh-TW,fr", []),  # traditional Chinese and French are not ours
        ("zh;q=0, en", ["en"]),  # q=0 refuses
        ("de;q=abc, zh-SG", ["zh-CN"]),
        ("", []),
    ],
)
def test_accept_language(header: str, expected: list[str]) -> None:
    assert parse_accept_language(header) == expected


def test_negotiation_order() -> None:
    assert negotiate(user_language="en", cookie="zh-CN", accept_language="zh-CN") == "en"
    assert negotiate(user_language="", cookie="zh-CN", accept_language="en") == "zh-CN"
    assert negotiate(user_language="", cookie="klingon", accept_language="zh") == "zh-CN"
    assert negotiate(accept_language="fr", default="zh-CN") == "zh-CN"
    assert negotiate(accept_language="fr", default="xx") == "en"


async def test_login_page_follows_accept_language(client: TestClient[Any, Any]) -> None:
    zh = await client.get("/login", headers=ZH)
    html = await zh.text()
    assert '<html lang="zh-CN">' in html and "登录" in html and "Username" not in html
    assert zh.headers["Content-Language"] == "zh-CN"
    en = await client.get("/login", headers={"Accept-Language": "en-GB"})
    assert '<html lang="en">' in (await en.text()) and "Username" in (await en.text())


async def test_stored_language_wins_and_is_audited(
    audit: MemoryAudit, client: TestClient[Any, Any], store: FakeCrmStore, users: dict[str, User]
) -> None:
    await login(client, "alice")
    page = await client.get("/agent", headers={"Accept-Language": "en"})
    token = csrf_from(await page.text())
    resp = await client.post(
        "/language", data={"language": "zh-CN", "next": "/agent", "csrf": token}, allow_redirects=False
    )
    assert resp.status == 303 and resp.headers["Location"] == "/agent"
    stored = await store.get_user(users["alice"].id)
    assert stored is not None and stored.language == "zh-CN"
    assert [(e.actor, e.action, e.detail) for e in audit.entries] == [
        ("alice", "user.language", {"from": "", "to": "zh-CN"})
    ]
    client.session.cookie_jar.clear(lambda c: c.key == "callcenter_lang")  # the stored setting alone
    again = await client.get("/agent", headers={"Accept-Language": "en"})
    html = await again.text()
    assert '<html lang="zh-CN">' in html and "坐席工作台" in html
    # an open redirect is refused: back to the start page
    resp = await client.post(
        "/language", data={"language": "en", "next": "//evil.example/", "csrf": token}, allow_redirects=False
    )
    assert resp.headers["Location"] == "/"


async def test_language_post_needs_csrf_and_a_known_language(
    audit: MemoryAudit, client: TestClient[Any, Any], users: dict[str, User]
) -> None:
    await login(client, "alice")
    page = await client.get("/agent")
    token = csrf_from(await page.text())
    assert (await client.post("/language", data={"language": "zh-CN"})).status == 403
    bad = await client.post("/language", data={"language": "fr", "csrf": token})
    assert bad.status == 400
    assert audit.entries == []


async def test_anonymous_choice_is_a_cookie(client: TestClient[Any, Any]) -> None:
    resp = await client.post("/language", data={"language": "zh-CN", "next": "/login"}, allow_redirects=False)
    assert resp.status == 303
    page = await client.get("/login", headers={"Accept-Language": "en"})
    assert "登录" in await page.text()


async def test_scripts_catalogue(client: TestClient[Any, Any]) -> None:
    zh = await client.get("/i18n/zh-CN.json")
    assert zh.status == 200
    strings = await zh.json()
    assert strings["No call."] == "无通话。" and strings["{s} s"] == "{s} 秒"
    assert await (await client.get("/i18n/en.json")).json() == {}
    assert (await client.get("/i18n/fr.json")).status == 404
    assert (await client.get("/i18n/..%2Fsecret.json")).status == 404


async def test_api_errors_keep_their_english_error(
    client: TestClient[Any, Any], users: dict[str, User]
) -> None:
    zh = await client.get("/api/me", headers=ZH)
    assert zh.status == 401
    assert await zh.json() == {"error": "authentication required", "message": "需要登录"}
    en = await client.get("/api/me", headers={"Accept-Language": "en"})
    assert await en.json() == {"error": "authentication required"}  # unchanged for English clients


async def test_error_page_in_chinese(client: TestClient[Any, Any], users: dict[str, User]) -> None:
    await login(client, "alice")
    page = await client.get("/admin", headers=ZH)
    assert page.status == 403
    html = await page.text()
    assert "返回首页" in html
