"""Administration pages (``/admin/...``): admin only, CSRF-checked forms, every change audited."""

from __future__ import annotations

import pytest

from callcenter.domain.qa_default import DEFAULT_FORM_SECTIONS
from callcenter.services.admin import AdminService
from callcenter.webapp.views_admin import ADMIN
from tests.admin.conftest import AdminEnv
from tests.webapp.helpers import login, session_csrf

PAGES = ["/admin", "/admin/users", "/admin/queues", "/admin/agents", "/admin/qa-forms", "/admin/ivr"]


@pytest.mark.parametrize("username", ["alice", "sam"])
async def test_non_admins_get_403_on_every_admin_page(admin_env: AdminEnv, username: str) -> None:
    await admin_env.as_user(username)
    for path in PAGES:
        resp = await admin_env.client.get(path, allow_redirects=False)
        assert resp.status == 403, path
    # and a form post (with the session's token) is refused before anything changes
    csrf = await session_csrf(admin_env.client)
    resp = await admin_env.client.post(
        "/admin/queues/support", data={"csrf": csrf, "strategy": "linear"}, allow_redirects=False
    )
    assert resp.status == 403 and "role" in await resp.text()
    assert admin_env.service.acd.queues["support"].strategy.value == "rrmemory"


async def test_anonymous_is_sent_to_login(admin_env: AdminEnv) -> None:
    resp = await admin_env.client.get("/admin/users", allow_redirects=False)
    assert resp.status in (302, 303) and "/login" in resp.headers["Location"]


async def test_every_admin_page_renders(admin_env: AdminEnv) -> None:
    await admin_env.as_user("ada")
    for path in PAGES:
        resp = await admin_env.client.get(path)
        assert resp.status == 200, path
        assert "Administration" in await resp.text()


