"""The console's websocket and API on the whole service (fake PBX): the pop reaches only its agent,
a reconnect restores it, state and call controls, dispositions gate wrap-up, and access is checked."""

from __future__ import annotations

import asyncio
import contextlib
import re
from typing import Any

import aiohttp
import pytest

from callcenter.domain.acd import AgentState
from tests.console.conftest import ConsoleEnv
from tests.webapp.helpers import login, session_csrf

HOSTILE = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>']


async def agent_ws(env: ConsoleEnv, user: str) -> tuple[aiohttp.ClientWebSocketResponse, dict[str, Any], str]:
    resp = await login(env.client, user)
    assert resp.status in (302, 303), await resp.text()
    csrf = await session_csrf(env.client)
    ws = await env.client.ws_connect("/ws/agent")
    hello = await ws.receive_json(timeout=2)
    assert hello["type"] == "hello"
    return ws, hello, csrf


async def close(ws: aiohttp.ClientWebSocketResponse) -> None:
    """Read what is still in flight, then close: the hub's writer task must not be cancelled while a
    message is being handed to it (a 3.11 ``wait_for`` race in ``Hub._write``, reported to the lead)."""
    with contextlib.suppress(TimeoutError):
        while (await ws.receive(timeout=0.1)).type is aiohttp.WSMsgType.TEXT:
            pass
    await ws.close()


async def offer(env: ConsoleEnv, agent: str, call_id: str, **extra: Any) -> None:
    event = {
        "type": "call.offered",
        "call_id": call_id,
        "queue": "support",
        "agent": agent,
        "caller_num": "2025550142",
        "caller_name": "Karl Known",
        "customer_id": None,
        "segment": None,
        "vip": False,
        "language": "en",
        "ivr_choices": ["2"],
        "wait": 3.2,
        **extra,
    }
    await env.service.acd_bus.publish("acd", event)


async def next_of(ws: aiohttp.ClientWebSocketResponse, kind: str, timeout: float = 2.0) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            msg = await ws.receive_json()
            if msg.get("type") == kind:
                return dict(msg)


async def test_pop_reaches_only_its_agent_and_a_reconnect_restores_it(console: ConsoleEnv) -> None:
    crm = console.service.crm
    customer = await crm.create_customer(
        {"name": "Karl Known", "company": "Acme", "phones": ["2025550142"], "segment": "vip"}, actor="t"
    )
    await crm.add_note(customer.id, "prefers e-mail", actor="t")
    await crm.create_ticket(
        {"subject": "Broken blender", "category": "after_sales"}, actor="t", customer_id=customer.id
    )
    ws, hello, _ = await agent_ws(console, "alice")
    assert hello["agent"] == "1001" and hello["pop"] is None
    assert hello["state"]["state"] == "logged_out"
    other = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))  # bob, his own cookies
    try:
        base = str(console.client.make_url("/"))
        async with other.get(base + "login") as page:
            html = await page.text()
        token = re.search(r'name="csrf" value="([^"]+)"', html)
        assert token
        async with other.post(
            base + "login",
            data={"username": "bob", "password": "correct-horse-battery", "csrf": token.group(1)},
            allow_redirects=False,
        ) as resp:
            assert resp.status == 303
        bob = await other.ws_connect(base + "ws/agent")
        assert (await bob.receive_json(timeout=2))["type"] == "hello"

        screenpop = console.service.screenpop
        await console.service.acd_bus.publish(
            "acd", {"type": "call.queued", "call_id": "c-1", "queue": "support", "caller_num": "2025550142"}
        )
        for _ in range(100):  # the prefetch is done by the workers
            if screenpop.stats["loads"] >= 1 and screenpop._jobs.empty():
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        await offer(console, "1001", "c-1", ivr_choices=["2"], vip=True)
        pop = await next_of(ws, "pop")
        assert "loading" not in pop  # complete at ring: the card was prefetched while the caller waited
        assert pop["customer"]["name"] == "Karl Known" and pop["customer"]["vip"] is True
        assert pop["call"]["queue"] == "support" and pop["call"]["ivr_choices"] == ["2"]
        assert [n["text"] for n in pop["notes"]] == ["prefers e-mail"]
        assert [t["subject"] for t in pop["tickets"]] == ["Broken blender"]
        assert pop["disposition"] == {
            "codes": ["resolved", "escalated", "follow_up_needed"],
            "required": True,
        }
        with pytest.raises(TimeoutError):
            await next_of(bob, "pop", timeout=0.3)  # bob never sees alice's pop

        await close(ws)
        ws2 = await console.client.ws_connect("/ws/agent")  # reload / reconnect
        hello2 = await ws2.receive_json(timeout=2)
        assert hello2["pop"]["pop_id"] == pop["pop_id"]
        assert hello2["pop"]["customer"]["id"] == customer.id
        await close(ws2)
        await close(bob)
    finally:
        await other.close()


