"""The configuration files the repository ships load as the service loads them at start.

A shipped file that does not parse stops ``make demo`` and ``callcenter serve``; most tests build their own
configuration, so without this test such a break is only seen by the few end-to-end tests that read the files.
"""

from __future__ import annotations

from pathlib import Path

from callcenter.services.acd_config import load_acd_config
from callcenter.services.console import load_console_config

CONFIG = Path(__file__).resolve().parents[1] / "config"


def test_acd_yaml_loads() -> None:
    config = load_acd_config(CONFIG / "acd.yaml")
    assert config.queues, "the shipped ACD config defines queues"


def test_console_yaml_loads_with_every_queue_section() -> None:
    rules = load_console_config(CONFIG / "console.yaml")
    assert rules.timed_wrapup_waits is True
    acd = load_acd_config(CONFIG / "acd.yaml")
    for name in ("sales", "complaints", "rma"):
        assert name in {q.name for q in acd.queues}, name
        assert rules.for_queue(name).codes, name