async def test_admin_creates_user_changes_role_resets_password_all_audited(admin_env: AdminEnv) -> None:
    c = admin_env.client
    await admin_env.as_user("ada")
    _, csrf = await admin_env.page_csrf("/admin/users")
    # without the CSRF token: refused
    resp = await c.post("/admin/users", data={"username": "zoe", "password": "x" * 10, "role": "qa"})
    assert resp.status == 403
    form = {"csrf": csrf, "username": "zoe", "password": "zoe-pass-123", "role": "qa", "display_name": "Zoe"}
    resp = await c.post("/admin/users", data=form, allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/admin/users?done=user-created"
    page = await (await c.get("/admin/users?done=user-created")).text()
    assert 'data-user="zoe"' in page and "User created." in page
    # a taken name or a short password: the page again with the reason, nothing stored
    resp = await c.post("/admin/users", data={**form, "password": "short"})
    assert resp.status == 400 and "at least 8 characters" in await resp.text()
    listed = {u.username: u for u in await _admin(admin_env).list_users()}
    zoe_id = listed["zoe"].id
    # role change: qa -> supervisor, deactivated
    resp = await c.post(
        f"/admin/users/{zoe_id}",
        data={"csrf": csrf, "role": "supervisor", "display_name": "Zoe S"},
        allow_redirects=False,
    )
    assert resp.status == 303
    listed = {u.username: u for u in await _admin(admin_env).list_users()}
    assert listed["zoe"].role.value == "supervisor" and not listed["zoe"].active
    # password reset: the new one works (after re-activating), the old one does not
    await c.post(
        f"/admin/users/{zoe_id}",
        data={"csrf": csrf, "role": "supervisor", "display_name": "Zoe S", "active": "on"},
    )
    resp = await c.post(f"/admin/users/{zoe_id}/password", data={"csrf": csrf, "password": "new-pass-456"})
    assert resp.status == 200 and "Password reset." in await resp.text()
    assert (await login(c, "zoe", "zoe-pass-123")).status == 401  # the old password is refused
    assert (await login(c, "zoe", "new-pass-456")).status in (302, 303)
    creates = await admin_env.audit("admin.user.create")
    assert [(e.actor, e.target, e.detail["role"]) for e in creates] == [("ada", "zoe", "qa")]
    updates = await admin_env.audit("admin.user.update")
    assert updates[-1].detail["changes"]["role"] == ["qa", "supervisor"]
    resets = await admin_env.audit("admin.user.password")
    assert len(resets) == 1 and "new-pass" not in str(resets[0].detail)


async def test_admin_cannot_demote_themself(admin_env: AdminEnv) -> None:
    await admin_env.as_user("ada")
    _, csrf = await admin_env.page_csrf("/admin/users")
    ada = next(u for u in await _admin(admin_env).list_users() if u.username == "ada")
    resp = await admin_env.client.post(
        f"/admin/users/{ada.id}", data={"csrf": csrf, "role": "qa", "active": "on"}
    )
    assert resp.status == 400 and "your own admin role" in await resp.text()


async def test_admin_edits_a_queue_and_an_agent_audited(admin_env: AdminEnv) -> None:
    c, acd = admin_env.client, admin_env.service.acd
    await admin_env.as_user("ada")
    _, csrf = await admin_env.page_csrf("/admin/queues")
    before = acd.queues["support"]
    resp = await c.post(
        "/admin/queues/support",
        data={"csrf": csrf, "strategy": "longest_idle", "sl_threshold": "30", "wrapup": "15"},
        allow_redirects=False,
    )
    assert resp.status == 303
    q = acd.queues["support"]
    assert (q.strategy.value, q.sl_threshold, q.wrapup) == ("longest_idle", 30.0, 15.0)
    assert q.ring_timeout == before.ring_timeout  # fields the form did not send are kept
    # a bad value: 400 with the ACD's message, the queue unchanged
    resp = await c.post("/admin/queues/support", data={"csrf": csrf, "strategy": "bogus"})
    assert resp.status == 400 and "strategy must be one of" in await resp.text()
    assert acd.queues["support"].strategy.value == "longest_idle"
    # a new queue, then an agent in it with skills
    resp = await c.post("/admin/queues", data={"csrf": csrf, "name": "vip", "strategy": "linear"})
    assert resp.status == 200 and "vip" in acd.queues
    resp = await c.post(
        "/admin/agents/1001",
        data={"csrf": csrf, "name": "Alice A", "queues": "support:0, vip:2", "skills": "english:4, vip"},
        allow_redirects=False,
    )
    assert resp.status == 303
    agent = acd.agents["1001"]
    assert {(m.queue, m.penalty) for m in agent.queues} == {("support", 0), ("vip", 2)}
    assert dict(agent.skills) == {"english": 4, "vip": 1}
    resp = await c.post("/admin/agents/1001", data={"csrf": csrf, "queues": "nowhere:0"})
    assert resp.status == 400 and "unknown queue" in await resp.text()
    saves = await admin_env.audit("admin.queue.save")
    assert {e.target for e in saves} == {"support", "vip"}
    assert all(e.actor == "ada" and e.role == "admin" for e in saves)
    assert (await admin_env.audit("admin.agent.save"))[0].detail["config"]["queues"] == {
        "support": 0,
        "vip": 2,
    }
    page = await (await c.get("/audit")).text()
    assert "admin.queue.save" in page and "admin.agent.save" in page


async def test_admin_builds_a_qa_form_audited(admin_env: AdminEnv) -> None:
    c = admin_env.client
    await admin_env.as_user("ada")
    _, csrf = await admin_env.page_csrf("/admin/qa-forms")
    body = {"name": "Sales", "sections": DEFAULT_FORM_SECTIONS[:1]}
    assert (await c.post("/admin/qa-forms", json=body)).status == 403  # no CSRF header
    resp = await c.post("/admin/qa-forms", json=body, headers={"X-CSRF-Token": csrf})
    assert resp.status == 200
    form_id = (await resp.json())["form"]["id"]
    resp = await c.post(
        "/admin/qa-forms", json={"name": "Bad", "sections": []}, headers={"X-CSRF-Token": csrf}
    )
    assert resp.status == 400 and "non-empty" in (await resp.json())["error"]
    names = [f.name for f in await admin_env.service.qa.forms()]
    assert "Sales" in names and "Bad" not in names
    entry = (await admin_env.audit("admin.qa_form.create"))[0]
    assert (entry.target, entry.detail["form_id"], entry.detail["instant_fail"]) == ("Sales", form_id, 1)


async def test_ivr_validate_and_reload(admin_env: AdminEnv) -> None:
    c = admin_env.client
    await admin_env.as_user("ada")
    status, csrf = await admin_env.page_csrf("/admin/ivr")
    assert status == 200
    page = await (await c.get("/admin/ivr")).text()
    assert "main.yaml" in page
    resp = await c.post("/admin/ivr/validate", data={"csrf": csrf})
    assert resp.status == 200 and "Valid" in await resp.text()
    resp = await c.post("/admin/ivr/reload", data={"csrf": csrf})
    assert resp.status == 200 and "Reloaded" in await resp.text()
    assert (await admin_env.audit("admin.ivr.reload"))[0].ok


def _admin(env: AdminEnv) -> AdminService:
    return env.client.app[ADMIN]
