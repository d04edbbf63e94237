"""Reading the ACD configuration file (YAML): queues, agents, pause reasons.

The format is documented in ``config/acd.yaml`` (the shipped example) and parsed by
``domain.acd.config_from_mapping``. The file is read once at start (before the event loop serves calls);
later changes go through the admin API (``/api/acd/...``) into the shared state.
"""

from __future__ import annotations

import logging
from pathlib import Path

import yaml

from callcenter.domain.acd import AcdConfig, config_from_mapping
from callcenter.domain.errors import ConfigError

log = logging.getLogger(__name__)


def load_acd_config(path: str | Path) -> AcdConfig:
    """Parse the file; raises ``ConfigError`` naming the file and the problem."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"ACD config {path}: not found") from None
    except OSError as exc:
        raise ConfigError(f"ACD config {path}: {exc}") from None
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"ACD config {path}: {exc}") from None
    return config_from_mapping(raw, source=f"ACD config {path}")


def load_acd_config_if_present(path: str | Path) -> AcdConfig | None:
    """The file's configuration, or None when the file does not exist (queues then come from the shared
    state, e.g. created through the admin API). A file that exists but is invalid raises ``ConfigError``."""
    if not Path(path).is_file():
        log.warning("ACD config file not found: no queues loaded from a file", extra={"path": str(path)})
        return None
    return load_acd_config(path)
