"""``callcenter ivr check`` cross-checks the queues of the flows against the ACD configuration."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from callcenter.cli import main
from callcenter.domain.acd import config_from_mapping
from callcenter.domain.ivr_parse import parse_flow
from callcenter.domain.ivr_staffing import check_queue_staffing
from callcenter.services.acd_config import load_acd_config
from callcenter.services.ivr_flows import check_flow_files
from tests.ivr.harness import FLOWS_DIR, ROOT

ACD_FILE = ROOT / "config" / "acd.yaml"

FLOW = """\
flow: main
start: menu
nodes:
  menu:
    type: menu
    prompt: menu
    options: {"1": billing, "2": callback}
    fallback: bye
  billing:
    type: queue
    queue: billing
    skills: [SKILLS]
    on_no_agents: bye
  callback:
    type: callback
    queue: CALLBACK_QUEUE
    next: bye
  bye:
    type: hangup
"""

ACD = """\
queues:
  billing: {required_skills: {billing: 1}}
  support: {}
  empty: {}
agents:
  - {id: "1001", queues: [billing, support], skills: {billing: 2, english: 1}}
  - {id: "1002", queues: [billing, support], skills: {billing: 1, french: 3}}
  - {id: "1003", queues: [support], skills: {billing: 3, french: 3, german: 1}}
"""


def write(tmp_path: Path, skills: str = "billing", callback_queue: str = "support", acd: str = ACD) -> Path:
    flows = tmp_path / "flows"
    flows.mkdir(exist_ok=True)
    text = FLOW.replace("SKILLS", skills).replace("CALLBACK_QUEUE", callback_queue)
    (flows / "main.yaml").write_text(text)
    (tmp_path / "acd.yaml").write_text(textwrap.dedent(acd))
    return flows


def run(tmp_path: Path, capsys: pytest.CaptureFixture[str], **kwargs: str) -> tuple[int, str]:
    flows = write(tmp_path, **kwargs)
    code = main(["ivr", "check", str(flows), "--acd-config", str(tmp_path / "acd.yaml")])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_the_shipped_flows_pass_against_the_shipped_acd(capsys: pytest.CaptureFixture[str]) -> None:
    report = check_flow_files([FLOWS_DIR], acd=load_acd_config(ACD_FILE), acd_source=str(ACD_FILE))
    assert (report.problems, report.warnings, report.notes) == ([], [], [])
    assert report.flows is not None
    assert main(["ivr", "check", str(FLOWS_DIR), "--acd-config", str(ACD_FILE)]) == 0
    out = capsys.readouterr().out
    assert f"ok: 3 flow(s): after_hours, main, survey; queues cross-checked with {ACD_FILE}" in out
    assert "warning" not in out


def test_an_answerable_queue_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(tmp_path, capsys, skills="billing")  # 1001 and 1002 can answer
    assert code == 0, out
    assert "ok: 1 flow(s): main" in out and "warning" not in out


def test_queue_missing_from_the_acd_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(tmp_path, capsys, callback_queue="sales")
    assert code == 1
    acd = tmp_path / "acd.yaml"
    main_yaml = tmp_path / "flows" / "main.yaml"
    assert (
        f"{main_yaml}:14: flow 'main', node 'callback': queue 'sales' is not in {acd} "
        "(its queues: billing, empty, support)"
    ) in out
    assert "1 problem(s), 0 warning(s)" in out


def test_a_skill_nobody_in_the_queue_has_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run(tmp_path, capsys, skills="german")  # only 1003 speaks German, and not in billing
    assert code == 1
    assert (
        "flow 'main', node 'billing': nobody can answer queue 'billing' with skill(s) "
        "'billing' (level 1+), 'german' (level 1+): no agent of the queue has skill 'german' at level 1 "
        "or more (agents of the queue: 1001, 1002)"
    ) in out
    assert "main.yaml:9: " in out  # the line of the node


def test_node_and_queue_skills_merge_at_the_higher_level(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run(tmp_path, capsys, skills='"billing:3"')  # the queue asks 1, the node 3
    assert code == 1
    assert "no agent of the queue has skill 'billing' at level 3 or more" in out


def test_skills_spread_over_agents_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(tmp_path, capsys, skills="english, french")  # 1001 English, 1002 French
    assert code == 1
    assert "no single agent of the queue has all of them" in out


def test_a_single_able_agent_is_a_warning(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(tmp_path, capsys, skills="french")  # 1002 only
    assert code == 0, out
    main_yaml = tmp_path / "flows" / "main.yaml"
    assert (
        f"{main_yaml}:9: warning: flow 'main', node 'billing': only 1 agent (1002) can answer queue "
        "'billing' with skill(s) 'billing' (level 1+), 'french' (level 1+); fewer than 2"
    ) in out
    assert "1 warning(s)" in out


def test_a_queue_without_agents_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(tmp_path, capsys, skills="billing", callback_queue="empty")
    assert code == 1
    assert "flow 'main', node 'callback': queue 'empty' has no agents in" in out
    assert "nobody can answer its calls" in out


def test_errors_are_reported_with_the_flow_problems(tmp_path: Path) -> None:
    flows = write(tmp_path, skills="german", callback_queue="sales")
    text = (flows / "main.yaml").read_text().replace("fallback: bye", "fallback: nowhere")
    (flows / "main.yaml").write_text(text)
    acd = load_acd_config(tmp_path / "acd.yaml")
    report = check_flow_files([flows], acd=acd)
    messages = [p.message for p in report.problems]
    assert report.flows is None
    assert any("does not exist" in m for m in messages)  # the static check
    assert any("queue 'sales' is not in the ACD configuration" in m for m in messages)
    assert any("nobody can answer queue 'billing'" in m for m in messages)


def test_bad_node_skill_names_are_errors() -> None:
    text = FLOW.replace("SKILLS", '"bad skill!"').replace("CALLBACK_QUEUE", "support")
    flow, problems = parse_flow(text, "main.yaml")
    assert flow is not None and problems == []
    report = check_queue_staffing([flow], config_from_mapping(yaml.safe_load(ACD)))
    assert len(report.errors) == 1
    assert "node 'billing': queue 'billing':" in report.errors[0].message
    assert "bad skill name" in report.errors[0].message


def test_an_invalid_acd_file_fails_the_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(tmp_path, capsys, acd="queues: {billing: {strategy: sideways}}\n")
    assert code == 1
    assert f"ACD config {tmp_path / 'acd.yaml'}: queue 'billing': strategy must be one of" in out


def test_without_an_acd_file_the_cross_check_is_skipped_with_a_note(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    flows = write(tmp_path, skills="german", callback_queue="sales")
    (flows / "queues.yaml").write_text("queues: [billing, sales]\n")
    monkeypatch.setenv("CALLCENTER_ACD_CONFIG", str(tmp_path / "missing.yaml"))
    assert main(["ivr", "check", str(flows)]) == 0
    out = capsys.readouterr().out
    assert f"note: no ACD configuration {tmp_path / 'missing.yaml'}: queues were not cross-checked" in out
    assert main(["ivr", "check", str(flows), "--no-acd"]) == 0
    assert "cross-checked" not in capsys.readouterr().out
    assert main(["ivr", "check", str(flows), "--acd-config", str(tmp_path / "missing.yaml")]) == 1
    assert "not found" in capsys.readouterr().out
