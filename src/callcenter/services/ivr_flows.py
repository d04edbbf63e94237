"""The flow library: reads ``ivr_flows/`` (off the event loop), validates, keeps the last good version.

Directory layout (``Settings.ivr_flows_dir``):

* ``*.yaml`` / ``*.yml``: one flow per file, except ``queues.yaml``;
* ``sounds.txt``: the prompt catalogue, ``[lang]`` headers followed by the prompt names available in that
  language (the names Asterisk plays from ``/var/lib/asterisk/sounds/<lang>/``). Without it prompts are
  not checked (``ivr check`` says so);
* ``queues.yaml``: ``queues: [sales, support, ...]``, the queue names flows may use, until the ACD's own
  configuration owns them (a ``has_queue`` callable, the ACD's, is consulted first when given).

``callcenter ivr check --sounds DIR`` also looks every prompt up in the PBX's sounds directory (the flows'
prompts, the catalogue, the ACD's ``queue-*``/``acd-callback-*``): a missing file is a warning.

``callcenter ivr check`` also cross-checks the flows against the ACD configuration file when it is given
(``check_flow_files(acd=...)``, rules in ``domain.ivr_staffing``): queues that do not exist there or
that no configured agent can answer are errors, queues fewer than two agents can answer warnings.

A reload (SIGHUP, ``POST /api/admin/ivr/reload``) that finds any problem keeps the running flows and
reports the problems; calls already in the IVR finish on the version they started with.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from callcenter.domain.acd import AcdConfig
from callcenter.domain.ivr import Catalog, Flow, FlowSet, NodeType, Problem
from callcenter.domain.ivr_parse import build_flow_set, parse_flow, parse_queues, parse_sounds
from callcenter.domain.ivr_staffing import check_queue_staffing

log = logging.getLogger(__name__)

SOUNDS_FILE = "sounds.txt"
QUEUES_FILE = "queues.yaml"


@dataclass(frozen=True, slots=True)
class FlowSources:
    flows: list[tuple[str, str]]
    catalog: Catalog
    problems: list[Problem]


def read_sources(paths: Sequence[str | Path], catalog_dir: str | Path | None = None) -> FlowSources:
    """Blocking: read flow files (``paths``: files or directories) and the catalogue files.

    The catalogue comes from ``catalog_dir`` or, by default, the first directory given (or the directory
    of the first file)."""
    flows: list[tuple[str, str]] = []
    problems: list[Problem] = []
    first_dir: Path | None = Path(catalog_dir) if catalog_dir is not None else None
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            first_dir = first_dir or path
            files = sorted(
                p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.name != QUEUES_FILE
            )
        elif path.is_file():
            first_dir = first_dir or path.parent
            files = [path]
        else:
            problems.append(Problem(str(path), 0, "no such file or directory"))
            continue
        for file in files:
            try:
                flows.append((str(file), file.read_text(encoding="utf-8")))
            except (OSError, UnicodeDecodeError) as exc:
                problems.append(Problem(str(file), 0, f"cannot read: {exc}"))
    sounds = None
    queues = None
    sounds_source = queues_source = ""
    if first_dir is not None:
        sounds_path = first_dir / SOUNDS_FILE
        if sounds_path.is_file():
            sounds, found = parse_sounds(sounds_path.read_text(encoding="utf-8"), str(sounds_path))
            problems += found
            sounds_source = str(sounds_path)
        queues_path = first_dir / QUEUES_FILE
        if queues_path.is_file():
            queues, found = parse_queues(queues_path.read_text(encoding="utf-8"), str(queues_path))
            problems += found
            queues_source = str(queues_path)
    return FlowSources(flows, Catalog(sounds, queues, sounds_source, queues_source), problems)


@dataclass(frozen=True, slots=True)
class CheckReport:
    """What ``callcenter ivr check`` prints: ``flows`` is None when there is any problem (an error);
    warnings do not make the check fail."""

    flows: FlowSet | None
    problems: list[Problem]
    warnings: list[Problem]
    notes: list[str]


def check_paths(
    paths: Sequence[str | Path],
    *,
    default: str = "main",
    has_queue: Callable[[str], bool] | None = None,
    catalog_dir: str | Path | None = None,
) -> tuple[FlowSet | None, list[Problem], list[str]]:
    """Blocking: the static flow check (the service at start and reload). Returns (flow set, problems,
    notes)."""
    report = check_flow_files(paths, default=default, has_queue=has_queue, catalog_dir=catalog_dir)
    return report.flows, report.problems, report.notes


def sound_index(directory: Path) -> frozenset[str]:
    """Blocking: the prompt names under one sounds directory (``digits/1`` for ``digits/1.gsm``): every
    file, relative, without its format extension (Asterisk picks the format)."""
    names: set[str] = set()
    if directory.is_dir():
        for file in directory.rglob("*"):
            if file.is_file() and not file.name.startswith("."):
                names.add(file.relative_to(directory).with_suffix("").as_posix())
    return frozenset(names)


def check_prompt_files(
    sounds_dir: str | Path,
    catalog: Catalog,
    flows: Sequence[Flow],
    service_prompts: Sequence[tuple[str, str]] = (),
) -> tuple[list[Problem], list[Problem]]:
    """Blocking: the prompts the PBX must be able to play, looked up in its sounds directory (``DIR/<lang>/
    <name>.<format>``, or ``DIR/<name>.<format>`` as Asterisk falls back to): the names the flows play in
    each of their languages, every name of the sounds catalogue, and the service's own prompts
    (``service_prompts``: (name, what plays it), e.g. the ACD's ``queue-*`` / ``acd-callback-*``) in every
    catalogue language (``en`` without a catalogue). Returns (problems, warnings): a missing directory is a
    problem, a missing prompt a warning."""
    root = Path(sounds_dir)
    if not root.is_dir():
        return [Problem(str(root), 0, "sounds directory does not exist")], []
    common = sound_index(root)
    by_lang: dict[str, frozenset[str]] = {}

    def has(lang: str, name: str) -> bool:
        if lang not in by_lang:
            by_lang[lang] = sound_index(root / lang)
        return name in by_lang[lang] or name in common

    warnings: list[Problem] = []
    seen: set[tuple[str, str]] = set()

    def need(lang: str, name: str, file: str, line: int, what: str) -> None:
        if (lang, name) in seen:
            return
        seen.add((lang, name))
        if not has(lang, name):
            warnings.append(Problem(file, line, f"{what}: prompt {name!r} not found in {root / lang}"))

    for flow in flows:
        for node in flow.nodes.values():
            for prompt in node.prompts():
                for lang in flow.languages:
                    need(lang, prompt, flow.file, node.line, f"node {node.id!r}")
    languages = sorted(catalog.sounds) if catalog.sounds else ["en"]
    for lang in languages:
        for name, what in service_prompts:
            need(lang, name, str(root), 0, what)
    for lang, names in sorted((catalog.sounds or {}).items()):
        for name in sorted(names):
            need(lang, name, catalog.sounds_source or SOUNDS_FILE, 0, f"[{lang}] catalogue")
    return [], warnings


def check_flow_files(
    paths: Sequence[str | Path],
    *,
    default: str = "main",
    has_queue: Callable[[str], bool] | None = None,
    catalog_dir: str | Path | None = None,
    acd: AcdConfig | None = None,
    acd_source: str = "the ACD configuration",
    sounds_dir: str | Path | None = None,
    service_prompts: Sequence[tuple[str, str]] = (),
) -> CheckReport:
    """Blocking: what ``callcenter ivr check`` runs: the static flow check, plus with ``acd`` the
    cross-check of the queues the flows route to against that configuration (``acd_source`` names it
    in messages), plus with ``sounds_dir`` the prompts looked up on disk (``check_prompt_files``)."""
    sources = read_sources(paths, catalog_dir)
    notes: list[str] = []
    if sources.catalog.sounds is None:
        notes.append(f"no {SOUNDS_FILE} found: prompt names were not checked")
    if sources.catalog.queues is None and has_queue is None and acd is None:
        notes.append(f"no {QUEUES_FILE} and no ACD: queue names were not checked")
    flow_set, problems = build_flow_set(
        sources.flows, sources.catalog, default=default, has_queue=has_queue, loaded_at=time.time()
    )
    problems = sources.problems + problems
    warnings: list[Problem] = []
    if acd is not None:
        flows: list[Flow]
        if flow_set is not None:
            flows = list(flow_set.flows.values())
        else:  # check what parsed, so one run reports everything
            flows = [f for f in (parse_flow(text, file)[0] for file, text in sources.flows) if f is not None]
        staffing = check_queue_staffing(flows, acd, source=acd_source)
        problems += staffing.errors + check_survey_flows(flows, acd, acd_source)
        warnings = staffing.warnings
    if sounds_dir is not None:
        parsed: list[Flow]
        if flow_set is not None:
            parsed = list(flow_set.flows.values())
        else:
            parsed = [f for f in (parse_flow(text, file)[0] for file, text in sources.flows) if f is not None]
        missing_dir, missing = check_prompt_files(sounds_dir, sources.catalog, parsed, service_prompts)
        problems += missing_dir
        warnings = [*warnings, *missing]
    return CheckReport((flow_set if not problems else None), problems, warnings, notes)


def check_survey_flows(flows: Sequence[Flow], acd: AcdConfig, source: str) -> list[Problem]:
    """Every queue's ``survey`` names a loaded flow that asks with a ``survey`` node (CSAT, issue 16)."""
    by_name = {f.name: f for f in flows}
    out: list[Problem] = []
    for queue in sorted(acd.queues, key=lambda q: q.name):
        if not queue.survey:
            continue
        flow = by_name.get(queue.survey)
        where = f"queue {queue.name!r}"
        if flow is None:
            out.append(Problem(source, 1, f"{where}: survey flow {queue.survey!r} does not exist"))
        elif not any(n.type is NodeType.SURVEY for n in flow.nodes.values()):
            out.append(Problem(flow.file, flow.line, f"{where}: flow {flow.name!r} has no survey node"))
    return out


@dataclass(slots=True)
class ReloadReport:
    ok: bool
    problems: list[str] = field(default_factory=list)
    flows: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    at: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "problems": self.problems,
            "flows": self.flows,
            "notes": self.notes,
            "at": self.at,
        }


