"""Administration pages for disposition codes, supervisor phones, business hours and holidays (admin role;
every change audited). Stored in the database over the files (``services/admin_settings.py``).

=======  ==========================================  =====================================================
GET      /admin/dispositions                         the default and each queue's codes, ``required``
POST     /admin/dispositions                         ``scope`` (default or a queue), ``codes``, ``required``;
                                                     the default's form also ``timed_wrapup_waits``
POST     /admin/dispositions/reset                   back to ``config/console.yaml``
GET      /admin/supervisor-phones                    each supervisor's phone for ChanSpy, the default
POST     /admin/supervisor-phones                    ``phone.<username>`` fields and ``default``
POST     /admin/supervisor-phones/reset              back to ``config/wallboard.yaml``
GET      /admin/hours                                each ``hours`` node: weekly hours, holidays
POST     /admin/hours/{flow}/{node}                  ``timezone`` and ``mon`` ... ``sun`` (holidays kept)
POST     /admin/hours/{flow}/{node}/holidays         add one: ``date`` (YYYY-MM-DD or MM-DD), ``name``
POST     /admin/hours/{flow}/{node}/holidays/delete  remove the holiday of ``date``
POST     /admin/hours/{flow}/{node}/reset            back to the flow file's calendar
=======  ==========================================  =====================================================

Like the other admin forms: a success redirects (303) with a fixed notice; an invalid change re-renders
the page with the error (400) and ``data-field`` naming the field.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from callcenter.domain.errors import CallcenterError, NotFound
from callcenter.domain.ivr import WEEKDAYS
from callcenter.domain.users import Role
from callcenter.services.admin_settings import DISPOSITIONS, PHONES, AdminSettings, SettingsError
from callcenter.webapp.auth import current_principal, require_role
from callcenter.webapp.errors import require_service
from callcenter.webapp.i18n import N_
from callcenter.webapp.views_admin import admin_service, done, error_text, field, render

ADMIN_SETTINGS = web.AppKey[AdminSettings]("admin_settings")

#: the weekday inputs' labels (``WEEKDAYS`` order)
DAY_LABELS = (
    N_("Monday"),
    N_("Tuesday"),
    N_("Wednesday"),
    N_("Thursday"),
    N_("Friday"),
    N_("Saturday"),
    N_("Sunday"),
)

Page = Callable[..., Awaitable[web.Response]]


def settings_service(request: web.Request) -> AdminSettings:
    return require_service(
        request.app.get(ADMIN_SETTINGS), "administration is not available on this instance"
    )


def _by(request: web.Request) -> str:
    return f"admin:{current_principal(request).user.username}"


async def _change(
    request: web.Request,
    page: Page,
    action: str,
    target: str,
    change: Callable[[], Awaitable[dict[str, Any] | None]],
    redirect: str,
    notice: str,
) -> web.StreamResponse:
    """Run one change; an invalid one re-renders ``page`` (400), a valid one is audited and redirects
    (a change that raises stores nothing: the service validates before it saves)."""
    try:
        detail = await change()
    except NotFound:
        raise  # a URL naming no hours node: the 404 page
    except (CallcenterError, ValueError) as exc:
        return await page(
            request,
            error=error_text(exc),
            error_field=exc.field if isinstance(exc, SettingsError) else "",
            status=400,
        )
    await admin_service(request).record(current_principal(request).user, action, target, detail)
    raise done(redirect, notice)


# --- disposition codes -------------------------------------------------------------------------------


async def _dispositions_page(request: web.Request, **extra: Any) -> web.Response:
    svc = settings_service(request)
    return render(
        request,
        "admin_dispositions.html",
        "Disposition codes",
        rows=svc.disposition_rows(),
        waits=svc.console.rules.timed_wrapup_waits,
        source=svc.source(DISPOSITIONS),
        **extra,
    )


@require_role(Role.ADMIN)
async def dispositions_page(request: web.Request) -> web.StreamResponse:
    return await _dispositions_page(request)


@require_role(Role.ADMIN)
async def save_dispositions(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    scope = field(form, "scope", 64) or "default"
    svc = settings_service(request)
    waits = (form.get("timed_wrapup_waits") == "on") if field(form, "has_waits", 4) else None
    return await _change(
        request,
        _dispositions_page,
        "admin.dispositions.save",
        scope,
        lambda: svc.set_dispositions(
            _by(request),
            scope,
            field(form, "codes", 4096),
            required=form.get("required") == "on",
            waits=waits,
        ),
        "/admin/dispositions",
        "dispositions-saved",
    )


@require_role(Role.ADMIN)
async def reset_dispositions(request: web.Request) -> web.StreamResponse:
    svc = settings_service(request)

    async def reset() -> dict[str, Any]:
        await svc.reset_dispositions()
        return {"source": "file"}

    return await _change(
        request,
        _dispositions_page,
        "admin.dispositions.reset",
        "dispositions",
        reset,
        "/admin/dispositions",
        "reset",
    )


# --- supervisor phones -------------------------------------------------------------------------------


async def _phones_page(request: web.Request, **extra: Any) -> web.Response:
    svc = settings_service(request)
    phones, default = svc.phones()
    users = await admin_service(request).list_users()
    supervisors = {u.username: u for u in users if u.role in (Role.SUPERVISOR, Role.ADMIN)}
    rows = [
        {
            "username": name,
            "display_name": supervisors[name].display_name if name in supervisors else "",
            "role": supervisors[name].role.value if name in supervisors else "",
            "phone": phones.get(name, ""),
        }
        for name in sorted({*supervisors, *phones})
    ]
    return render(
        request,
        "admin_phones.html",
        "Supervisor phones",
        rows=rows,
        default_phone=default,
        source=svc.source(PHONES),
        **extra,
    )


@require_role(Role.ADMIN)
async def phones_page(request: web.Request) -> web.StreamResponse:
    return await _phones_page(request)


@require_role(Role.ADMIN)
async def save_phones(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    phones = {
        key[len("phone.") :][:64]: field(form, key, 128)
        for key in list(form)[:500]
        if key.startswith("phone.")
    }
    svc = settings_service(request)
    return await _change(
        request,
        _phones_page,
        "admin.supervisor_phones.save",
        "supervisor_phones",
        lambda: svc.set_phones(_by(request), phones, field(form, "default", 128)),
        "/admin/supervisor-phones",
        "phones-saved",
    )


@require_role(Role.ADMIN)
async def reset_phones(request: web.Request) -> web.StreamResponse:
    svc = settings_service(request)

    async def reset() -> dict[str, Any]:
        await svc.reset_phones()
        return {"source": "file"}

    return await _change(
        request,
        _phones_page,
        "admin.supervisor_phones.reset",
        "supervisor_phones",
        reset,
        "/admin/supervisor-phones",
        "reset",
    )


# --- business hours and holidays ---------------------------------------------------------------------


async def _hours_page(request: web.Request, **extra: Any) -> web.Response:
    svc = settings_service(request)
    return render(
        request,
        "admin_hours.html",
        "Business hours and holidays",
        nodes=svc.hours_rows(),
        days=list(zip(WEEKDAYS, DAY_LABELS, strict=True)),
        problems=svc.problems,
        **extra,
    )


@require_role(Role.ADMIN)
async def hours_page(request: web.Request) -> web.StreamResponse:
    return await _hours_page(request)


def _key(request: web.Request) -> str:
    return f"{request.match_info['flow'][:64]}/{request.match_info['node'][:64]}"


@require_role(Role.ADMIN)
async def save_hours(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    svc, key = settings_service(request), _key(request)
    weekly = {day: field(form, day, 200) for day in WEEKDAYS if day in form}
    return await _change(
        request,
        _hours_page,
        "admin.hours.save",
        key,
        lambda: svc.set_weekly(_by(request), key, field(form, "timezone", 64), weekly),
        "/admin/hours",
        "hours-saved",
    )


@require_role(Role.ADMIN)
async def add_holiday(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    svc, key = settings_service(request), _key(request)
    return await _change(
        request,
        _hours_page,
        "admin.holiday.add",
        key,
        lambda: svc.add_holiday(_by(request), key, field(form, "date", 20), field(form, "name", 200)),
        "/admin/hours",
        "holiday-added",
    )


@require_role(Role.ADMIN)
async def remove_holiday(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    svc, key = settings_service(request), _key(request)
    return await _change(
        request,
        _hours_page,
        "admin.holiday.remove",
        key,
        lambda: svc.remove_holiday(_by(request), key, field(form, "date", 20)),
        "/admin/hours",
        "holiday-removed",
    )


@require_role(Role.ADMIN)
async def reset_hours(request: web.Request) -> web.StreamResponse:
    svc, key = settings_service(request), _key(request)

    async def reset() -> dict[str, Any]:
        await svc.reset_hours(_by(request), key)
        return {"source": "file"}

    return await _change(request, _hours_page, "admin.hours.reset", key, reset, "/admin/hours", "reset")


def setup(app: web.Application) -> None:
    app.router.add_get("/admin/dispositions", dispositions_page, name="admin_dispositions")
    app.router.add_post("/admin/dispositions", save_dispositions, name="admin_dispositions_save")
    app.router.add_post("/admin/dispositions/reset", reset_dispositions, name="admin_dispositions_reset")
    app.router.add_get("/admin/supervisor-phones", phones_page, name="admin_phones")
    app.router.add_post("/admin/supervisor-phones", save_phones, name="admin_phones_save")
    app.router.add_post("/admin/supervisor-phones/reset", reset_phones, name="admin_phones_reset")
    app.router.add_get("/admin/hours", hours_page, name="admin_hours")
    app.router.add_post("/admin/hours/{flow}/{node}", save_hours, name="admin_hours_save")
    app.router.add_post("/admin/hours/{flow}/{node}/holidays", add_holiday, name="admin_holiday_add")
    app.router.add_post(
        "/admin/hours/{flow}/{node}/holidays/delete", remove_holiday, name="admin_holiday_remove"
    )
    app.router.add_post("/admin/hours/{flow}/{node}/reset", reset_hours, name="admin_hours_reset")
