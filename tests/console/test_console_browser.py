"""The agent console in Chromium on the real call path: the PBX simulator (agi mode) → our FastAGI →
IVR (lookup, menu, customer number) → ACD → the agent's phone rings → the screen pop, then notes, a
disposition, a complaint ticket, hang-up and wrap-up; hostile caller names stay text."""

from __future__ import annotations

import asyncio
import time
import wave
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tests.browser.conftest import screenshot_path
from tests.console.conftest import SimEnv
from tests.webapp.helpers import PASSWORD, make_call

HOSTILE = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>']


async def login(page: Any, base: str, username: str) -> None:
    await page.goto(f"{base}/login")
    await page.fill("input[name=username]", username)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{base}/agent")
    await page.wait_for_selector("#link.link-up")


def offered_times(env: SimEnv) -> dict[str, float]:
    times: dict[str, float] = {}

    def listener(topic: str, event: Mapping[str, Any]) -> None:
        if topic == "acd" and event.get("type") == "call.offered":
            times[str(event.get("caller_num"))] = time.monotonic()

    env.service.acd_bus.subscribe(listener)
    return times


def write_wav(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(b"\x00\x00" * 8000)


async def earlier_calls(env: SimEnv, number: str) -> tuple[int, int]:
    """Two recorded earlier calls of this customer: one alice (1001) handled, one bob (1002) did.
    Returns their recording ids."""
    now = time.time()
    write_wav(Path(env.service.settings.recordings_dir) / "earlier-1001.wav")
    await env.service.store.save_calls(
        [
            make_call(
                "earlier-1001",
                agent="1001",
                queue="support",
                caller_num=number,
                started_at=now - 3 * 86400,
                recording_file="earlier-1001.wav",
            ),
            make_call(
                "earlier-1002",
                agent="1002",
                queue="support",
                caller_num=number,
                started_at=now - 2 * 86400,
                recording_file="earlier-1002.wav",
            ),
        ]
    )
    store = env.service.recordings.store
    (own,) = await store.recordings_for_call("earlier-1001")
    (other,) = await store.recordings_for_call("earlier-1002")
    return own.id, other.id


async def fetch_status(page: Any, url: str) -> int:
    return int(
        await page.evaluate("async (u) => (await fetch(u, {headers: {Range: 'bytes=0-99'}})).status", url)
    )


async def test_a_call_pops_the_customer_and_the_agent_works_it(page: Any, sim_console: SimEnv) -> None:
    env = sim_console
    crm = env.service.crm
    customer = await crm.create_customer(
        {"name": "Karl Known", "company": "Acme Logistics", "phones": ["2025550142"], "segment": "vip"},
        actor="seed",
    )
    await crm.add_note(customer.id, "Prefers to be called in the morning", actor="seed")
    own_rec, other_rec = await earlier_calls(env, "2025550142")
    dialogs: list[str] = []
    page.on("dialog", lambda d: dialogs.append(d.message))
    offered = offered_times(env)

    await login(page, env.url, "alice")
    await page.click("#btn-login")
    await page.wait_for_selector("#state.state-available")

    env.sim.place_call(number="2025550142", name="Karl Known", script="2;4711#", patience=600.0, talk=120.0)
    await page.wait_for_selector("#pop-caller:has-text('Karl Known')", timeout=15_000)
    shown = time.monotonic()
    assert "2025550142" in offered, offered
    assert shown - offered["2025550142"] < 1.0  # the pop is on screen within a second of the ring
    assert await page.inner_text("#state") == "Ringing"  # ...while the phone still rings
    assert await page.is_visible("#pop-vip")
    assert await page.inner_text("#cust-company") == "Acme Logistics"
    assert await page.inner_text("#pop-queue") == "support"
    assert await page.inner_text("#pop-ivr") == "2"
    assert "customer number: 4711" in await page.inner_text("#pop-inputs")
    assert "Prefers to be called in the morning" in await page.inner_text("#notes")

    await page.wait_for_selector("#state.state-on_call", timeout=10_000)  # the agent answered

    # last calls: a play control for alice's own recorded call only; bob's stays "recorded"
    players = page.locator("#history audio.rec-audio")
    assert await players.count() == 1
    own_url = f"/api/recordings/{own_rec}/audio"
    assert await players.first.get_attribute("src") == own_url
    assert "recorded" in await page.inner_text("#history")
    assert await fetch_status(page, own_url) == 206  # her own call: playable (and audited)
    assert await fetch_status(page, f"/api/recordings/{other_rec}/audio") == 403  # bob's call: refused
    plays = await env.service.recordings.store.playbacks(own_rec)
    assert [(p.actor, p.role) for p in plays] == [("alice", "agent")]

    # hold (music for the customer, a timer for the agent), then resume
    await page.click("#btn-hold")
    await page.wait_for_selector("#hold-banner:not(.hidden)", timeout=5_000)
    await page.wait_for_selector("#state.state-on_hold", timeout=5_000)
    assert await page.inner_text("#btn-hold") == "Resume"
    await page.wait_for_selector("#hold-timer:has-text('0:01')", timeout=5_000)
    await page.screenshot(path=screenshot_path("console-on-hold"))
    await page.click("#btn-hold")
    await page.wait_for_selector("#hold-banner", state="hidden", timeout=5_000)
    await page.wait_for_selector("#state.state-on_call", timeout=5_000)
    assert await page.inner_text("#btn-hold") == "Hold"
    await page.fill("#note-text", "Parcel arrived damaged; customer upset")
    await page.click("#note-form button[type=submit]")
    await page.wait_for_selector("#notes :text('Parcel arrived damaged; customer upset')")

    await page.select_option("#disp-code", "escalated")
    await page.fill("#disp-note", "complaint opened")
    await page.click("#disp-form button[type=submit]")
    await page.wait_for_selector("#disp-saved:not(.hidden)")

    await page.click("#ticket-summary")
    await page.fill("#ticket-form input[name=subject]", "Damaged parcel <b>x</b>")
    await page.select_option("#ticket-form select[name=category]", "complaint")
    await page.select_option("#ticket-form select[name=priority]", "high")
    await page.select_option("#ticket-form select[name=status]", "open")
    await page.click("#ticket-submit")
    await page.wait_for_selector("#tickets :text('Damaged parcel <b>x</b>')")
    await page.evaluate("window.scrollTo(0, 0)")
    await page.screenshot(path=screenshot_path("console-pop"))

    await page.click("#btn-hangup")
    await page.wait_for_selector("#state.state-wrapup", timeout=10_000)
    await page.click("#btn-wrapup")
    await page.wait_for_selector("#state.state-available", timeout=5_000)

    tickets = (await crm.customer_tickets(customer.id)).tickets
    assert [(t.subject, t.category.value, t.status.value) for t in tickets] == [
        ("Damaged parcel <b>x</b>", "complaint", "open")
    ]
    call_id = tickets[0].call_id
    assert call_id
    disposition = await env.service.dispositions.get_disposition(call_id, "1001")
    assert disposition is not None and disposition.code == "escalated"
    await page.goto(f"{env.url}/customers/{customer.id}")  # the ticket is in the customer's history
    assert "Damaged parcel <b>x</b>" in await page.inner_text("#tickets")
    assert dialogs == []


async def test_hostile_unknown_caller_gets_a_new_customer_form(page: Any, sim_console: SimEnv) -> None:
    env = sim_console
    dialogs: list[str] = []
    page.on("dialog", lambda d: dialogs.append(d.message))
    await login(page, env.url, "alice")
    await page.click("#btn-login")
    await page.wait_for_selector("#state.state-available")
    for n, name in enumerate(HOSTILE):
        number = f"303555010{n}"
        env.sim.place_call(number=number, name=name, script="1", patience=600.0, talk=120.0)
        await page.wait_for_selector(f"#pop-number:has-text('{number}')", timeout=15_000)
        assert await page.inner_text("#pop-caller") == name  # literally, as text
        await page.wait_for_selector("#new-customer:not(.hidden)")
        assert await page.input_value("#new-customer input[name=phones]") == number
        assert await page.locator("img[src=x]").count() == 0
        await page.wait_for_selector("#state.state-on_call", timeout=10_000)
        await page.click("#btn-hangup")
        await page.wait_for_selector("#state.state-available", timeout=10_000)  # sales: no wrap-up
    await page.screenshot(path=screenshot_path("console-hostile-caller"))
    # the new-customer form creates the customer and the pop shows them
    await page.fill("#new-customer input[name=name]", "Dana New")
    await page.click("#new-customer button[type=submit]")
    await page.wait_for_selector("#cust-name:has-text('Dana New')")
    assert dialogs == []
    await asyncio.sleep(0)
