"""The business hours an administrator sets (``services/admin_settings.py``) steer real calls: the IVR's
``hours`` node, on loopback FastAGI with the simulator's callers, takes the holiday or closed branch."""

from __future__ import annotations

from typing import Any

from callcenter.services.admin_settings import AdminSettings
from callcenter.services.console import DispositionRules
from callcenter.services.kpi_config import KpiConfig
from tests.ivr.harness import OPEN, Harness

KEY = "main/opening_hours"


class MemoryStore:
    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}

    async def load_settings(self) -> dict[str, dict[str, Any]]:
        return dict(self.rows)

    async def save_setting(self, key: str, value: dict[str, Any], by: str) -> None:
        self.rows[key] = value

    async def delete_setting(self, key: str) -> bool:
        return self.rows.pop(key, None) is not None


class Holder:
    def __init__(self) -> None:
        self.rules = DispositionRules()
        self.config = KpiConfig()


def _settings(ivr: Harness, store: MemoryStore) -> AdminSettings:
    holder = Holder()
    return AdminSettings(store, console=holder, supervisor=holder, flows=ivr.library)


async def test_a_holiday_added_sends_the_next_call_to_the_holiday_branch(ivr: Harness) -> None:
    ivr.clock.now = OPEN  # a Monday 10:00 in Paris: open
    rec = await ivr.call("1;2", number="0555000101")
    assert ivr.step(rec, "opening_hours")["result"] == "open"
    admin = _settings(ivr, MemoryStore())
    await admin.add_holiday("admin:ada", KEY, "2026-11-23", "Inventory day")
    rec = await ivr.call("1;2", number="0555000102")
    assert ivr.step(rec, "opening_hours")["result"] == "holiday"
    assert "holiday" in ivr.nodes(rec)
    await admin.remove_holiday("admin:ada", KEY, "2026-11-23")
    rec = await ivr.call("1;2", number="0555000103")
    assert ivr.step(rec, "opening_hours")["result"] == "open"


async def test_monday_closed_and_kept_across_a_start_and_a_reload(ivr: Harness) -> None:
    ivr.clock.now = OPEN
    store = MemoryStore()
    await _settings(ivr, store).set_weekly("admin:ada", KEY, "Europe/Paris", {"mon": "closed"})
    rec = await ivr.call("1;-;5", number="0555000104")
    assert ivr.step(rec, "opening_hours")["result"] == "closed"
    # a restart: the files are read again, then the stored hours applied over them
    ivr.library.hours = {}
    assert (await ivr.library.load()).ok
    rec = await ivr.call("1;2", number="0555000105")
    assert ivr.step(rec, "opening_hours")["result"] == "open"  # the file's hours alone
    await _settings(ivr, store).start()
    report = await ivr.library.load()  # and a reload of the files keeps them
    assert report.ok
    rec = await ivr.call("1;-;5", number="0555000106")
    assert ivr.step(rec, "opening_hours")["result"] == "closed"
