"""The survey as configuration: the ``survey`` node is parsed and validated (``callcenter ivr check``), a
queue's ``survey`` must name a flow with a survey node, and a queue with a survey dials with ``g``."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from callcenter.domain.acd import AcdConfig, QueueConfig, queue_from_mapping, queue_to_mapping
from callcenter.domain.errors import ConfigError
from callcenter.domain.ivr import NodeType, SurveyNode
from callcenter.domain.ivr_parse import parse_flow
from callcenter.domain.surveys import CallSurvey, LowScoreKind, TicketBrief, low_score_action, tally
from callcenter.domain.tickets import TicketCategory, TicketStatus
from callcenter.services.acd_config import load_acd_config
from callcenter.services.ivr_flows import check_flow_files

ROOT = Path(__file__).resolve().parents[2]

SURVEY = """flow: s
start: ask
language: en
nodes:
  ask:
    type: survey
    score_prompt: cc-survey-score
{extra}
"""


def test_shipped_flows_and_queues_check_clean() -> None:
    acd = load_acd_config(ROOT / "config" / "acd.yaml")
    assert {q.name: q.survey for q in acd.queues}["complaints"] == "survey"
    report = check_flow_files([ROOT / "ivr_flows"], acd=acd, acd_source="config/acd.yaml")
    assert report.problems == []
    assert report.flows is not None
    node = report.flows.flows["survey"].nodes["score"]
    assert isinstance(node, SurveyNode) and node.type is NodeType.SURVEY
    assert (node.yes, node.no, node.solved_prompt, node.next) == ("1", "2", "cc-survey-solved", "bye")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("    colour: red", "unknown key 'colour'"),
        ("    solved_prompt: cc-survey-solved\n    yes: '1'\n    no: '1'", "must be different"),
        ("    yes: '3'", "without a 'solved_prompt'"),
        ("    solved_prompt: cc-survey-solved\n    yes: '12'", "'yes' must be one DTMF digit"),
        ("    retries: 0", "retries"),
        ("    next: nowhere", "does not exist"),
    ],
)
def test_bad_survey_nodes_are_refused_with_file_and_line(tmp_path: Path, extra: str, message: str) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    shutil.copyfile(ROOT / "ivr_flows" / "sounds.txt", flows / "sounds.txt")
    (flows / "s.yaml").write_text(SURVEY.format(extra=extra))
    (flows / "main.yaml").write_text((ROOT / "ivr_flows" / "main.yaml").read_text())
    report = check_flow_files([flows], catalog_dir=ROOT / "ivr_flows")
    text = "\n".join(str(p) for p in report.problems)
    assert message in text, text
    assert "s.yaml:" in text


def test_a_queue_survey_must_name_a_survey_flow(tmp_path: Path) -> None:
    flow, problems = parse_flow(SURVEY.format(extra=""), "s.yaml")
    assert flow is not None and problems == []
    acd = AcdConfig(queues=(QueueConfig("a", survey="nosuch"), QueueConfig("b", survey="main")))
    report = check_flow_files([ROOT / "ivr_flows"], acd=acd, acd_source="acd.yaml")
    text = "\n".join(str(p) for p in report.problems)
    assert "queue 'a': survey flow 'nosuch' does not exist" in text
    assert "queue 'b': flow 'main' has no survey node" in text


def test_queue_survey_setting_and_the_dial_string() -> None:
    q = queue_from_mapping("support", {"survey": "survey", "ring_timeout": 12})
    assert q.survey == "survey"
    assert q.dial_string("PJSIP/1001") == "PJSIP/1001,12,m(default)U(mixmon)g"
    assert queue_from_mapping("support", queue_to_mapping(q)) == q  # admin API / Redis round trip
    plain = queue_from_mapping("plain", {})
    assert plain.survey is None and plain.dial_string("PJSIP/1001") == "PJSIP/1001,20,m(default)U(mixmon)"
    assert queue_from_mapping("x", {"survey": ""}).survey is None
    with pytest.raises(ConfigError, match="survey"):
        queue_from_mapping("x", {"survey": "../etc/passwd"})


def test_low_score_rule() -> None:
    done = TicketBrief(3, TicketCategory.COMPLAINT, TicketStatus.CLOSED)
    open_ = TicketBrief(4, TicketCategory.COMPLAINT, TicketStatus.PENDING)
    inquiry = TicketBrief(5, TicketCategory.INQUIRY, TicketStatus.OPEN)
    queues = ("complaints",)
    assert low_score_action(3, "complaints", [], 1, queues).kind is LowScoreKind.NONE
    assert low_score_action(1, "support", [inquiry], 1, queues).kind is LowScoreKind.NONE
    assert low_score_action(2, "support", [done], 1, queues).ticket_id == 3
    assert low_score_action(2, "support", [done], 1, queues).kind is LowScoreKind.REOPEN
    assert low_score_action(1, "x", [done, open_], 1, queues).kind is LowScoreKind.ALREADY_OPEN
    assert low_score_action(1, "complaints", [inquiry], 9, queues).kind is LowScoreKind.FOLLOW_UP
    assert low_score_action(1, "complaints", [], None, queues).kind is LowScoreKind.NO_CUSTOMER
    t = tally(
        [
            CallSurvey("a", "1", "q", "s", 0.0, 5, True),
            CallSurvey("b", "1", "q", "s", 0.0, 2, None),
            CallSurvey("c", "1", "q", "s", 0.0),
        ]
    )
    assert (t.average, t.response_rate, t.solved_rate) == (3.5, 0.6667, 1.0)
