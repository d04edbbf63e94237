"""Disposition codes, supervisor phones, business hours and holidays on ``/admin`` (issue 18 part 3):
admin only, validated (400 naming the field), audited, used at once, kept in the database over the files."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from callcenter.domain.ivr import HoursNode
from callcenter.domain.ivr_calendar import hours_nodes
from callcenter.domain.users import User
from callcenter.services.admin_settings import DISPOSITIONS, HOURS, PHONES, AdminSettings
from callcenter.store.admin_settings import SqlAdminSettings
from callcenter.webapp.views_admin import ADMIN
from tests.admin.conftest import AdminEnv
from tests.webapp.helpers import session_csrf

PAGES = ["/admin/dispositions", "/admin/supervisor-phones", "/admin/hours"]
KEY = "main/opening_hours"


def _hours_node(env: AdminEnv) -> HoursNode:
    found = [node for key, _flow, node in hours_nodes(env.service.ivr_flows.current) if key == KEY]
    assert found, "the shipped main flow has an hours node"
    return found[0]


async def _user(env: AdminEnv, name: str) -> User:
    return next(u for u in await env.client.app[ADMIN].list_users() if u.username == name)


@pytest.mark.parametrize("username", ["alice", "sam"])
async def test_non_admins_get_403(admin_env: AdminEnv, username: str) -> None:
    await admin_env.as_user(username)
    for path in PAGES:
        resp = await admin_env.client.get(path, allow_redirects=False)
        assert resp.status == 403, path
    csrf = await session_csrf(admin_env.client)
    before = admin_env.service.console.rules
    for path, data in [
        ("/admin/dispositions", {"scope": "default", "codes": "x"}),
        ("/admin/supervisor-phones", {"default": "PJSIP/9"}),
        (f"/admin/hours/{KEY}/holidays", {"date": "01-02"}),
    ]:
        resp = await admin_env.client.post(path, data={"csrf": csrf, **data}, allow_redirects=False)
        assert resp.status == 403, path
    assert admin_env.service.console.rules is before
    assert await SqlAdminSettings(admin_env.service.store.engine).load_settings() == {}


async def test_pages_render_for_admin(admin_env: AdminEnv) -> None:
    await admin_env.as_user("ada")
    for path in PAGES:
        resp = await admin_env.client.get(path)
        assert resp.status == 200, path
        text = await resp.text()
        assert "Administration" in text and ("config/" in text or "ivr_flows" in text)
    page = await (await admin_env.client.get("/admin/hours")).text()
    assert f'data-node="{KEY}"' in page and 'data-date="12-25"' in page  # the file's Christmas
    page = await (await admin_env.client.get("/admin/dispositions")).text()
    assert 'data-queue="sales"' in page and "quote_sent" in page


async def test_dispositions_validated_audited_used_at_once_and_kept(admin_env: AdminEnv) -> None:
    c, svc = admin_env.client, admin_env.service
    await admin_env.as_user("ada")
    _, csrf = await admin_env.page_csrf("/admin/dispositions")
    old = svc.console.rules
    # bad input: 400 naming the field, nothing changed or stored
    for data, field in [
        ({"scope": "sales", "codes": "sale, Not-Lower"}, "codes"),
        ({"scope": "default", "codes": ""}, "codes"),
        ({"scope": "sales", "codes": "x" * 41}, "codes"),
        ({"scope": "nowhere", "codes": "a"}, "scope"),
    ]:
        resp = await c.post("/admin/dispositions", data={"csrf": csrf, **data})
        assert resp.status == 400, data
        assert f'data-field="{field}"' in await resp.text(), data
    assert svc.console.rules is old
    # a queue's own list, not required
    resp = await c.post(
        "/admin/dispositions",
        data={"csrf": csrf, "scope": "sales", "codes": "sale, callback_booked,sale"},
        allow_redirects=False,
    )
    assert resp.status == 303 and resp.headers["Location"] == "/admin/dispositions?done=dispositions-saved"
    # what the console offers on a sales call's pop, and what it accepts
    assert svc.console.queue_rules("sales") == {"codes": ["sale", "callback_booked"], "required": False}
    assert svc.screenpop.queue_rules("sales")["codes"] == ["sale", "callback_booked"]
    assert svc.console.wrapup_rule is not None
    # the default and timed_wrapup_waits
    resp = await c.post(
        "/admin/dispositions",
        data={"csrf": csrf, "scope": "default", "codes": "done", "required": "on", "has_waits": "1"},
        allow_redirects=False,
    )
    assert resp.status == 303
    rules = svc.console.rules
    assert rules.default.codes == ("done",) and rules.default.required and not rules.timed_wrapup_waits
    assert rules.for_queue("support").codes == ("done",)  # support has no list of its own
    assert rules.for_queue("complaints").codes[0] == "resolved"  # complaints keeps the file's own
    saves = await admin_env.audit("admin.dispositions.save")
    assert [(e.actor, e.target) for e in saves] == [("ada", "default"), ("ada", "sales")]
    sales = next(e for e in saves if e.target == "sales")
    assert sales.detail["after"] == {"codes": ["sale", "callback_booked"], "required": False}
    assert sales.detail["before"]["codes"][0] == "sale" and "quote_sent" in sales.detail["before"]["codes"]
    # kept: a fresh start over the same file applies the stored value again
    stored = await SqlAdminSettings(svc.store.engine).load_settings()
    assert stored[DISPOSITIONS]["queues"]["sales"]["codes"] == ["sale", "callback_booked"]
    svc.console.rules = svc.admin_settings.file_rules
    await svc.admin_settings.start()
    assert svc.console.rules.for_queue("sales").codes == ("sale", "callback_booked")
    # a queue emptied: back to the default; then the whole file again
    await c.post("/admin/dispositions", data={"csrf": csrf, "scope": "sales", "codes": ""})
    assert svc.console.rules.for_queue("sales").codes == ("done",)
    resp = await c.post("/admin/dispositions/reset", data={"csrf": csrf}, allow_redirects=False)
    assert resp.status == 303
    assert svc.console.rules.for_queue("sales").codes[:2] == ("sale", "quote_sent")
    assert DISPOSITIONS not in await SqlAdminSettings(svc.store.engine).load_settings()
    assert len(await admin_env.audit("admin.dispositions.reset")) == 1


async def test_supervisor_phones_validated_audited_used_at_once(admin_env: AdminEnv) -> None:
    c, svc = admin_env.client, admin_env.service
    await admin_env.as_user("ada")
    status, csrf = await admin_env.page_csrf("/admin/supervisor-phones")
    assert status == 200
    page = await (await c.get("/admin/supervisor-phones")).text()
    assert 'data-user="sam"' in page and 'data-user="ada"' in page and 'data-user="alice"' not in page
    sam = await _user(admin_env, "sam")
    for data, field in [
        ({"phone.sam": "2001"}, "phone.sam"),
        ({"phone.sam": "PJSIP/20 01"}, "phone.sam"),
        ({"phone.sam": "PJSIP/2001,t"}, "phone.sam"),
        ({"default": "Local/"}, "default"),
        ({"phone.bad user": "PJSIP/1"}, "phones"),
    ]:
        resp = await c.post("/admin/supervisor-phones", data={"csrf": csrf, **data})
        assert resp.status == 400, data
        assert f'data-field="{field}"' in await resp.text(), data
    assert svc.supervisor.config.phone_of("sam") is None
    resp = await c.post(
        "/admin/supervisor-phones",
        data={"csrf": csrf, "phone.sam": "Local/2001@supervisor/n", "phone.ada": "", "default": "PJSIP/2999"},
        allow_redirects=False,
    )
    assert resp.status == 303
    assert svc.supervisor.phone_for(sam, None) == "Local/2001@supervisor/n"  # what ChanSpy calls
    assert svc.supervisor.phone_for(await _user(admin_env, "ada"), "PJSIP/5") == "PJSIP/2999"
    entry = (await admin_env.audit("admin.supervisor_phones.save"))[0]
    assert entry.actor == "ada" and entry.detail["changes"] == {
        "sam": ["", "Local/2001@supervisor/n"],
        "(default)": ["", "PJSIP/2999"],
    }
    assert (await SqlAdminSettings(svc.store.engine).load_settings())[PHONES]["default"] == "PJSIP/2999"
    await c.post("/admin/supervisor-phones/reset", data={"csrf": csrf})
    assert svc.supervisor.config.phone_of("sam") is None


async def test_holiday_and_hours_validated_audited_used_at_once(admin_env: AdminEnv) -> None:
    c, svc = admin_env.client, admin_env.service
    await admin_env.as_user("ada")
    _, csrf = await admin_env.page_csrf("/admin/hours")
    now = datetime.now(UTC)
    today = now.astimezone(ZoneInfo("Europe/Paris")).date()
    before = _hours_node(admin_env).schedule
    for path, data, field in [
        (f"/admin/hours/{KEY}/holidays", {"date": "2027-02-30"}, "date"),
        (f"/admin/hours/{KEY}/holidays", {"date": "Christmas"}, "date"),
        (f"/admin/hours/{KEY}/holidays", {"date": "12-25"}, "date"),  # already one
        (f"/admin/hours/{KEY}", {"timezone": "Mars/Olympus"}, "timezone"),
        (f"/admin/hours/{KEY}", {"timezone": "Europe/Paris", "tue": "09:00-25:00"}, "tue"),
        (f"/admin/hours/{KEY}", {"timezone": "Europe/Paris", "sat": "18:00-09:00"}, "sat"),
        (f"/admin/hours/{KEY}/holidays/delete", {"date": "02-02"}, "date"),
    ]:
        resp = await c.post(path, data={"csrf": csrf, **data})
        assert resp.status == 400, data
        assert f'data-field="{field}"' in await resp.text(), data
    resp = await c.post("/admin/hours/main/no_such_node/holidays", data={"csrf": csrf, "date": "01-02"})
    assert resp.status == 404
    assert _hours_node(admin_env).schedule is before
    # a holiday today: the hours node says "holiday" now, and the cases count today as no working day
    resp = await c.post(
        f"/admin/hours/{KEY}/holidays",
        data={"csrf": csrf, "date": today.isoformat(), "name": "Inventory day"},
        allow_redirects=False,
    )
    assert resp.status == 303 and resp.headers["Location"] == "/admin/hours?done=holiday-added"
    assert _hours_node(admin_env).schedule.state(now) == "holiday"
    assert any(h.name == "Inventory day" for h in svc.cases.sla.schedule.holidays)
    # hours: Sunday open, Monday closed
    resp = await c.post(
        f"/admin/hours/{KEY}",
        data={"csrf": csrf, "timezone": "Asia/Shanghai", "sun": "10:00-16:00", "mon": "closed"},
        allow_redirects=False,
    )
    assert resp.status == 303
    schedule = _hours_node(admin_env).schedule
    assert schedule.timezone == "Asia/Shanghai" and schedule.weekly[0] == () and len(schedule.weekly[6]) == 1
    assert schedule.weekly[1] == before.weekly[1]  # the days not sent are kept
    assert any(h.name == "Inventory day" for h in schedule.holidays)  # and the holidays
    # a reload from the files keeps the admin's calendar
    report = await svc.reload_ivr()
    assert report["ok"] and _hours_node(admin_env).schedule.timezone == "Asia/Shanghai"
    # remove the holiday
    resp = await c.post(f"/admin/hours/{KEY}/holidays/delete", data={"csrf": csrf, "date": today.isoformat()})
    assert resp.status == 200 and "Holiday removed." in await resp.text()
    assert not any(h.name == "Inventory day" for h in _hours_node(admin_env).schedule.holidays)
    actions = [
        (e.action, e.target) for e in await svc.audit.list_audit(limit=50) if e.action.startswith("admin.")
    ]
    assert actions[:3] == [
        ("admin.holiday.remove", KEY),
        ("admin.hours.save", KEY),
        ("admin.holiday.add", KEY),
    ]
    stored = await SqlAdminSettings(svc.store.engine).load_settings()
    assert stored[HOURS]["nodes"][KEY]["timezone"] == "Asia/Shanghai"
    # back to the file's calendar
    resp = await c.post(f"/admin/hours/{KEY}/reset", data={"csrf": csrf}, allow_redirects=False)
    assert resp.status == 303
    assert _hours_node(admin_env).schedule == before
    assert HOURS not in await SqlAdminSettings(svc.store.engine).load_settings()


async def test_invalid_stored_value_leaves_the_file_in_force(admin_env: AdminEnv) -> None:
    svc = admin_env.service
    store = SqlAdminSettings(svc.store.engine)
    await store.save_setting(DISPOSITIONS, {"default": {"codes": ["Bad Code"]}}, "test")
    await store.save_setting(PHONES, {"phones": {"sam": "PJSIP/2001"}, "default": ""}, "test")
    fresh = AdminSettings(store, console=svc.console, supervisor=svc.supervisor, flows=svc.ivr_flows)
    await fresh.start()
    assert svc.console.rules.default.codes[0] == "resolved"  # the file's
    assert svc.supervisor.config.phone_of("sam") == "PJSIP/2001"
    assert fresh.source(DISPOSITIONS) == "file" and fresh.source(PHONES) == "database"
    assert len(fresh.problems) == 1 and DISPOSITIONS in fresh.problems[0]
