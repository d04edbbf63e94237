"""Pure parts of the ACD: strategies, caller order, expected wait, the state machine, the config file."""

from __future__ import annotations

from pathlib import Path

import pytest

from callcenter.domain.acd import (
    AgentState,
    AgentStatus,
    InvalidTransition,
    Strategy,
    config_from_mapping,
    queue_from_mapping,
    queue_to_mapping,
)
from callcenter.domain.agent_state import after_call, transition
from callcenter.domain.errors import ConfigError
from callcenter.domain.routing import expected_wait, pick, rank_score, service_level
from callcenter.services.acd_config import load_acd_config, load_acd_config_if_present

ROOT = Path(__file__).resolve().parents[2]
AVAIL = [(0, 1, "a"), (0, 2, "b"), (0, 4, "d"), (1, 3, "c")]


def test_pick_strategies() -> None:
    assert pick(AVAIL, Strategy.LINEAR) == (0, 1, "a")
    assert pick(AVAIL, Strategy.RRMEMORY, cursor=1) == (0, 2, "b")
    assert pick(AVAIL, Strategy.RRMEMORY, cursor=4) == (0, 1, "a")  # wraps inside the lowest tier
    assert pick(AVAIL, Strategy.RRMEMORY, cursor=3) == (0, 4, "d")  # c (order 3) is in a worse tier
    assert pick(AVAIL, Strategy.RANDOM, rnd=0.5) == (0, 2, "b")
    idle = {"a": 30.0, "b": 10.0, "c": 0.0, "d": 20.0}
    assert pick(AVAIL, Strategy.LONGEST_IDLE, key=idle.__getitem__) == (0, 2, "b")
    assert pick(AVAIL, Strategy.FEWEST_CALLS, key=lambda a: 1.0) == (0, 1, "a")
    only_c = pick(AVAIL, Strategy.RRMEMORY, eligible=lambda a: a == "c")
    assert only_c == (1, 3, "c")  # no eligible agent in tier 0: the next tier
    assert pick([], Strategy.LINEAR) is None
    assert pick(AVAIL, Strategy.LINEAR, eligible=lambda a: False) is None


def test_caller_order_expected_wait_service_level() -> None:
    assert rank_score(10, 5) < rank_score(0, 1) < rank_score(0, 2)
    assert rank_score(5000, 1) == rank_score(999, 1) and rank_score(-3, 1) == rank_score(0, 1)
    assert expected_wait(3, 2, [60.0, 120.0], 300) == 135.0
    assert expected_wait(1, 0, [], 300) == 300.0 and expected_wait(0, 5, [], 1) == 0.0
    assert service_level(8, 9, 1) == 0.8 and service_level(0, 0, 0) is None


def test_state_machine() -> None:
    s = AgentStatus(agent="1001", since=100.0)
    s, t = transition(s, AgentState.AVAILABLE, 110.0, by="agent:1001")
    assert t.duration == 10.0 and t.from_state is AgentState.LOGGED_OUT and s.idle_since == 110.0
    s, _ = transition(s, AgentState.RINGING, 120.0, call_id="c1", queue="q")
    s, t = transition(s, AgentState.ON_CALL, 122.0)
    assert s.calls == 1 and s.call_id == "c1" and t.call_id == "c1" and t.duration == 2.0
    with pytest.raises(InvalidTransition):
        transition(s, AgentState.RINGING, 123.0)
    to, until, _ = after_call(s, 15.0, 200.0)
    assert to is AgentState.WRAPUP and until == 215.0
    assert after_call(s.with_(pending_pause="lunch"), 0.0, 200.0) == (AgentState.PAUSED, 0.0, "lunch")
    assert after_call(s, -1.0, 200.0) == (AgentState.WRAPUP, 0.0, "")
    s, _ = transition(s, AgentState.WRAPUP, 200.0, until=215.0)
    assert s.idle_since == 200.0 and s.call_id == "c1"
    s, _ = transition(s, AgentState.AVAILABLE, 215.0)
    assert s.call_id == "" and s.until == 0.0


def test_shipped_config_file_and_errors(tmp_path: Path) -> None:
    config = load_acd_config(ROOT / "config" / "acd.yaml")
    names = [q.name for q in config.queues]
    assert names == ["support", "sales", "billing", "rma", "complaints"]
    assert config.queues[0].strategy is Strategy.RRMEMORY and config.queues[0].wrapup == 10
    assert config.queues[2].required_skills == (("billing", 1),)
    assert [a.order for a in config.agents] == list(range(1, 9))
    assert config.agents[0].penalty("sales") == 1 and "coaching" in config.pause_reasons
    q = config.queues[1]
    assert queue_from_mapping(q.name, queue_to_mapping(q)) == q
    with pytest.raises(ConfigError, match="strategy"):
        queue_from_mapping("x", {"strategy": "best"})
    with pytest.raises(ConfigError, match="unknown settings"):
        queue_from_mapping("x", {"colour": "red"})
    with pytest.raises(ConfigError, match="unknown queue"):
        config_from_mapping({"queues": {"a": {}}, "agents": [{"id": "1", "queues": ["b"]}]})
    with pytest.raises(ConfigError, match="twice"):
        config_from_mapping({"queues": {"a": {}}, "agents": [{"id": "1"}, {"id": "1"}]})
    bad = tmp_path / "acd.yaml"
    bad.write_text("queues: [", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"acd\.yaml"):
        load_acd_config(bad)
    assert load_acd_config_if_present(tmp_path / "missing.yaml") is None
