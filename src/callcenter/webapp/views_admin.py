"""Administration pages (admin role; every change audited, shown on ``/audit``).

=======  ===============================  ===========================================================
GET      /admin                           overview: what is configured, links to each section
GET      /admin/users                     users and roles; create form
POST     /admin/users                     create a user (username, password, role, display name, agent)
POST     /admin/users/{id}                change role, display name, agent, active
POST     /admin/users/{id}/password       reset the password
GET      /admin/queues                    queues with their edit forms
POST     /admin/queues/{name}             create/save a queue (the form's fields over its current settings)
POST     /admin/queues/{name}/delete      delete a queue
GET      /admin/agents                    agents: name, endpoint, queue memberships, skills
POST     /admin/agents/{id}               create/save an agent
POST     /admin/agents/{id}/delete        delete an agent
=======  ===============================  ===========================================================

Server-rendered forms (POST, CSRF field ``csrf``): a success redirects (303) to the section with a fixed
notice, an invalid change re-renders the section with the error (400) and the ACD/user store's message.
QA forms and IVR flows: ``views_admin_qa.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from callcenter.domain.acd import Strategy, agent_to_mapping, queue_to_mapping
from callcenter.domain.errors import CallcenterError
from callcenter.domain.users import Role, User
from callcenter.services.acd import AcdService
from callcenter.services.admin import AdminService
from callcenter.webapp.auth import current_principal, require_role
from callcenter.webapp.errors import public_error, require_service
from callcenter.webapp.i18n import N_, gettext
from callcenter.webapp.keys import TEMPLATES
from callcenter.webapp.views_acd import ACD
from callcenter.webapp.views_pages import page_context

ADMIN = web.AppKey[AdminService]("admin")

#: The notices a redirect may show (``?done=``): fixed texts, nothing from the query is echoed.
NOTICES = {
    "user-created": N_("User created."),
    "user-saved": N_("User saved."),
    "password-reset": N_("Password reset."),
    "queue-saved": N_("Queue saved."),
    "queue-deleted": N_("Queue deleted."),
    "agent-saved": N_("Agent saved."),
    "agent-deleted": N_("Agent deleted."),
    "form-saved": N_("QA form saved."),
    "ivr-reloaded": N_("IVR flows reloaded."),
}

SECTIONS = (
    ("/admin/users", N_("Users")),
    ("/admin/queues", N_("Queues")),
    ("/admin/agents", N_("Agents")),
    ("/admin/qa-forms", N_("QA forms")),
    ("/admin/ivr", N_("IVR flows")),
)


def admin_service(request: web.Request) -> AdminService:
    return require_service(request.app.get(ADMIN), "administration is not available on this instance")


def acd_service(request: web.Request) -> AcdService:
    return require_service(request.app.get(ACD), "the ACD is not running")


def error_text(exc: Exception) -> str:
    """The public message of an invalid change (the one error table; a ``ValueError`` is the input's)."""
    mapped = public_error(exc)
    if mapped is not None:
        return mapped[1]
    if isinstance(exc, ValueError):
        return str(exc)
    raise exc


def render(
    request: web.Request, template: str, title: str, *, error: str = "", status: int = 200, **extra: Any
) -> web.Response:
    principal = current_principal(request)
    notice = NOTICES.get(request.query.get("done", ""), "")
    context = page_context(
        principal,
        title=title,
        sections=SECTIONS,
        request_path=request.path,
        notice=notice,
        error=error,
        **extra,
    )
    response = request.app[TEMPLATES].response(template, context)
    response.set_status(status)
    return response


def field(form: Mapping[str, Any], name: str, limit: int = 256) -> str:
    value = form.get(name, "")
    return value.strip()[:limit] if isinstance(value, str) else ""


def pairs(text: str) -> list[str]:
    """``"english:2, billing"`` → ``["english:2", "billing"]`` (the config file's list form)."""
    return [item.strip() for item in text.replace(";", ",").split(",") if item.strip()]


def done(path: str, key: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(f"{path}?done={key}")


# --- overview --------------------------------------------------------------------------------------------


@require_role(Role.ADMIN)
async def overview(request: web.Request) -> web.StreamResponse:
    acd = request.app.get(ACD)
    users = await admin_service(request).list_users() if request.app.get(ADMIN) else []
    counts = {
        "users": len(users),
        "queues": len(acd.queues) if acd else 0,
        "agents": len(acd.agents) if acd else 0,
    }
    return render(request, "admin.html", "Administration", counts=counts)


# --- users -----------------------------------------------------------------------------------------------


async def _users_page(request: web.Request, *, error: str = "", status: int = 200) -> web.Response:
    users = await admin_service(request).list_users()
    return render(
        request, "admin_users.html", "Users", error=error, status=status, users=users, roles=list(Role)
    )


@require_role(Role.ADMIN)
async def users_page(request: web.Request) -> web.StreamResponse:
    return await _users_page(request)


def _actor(request: web.Request) -> User:
    return current_principal(request).user


def _user_id(request: web.Request) -> int:
    raw = request.match_info["user_id"]
    if not raw.isdigit() or len(raw) > 12:
        raise web.HTTPNotFound(reason="no such user")
    return int(raw)


@require_role(Role.ADMIN)
async def create_user(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    try:
        await admin_service(request).create_user(
            _actor(request),
            field(form, "username", 64),
            field(form, "password", 1024),
            field(form, "role", 32),
            field(form, "display_name", 200),
            field(form, "agent", 64) or None,
        )
    except (CallcenterError, ValueError) as exc:
        return await _users_page(request, error=error_text(exc), status=400)
    raise done("/admin/users", "user-created")


@require_role(Role.ADMIN)
async def update_user(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    try:
        await admin_service(request).update_user(
            _actor(request),
            _user_id(request),
            role=field(form, "role", 32),
            display_name=field(form, "display_name", 200),
            agent=field(form, "agent", 64) or None,
            active=form.get("active") == "on",
        )
    except (CallcenterError, ValueError) as exc:
        return await _users_page(request, error=error_text(exc), status=400)
    raise done("/admin/users", "user-saved")


@require_role(Role.ADMIN)
async def reset_password(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    try:
        await admin_service(request).reset_password(
            _actor(request), _user_id(request), field(form, "password", 1024)
        )
    except (CallcenterError, ValueError) as exc:
        return await _users_page(request, error=error_text(exc), status=400)
    raise done("/admin/users", "password-reset")


# --- queues ----------------------------------------------------------------------------------------------


async def _queues_page(request: web.Request, *, error: str = "", status: int = 200) -> web.Response:
    acd = acd_service(request)
    queues = [
        {
            "name": name,
            "config": (cfg := queue_to_mapping(q)),
            "skills_text": ", ".join(f"{k}:{v}" for k, v in cfg["required_skills"].items()),
            "members": sorted(a.id for a in acd.agents.values() if any(m.queue == name for m in a.queues)),
        }
        for name, q in sorted(acd.queues.items())
    ]
    return render(
        request,
        "admin_queues.html",
        "Queues",
        error=error,
        status=status,
        queues=queues,
        strategies=[s.value for s in Strategy],
    )


@require_role(Role.ADMIN)
async def queues_page(request: web.Request) -> web.StreamResponse:
    return await _queues_page(request)


def _queue_settings(current: Mapping[str, Any], form: Mapping[str, Any]) -> dict[str, Any]:
    """The form's fields over the queue's current settings (fields the form does not show are kept)."""
    settings = dict(current)

    def number(name: str) -> Any:
        text = field(form, name, 32)
        if not text:
            return None
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"{name.replace('_', ' ')} must be a number") from None
        return int(value) if value.is_integer() else value

    if field(form, "strategy", 32):
        settings["strategy"] = field(form, "strategy", 32)
    sl = dict(settings.get("service_level") or {})
    for key, name in (("threshold", "sl_threshold"), ("target", "sl_target")):
        value = number(name)
        if value is not None:
            sl[key] = value
    settings["service_level"] = sl
    for name in ("max_wait", "max_callers", "wrapup", "ring_timeout"):
        value = number(name)
        if value is not None:
            settings[name] = value
    for name in ("overflow", "fallback"):
        if name in form:
            settings[name] = field(form, name, 64) or None
    if "required_skills" in form:
        settings["required_skills"] = pairs(field(form, "required_skills", 1024))
    return settings


async def _save_queue(request: web.Request, name: str) -> web.StreamResponse:
    acd = acd_service(request)
    form = await request.post()
    actor = _actor(request)
    try:
        current = queue_to_mapping(acd.queues[name]) if name in acd.queues else {}
        settings = _queue_settings(current, form)
        q = await acd.put_queue(name, settings, by=f"admin:{actor.username}")
    except (CallcenterError, ValueError) as exc:
        return await _queues_page(request, error=error_text(exc), status=400)
    await admin_service(request).record(
        actor, "admin.queue.save", name, {"created": not current, "config": queue_to_mapping(q)}
    )
    raise done("/admin/queues", "queue-saved")


@require_role(Role.ADMIN)
async def save_queue(request: web.Request) -> web.StreamResponse:
    return await _save_queue(request, request.match_info["name"])


@require_role(Role.ADMIN)
async def new_queue(request: web.Request) -> web.StreamResponse:
    """The create form posts the name as a field (``POST /admin/queues``)."""
    form = await request.post()
    name = field(form, "name", 64)
    acd = acd_service(request)
    if name in acd.queues:
        return await _queues_page(
            request, error=gettext("queue %(name)r already exists") % {"name": name}, status=400
        )
    return await _save_queue(request, name)


@require_role(Role.ADMIN)
async def delete_queue(request: web.Request) -> web.StreamResponse:
    acd = acd_service(request)
    name = request.match_info["name"]
    actor = _actor(request)
    try:
        await acd.delete_queue(name, by=f"admin:{actor.username}")
    except (CallcenterError, ValueError) as exc:
        return await _queues_page(request, error=error_text(exc), status=400)
    await admin_service(request).record(actor, "admin.queue.delete", name)
    raise done("/admin/queues", "queue-deleted")


# --- agents ----------------------------------------------------------------------------------------------


async def _agents_page(request: web.Request, *, error: str = "", status: int = 200) -> web.Response:
    acd = acd_service(request)
    agents = [
        {
            **agent_to_mapping(a),
            "queues_text": ", ".join(f"{m.queue}:{m.penalty}" for m in a.queues),
            "skills_text": ", ".join(f"{k}:{v}" for k, v in a.skills),
        }
        for a in sorted(acd.agents.values(), key=lambda a: (a.order, a.id))
    ]
    return render(
        request,
        "admin_agents.html",
        "Agents",
        error=error,
        status=status,
        agents=agents,
        queue_names=sorted(acd.queues),
    )


@require_role(Role.ADMIN)
async def agents_page(request: web.Request) -> web.StreamResponse:
    return await _agents_page(request)


async def _save_agent(request: web.Request, agent_id: str) -> web.StreamResponse:
    acd = acd_service(request)
    form = await request.post()
    actor = _actor(request)
    existing = acd.agents.get(agent_id)
    settings: dict[str, Any] = agent_to_mapping(existing) if existing else {"id": agent_id}
    settings["name"] = field(form, "name", 200)
    if field(form, "endpoint", 128):
        settings["endpoint"] = field(form, "endpoint", 128)
    settings["queues"] = pairs(field(form, "queues", 2048))
    settings["skills"] = pairs(field(form, "skills", 2048))
    try:
        cfg = await acd.put_agent(settings, by=f"admin:{actor.username}")
    except (CallcenterError, ValueError) as exc:
        return await _agents_page(request, error=error_text(exc), status=400)
    await admin_service(request).record(
        actor, "admin.agent.save", agent_id, {"created": existing is None, "config": agent_to_mapping(cfg)}
    )
    raise done("/admin/agents", "agent-saved")


@require_role(Role.ADMIN)
async def save_agent(request: web.Request) -> web.StreamResponse:
    return await _save_agent(request, request.match_info["agent"])


@require_role(Role.ADMIN)
async def new_agent(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    agent_id = field(form, "id", 64)
    if agent_id in acd_service(request).agents:
        return await _agents_page(
            request, error=gettext("agent %(id)r already exists") % {"id": agent_id}, status=400
        )
    return await _save_agent(request, agent_id)


@require_role(Role.ADMIN)
async def delete_agent(request: web.Request) -> web.StreamResponse:
    acd = acd_service(request)
    agent_id = request.match_info["agent"]
    actor = _actor(request)
    try:
        await acd.delete_agent(agent_id, by=f"admin:{actor.username}")
    except (CallcenterError, ValueError) as exc:
        return await _agents_page(request, error=error_text(exc), status=400)
    await admin_service(request).record(actor, "admin.agent.delete", agent_id)
    raise done("/admin/agents", "agent-deleted")


def setup(app: web.Application) -> None:
    app.router.add_get("/admin", overview, name="admin")
    app.router.add_get("/admin/users", users_page, name="admin_users")
    app.router.add_post("/admin/users", create_user, name="admin_user_create")
    app.router.add_post("/admin/users/{user_id}", update_user, name="admin_user_update")
    app.router.add_post("/admin/users/{user_id}/password", reset_password, name="admin_user_password")
    app.router.add_get("/admin/queues", queues_page, name="admin_queues")
    app.router.add_post("/admin/queues", new_queue, name="admin_queue_create")
    app.router.add_post("/admin/queues/{name}", save_queue, name="admin_queue_save")
    app.router.add_post("/admin/queues/{name}/delete", delete_queue, name="admin_queue_delete")
    app.router.add_get("/admin/agents", agents_page, name="admin_agents")
    app.router.add_post("/admin/agents", new_agent, name="admin_agent_create")
    app.router.add_post("/admin/agents/{agent}", save_agent, name="admin_agent_save")
    app.router.add_post("/admin/agents/{agent}/delete", delete_agent, name="admin_agent_delete")
