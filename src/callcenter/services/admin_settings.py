"""Settings administrators change in the browser over the configuration files (issue 18 part 3):
disposition codes (``config/console.yaml``), supervisor phones (``config/wallboard.yaml``) and the IVR's
business hours and holidays (the ``hours`` nodes of ``ivr_flows/``).

How they coexist with the files: the files are the starting configuration. A change made on ``/admin``
is stored in the database (``admin_settings``, one JSON value per key) and used at once; at each start
the stored values are applied over the files' (:meth:`AdminSettings.start`), so they last across
restarts. "Back to the file" deletes the stored value and the file's version is used again. A stored
value that no longer passes the checks (say the file was edited and a queue removed) is logged and left
unused; the file's stays in force. With several instances the other instances read a change at their
next start.

Every change is validated before anything is stored (:class:`SettingsError`, HTTP 400, naming the
field); the audit entry is written by the page (``webapp/views_admin_settings.py``).
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from callcenter.domain.errors import ConfigError, NotFound
from callcenter.domain.ivr import FlowSet, Schedule
from callcenter.domain.ivr_calendar import hours_nodes, schedule_to_mapping
from callcenter.domain.ivr_parse import parse_schedule
from callcenter.domain.text import N_
from callcenter.services.console import DispositionRules, rules_from_mapping
from callcenter.services.kpi_config import KpiConfig

log = logging.getLogger(__name__)

DISPOSITIONS = "console.dispositions"
PHONES = "wallboard.supervisor_phones"
HOURS = "ivr.hours"

MAX_CODES = 50
MAX_HOLIDAYS = 200
MAX_HOLIDAY_NAME = 80
#: a dial string ChanSpy's Originate can call: ``PJSIP/2001``, ``Local/2001@supervisor/n``, ``SIP/x``
ENDPOINT_RE = re.compile(r"[A-Za-z][A-Za-z0-9]{0,15}/[A-Za-z0-9_.@:+-][A-Za-z0-9_.@:+/-]{0,78}")
USERNAME_RE = re.compile(r"[A-Za-z0-9_.@-]{1,64}")
HOLIDAY_RE = re.compile(r"(?:\d{4}-)?\d{2}-\d{2}")


class SettingsError(ValueError):
    """An invalid change (HTTP 400): ``field`` names the form field, the text is ``message: detail``
    (``message`` is a catalogue text, so the page shows it translated)."""

    def __init__(self, field: str, message: str, detail: str = "") -> None:
        super().__init__(f"{message}: {detail}" if detail else message)
        self.field = field


class SettingsStore(Protocol):
    async def load_settings(self) -> dict[str, dict[str, Any]]: ...

    async def save_setting(self, key: str, value: dict[str, Any], by: str) -> None: ...

    async def delete_setting(self, key: str) -> bool: ...


class RulesHolder(Protocol):
    """The console (``ConsoleService.rules``, read at each offer, code check and wrap-up)."""

    rules: DispositionRules


class PhonesHolder(Protocol):
    """The supervisor actions (``SupervisorService.config``, read at each monitor request)."""

    config: KpiConfig


class HoursLibrary(Protocol):
    """The IVR's flow library (``services.ivr_flows.FlowLibrary``)."""

    base: FlowSet | None
    current: FlowSet | None

    async def set_hours(self, hours: dict[str, Schedule]) -> list[str]: ...


def rules_to_mapping(rules: DispositionRules) -> dict[str, Any]:
    """The ``dispositions`` section of ``config/console.yaml`` for these rules (every queue explicit)."""
    return {
        "timed_wrapup_waits": rules.timed_wrapup_waits,
        "default": {"codes": list(rules.default.codes), "required": rules.default.required},
        "queues": {
            name: {"codes": list(q.codes), "required": q.required} for name, q in sorted(rules.queues.items())
        },
    }


def parse_codes(text: str) -> list[str]:
    """``"sale, quote_sent"`` (commas, spaces or lines) → ``["sale", "quote_sent"]``, duplicates dropped."""
    out: list[str] = []
    for item in re.split(r"[\s,;]+", text):
        if item and item not in out:
            out.append(item)
    return out


def _rules(mapping: Mapping[str, Any]) -> DispositionRules:
    try:
        return rules_from_mapping({"dispositions": mapping}, "dispositions")
    except ConfigError as exc:
        raise SettingsError("codes", N_("invalid disposition codes"), str(exc)) from None


