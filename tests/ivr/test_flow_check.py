"""Flow validation (``callcenter ivr check`` and the service at start / reload), pure."""

from __future__ import annotations

import textwrap
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from callcenter.cli import main
from callcenter.domain.ivr import Catalog, Holiday, NodeType, Schedule
from callcenter.domain.ivr_parse import build_flow_set, parse_flow, parse_sounds
from callcenter.services.ivr_flows import FlowLibrary, check_paths
from tests.ivr.harness import FLOWS_DIR

SOUNDS = {"en": frozenset({"hello", "menu", "bye", "oops"}), "fr": frozenset({"hello", "menu", "bye"})}
CATALOG = Catalog(sounds=SOUNDS, queues=frozenset({"sales"}), sounds_source="sounds.txt")

GOOD = """\
flow: main
start: hello
nodes:
  hello:
    type: play
    prompts: [hello]
    next: menu
  menu:
    type: menu
    prompt: menu
    options: {"1": sales}
    fallback: bye
  sales:
    type: queue
    queue: sales
    on_no_agents: bye
  bye:
    type: hangup
    prompt: bye
"""


def check(text: str, catalog: Catalog = CATALOG, *more: tuple[str, str]) -> list[str]:
    flows, problems = build_flow_set([("flows/main.yaml", textwrap.dedent(text)), *more], catalog)
    assert (flows is None) == bool(problems)
    return [str(p) for p in problems]


def test_the_shipped_flows_pass() -> None:
    flows, problems, notes = check_paths([FLOWS_DIR])
    assert problems == [] and notes == []
    assert flows is not None and set(flows.flows) == {"main", "after_hours", "survey"}
    used = {n.type for f in flows.flows.values() for n in f.nodes.values()}
    assert used == set(NodeType)  # the sample exercises every node type


def test_cli_check(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["ivr", "check", str(FLOWS_DIR)]) == 0
    assert "ok: 3 flow(s): after_hours, main, survey" in capsys.readouterr().out
    bad = tmp_path / "main.yaml"
    bad.write_text(GOOD.replace("next: menu", "next: nowhere"))
    assert main(["ivr", "check", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert f"{bad}:4: node 'hello': next → 'nowhere' does not exist" in out
    assert "note: no sounds.txt found" in out


def test_good_flow() -> None:
    assert check(GOOD) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("type: play", "type: dance"), "flows/main.yaml:5: node 'hello': unknown node type 'dance'"),
        (
            ("    prompts: [hello]", "    prompts: [hello]\n    volume: 11"),
            "flows/main.yaml:7: node 'hello' (play): unknown key 'volume'",
        ),
        (
            ("fallback: bye", "fallback: byebye"),
            "flows/main.yaml:8: node 'menu': fallback → 'byebye' does not exist",
        ),
        (
            ("queue: sales", "queue: billing"),
            "flows/main.yaml:13: node 'sales': queue 'billing' does not exist",
        ),
        (
            ("prompt: bye", "prompt: ciao"),
            "flows/main.yaml:17: node 'bye': prompt 'ciao' missing for language(s) en",
        ),
        (("start: hello", "start: hi"), "flows/main.yaml:2: start node 'hi' does not exist"),
        (
            ('options: {"1": sales}', 'options: {"x": sales}'),
            "flows/main.yaml:11: option 'x' must be DTMF digits",
        ),
        (("prompts: [hello]", "prompts: [hello"), "flows/main.yaml:7: YAML error"),
        (
            ("    next: menu", "    next: menu\n    next: bye"),
            "flows/main.yaml:8: YAML error: duplicate key 'next'",
        ),
    ],
)
def test_problems_have_file_and_line(change: tuple[str, str], expected: str) -> None:
    problems = check(GOOD.replace(*change))
    assert any(p.startswith(expected) for p in problems), problems


def test_unreachable_node() -> None:
    text = GOOD + "  orphan:\n    type: hangup\n"
    assert check(text) == ["flows/main.yaml:20: node 'orphan' is unreachable"]


def test_loop_that_never_waits_for_input() -> None:
    text = (
        GOOD.replace("next: menu", "next: again")
        + '  again:\n    type: set\n    vars: {x: "1"}\n    next: hello\n'
    )
    problems = check(text)
    assert any("loop that never waits for input: again → hello" in p for p in problems), problems
    assert any(p.startswith("flows/main.yaml:4: loop") for p in problems), problems
    # a loop through a menu is fine
    assert check(GOOD.replace("fallback: bye", "fallback: hello")) == []