async def test_unknown_and_hostile_callers_are_data(console: ConsoleEnv) -> None:
    ws, _, _ = await agent_ws(console, "alice")
    for n, name in enumerate(HOSTILE):
        await offer(console, "1001", f"h-{n}", caller_num=f"303555010{n}", caller_name=name)
        first = await next_of(ws, "pop")
        if first.get("loading"):
            first = await next_of(ws, "pop")
        assert first["call"]["caller_name"] == name  # unchanged: escaping is the page's job (textContent)
        assert first["customer"] is None  # unknown caller: the page shows the new-customer form
    await close(ws)


async def test_state_controls_and_disposition_gate(console: ConsoleEnv) -> None:
    client = console.client
    ws, _, csrf = await agent_ws(console, "alice")
    h = {"X-CSRF-Token": csrf}
    resp = await client.post("/api/console/login", headers=h)
    assert resp.status == 200 and (await resp.json())["state"] == "available"
    assert (await next_of(ws, "agent.state"))["state"] == "available"
    resp = await client.post("/api/console/pause", json={"reason": "nap"}, headers=h)
    assert resp.status == 409  # unknown reason (the ACD refuses it, as on /api/acd)
    resp = await client.post("/api/console/pause", json={"reason": "break"}, headers=h)
    assert (await resp.json())["state"] == "paused"
    resp = await client.post("/api/console/available", headers=h)
    assert (await resp.json())["state"] == "available"

    # a call answered and ended: the agent is in wrap-up on call w-1 of queue support
    acd = console.service.acd
    status = await acd.state.get_agent("1001")
    assert status is not None
    stored = await acd.state.compare_and_set(
        status.with_(state=AgentState.WRAPUP, call_id="w-1", queue="support", since=status.since)
    )
    assert stored is not None
    await offer(console, "1001", "w-1")
    await next_of(ws, "pop")
    resp = await client.post("/api/console/wrapup/end", headers=h)
    assert resp.status == 409 and "disposition" in (await resp.json())["error"]
    resp = await client.post("/api/console/available", headers=h)
    assert resp.status == 409
    bad = await client.post("/api/console/disposition", json={"call_id": "w-1", "code": "sale"}, headers=h)
    assert bad.status == 400 and "code" in (await bad.json())["fields"]
    theirs = await client.post(
        "/api/console/disposition", json={"call_id": "someone-elses", "code": "resolved"}, headers=h
    )
    assert theirs.status == 404
    ok = await client.post(
        "/api/console/disposition", json={"call_id": "w-1", "code": "resolved", "note": "all good"}, headers=h
    )
    assert ok.status == 200, await ok.text()
    stored_d = await console.service.dispositions.get_disposition("w-1", "1001")
    assert stored_d is not None and stored_d.code == "resolved" and stored_d.note == "all good"
    resp = await client.post("/api/console/wrapup/end", headers=h)
    assert resp.status == 200 and (await resp.json())["state"] == "available"
    await close(ws)