def _check_codes(codes: list[str]) -> None:
    if not codes:
        raise SettingsError("codes", N_("give at least one code"))
    if len(codes) > MAX_CODES:
        raise SettingsError("codes", N_("too many codes"), f"at most {MAX_CODES}")
    for code in codes:
        if not re.fullmatch(r"[a-z0-9][a-z0-9_.-]{0,39}", code):
            raise SettingsError(
                "codes",
                N_("not a code (lower-case letters, digits, _ . -, at most 40 characters)"),
                code[:60],
            )


def _schedule(mapping: Mapping[str, Any], field: str, where: str) -> Schedule:
    schedule, problems = parse_schedule(mapping, where)
    if problems:
        raise SettingsError(field, N_("invalid business hours"), problems[0].message)
    return schedule


class AdminSettings:
    def __init__(
        self,
        store: SettingsStore,
        *,
        console: RulesHolder,
        supervisor: PhonesHolder,
        flows: HoursLibrary,
        queue_names: Callable[[], Iterable[str]] = lambda: (),
    ) -> None:
        self.store = store
        self.console = console
        self.supervisor = supervisor
        self.flows = flows
        self.queue_names = queue_names
        self.file_rules = DispositionRules()
        self.file_phones: tuple[dict[str, str], str] = ({}, "")
        self.stored: dict[str, dict[str, Any]] = {}  # what the database holds (and is in use)
        self.problems: list[str] = []  # stored values left unused at start

    # --- start: the stored values over the files ----------------------------------------------
    async def start(self) -> None:
        """Once the files are read (console and wallboard) and before the flows are first loaded: apply
        what the database holds. A stored value that fails the checks is logged and not used."""
        self.file_rules = self.console.rules
        config = self.supervisor.config
        self.file_phones = (dict(config.supervisor_phones), config.default_supervisor_phone)
        stored = await self.store.load_settings()
        self.stored, self.problems = {}, []
        for key, apply in ((DISPOSITIONS, self._apply_dispositions), (PHONES, self._apply_phones)):
            if key in stored:
                try:
                    apply(stored[key])
                except (SettingsError, ConfigError, TypeError, ValueError) as exc:
                    self._unused(key, exc)
                else:
                    self.stored[key] = stored[key]
        if HOURS in stored:
            try:
                hours = self._hours_from(stored[HOURS])
            except (SettingsError, TypeError, ValueError) as exc:
                self._unused(HOURS, exc)
            else:
                self.stored[HOURS] = stored[HOURS]
                await self.flows.set_hours(hours)

    def _unused(self, key: str, exc: Exception) -> None:
        message = f"{key}: the stored value is not valid ({exc}); the file's is used"
        self.problems.append(message)
        log.error("admin setting not applied", extra={"key": key, "error": str(exc)})

    def source(self, key: str) -> str:
        """``database`` (set on /admin) or ``file``."""
        return "database" if key in self.stored else "file"

    async def _save(self, key: str, value: dict[str, Any], by: str) -> None:
        await self.store.save_setting(key, value, by)
        self.stored[key] = value

    async def _forget(self, key: str) -> None:
        await self.store.delete_setting(key)
        self.stored.pop(key, None)

    # --- disposition codes ----------------------------------------------------------------------
    def _apply_dispositions(self, value: Mapping[str, Any]) -> None:
        self.console.rules = _rules(value)

    def disposition_rows(self) -> list[dict[str, Any]]:
        """The default and one row per queue (the ACD's and those with codes of their own)."""
        rules = self.console.rules
        rows: list[dict[str, Any]] = [
            {
                "scope": "default",
                "codes": list(rules.default.codes),
                "required": rules.default.required,
                "own": True,
            }
        ]
        for name in sorted({*self.queue_names(), *rules.queues}):
            q = rules.for_queue(name)
            rows.append(
                {"scope": name, "codes": list(q.codes), "required": q.required, "own": name in rules.queues}
            )
        return rows

    async def set_dispositions(
        self, by: str, scope: str, codes_text: str, *, required: bool, waits: bool | None = None
    ) -> dict[str, Any]:
        """The codes and ``required`` of ``scope`` (``default`` or a queue; a queue with no codes given
        uses the default's again); ``waits``: ``timed_wrapup_waits`` (None: unchanged). Returns the audit
        detail (before and after)."""
        current = rules_to_mapping(self.console.rules)
        mapping = rules_to_mapping(self.console.rules)
        codes = parse_codes(codes_text)
        if scope == "default":
            _check_codes(codes)
            mapping["default"] = {"codes": codes, "required": required}
            if waits is not None:
                mapping["timed_wrapup_waits"] = waits
            before: Any = current["default"]
        else:
            if scope not in {*self.queue_names(), *mapping["queues"]}:
                raise SettingsError("scope", N_("unknown queue"), scope[:64])
            before = current["queues"].get(scope)
            if codes:
                _check_codes(codes)
                mapping["queues"][scope] = {"codes": codes, "required": required}
            else:
                mapping["queues"].pop(scope, None)
        rules = _rules(mapping)
        await self._save(DISPOSITIONS, mapping, by)
        self.console.rules = rules
        after = mapping["default"] if scope == "default" else mapping["queues"].get(scope)
        detail: dict[str, Any] = {"scope": scope, "before": before, "after": after}
        if waits is not None:
            detail["timed_wrapup_waits"] = [current["timed_wrapup_waits"], mapping["timed_wrapup_waits"]]
        return detail

    async def reset_dispositions(self) -> None:
        await self._forget(DISPOSITIONS)
        self.console.rules = self.file_rules

    # --- supervisor phones ----------------------------------------------------------------------
    def _apply_phones(self, value: Mapping[str, Any]) -> None:
        phones = value.get("phones") or {}
        default = str(value.get("default") or "")
        if not isinstance(phones, Mapping):
            raise SettingsError("phones", N_("invalid supervisor phones"))
        checked = {str(user): self._endpoint(f"phone.{user}", str(phone)) for user, phone in phones.items()}
        self.supervisor.config = dataclasses.replace(
            self.supervisor.config,
            supervisor_phones={u: p for u, p in checked.items() if p},
            default_supervisor_phone=self._endpoint("default", default),
        )

    @staticmethod
    def _endpoint(field: str, value: str) -> str:
        value = value.strip()
        if value and not ENDPOINT_RE.fullmatch(value):
            raise SettingsError(field, N_("not an endpoint (a dial string: technology/resource)"), value[:80])
        return value

    def phones(self) -> tuple[dict[str, str], str]:
        config = self.supervisor.config
        return dict(config.supervisor_phones), config.default_supervisor_phone

    async def set_phones(self, by: str, phones: Mapping[str, str], default: str) -> dict[str, Any]:
        """Every supervisor's phone (an empty one: the default applies) and the default. Returns the
        audit detail (the changes)."""
        checked: dict[str, str] = {}
        for user, phone in phones.items():
            if not USERNAME_RE.fullmatch(user):
                raise SettingsError("phones", N_("not a user name"), user[:64])
            endpoint = self._endpoint(f"phone.{user}", phone)
            if endpoint:
                checked[user] = endpoint
        default = self._endpoint("default", default)
        before, before_default = self.phones()
        value: dict[str, Any] = {"phones": checked, "default": default}
        await self._save(PHONES, value, by)
        self._apply_phones(value)
        changes = {
            user: [before.get(user, ""), checked.get(user, "")]
            for user in sorted({*before, *checked})
            if before.get(user, "") != checked.get(user, "")
        }
        if before_default != default:
            changes["(default)"] = [before_default, default]
        return {"changes": changes}

    async def reset_phones(self) -> None:
        await self._forget(PHONES)
        phones, default = self.file_phones
        self.supervisor.config = dataclasses.replace(
            self.supervisor.config, supervisor_phones=phones, default_supervisor_phone=default
        )

    # --- business hours and holidays ------------------------------------------------------------
    def _hours_from(self, value: Mapping[str, Any]) -> dict[str, Schedule]:
        nodes = value.get("nodes") or {}
        if not isinstance(nodes, Mapping):
            raise SettingsError("hours", N_("invalid business hours"))
        return {str(key): _schedule(m, "hours", f"admin:{key}") for key, m in nodes.items()}

    def _stored_hours(self) -> dict[str, Any]:
        return dict((self.stored.get(HOURS) or {}).get("nodes") or {})

    def hours_rows(self) -> list[dict[str, Any]]:
        """Each ``hours`` node of the running flows with its calendar (as in use) and where it is from."""
        stored = self._stored_hours()
        return [
            {
                "key": key,
                "flow": flow.name,
                "node": node.id,
                "file": flow.where(node),
                "source": "database" if key in stored else "file",
                **schedule_to_mapping(node.schedule),
            }
            for key, flow, node in hours_nodes(self.flows.current)
        ]

    def _file_schedule(self, key: str) -> Schedule:
        for found, _flow, node in hours_nodes(self.flows.base):
            if found == key:
                return node.schedule
        raise NotFound(f"no hours node {key!r} in the flows")

    def _in_use(self, key: str) -> dict[str, Any]:
        stored = self._stored_hours()
        return dict(stored[key]) if key in stored else schedule_to_mapping(self._file_schedule(key))

    async def _put_hours(self, by: str, key: str, mapping: dict[str, Any]) -> dict[str, Any]:
        self._file_schedule(key)  # the node must exist in the files
        schedule = _schedule(mapping, "hours", f"admin:{key}")
        nodes = self._stored_hours()
        saved = schedule_to_mapping(schedule)
        nodes[key] = saved
        hours = self._hours_from({"nodes": nodes})
        await self._save(HOURS, {"nodes": nodes}, by)
        await self.flows.set_hours(hours)
        return saved

    async def set_weekly(self, by: str, key: str, timezone: str, weekly: Mapping[str, str]) -> dict[str, Any]:
        """The time zone and weekly hours of one ``hours`` node (its holidays kept)."""
        current = self._in_use(key)
        mapping = {**current, "timezone": timezone.strip(), "weekly": dict(current["weekly"])}
        _schedule({"timezone": mapping["timezone"], "weekly": {}}, "timezone", "timezone")
        for day, text in weekly.items():
            value = text.strip() or "closed"
            _schedule({"timezone": "UTC", "weekly": {day: value}}, day, day)
            mapping["weekly"][day] = value
        after = await self._put_hours(by, key, mapping)
        return {
            "before": {k: current[k] for k in ("timezone", "weekly")},
            "after": {k: after[k] for k in ("timezone", "weekly")},
        }

    async def add_holiday(self, by: str, key: str, when: str, name: str) -> dict[str, Any]:
        """One holiday: ``YYYY-MM-DD`` (that day only) or ``MM-DD`` (every year)."""
        when, name = when.strip(), " ".join(name.split())[:MAX_HOLIDAY_NAME]
        if not HOLIDAY_RE.fullmatch(when):
            raise SettingsError(
                "date", N_("a holiday is a date: 2027-05-01 (once) or 12-25 (every year)"), when[:20]
            )
        holiday = {"date": when, "name": name}
        _schedule({"timezone": "UTC", "weekly": {}, "holidays": [holiday]}, "date", "date")
        current = self._in_use(key)
        holidays = list(current["holidays"])
        if any(h["date"] == when for h in holidays):
            raise SettingsError("date", N_("this date is already a holiday"), when)
        if len(holidays) >= MAX_HOLIDAYS:
            raise SettingsError("date", N_("too many holidays"), f"at most {MAX_HOLIDAYS}")
        holidays.append(holiday)
        holidays.sort(key=lambda h: (len(h["date"]) == 10, h["date"]))
        await self._put_hours(by, key, {**current, "holidays": holidays})
        return {"added": holiday}

    async def remove_holiday(self, by: str, key: str, when: str) -> dict[str, Any]:
        current = self._in_use(key)
        kept = [h for h in current["holidays"] if h["date"] != when.strip()]
        if len(kept) == len(current["holidays"]):
            raise SettingsError("date", N_("no such holiday"), when.strip()[:20])
        removed = next(h for h in current["holidays"] if h["date"] == when.strip())
        await self._put_hours(by, key, {**current, "holidays": kept})
        return {"removed": removed}

    async def reset_hours(self, by: str, key: str) -> None:
        """Back to the flow file's calendar for this node."""
        self._file_schedule(key)
        nodes = self._stored_hours()
        nodes.pop(key, None)
        if nodes:
            await self._save(HOURS, {"nodes": nodes}, by)
        else:
            await self._forget(HOURS)
        await self.flows.set_hours(self._hours_from({"nodes": nodes}))