def test_loop_across_flows_through_goto() -> None:
    other = (
        "flows/other.yaml",
        "flow: other\nstart: back\nnodes:\n  back:\n    type: goto\n    flow: main\n",
    )
    text = GOOD.replace("next: menu", "next: jump") + "  jump:\n    type: goto\n    flow: other\n"
    problems = check(text, CATALOG, other)
    assert any("loop that never waits for input" in p and "other:back" in p for p in problems), problems


def test_prompts_checked_per_language() -> None:
    text = GOOD.replace("start: hello", "start: hello\nlanguages: [en, fr]").replace(
        "fallback: bye", "fallback: bye\n    invalid_prompt: oops"
    )
    assert check(text) == [
        "flows/main.yaml:9: node 'menu': prompt 'oops' missing for language(s) fr in sounds.txt"
    ]


def test_queues_from_the_acd_when_wired() -> None:
    flows, problems = build_flow_set(
        [("main.yaml", GOOD.replace("queue: sales", "queue: vip"))], Catalog(), has_queue=lambda q: q == "vip"
    )
    assert problems == [] and flows is not None
    _, problems = build_flow_set([("main.yaml", GOOD)], Catalog(), has_queue=lambda q: q == "vip")
    assert [p.message for p in problems] == ["node 'sales': queue 'sales' does not exist"]


def test_subflows_goto_and_missing_flow() -> None:
    other = ("flows/other.yaml", "flow: other\nstart: r\nnodes:\n  r:\n    type: return\n")
    text = (
        GOOD.replace("next: menu", "next: sub")
        + "  sub:\n    type: subflow\n    flow: other\n    next: menu\n"
    )
    assert check(text, CATALOG, other) == []
    assert check(text) == ["flows/main.yaml:20: node 'sub': no flow named 'other'"]


def test_default_flow_and_duplicate_names() -> None:
    _, problems = build_flow_set([("a.yaml", GOOD.replace("flow: main", "flow: a"))], CATALOG)
    assert [str(p) for p in problems] == ["a.yaml:1: no flow named 'main' (the default flow)"]
    _, problems = build_flow_set([("a.yaml", GOOD), ("b.yaml", GOOD)], CATALOG)
    assert "b.yaml:1: flow 'main' is also defined in a.yaml" in [str(p) for p in problems]


HOURS = """\
  hours:
    type: hours
    timezone: Mars/Olympus
    weekly: {mon-fry: "08:00-18:00", sat: "25:00-26:00", sun: "10:00-09:00"}
    holidays: ["2026-02-30", "12-25", {date: "xmas"}]
    open: menu
    closed: ask
  ask:
    type: collect
    prompt: menu
    var: 9lives
    min_length: 5
    max_length: 2
    pattern: "[0-9"
    validator: crc
    next: bye
    fallback: bye
"""


def test_hours_and_collect_validation() -> None:
    problems = "\n".join(check(GOOD.replace("next: menu", "next: hours") + HOURS))
    for expected in (
        "unknown time zone 'Mars/Olympus'",
        "weekday range 'mon-fry'",
        "opening hours '25:00-26:00': not a time of day",
        "opening hours '10:00-09:00': the end is not after the start",
        "holiday '2026-02-30': no such date",
        "holiday 'xmas'",
        "'var': '9lives' is not a variable name",
        "'max_length' is smaller than 'min_length'",
        "bad regular expression",
        "unknown validator 'crc'",
    ):
        assert expected in problems, (expected, problems)


def test_schedule_states_with_time_zone_and_holidays() -> None:
    paris = ZoneInfo("Europe/Paris")
    flow, problems = parse_flow(
        textwrap.dedent(
            """\
            flow: main
            start: h
            nodes:
              h:
                type: hours
                timezone: Europe/Paris
                weekly: {mon-fri: "08:00-12:00, 13:00-18:00", sun: "00:00-24:00"}
                holidays: ["12-25", {date: "2026-11-11", name: Armistice}]
                open: h
                closed: h
            """
        ),
        "x.yaml",
    )
    assert problems == [] and flow is not None
    node = flow.nodes["h"]
    schedule: Schedule = node.schedule  # type: ignore[attr-defined]
    assert schedule.holidays[1] == Holiday(11, 11, 2026, "Armistice")

    def at(*args: int) -> str:
        return schedule.state(datetime(*args, tzinfo=paris))

    assert at(2026, 11, 23, 9, 0) == "open"
    assert at(2026, 11, 23, 12, 30) == "closed"  # lunch
    assert at(2026, 11, 23, 18, 0) == "closed"  # end is exclusive
    assert at(2026, 11, 28, 10, 0) == "closed"  # Saturday
    assert at(2026, 11, 29, 23, 59) == "open"  # Sunday all day
    assert at(2026, 11, 11, 10, 0) == "holiday"
    assert at(2027, 11, 11, 10, 0) == "open"  # a one-off holiday
    assert at(2031, 12, 25, 10, 0) == "holiday"  # every year
    # the same UTC instant is 08:30 in Paris in winter (open) but 07:30 in New York... time zone aware:
    utc = datetime(2026, 11, 23, 7, 30, tzinfo=ZoneInfo("UTC"))
    assert schedule.state(utc) == "open"
    # DST: 07:30 UTC on a summer Monday is 09:30 in Paris
    assert schedule.state(datetime(2026, 7, 6, 7, 30, tzinfo=ZoneInfo("UTC"))) == "open"
    assert schedule.state(datetime(2026, 7, 6, 5, 30, tzinfo=ZoneInfo("UTC"))) == "closed"