class FlowLibrary:
    """The current flow set, reloadable; a bad version never replaces a good one."""

    def __init__(
        self,
        directory: str | Path,
        *,
        default: str = "main",
        has_queue: Callable[[str], bool] | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.default = default
        self.has_queue = has_queue
        self.current: FlowSet | None = None
        self.last: ReloadReport | None = None
        self.reloads = 0
        self.rejected = 0
        self._lock = asyncio.Lock()

    def __call__(self) -> FlowSet | None:
        return self.current

    async def load(self) -> ReloadReport:
        """(Re)load from disk in a worker thread; keep the last good set when the new one has problems."""
        async with self._lock:
            flow_set, problems, notes = await asyncio.to_thread(
                check_paths, [self.directory], default=self.default, has_queue=self.has_queue
            )
            now = time.time()
            if flow_set is None:
                self.rejected += 1
                report = ReloadReport(False, [str(p) for p in problems], self._names(), notes, now)
                log.error(
                    "IVR flows rejected; the last good version stays in use",
                    extra={"problems": report.problems[:20], "kept": report.flows},
                )
            else:
                self.current = flow_set
                self.reloads += 1
                report = ReloadReport(True, [], self._names(), notes, now)
                log.info("IVR flows loaded", extra={"flows": report.flows, "notes": notes})
            self.last = report
            return report

    def _names(self) -> list[str]:
        return sorted(self.current.flows) if self.current is not None else []

    def status(self) -> dict[str, Any]:
        current = self.current
        return {
            "directory": str(self.directory),
            "flows": self._names(),
            "default": current.default if current else None,
            "loaded_at": current.loaded_at if current else None,
            "reloads": self.reloads,
            "rejected": self.rejected,
            "last": self.last.as_dict() if self.last else None,
        }
