"""Supervisor monitoring feedback: the live sessions (ringing, then active on ChanSpyStart), a stop that
hangs up the spy channel, a mode switch, the end on ChanSpyStop; all audited."""

from __future__ import annotations

from typing import Any

from callcenter.domain import events as ev
from callcenter.services.supervisor import SupervisorService
from callcenter.webapp import views_supervisor
from tests.wallboard.test_views import Env, env  # noqa: F401 - fixture

SPYER = "Local/2001@supervisor-0000000f;1"
SPYEE = "PJSIP/1001-0000002a"


def _spy(started: bool, at: float = 1.0) -> ev.SpyEvent:
    return ev.SpyEvent(
        at=at,
        spyer=ev.ChannelSnapshot(channel=SPYER, uniqueid="9.1", linkedid="9.1"),
        spyee=ev.ChannelSnapshot(channel=SPYEE, uniqueid="8.2", linkedid="8.1"),
        started=started,
    )


async def _monitors(env: Env) -> list[dict[str, Any]]:  # noqa: F811
    body = await (await env.client.get("/api/supervisor/monitors", headers=env.auth("sup"))).json()
    monitors: list[dict[str, Any]] = body["monitors"]
    return monitors


async def test_session_listed_stopped_and_switched(env: Env) -> None:  # noqa: F811
    c = env.client
    svc: SupervisorService = c.app[views_supervisor.SUPERVISOR]
    await env.acd.login("1001")
    r = await c.post("/api/supervisor/agents/1001/monitor", json={"mode": "listen"}, headers=env.auth("sup"))
    session_id = (await r.json())["session"]
    [ringing] = await _monitors(env)
    assert (ringing["id"], ringing["agent"], ringing["mode"], ringing["state"]) == (
        session_id,
        "1001",
        "listen",
        "ringing",
    )
    # not answered yet: nothing to hang up from here
    r = await c.post(f"/api/supervisor/monitors/{session_id}/stop", headers=env.auth("sup"))
    assert r.status == 409
    svc.observe(_spy(started=True))
    assert [m["state"] for m in await _monitors(env)] == ["active"]
    # switch to whisper: the spy channel is hung up and ChanSpy originated again with w
    r = await c.post(
        f"/api/supervisor/monitors/{session_id}/mode", json={"mode": "whisper"}, headers=env.auth("sup")
    )
    assert r.status == 200, await r.text()
    assert env.pbx.hung_up == [SPYER]
    assert env.pbx.originated[-1].kwargs["data"] == f"{SPYEE},qEw"
    [whisper] = await _monitors(env)
    assert whisper["mode"] == "whisper" and whisper["id"] != session_id
    svc.observe(_spy(started=True, at=2.0))
    r = await c.post(f"/api/supervisor/monitors/{whisper['id']}/stop", headers=env.auth("sup"))
    assert r.status == 200 and env.pbx.hung_up == [SPYER, SPYER]
    assert await _monitors(env) == []
    r = await c.post(f"/api/supervisor/monitors/{whisper['id']}/stop", headers=env.auth("sup"))
    assert r.status == 404
    # the PBX ends one on its own (the agent's call ended: ChanSpyStop)
    r = await c.post("/api/supervisor/agents/1001/monitor", json={"mode": "barge"}, headers=env.auth("sup"))
    svc.observe(_spy(started=True, at=3.0))
    assert len(await _monitors(env)) == 1
    svc.observe(_spy(started=False, at=4.0))
    assert await _monitors(env) == []
    # agents may not see or stop sessions
    assert (await c.get("/api/supervisor/monitors", headers=env.auth("alice"))).status == 403
    actions = [e.action for e in env.audit.rows]
    assert actions.count("monitor.stop") == 3  # the refused one, the switch, the stop