async def test_call_controls_act_on_the_agents_own_channel(console: ConsoleEnv) -> None:
    client = console.client
    _, _, csrf = await agent_ws(console, "alice")
    h = {"X-CSRF-Token": csrf}
    resp = await client.post("/api/console/call/hangup", headers=h)
    assert resp.status == 409  # no call on the phone
    from callcenter.domain.calls import LegRecord, LegRole

    legs = [
        LegRecord("1700.1", "1700.1", "PJSIP/trunk-00000001", LegRole.CUSTOMER, 1.0, answered_at=1.0),
        LegRecord(
            "1700.2", "1700.1", "PJSIP/1001-00000002", LegRole.AGENT, 2.0, agent="1001", answered_at=3.0
        ),
    ]
    console.service.console.agent_legs = lambda agent: [leg for leg in legs if leg.agent == agent]
    console.service.console.call_legs = lambda call_id: legs
    sent: list[tuple[str, dict[str, str]]] = []

    async def fake_send(action: str, fields: Any = None, *, timeout: float | None = None) -> dict[str, str]:
        sent.append((action, dict(fields or {})))
        return {"Response": "Success"}

    async def fake_hangup(channel: str, cause: int = 16) -> None:
        sent.append(("Hangup", {"Channel": channel}))

    link = console.service.link
    link.send_action = fake_send  # type: ignore[method-assign]
    link.hangup = fake_hangup  # type: ignore[method-assign]
    resp = await client.post(
        "/api/console/call/transfer", json={"kind": "queue", "target": "support"}, headers=h
    )
    assert resp.status == 200, await resp.text()
    assert sent[-1] == (
        "BlindTransfer",
        {"Channel": "PJSIP/1001-00000002", "Context": "cc-queue", "Exten": "support"},
    )
    resp = await client.post(
        "/api/console/call/transfer", json={"kind": "agent", "target": "1002"}, headers=h
    )
    assert resp.status == 200 and sent[-1][1]["Context"] == "transfer" and sent[-1][1]["Exten"] == "1002"
    resp = await client.post(
        "/api/console/call/transfer", json={"kind": "number", "target": "x;y"}, headers=h
    )
    assert resp.status == 400
    # hold: mark the customer's channel for its ACD session, then one dual Redirect into the hold contexts
    resp = await client.post("/api/console/call/hold", json={"on": True}, headers=h)
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["held"] is True
    # ...and the agent's channel must have survived it (a dual Redirect's reply proves nothing: fact 32)
    assert sent[-1] == ("Getvar", {"Channel": "PJSIP/1001-00000002", "Variable": "CHANNEL(state)"})
    assert sent[-3:-1] == [
        ("Setvar", {"Channel": "PJSIP/trunk-00000001", "Variable": "CC_HOLD", "Value": "1"}),
        (
            "Redirect",
            {
                "Channel": "PJSIP/trunk-00000001",
                "Context": "cc-hold",
                "Exten": "s",
                "Priority": "1",
                "ExtraChannel": "PJSIP/1001-00000002",
                "ExtraContext": "cc-hold-agent",
                "ExtraExten": "s",
                "ExtraPriority": "1",
            },
        ),
    ]
    state = await (await client.get("/api/console/state")).json()
    assert state["state"]["held_by_console"] is True and isinstance(state["state"]["held_since"], float)
    resp = await client.post(
        "/api/console/call/transfer", json={"kind": "queue", "target": "support"}, headers=h
    )
    assert resp.status == 400 and "resume" in await resp.text()
    count = len(sent)
    resp = await client.post("/api/console/call/hold", json={"on": True}, headers=h)
    assert resp.status == 200 and len(sent) == count  # already on hold: nothing sent
    resp = await client.post("/api/console/call/hold", json={"on": False}, headers=h)
    assert resp.status == 200 and (await resp.json())["held"] is False
    assert sent[-1] == (
        "Bridge",
        {"Channel1": "PJSIP/trunk-00000001", "Channel2": "PJSIP/1001-00000002", "Tone": "no"},
    )
    resp = await client.post("/api/console/call/hold", json={"on": False}, headers=h)
    assert resp.status == 409  # not on hold
    await client.post("/api/console/call/hold", json={"on": True}, headers=h)
    resp = await client.post("/api/console/call/hangup", headers=h)  # on hold: both sides
    assert resp.status == 200 and sent[-2:] == [
        ("Hangup", {"Channel": "PJSIP/1001-00000002"}),
        ("Hangup", {"Channel": "PJSIP/trunk-00000001"}),
    ]
    resp = await client.post("/api/console/call/hangup", headers=h)
    assert resp.status == 200 and sent[-1] == ("Hangup", {"Channel": "PJSIP/1001-00000002"})
    resp = await client.post("/api/console/dial", json={"number": "+33 1 23 45 67 89"}, headers=h)
    assert resp.status == 400  # still on a call (the fake legs are live)
    legs.clear()
    resp = await client.post("/api/console/dial", json={"number": "+33 1 23 45 67 89"}, headers=h)
    assert resp.status == 200, await resp.text()
    action, fields = sent[-1]
    assert action == "Originate" and fields["Channel"] == "PJSIP/1001" and fields["Exten"] == "+33123456789"
    assert fields["Context"] == "outbound" and fields["ChannelId"] == (await resp.json())["call_id"]


async def test_access_is_checked(console: ConsoleEnv) -> None:
    client = console.client
    client.session.cookie_jar.clear()
    resp = await client.get("/agent", allow_redirects=False)
    assert resp.status == 303 and "/login" in resp.headers["Location"]
    assert (await client.get("/api/console/state")).status == 401
    with pytest.raises(aiohttp.WSServerHandshakeError) as err:
        await client.ws_connect("/ws/agent")
    assert err.value.status == 401
    await login(client, "quinn")
    assert (await client.get("/agent")).status == 403
    assert (await client.get("/api/console/state")).status == 403
    with pytest.raises(aiohttp.WSServerHandshakeError) as err:
        await client.ws_connect("/ws/agent")
    assert err.value.status == 403
    await login(client, "alice")
    page = await client.get("/agent")
    assert page.status == 200
    html = await page.text()
    assert 'src="/static/console.js"' in html and "<script>" not in html
    assert (await client.post("/api/console/login")).status == 403  # no CSRF token
    with pytest.raises(aiohttp.WSServerHandshakeError) as err:
        await client.ws_connect("/ws/agent", origin="http://evil.example")
    assert err.value.status == 403


