"""The ``callcenter`` command: serve, migrate, user add, token add, check-config, sim, demo."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import getpass
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from callcenter import __version__
from callcenter.config import Settings, async_database_url, load_settings
from callcenter.domain.errors import CallcenterError, ConfigError
from callcenter.domain.users import Role
from callcenter.logging_setup import setup_logging

log = logging.getLogger("callcenter.cli")


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(config_file=getattr(args, "config", None))


def cmd_serve(args: argparse.Namespace) -> int:
    from callcenter.app import run_service

    run_service(_settings(args))
    return 0


def cmd_check_config(args: argparse.Namespace) -> int:
    settings = _settings(args)
    for key, value in settings.public_dict().items():
        print(f"{key} = {value}")
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from callcenter.store.migrate import migrate

    settings = _settings(args)
    asyncio.run(migrate(async_database_url(settings.database_url)))
    print("database schema is up to date")
    return 0


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise ConfigError("the passwords differ")
    return first


def cmd_user_add(args: argparse.Namespace) -> int:
    from callcenter.services.accounts import Accounts
    from callcenter.store.crm import create_store
    from callcenter.store.migrate import migrate

    settings = _settings(args)
    password = _read_password(args)

    async def run() -> None:
        url = async_database_url(settings.database_url)
        await migrate(url)
        store = create_store(url)
        try:
            user = await Accounts(store).create_user(
                args.username, password, Role(args.role), display_name=args.name or "", agent=args.agent
            )
        except ValueError as exc:  # invalid username, short password, taken name: say which
            raise ConfigError(str(exc)) from exc
        finally:
            await store.close()
        print(f"user {user.username} ({user.role}) created with id {user.id}")

    asyncio.run(run())
    return 0


def cmd_token_add(args: argparse.Namespace) -> int:
    from callcenter.services.accounts import Accounts
    from callcenter.store.crm import create_store

    settings = _settings(args)

    async def run() -> None:
        store = create_store(async_database_url(settings.database_url))
        try:
            creds = await store.get_credentials(args.username)
            if creds is None:
                raise ConfigError(f"no user named {args.username!r}")
            token = await Accounts(store).issue_api_token(creds.user.id, args.label)
        finally:
            await store.close()
        print(token)

    asyncio.run(run())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="callcenter", description=__doc__)
    parser.add_argument("--version", action="version", version=f"callcenter {__version__}")
    parser.add_argument("--config", help="TOML settings file (default: $CALLCENTER_CONFIG)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="run the service (AMI link, web, store)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("check-config", help="validate and print the settings (secrets masked)")
    p.set_defaults(func=cmd_check_config)

    p = sub.add_parser("migrate", help="create or upgrade the database schema")
    p.set_defaults(func=cmd_migrate)

    user = sub.add_parser("user", help="manage users").add_subparsers(dest="user_command", required=True)
    p = user.add_parser("add", help="add a user")
    p.add_argument("username")
    p.add_argument("--role", required=True, choices=[r.value for r in Role])
    p.add_argument("--name", help="display name")
    p.add_argument("--agent", help="agent id (extension) for role=agent")
    p.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    p.set_defaults(func=cmd_user_add)

    token = sub.add_parser("token", help="manage API tokens").add_subparsers(
        dest="token_command", required=True
    )
    p = token.add_parser("add", help="issue a bearer token for a user (printed once)")
    p.add_argument("username")
    p.add_argument("--label", default="")
    p.set_defaults(func=cmd_token_add)

    _add_sim_commands(sub)
    _add_import_commands(sub)
    _add_ivr_commands(sub)
    _add_qa_commands(sub)
    return parser


def _add_qa_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    rec = sub.add_parser("recordings", help="call recordings").add_subparsers(
        dest="recordings_command", required=True
    )
    p = rec.add_parser(
        "purge",
        help="remove recordings past their retention (recordings_retention_days, recordings_retention "
        "per queue); never one under a legal hold",
    )
    p.add_argument("--dry-run", action="store_true", help="list what would be removed, remove nothing")
    p.set_defaults(func=cmd_recordings_purge)
    reports = sub.add_parser("reports", help="standard reports").add_subparsers(
        dest="reports_command", required=True
    )
    p = reports.add_parser(
        "rollup",
        help="roll up the settled 15-minute report intervals (the service does it every 5 minutes; run "
        "this after importing history)",
    )
    p.set_defaults(func=cmd_reports_rollup)
    qa = sub.add_parser("qa", help="quality assurance").add_subparsers(dest="qa_command", required=True)
    p = qa.add_parser(
        "sample", help="pick N answered calls per agent in an ISO week, at random across queues"
    )
    p.add_argument("--per-agent", type=int, required=True, metavar="N")
    p.add_argument("--week", required=True, help="ISO week, e.g. 2026-W47")
    p.add_argument("--seed", help="random seed (same seed, same sample)")
    p.set_defaults(func=cmd_qa_sample)


def cmd_recordings_purge(args: argparse.Namespace) -> int:
    from callcenter.domain.qa_recordings import parse_retention
    from callcenter.services.recordings import RecordingService
    from callcenter.store.crm import create_store
    from callcenter.store.recordings import SqlRecordingStore

    settings = _settings(args)

    async def run() -> int:
        store = create_store(async_database_url(settings.database_url))
        try:
            service = RecordingService(
                SqlRecordingStore(store.engine),
                settings.recordings_dir,
                retention=parse_retention(settings.recordings_retention, settings.recordings_retention_days),
            )
            items = await service.purge(dry_run=args.dry_run)
        finally:
            await store.close()
        verb = "would remove" if args.dry_run else "removed"
        for item in items:
            note = (
                "" if args.dry_run or item.file_removed else " (file already missing or unsafe; row removed)"
            )
            print(
                f"{verb} recording {item.recording_id} call {item.call_id} queue {item.queue or '-'} "
                f"age {item.age_days} d: {item.path}{note}"
            )
        print(f"{len(items)} recording(s) {verb}")
        return 0

    return asyncio.run(run())


def cmd_reports_rollup(args: argparse.Namespace) -> int:
    import time

    from callcenter.services.acd_config import load_acd_config_if_present
    from callcenter.services.kpi import DEFAULT_THRESHOLD
    from callcenter.services.kpi_config import load_kpi_config
    from callcenter.services.reports import ReportService
    from callcenter.store.crm import create_store
    from callcenter.store.reports import SqlReportStore

    settings = _settings(args)
    acd = load_acd_config_if_present(settings.acd_config)
    kpi = load_kpi_config(Path(settings.acd_config).with_name("wallboard.yaml"))
    thresholds = {q.name: q.sl_threshold for q in (acd.queues if acd else ())}

    async def run() -> int:
        store = create_store(async_database_url(settings.database_url))
        try:
            reports = ReportService(
                SqlReportStore(store.engine),
                threshold_of=lambda queue: thresholds.get(queue, DEFAULT_THRESHOLD),
                convention=kpi.convention,
                short_abandon=lambda: kpi.short_abandon,
                queues=lambda: tuple(thresholds),
            )
            started = time.perf_counter()
            windows = await reports.rollup(time.time())
            settled = await reports.store.settled_until()
        finally:
            await store.close()
        when = (
            "nothing stored yet"
            if settled is None
            else time.strftime("%Y-%m-%d %H:%M", time.localtime(settled))
        )
        print(f"{windows} window(s) rolled up in {time.perf_counter() - started:.1f} s; settled until {when}")
        return 0

    return asyncio.run(run())


def cmd_qa_sample(args: argparse.Namespace) -> int:
    from callcenter.domain.qa import iso_week_bounds, sample_calls
    from callcenter.store.crm import create_store
    from callcenter.store.qa import SqlQaStore

    settings = _settings(args)
    since, until = iso_week_bounds(args.week)

    async def run() -> int:
        store = create_store(async_database_url(settings.database_url))
        try:
            by_agent = await SqlQaStore(store.engine).answered_calls_by_agent(since, until)
        finally:
            await store.close()
        picked = sample_calls(by_agent, args.per_agent, args.seed)
        for agent, calls in picked.items():
            for call_id in calls:
                print(f"{agent}\t{call_id}")
        print(f"{sum(len(c) for c in picked.values())} call(s) for {len(picked)} agent(s) in {args.week}")
        return 0

    return asyncio.run(run())


def _add_ivr_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ivr = sub.add_parser("ivr", help="IVR flows").add_subparsers(dest="ivr_command", required=True)
    p = ivr.add_parser(
        "check",
        help="validate IVR flow files (default: the ivr_flows_dir setting)",
        description="Checks nodes, targets, reachability, loops without input, prompts (sounds.txt) and "
        "queues (queues.yaml) of the flow files, and cross-checks the queues they route to against the "
        "ACD configuration (the queue exists; some agent of the queue has the required skills, a "
        "warning when fewer than two do); prints file:line: message per problem; exit 1 on any error.",
    )
    p.add_argument("paths", nargs="*", help="flow files or directories")
    p.add_argument("--default-flow", default="main", help="the flow used when a call names none")
    p.add_argument(
        "--acd-config",
        metavar="FILE",
        help="the ACD configuration to cross-check (default: the acd_config setting; skipped with a "
        "note when that file does not exist)",
    )
    p.add_argument("--no-acd", action="store_true", help="do not cross-check against the ACD configuration")
    p.add_argument(
        "--sounds",
        metavar="DIR",
        help="the PBX's sounds directory (e.g. /var/lib/asterisk/sounds): warn about every prompt the "
        "flows, the catalogue or the service (queue-*, acd-callback-*, goodbye) need that has no file in "
        "DIR/<lang>/",
    )
    p.set_defaults(func=cmd_ivr_check)


def service_prompts() -> list[tuple[str, str]]:
    """The prompts the service itself plays (besides the flows'): the ACD's wait loop and callback offer,
    the queue transfer's goodbye, the dialplan's failsafe."""
    from callcenter.services.acd import AcdSounds

    acd = [(getattr(AcdSounds(), f.name), f"the ACD ({f.name})") for f in dataclasses.fields(AcdSounds)]
    return [*acd, ("goodbye", "a queue transfer nobody can take"), ("pls-hold-while-try", "[cc-failsafe]")]


def cmd_ivr_check(args: argparse.Namespace) -> int:
    from callcenter.services.acd_config import load_acd_config
    from callcenter.services.ivr_flows import check_flow_files

    settings = _settings(args) if not args.paths or not (args.no_acd or args.acd_config) else None
    paths = args.paths or [settings.ivr_flows_dir if settings is not None else ""]
    acd = None
    acd_path: str | None = None
    pre_notes: list[str] = []
    if not args.no_acd:
        acd_path = args.acd_config or (settings.acd_config if settings is not None else None)
        if acd_path and not args.acd_config and not Path(acd_path).is_file():
            pre_notes.append(f"no ACD configuration {acd_path}: queues were not cross-checked with the ACD")
            acd_path = None
        if acd_path:
            try:
                acd = load_acd_config(acd_path)
            except ConfigError as exc:
                message = str(exc)
                print(message if acd_path in message else f"ACD config {acd_path}: {message}")
                print("1 problem(s)", file=sys.stderr)
                return 1
    report = check_flow_files(
        paths,
        default=args.default_flow,
        acd=acd,
        acd_source=acd_path or "",
        sounds_dir=args.sounds,
        service_prompts=service_prompts(),
    )
    for note in pre_notes + report.notes:
        print(f"note: {note}")
    for problem in report.problems:
        print(problem)
    for warning in report.warnings:
        print(f"{warning.file}:{warning.line}: warning: {warning.message}")
    if report.flows is None:
        print(f"{len(report.problems)} problem(s), {len(report.warnings)} warning(s)", file=sys.stderr)
        return 1
    flows = report.flows.flows
    checked = f"; queues cross-checked with {acd_path}" if acd is not None else ""
    warned = f"; {len(report.warnings)} warning(s)" if report.warnings else ""
    print(f"ok: {len(flows)} flow(s): {', '.join(sorted(flows))}{checked}{warned}")
    return 0


def _add_import_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    imp = sub.add_parser("import", help="import data").add_subparsers(dest="import_command", required=True)
    p = imp.add_parser(
        "customers",
        help="import customers from a CSV file (all or nothing)",
        description="CSV with a header line; columns: name (required), company, email, phones (separated "
        "by ; or |), segment (vip, regular, new), value_score (0-100), tags, notes. One transaction: if any "
        "row is invalid nothing is written, every error is printed with its row, and the exit code is 1.",
    )
    p.add_argument("file", help="the CSV file (UTF-8)")
    p.add_argument("--batch-size", type=int, default=1000, help="rows per INSERT batch (default 1000)")
    p.set_defaults(func=cmd_import_customers)


def cmd_import_customers(args: argparse.Namespace) -> int:
    from pathlib import Path

    from callcenter.services.crm_import import CustomerImporter
    from callcenter.store.crm_records import SqlCrmRecords
    from callcenter.store.engine import make_engine
    from callcenter.store.migrate import migrate

    settings = _settings(args)
    path = Path(args.file)

    async def run() -> int:
        url = async_database_url(settings.database_url)
        await migrate(url)
        engine = make_engine(url)
        try:
            importer = CustomerImporter(SqlCrmRecords(engine), batch_size=args.batch_size)
            report = await importer.import_csv(path)
        finally:
            await engine.dispose()
        if report.errors:
            for error in report.errors:
                print(f"{path}: {error}", file=sys.stderr)
            print(
                f"{len(report.errors)} error(s) in {report.rows} row(s): nothing was imported",
                file=sys.stderr,
            )
            return 1
        print(f"imported {report.imported} customer(s) from {path}")
        return 0

    return asyncio.run(run())


def _add_sim_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from callcenter.sim.runner import add_sim_arguments

    p = sub.add_parser(
        "sim",
        help="run the built-in PBX simulator (AMI server + simulated customers and agent phones)",
        description="Plays Asterisk's part on real TCP: serves AMI, dials into the service's FastAGI "
        "(--mode agi) or straight to agents (--mode direct), generates Poisson traffic, prints a report.",
    )
    add_sim_arguments(p)
    p.set_defaults(func=cmd_sim)

    p = sub.add_parser("demo", help="service + simulated PBX on embedded defaults, with demo data")
    p.add_argument(
        "--rate", type=float, default=None, help="simulated calls per second (default: sized to the staff)"
    )
    p.add_argument("--seed", type=int, default=1, help="random seed of the simulated traffic")
    p.set_defaults(func=cmd_demo)


def cmd_sim(args: argparse.Namespace) -> int:
    from callcenter.sim.runner import config_from_args, run_simulator

    try:
        config = config_from_args(args, _settings(args))
    except ValueError as exc:  # a bad simulator option (survey weights, probabilities): say which
        raise ConfigError(str(exc)) from exc
    report = asyncio.run(run_simulator(config))
    print(report.format())
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from callcenter.demo import demo_settings, run_demo

    asyncio.run(run_demo(demo_settings(_settings(args)), rate=args.rate, seed=args.seed))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings(config_file=args.config)
    except ConfigError as exc:
        print(f"callcenter: {exc}", file=sys.stderr)
        return 2
    setup_logging(settings.log_level, settings.log_json)
    try:
        result: int = args.func(args)
    except ConfigError as exc:
        print(f"callcenter: {exc}", file=sys.stderr)
        return 2
    except CallcenterError as exc:
        print(f"callcenter: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return result