def test_sounds_catalogue_format() -> None:
    sounds, problems = parse_sounds("# c\n[en]\na b  # c\nc\n[fr]\na\nbad!name\n", "s.txt")
    assert sounds == {"en": frozenset({"a", "b", "c"}), "fr": frozenset({"a", "bad!name"})}
    assert [str(p) for p in problems] == ["s.txt:7: 'bad!name' is not a sound name"]
    _, problems = parse_sounds("orphan\n", "s.txt")
    assert [str(p) for p in problems] == ["s.txt:1: a prompt name before any [language] header"]


async def test_reload_keeps_the_last_good_version(tmp_path: Path) -> None:
    for name in ("main.yaml", "after_hours.yaml", "sounds.txt", "queues.yaml"):
        (tmp_path / name).write_text((FLOWS_DIR / name).read_text())
    library = FlowLibrary(tmp_path)
    assert (await library.load()).ok
    good = library()
    assert good is not None
    (tmp_path / "main.yaml").write_text(
        (FLOWS_DIR / "main.yaml").read_text().replace("queue: sales", "queue: nope")
    )
    report = await library.load()
    assert not report.ok and library() is good
    assert any("main.yaml:" in p and "queue 'nope' does not exist" in p for p in report.problems)
    assert library.status()["rejected"] == 1 and library.status()["flows"] == ["after_hours", "main"]
    (tmp_path / "main.yaml").write_text("{{{")
    assert not (await library.load()).ok and library() is good
    (tmp_path / "main.yaml").write_text((FLOWS_DIR / "main.yaml").read_text())
    assert (await library.load()).ok and library() is not good


def test_cli_check_warns_about_prompts_missing_from_the_sounds_directory(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """``ivr check --sounds DIR``: every prompt the flows, the catalogue and the service itself play must
    have a file in ``DIR/<lang>/`` (any format, sub-directories kept); a missing one is a warning."""
    from callcenter.cli import service_prompts

    sounds = tmp_path / "sounds"
    needed = {name for name, _ in service_prompts()}
    assert {"acd-callback-offer", "acd-callback-confirm", "queue-youarenext", "queue-thereare"} <= needed
    flows_used = {"cc-welcome", "cc-main-menu"}
    catalogue = set()
    for line in (FLOWS_DIR / "sounds.txt").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith(("#", "[")):
            catalogue.update(line.split())
    for lang in ("en", "fr", "zh"):
        (sounds / lang).mkdir(parents=True)
        for name in (needed | catalogue | flows_used) - {"acd-callback-offer"}:
            (sounds / lang / f"{name}.wav").write_bytes(b"RIFF")
    (sounds / "fr" / "acd-callback-offer.gsm").write_bytes(b"gsm")  # any format counts
    (sounds / "zh" / "acd-callback-offer.ulaw").write_bytes(b"ulaw")  # the flows' third language
    assert main(["ivr", "check", str(FLOWS_DIR), "--no-acd", "--sounds", str(sounds)]) == 0
    out = capsys.readouterr().out
    warnings = [line for line in out.splitlines() if ": warning: " in line]
    en = sounds / "en"
    assert warnings == [
        f"{sounds}:0: warning: the ACD (callback_offer): prompt 'acd-callback-offer' not found in {en}"
    ]
    assert "1 warning(s)" in out

    (sounds / "en" / "cc-welcome.wav").unlink()
    assert main(["ivr", "check", str(FLOWS_DIR), "--no-acd", "--sounds", str(sounds)]) == 0
    out = capsys.readouterr().out
    assert "main.yaml:" in out and "prompt 'cc-welcome' not found in" in out

    assert main(["ivr", "check", str(FLOWS_DIR), "--no-acd", "--sounds", str(tmp_path / "nope")]) == 1
    assert "sounds directory does not exist" in capsys.readouterr().out
