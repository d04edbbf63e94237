"""Settings: one frozen dataclass from ``CALLCENTER_*`` environment variables and an optional TOML file.

Precedence: environment > TOML file (``CALLCENTER_CONFIG`` or ``--config``) > defaults. Every value is
validated at start with a message that names the variable. Secrets are ``Secret`` objects whose ``repr``
and ``str`` never show the value, so they cannot leak into a log line by accident.

This module is the simulator's only import from the service (the "public config").
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from callcenter.domain.cases import parse_sla_days, parse_warranty_months
from callcenter.domain.errors import ConfigError
from callcenter.domain.qa_recordings import parse_retention

ENV_PREFIX = "CALLCENTER_"


class Secret:
    """A string that never prints itself."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')" if self._value else "Secret('')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


@dataclass(frozen=True, slots=True)
class Settings:
    # PBX link (AMI)
    ami_host: str = "127.0.0.1"
    ami_port: int = 5038
    ami_user: str = "callcenter"
    ami_secret: Secret = field(default_factory=lambda: Secret("callcenter"))
    ami_action_timeout: float = 10.0
    ami_ping_interval: float = 5.0
    ami_ping_timeout: float = 3.0
    ami_connect_timeout: float = 5.0
    ami_reconnect_min: float = 0.5
    ami_reconnect_max: float = 30.0
    ami_event_queue: int = 10_000
    # PBX health (the AMI Ping round trip): a supervisor alert on the wallboard once every ping for
    # ``pbx_slow_for`` seconds took ``pbx_slow_ping_ms`` or longer; ``pbx_ping_history`` seconds kept
    pbx_slow_ping_ms: float = 250.0
    pbx_slow_for: float = 30.0
    pbx_ping_history: float = 300.0
    # stores
    database_url: str = "sqlite+aiosqlite:///var/callcenter.db"
    redis_url: str | None = None
    store_batch_size: int = 500
    #: call records: written at the latest this many seconds after a change, or as soon as
    #: ``store_flush_size`` calls are pending (the write-ahead journal covers the wait)
    store_flush_interval: float = 1.0
    store_flush_size: int = 200
    #: the call records' write-ahead journal: "" = beside a SQLite file (``<db>.journal``), else
    #: ``var/callcenter.journal``; "off" disables it (a crash then loses the last batch window)
    store_journal: str = ""
    # listeners
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    agi_host: str = "127.0.0.1"
    agi_port: int = 4573
    # web
    session_secret: Secret = field(default_factory=lambda: Secret(""))
    cookie_secure: bool = False
    # files
    recordings_dir: str = "var/recordings"
    # recording retention (``callcenter recordings purge``): days by default and per queue ("sales=30,vip=0");
    # 0 or less keeps recordings forever
    recordings_retention_days: int = 365
    recordings_retention: str = ""
    ivr_flows_dir: str = "ivr_flows"
    # the center's country calling code (1-3 digits): national numbers typed in searches are read in it
    default_country: str = "1"
    # the pages' language when neither the user's setting nor the browser's Accept-Language decides
    # ("en" or "zh-CN")
    default_language: str = "en"
    # ACD (queues, agents: config/acd.yaml; shared state in Redis when redis_url is set)
    acd_config: str = "config/acd.yaml"
    acd_redis_prefix: str = "callcenter:acd"
    acd_wait_slice: float = 1.0
    # outbound dialer (issue 17): the pjsip.conf trunk endpoint customers are dialled on
    # (PJSIP/<number>@<trunk>), and the dialer's loop period in seconds
    outbound_trunk: str = "trunk"
    dialer_tick: float = 0.5
    # the campaign (by name) abandoned callers with a known number are added to; "" = off
    missed_calls_campaign: str = ""
    # service cases (RMA, issue 16): warranty months by default and per product ("router=36,phone=12")
    cases_warranty_months: int = 24
    cases_warranty: str = ""
    # SLA per stage in working days over the defaults ("in_repair=5,shipped=3")
    cases_sla: str = ""
    # notifications (issue 16): e-mails to customers through SMTP (off while smtp_host is empty), signed
    # webhooks to each URL of webhook_urls (comma separated), the customers' status links under public_url
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_from: str = "service@localhost"
    smtp_user: str = ""
    smtp_password: Secret = field(default_factory=lambda: Secret(""))
    smtp_starttls: bool = False
    webhook_urls: str = ""
    webhook_secret: Secret = field(default_factory=lambda: Secret(""))
    public_url: str = "http://localhost:8080"
    status_link_days: int = 30
    # post-call survey (CSAT, issue 16): a score of 1-2 on a call of these queues (comma separated) is a
    # low score on a complaint (so is one on a call with a complaint ticket)
    csat_complaint_queues: str = "complaints"
    # logging
    log_level: str = "INFO"
    log_json: bool = False

    def public_dict(self) -> dict[str, Any]:
        """All settings with secrets masked and passwords in URLs removed: safe to log."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Secret):
                value = repr(value)
            elif f.name in ("database_url", "redis_url") and value:
                value = mask_url_password(value)
            out[f.name] = value
        return out


def mask_url_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":********@", 1)
    return parts._replace(netloc=netloc).geturl()


_LOG_LEVELS = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}


def _convert(name: str, kind: str, raw: Any, source: str) -> Any:
    label = f"{source} {name}"
    if kind == "Secret":
        return Secret(str(raw))
    if kind == "bool":
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off", ""):
            return False
        raise ConfigError(f"{label}: expected a boolean (true/false), got {raw!r}")
    if kind == "int":
        try:
            return int(raw)
        except (TypeError, ValueError):
            raise ConfigError(f"{label}: expected an integer, got {raw!r}") from None
    if kind == "float":
        try:
            return float(raw)
        except (TypeError, ValueError):
            raise ConfigError(f"{label}: expected a number, got {raw!r}") from None
    if kind == "str | None":
        text = str(raw).strip()
        return text or None
    return str(raw)


def _env_name(field_name: str) -> str:
    return ENV_PREFIX + field_name.upper()


def load_settings(env: Mapping[str, str] | None = None, config_file: str | Path | None = None) -> Settings:
    """Build and validate the settings. Raises ``ConfigError`` with every problem found."""
    env = os.environ if env is None else env
    path = config_file or env.get(ENV_PREFIX + "CONFIG")
    values: dict[str, Any] = {}
    known = {f.name: str(f.type) for f in fields(Settings)}
    if path:
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError:
            raise ConfigError(f"config file {path}: not found") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path}: {exc}") from None
        section = data.get("callcenter", data)
        for key, raw in section.items():
            if key not in known:
                raise ConfigError(f"config file {path}: unknown setting {key!r}")
            values[key] = _convert(key, known[key], raw, f"config file {path}:")
    for name, kind in known.items():
        env_name = _env_name(name)
        if env_name in env:
            values[name] = _convert(env_name, kind, env[env_name], "environment variable")
    settings = Settings(**values)
    validate(settings)
    return settings


def validate(s: Settings) -> None:
    problems: list[str] = []
    for name in ("ami_port", "http_port", "agi_port"):
        port = getattr(s, name)
        if not 0 <= port <= 65535:
            problems.append(f"{_env_name(name)}: port {port} is out of range 0-65535")
    for name in (
        "ami_action_timeout",
        "ami_ping_interval",
        "ami_ping_timeout",
        "ami_connect_timeout",
        "ami_reconnect_min",
        "ami_reconnect_max",
        "store_flush_interval",
        "pbx_slow_ping_ms",
        "pbx_ping_history",
    ):
        if getattr(s, name) <= 0:
            problems.append(f"{_env_name(name)}: must be greater than 0")
    if s.pbx_slow_for < 0:
        problems.append("CALLCENTER_PBX_SLOW_FOR: must be 0 or more seconds")
    if s.ami_reconnect_max < s.ami_reconnect_min:
        problems.append("CALLCENTER_AMI_RECONNECT_MAX: must be at least CALLCENTER_AMI_RECONNECT_MIN")
    if s.store_flush_size < 1:
        problems.append("CALLCENTER_STORE_FLUSH_SIZE: must be >= 1")
    if not s.outbound_trunk or not all(ch.isalnum() or ch in "_-." for ch in s.outbound_trunk):
        problems.append("CALLCENTER_OUTBOUND_TRUNK: a pjsip.conf endpoint name (letters, digits, _ - .)")
    if not 0.05 <= s.dialer_tick <= 10:
        problems.append("CALLCENTER_DIALER_TICK: 0.05 to 10 seconds")
    if not (s.default_country.isdigit() and 1 <= len(s.default_country) <= 3):
        problems.append("CALLCENTER_DEFAULT_COUNTRY: the country calling code, 1-3 digits (1, 44, 86)")
    if s.default_language not in ("en", "zh-CN"):
        problems.append("CALLCENTER_DEFAULT_LANGUAGE: one of en, zh-CN")
    if s.store_batch_size < 1 or s.ami_event_queue < 100:
        problems.append("CALLCENTER_STORE_BATCH_SIZE must be >= 1 and CALLCENTER_AMI_EVENT_QUEUE >= 100")
    if not s.ami_host:
        problems.append("CALLCENTER_AMI_HOST: must not be empty")
    if not s.ami_user:
        problems.append("CALLCENTER_AMI_USER: must not be empty")
    scheme = s.database_url.split("://", 1)[0]
    if scheme not in ("sqlite+aiosqlite", "postgresql+asyncpg", "postgresql", "sqlite"):
        problems.append(
            "CALLCENTER_DATABASE_URL: use sqlite+aiosqlite:///path.db or postgresql+asyncpg://user@host/db"
            f" (got scheme {scheme!r})"
        )
    if s.redis_url and not s.redis_url.startswith(("redis://", "rediss://", "unix://")):
        problems.append("CALLCENTER_REDIS_URL: must start with redis://, rediss:// or unix://")
    if s.log_level.upper() not in _LOG_LEVELS:
        problems.append(f"CALLCENTER_LOG_LEVEL: one of {sorted(_LOG_LEVELS)}, got {s.log_level!r}")
    try:
        parse_retention(s.recordings_retention, s.recordings_retention_days)
    except ValueError as exc:
        problems.append(f"CALLCENTER_RECORDINGS_RETENTION: {exc} (e.g. sales=30,support=90)")
    try:
        parse_warranty_months(s.cases_warranty)
    except ValueError as exc:
        problems.append(f"CALLCENTER_CASES_WARRANTY: {exc} (e.g. router=36,phone=12)")
    for url in filter(None, (u.strip() for u in s.webhook_urls.split(","))):
        if not url.startswith(("http://", "https://")):
            problems.append(f"CALLCENTER_WEBHOOK_URLS: {url[:60]!r} is not an http(s) URL")
    if s.webhook_urls.strip() and not s.webhook_secret.reveal():
        problems.append(
            "CALLCENTER_WEBHOOK_SECRET: required when CALLCENTER_WEBHOOK_URLS is set (signatures)"
        )
    if s.status_link_days < 1:
        problems.append("CALLCENTER_STATUS_LINK_DAYS: must be at least 1")
    try:
        parse_sla_days(s.cases_sla)
    except ValueError as exc:
        problems.append(f"CALLCENTER_CASES_SLA: {exc} (e.g. in_repair=5,shipped=3)")
    for name in filter(None, (q.strip() for q in s.csat_complaint_queues.split(","))):
        if not all(ch.isalnum() or ch in "_-." for ch in name) or len(name) > 64:
            problems.append(f"CALLCENTER_CSAT_COMPLAINT_QUEUES: {name[:40]!r} is not a queue name")
    if s.cases_warranty_months < 0:
        problems.append("CALLCENTER_CASES_WARRANTY_MONTHS: must be 0 or more")
    if problems:
        raise ConfigError("invalid settings:\n  " + "\n  ".join(problems))


def journal_path(s: Settings) -> str | None:
    """Where the call records' journal lives (``store_journal``), or None when it is off or the
    database is in memory."""
    if s.store_journal.lower() == "off":
        return None
    if s.store_journal:
        return s.store_journal
    url = s.database_url
    if url.startswith(("sqlite", "sqlite+aiosqlite")):
        path = url.split(":///", 1)[1] if ":///" in url else ""
        if not path or path.startswith(":memory:") or "mode=memory" in path:
            return None
        return path.split("?", 1)[0] + ".journal"
    return "var/callcenter.journal"


def async_database_url(url: str) -> str:
    """Map plain ``sqlite://`` / ``postgresql://`` URLs to their async drivers."""
    if url.startswith("sqlite://"):
        return "sqlite+aiosqlite://" + url[len("sqlite://") :]
    if url.startswith("postgresql://"):
        return "postgresql+asyncpg://" + url[len("postgresql://") :]
    return url