async def test_a_failed_hold_redirect_clears_the_hold_mark(console: ConsoleEnv) -> None:
    from callcenter.domain.calls import LegRecord, LegRole
    from callcenter.domain.errors import AmiActionError

    client = console.client
    _, _, csrf = await agent_ws(console, "alice")
    legs = [
        LegRecord("1700.1", "1700.1", "PJSIP/trunk-00000001", LegRole.CUSTOMER, 1.0, answered_at=1.0),
        LegRecord(
            "1700.2", "1700.1", "PJSIP/1001-00000002", LegRole.AGENT, 2.0, agent="1001", answered_at=3.0
        ),
    ]
    console.service.console.agent_legs = lambda agent: [leg for leg in legs if leg.agent == agent]
    console.service.console.call_legs = lambda call_id: legs
    sent: list[tuple[str, dict[str, str]]] = []

    async def fake_send(action: str, fields: Any = None, *, timeout: float | None = None) -> dict[str, str]:
        sent.append((action, dict(fields or {})))
        if action == "Redirect":
            raise AmiActionError("Redirect", "Channel does not exist: PJSIP/trunk-00000001")
        return {"Response": "Success"}

    console.service.link.send_action = fake_send  # type: ignore[method-assign]
    resp = await client.post("/api/console/call/hold", json={"on": True}, headers={"X-CSRF-Token": csrf})
    assert resp.status >= 400
    assert [a for a, _ in sent] == ["Setvar", "Redirect", "Setvar"]
    assert sent[-1][1] == {"Channel": "PJSIP/trunk-00000001", "Variable": "CC_HOLD", "Value": ""}
    assert await console.service.console.held("1001") is None


async def test_refused_transfers_and_failed_holds_are_reported_to_the_agent(console: ConsoleEnv) -> None:
    """``Transfer invalid`` (fact 33) and a hold the PBX did not complete come back as a 502 whose
    message tells the agent where the call is; the console page shows ``error`` as it is."""
    from callcenter.domain.calls import LegRecord, LegRole
    from callcenter.domain.errors import AmiActionError

    client = console.client
    _, _, csrf = await agent_ws(console, "alice")
    h = {"X-CSRF-Token": csrf}
    legs = [
        LegRecord(
            "1700.1", "1700.1", "Local/8001@incoming-00000000;2", LegRole.INBOUND, 1.0, answered_at=1.0
        ),
        LegRecord(
            "1700.2",
            "1700.1",
            "Local/1001@agents-00000001;1",
            LegRole.AGENT,
            2.0,
            agent="1001",
            answered_at=3.0,
        ),
        LegRecord(
            "1700.3",
            "1700.1",
            "Local/1001@agents-00000001;2",
            LegRole.AGENT,
            2.5,
            agent="1001",
            answered_at=3.0,
        ),
    ]
    console.service.console.agent_legs = lambda agent: [leg for leg in legs if leg.agent == agent]
    console.service.console.call_legs = lambda call_id: legs
    sent: list[tuple[str, dict[str, str]]] = []

    async def fake_send(action: str, fields: Any = None, *, timeout: float | None = None) -> dict[str, str]:
        sent.append((action, dict(fields or {})))
        if action == "BlindTransfer":
            raise AmiActionError("BlindTransfer", "Transfer invalid")
        if action == "Redirect" and fields.get("ExtraChannel"):
            raise AmiActionError("Redirect", "Secondary redirect failed")
        return {"Response": "Success"}

    console.service.link.send_action = fake_send  # type: ignore[method-assign]
    resp = await client.post(
        "/api/console/call/transfer", json={"kind": "agent", "target": "1002"}, headers=h
    )
    assert resp.status == 502
    body = await resp.json()
    assert "transfer was refused (Transfer invalid)" in body["error"] and "still yours" in body["error"]
    assert sent[-1][1]["Channel"] == "Local/1001@agents-00000001;1"  # the bridged half, never ;2

    resp = await client.post("/api/console/call/hold", json={"on": True}, headers=h)
    assert resp.status == 502
    assert "the hold did not work; your call is back with you" in (await resp.json())["error"]
    assert sent[-1] == (
        "Bridge",
        {
            "Channel1": "Local/8001@incoming-00000000;2",
            "Channel2": "Local/1001@agents-00000001;1",
            "Tone": "no",
        },
    )
    state = await (await client.get("/api/console/state")).json()
    assert state["state"]["held_by_console"] is False
    entries = await console.service.audit.list_audit(actor="agent:1001")
    assert [(e.action, e.ok, e.detail["outcome"]) for e in entries] == [
        ("console.hold", False, "bridged_back")
    ]
