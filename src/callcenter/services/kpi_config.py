"""Wallboard / KPI settings: ``config/wallboard.yaml`` beside the ACD file (optional; defaults below).

.. code-block:: yaml

    short_abandon: 5            # seconds: abandons quicker than this are "short" (not in the abandon rate)
    service_level:              # convention per queue (see domain/kpis.py): answered | answered_abandoned |
      default: answered         #   asterisk_sl2 | offered; "center" is the whole-center figure
      center: answered_abandoned
      queues: {complaints: asterisk_sl2}
    alert_window: 15m           # the window whose service level raises the "under target" alert
    publish_interval: 1.0       # seconds: wallboard updates are coalesced to one per interval
    supervisor_phones:          # username -> the phone ChanSpy calls (Originate Channel=...)
      sam: PJSIP/2001
    default_supervisor_phone: ""  # used for supervisors without an entry ("" = they must have one)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from callcenter.domain.errors import ConfigError
from callcenter.domain.kpis import WINDOWS, SlConvention


@dataclass(frozen=True, slots=True)
class KpiConfig:
    short_abandon: float = 5.0
    default_convention: SlConvention = SlConvention.ANSWERED
    center_convention: SlConvention = SlConvention.ANSWERED
    conventions: Mapping[str, SlConvention] = field(default_factory=dict)
    alert_window: str = "15m"
    publish_interval: float = 1.0
    supervisor_phones: Mapping[str, str] = field(default_factory=dict)
    default_supervisor_phone: str = ""

    def convention(self, queue: str) -> SlConvention:
        return self.conventions.get(queue, self.default_convention)

    def phone_of(self, username: str) -> str | None:
        return self.supervisor_phones.get(username) or self.default_supervisor_phone or None


def _convention(value: Any, where: str) -> SlConvention:
    try:
        return SlConvention(str(value))
    except ValueError:
        choices = ", ".join(c.value for c in SlConvention)
        raise ConfigError(f"{where}: unknown service level convention {value!r} (one of {choices})") from None


def kpi_config_from_mapping(data: Mapping[str, Any]) -> KpiConfig:
    known = {
        "short_abandon",
        "service_level",
        "alert_window",
        "publish_interval",
        "supervisor_phones",
        "default_supervisor_phone",
    }
    unknown = set(data) - known
    if unknown:
        raise ConfigError(f"wallboard config: unknown keys {sorted(unknown)}")
    sl = data.get("service_level") or {}
    if not isinstance(sl, Mapping):
        raise ConfigError("wallboard config: service_level must be a mapping")
    default = _convention(sl.get("default", "answered"), "service_level.default")
    queues = sl.get("queues") or {}
    if not isinstance(queues, Mapping):
        raise ConfigError("wallboard config: service_level.queues must be a mapping")
    window = str(data.get("alert_window", "15m"))
    if window not in dict(WINDOWS) and window != "today":
        raise ConfigError(f"wallboard config: alert_window must be one of 15m, 60m, today, not {window!r}")
    phones = data.get("supervisor_phones") or {}
    if not isinstance(phones, Mapping):
        raise ConfigError("wallboard config: supervisor_phones must be a mapping")
    try:
        short = float(data.get("short_abandon", 5.0))
        interval = float(data.get("publish_interval", 1.0))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"wallboard config: {exc}") from None
    if short < 0 or not 0.05 <= interval <= 60:
        raise ConfigError("wallboard config: short_abandon >= 0 and 0.05 <= publish_interval <= 60")
    return KpiConfig(
        short_abandon=short,
        default_convention=default,
        center_convention=_convention(sl.get("center", default.value), "service_level.center"),
        conventions={str(q): _convention(c, f"service_level.queues.{q}") for q, c in queues.items()},
        alert_window=window,
        publish_interval=interval,
        supervisor_phones={str(k): str(v) for k, v in phones.items()},
        default_supervisor_phone=str(data.get("default_supervisor_phone") or ""),
    )


def load_kpi_config(path: str | Path) -> KpiConfig:
    """The file's settings, or the defaults when it does not exist (blocking: call in a thread)."""
    p = Path(path)
    if not p.is_file():
        return KpiConfig()
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: {exc}") from None
    if not isinstance(data, Mapping):
        raise ConfigError(f"{p}: expected a mapping")
    return kpi_config_from_mapping(data)
