"""Command line: ``ret-desktop`` opens the window; sub-commands do headless work.

Errors go to stderr as one line, with exit status 2.
"""

from __future__ import annotations

import argparse
import getpass
import json
import multiprocessing
import sqlite3
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Callable, Sequence

from ret_desktop import __version__
from ret_desktop.core.accounts import ACCOUNTS_LOST_ADVICE, ROLES, AccountError
from ret_desktop.core.appdb import AppDatabaseError
from ret_desktop.core.audit import ACTIONS, AuditError, AuditFilter, local_time_text, parse_date
from ret_desktop.core.cache import CacheError
from ret_desktop.core.config import Settings, SettingsError, load_settings
from ret_desktop.core.convert import MODES, ConvertOptions, convert_to_folder
from ret_desktop.core.diskspace import DiskFullError
from ret_desktop.core.export import zip_file_name
from ret_desktop.core.importing import GROUP_BY_CHOICES, IntakeLimits
from ret_desktop.core.fsutil import restrict_umask
from ret_desktop.core.logs import configure_logging
from ret_desktop.core.profiles import ConversionProfile, ProfileError
from ret_desktop.core.roles import COMMAND_LINE, PermissionDenied
from ret_desktop.core.scratch import record_scratch_in
from ret_desktop.core.services import Services, open_services
from ret_desktop.core.text import counted
from ret_desktop.core.workbook import WorkbookError
from ret_desktop.core.xlsx import EXCEL_MAX_CELL
from ret_desktop.core.xmlflat.detect import MANY_WIDE_COLUMNS, record_path_problem

EXIT_USAGE = 2


class CommandError(Exception):
    """A sub-command cannot do what was asked; the message is for the user."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ret-desktop",
        description="RET Desktop: turn piles of XML into tables you can review, correct and export. "
        "Without a command, opens the window.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    users = commands.add_parser("users", help="manage local user accounts")
    users_commands = users.add_subparsers(dest="users_command", metavar="ACTION", required=True)
    add = users_commands.add_parser("add", help="create a user (the first one is always an administrator)")
    add.add_argument("name")
    add.add_argument("--role", choices=ROLES, default="user")
    add.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    add.set_defaults(handler=users_add)
    users_commands.add_parser("list", help="one line per user: name, role, state").set_defaults(handler=users_list)
    for action, state in (("lock", "locked"), ("unlock", "active")):
        sub = users_commands.add_parser(action, help=f"{action} an account" + (" and lift a sign-in lockout" if action == "unlock" else ""))
        sub.add_argument("name")
        sub.set_defaults(handler=users_set_state, state=state)
    delete = users_commands.add_parser("delete", help="delete an account, its leftover sessions, remember-me "
                                       "token and window state")
    delete.add_argument("name")
    delete.set_defaults(handler=users_delete)
    role = users_commands.add_parser("role", help="make an account an administrator or a user")
    role.add_argument("name")
    role.add_argument("role", choices=ROLES)
    role.set_defaults(handler=users_role)
    reset = users_commands.add_parser("reset", help="give an account a one-time password (printed) that must be "
                                      "changed at the next sign-in")
    reset.add_argument("name")
    reset.set_defaults(handler=users_reset)
    passwd = users_commands.add_parser("passwd", help="set an account's password; it must be changed at the next "
                                       "sign-in")
    passwd.add_argument("name")
    passwd.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    passwd.set_defaults(handler=users_passwd)

    audit = commands.add_parser("audit", help="read the audit trail (who did what and when; counts, never data)")
    audit_commands = audit.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    audit_list = audit_commands.add_parser("list", help="entries, newest first")
    audit_export = audit_commands.add_parser("export", help="write the entries to a CSV file, newest first")
    audit_export.add_argument("file", type=Path, metavar="FILE.csv")
    for sub in (audit_list, audit_export):
        sub.add_argument("--user", help="only this user's entries")
        sub.add_argument("--action", choices=ACTIONS, metavar="ACTION", help="only this action (one of: "
                         + ", ".join(ACTIONS) + ")")
        sub.add_argument("--since", metavar="DATE", help="from this date on (YYYY-MM-DD or YYYY-MM-DDTHH:MM, local time)")
    audit_list.add_argument("--json", action="store_true",
                            help='print one JSON array of {"time", "user", "session", "action", "counts"}')
    audit_list.set_defaults(handler=audit_list_command)
    audit_export.set_defaults(handler=audit_export_command)

    cache = commands.add_parser("cache", help="inspect or sweep the session cache")
    cache_commands = cache.add_subparsers(dest="cache_command", metavar="ACTION", required=True)
    stats = cache_commands.add_parser("stats", help="entries, size and counters of the session cache")
    stats.add_argument("--json", action="store_true", help="print one JSON object")
    stats.set_defaults(handler=cache_stats)
    cache_commands.add_parser("sweep", help="remove expired entries now").set_defaults(handler=cache_sweep)

    convert = commands.add_parser(
        "convert", help="convert ZIP archives, XML files or folders into tables (no sign-in, no session)",
        description="Exit status: 0 every document converted, 1 some failed or were skipped, "
        "2 usage error or unreadable input.",
    )
    convert.add_argument("inputs", nargs="+", metavar="INPUT", type=Path, help=".zip, .xml or a folder")
    convert.add_argument("--out", required=True, type=Path, metavar="DIR", help="folder for the tables and manifest.json")
    convert.add_argument("--format", choices=("csv", "xlsx", "both"), default="csv")
    convert.add_argument("--mode", choices=MODES, help="wide (the default) or relational; beats the profile's")
    convert.add_argument("--record-path", metavar="XPATH", help="the element that is one row, e.g. /library/book")
    convert.add_argument("--profile", type=Path, metavar="FILE",
                         help="a conversion profile (JSON): record path and mode per kind of document")
    convert.add_argument("--group-by", choices=GROUP_BY_CHOICES, default="archive")
    convert.add_argument("--workers", type=_workers, metavar="N",
                         help="processes flattening documents side by side; 1: one after another in this one "
                         "(default: the convert_workers setting, all cores but one)")
    convert.add_argument("--bom", action="store_true", help="start CSV files with a UTF-8 BOM (for Excel)")
    convert.add_argument("--zip", metavar="NAME",
                         help="also put every output file into DIR/NAME (a file name; .zip is added if missing)")
    convert.add_argument("--csv-raw", action="store_true",
                         help="write CSV values untouched; by default a value a spreadsheet would run as a formula "
                         "(=, +, -, @ first, other than a plain number) gets a leading '")
    convert.set_defaults(handler=run_convert, needs_services=False)

    compare = commands.add_parser(
        "compare", help="compare two batches: tables, documents, rows and cells that changed",
        description="Each side is a ZIP, XML file or folder to convert, a folder, ZIP or CSV file of an earlier "
        "export (with or without manifest.json), or a workbook.sqlite. Writes DIR/summary.json and the reports. "
        "Exit status: 0 the sides are the same, 1 they differ, 2 usage error or unreadable input.",
    )
    compare.add_argument("old", metavar="OLD", type=Path)
    compare.add_argument("new", metavar="NEW", type=Path)
    compare.add_argument("--out", required=True, type=Path, metavar="DIR", help="folder for summary.json and the reports")
    compare.add_argument("--key", action="append", default=[], metavar="[TABLE=]COLUMN",
                         help="pair rows by this column (repeat for a key of several columns); TABLE=COLUMN "
                         "for that table only (split at the last =; its own key replaces the others there), "
                         "TABLE= to pair that table's rows without a key; without: by _file + _record and "
                         "the order of rows in each document")
    compare.add_argument("--ignore-case", action="store_true")
    compare.add_argument("--trim", action="store_true", help="ignore spaces at the start and end of values")
    compare.add_argument("--ignore-column", action="append", default=[], metavar="NAME")
    compare.add_argument("--empty-differs", action="store_true",
                         help="an empty cell differs from an absent one (a column or value one side lacks)")
    compare.add_argument("--similarity", type=float, default=0.8, metavar="SHARE",
                         help="documents of other paths pair when this share of their cells agree (default 0.8)")
    compare.add_argument("--format", default="xlsx,csv,html", metavar="LIST", help="reports: any of xlsx,csv,html")
    compare.add_argument("--mode", choices=MODES, default="wide", help="for sides that are converted")
    compare.add_argument("--record-path", metavar="XPATH", help="for sides that are converted")
    compare.set_defaults(handler=run_compare, needs_services=False)

    selftest = commands.add_parser(
        "selftest", help="run the whole app offscreen in a temporary data folder and check the result",
        description="Creates a user, signs in, imports the bundled sample archive, converts, exports and signs "
        "out through the real windows, then checks the wipe on disk. Touches no data of yours. "
        "Exit status 0 when every step passed, 1 otherwise.",
    )
    selftest.set_defaults(handler=run_selftest_command, needs_services=False)
    return parser


def run_selftest_command(settings: Settings, args: argparse.Namespace) -> int:
    from ret_desktop.selftest import main as selftest  # Qt is loaded only here

    return selftest()


def users_add(services: Services, args: argparse.Namespace) -> int:
    password = _read_new_password(args.password_stdin)
    user = services.accounts.create_user(args.name, password, role=args.role)
    print(f"created {user.role} {user.name}")
    return 0


def _read_new_password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        if not line:
            raise CommandError("--password-stdin: no password on standard input")
        return line.rstrip("\r\n")
    if not sys.stdin.isatty():
        raise CommandError("give the password with --password-stdin, or run in a terminal to be asked")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Password again: ") != first:
        raise CommandError("the two passwords differ")
    return first


def users_list(services: Services, args: argparse.Namespace) -> int:
    if services.accounts.accounts_lost():
        raise CommandError(ACCOUNTS_LOST_ADVICE)
    users = services.accounts.list_users()
    width = max((len(u.name) for u in users), default=0)
    for user in users:
        print(f"{user.name:<{width}}  {user.role:<5}  {user.state}")
    return 0


def users_set_state(services: Services, args: argparse.Namespace) -> int:
    if services.accounts.accounts_lost():
        raise CommandError(ACCOUNTS_LOST_ADVICE)
    user = services.accounts.set_state(args.name, args.state)
    print(f"{user.name} is {user.state}")
    return 0


def users_delete(services: Services, args: argparse.Namespace) -> int:
    from ret_desktop.gui.session import forget_window_state  # Qt's settings file format (QtCore only)

    user = services.delete_user(args.name)
    forget_window_state(services.settings, user.name)
    print(f"deleted {user.name}")
    return 0


def users_role(services: Services, args: argparse.Namespace) -> int:
    user = services.accounts.set_role(args.name, args.role)
    print(f"{user.name} is {'an administrator' if user.is_admin else 'a user'}")
    return 0


def users_reset(services: Services, args: argparse.Namespace) -> int:
    one_time = services.accounts.reset_password(args.name)
    print(one_time)
    print(f"one-time password of {args.name}; it must be changed at the next sign-in", file=sys.stderr)
    return 0


def users_passwd(services: Services, args: argparse.Namespace) -> int:
    user = services.accounts.set_password(args.name, _read_new_password(args.password_stdin))
    print(f"password of {user.name} set; it must be changed at the next sign-in")
    return 0


def _audit_filter(services: Services, args: argparse.Namespace) -> AuditFilter:
    user = args.user
    if user is not None and (account := services.accounts.get_user(user)) is not None:
        user = account.name  # as the trail spells it
    return AuditFilter(user=user, action=args.action, since=parse_date(args.since) if args.since else None)


def audit_list_command(services: Services, args: argparse.Namespace) -> int:
    entries = services.audit.entries(COMMAND_LINE, _audit_filter(services, args))
    if args.json:
        print(json.dumps([entry.to_json() for entry in entries], ensure_ascii=False))
        return 0
    for entry in entries:
        counts = " ".join(f"{key}={json.dumps(value)}" for key, value in entry.counts.items())
        print(f"{local_time_text(entry.time)}  {entry.user or '-'}  {(entry.session or '-')[:8]}  "
              f"{entry.action}  {counts}".rstrip())
    return 0


def audit_export_command(services: Services, args: argparse.Namespace) -> int:
    written = services.audit.export_csv(COMMAND_LINE, args.file, _audit_filter(services, args))
    print(f"wrote {written} {'entry' if written == 1 else 'entries'} to {args.file}")
    return 0


def _warn_if_accounts_lost(services: Services) -> None:
    if services.accounts.accounts_lost():
        print(f"ret-desktop: warning: {ACCOUNTS_LOST_ADVICE}", file=sys.stderr)


def cache_stats(services: Services, args: argparse.Namespace) -> int:
    _warn_if_accounts_lost(services)
    stats = services.cache.stats()
    if args.json:
        print(json.dumps(stats, sort_keys=True))
    else:
        for key, value in stats.items():
            print(f"{key}: {value}")
    return 0


def cache_sweep(services: Services, args: argparse.Namespace) -> int:
    _warn_if_accounts_lost(services)
    removed = services.cache.sweep_expired()
    print(f"removed {counted(removed, 'expired entry', 'expired entries')}")
    return 0


def run_convert(settings: Settings, args: argparse.Namespace) -> int:
    missing = [str(p) for p in args.inputs if not p.exists()]
    if missing:
        raise CommandError(f"no such file or folder: {', '.join(missing)}")
    if args.record_path and (problem := record_path_problem(args.record_path)):
        raise CommandError(problem)
    try:
        profile = ConversionProfile.load(args.profile) if args.profile else None
    except ProfileError as error:
        raise CommandError(str(error)) from None
    if profile and args.mode:  # a mode given on the command line is the mode of every document
        profile = ConversionProfile({kind: replace(choice, mode=None) for kind, choice in profile.choices.items()})
    options = ConvertOptions(mode=args.mode or "wide", record_path=args.record_path, group_by=args.group_by,
                             profile=profile, workers=args.workers or settings.convert_workers)
    formats = ("csv", "xlsx") if args.format == "both" else (args.format,)
    try:
        zip_name = None if args.zip is None else zip_file_name(args.zip)
    except ValueError as error:
        raise CommandError(f"--zip: {error}") from None
    progress = _ProgressBar() if sys.stderr.isatty() else None
    if settings.runtime_root.is_dir():  # the window's start-up sweep then finds what a killed run left
        record_scratch_in(settings.runtime_root / "scratch")
    try:
        result = convert_to_folder(args.inputs, args.out, options, formats, bom=args.bom, zip_name=zip_name,
                                   limits=IntakeLimits.from_settings(settings),
                                   on_progress=progress.update if progress else lambda *a: None,
                                   csv_raw=args.csv_raw)
    except DiskFullError as exc:  # nothing was written: DIR is as it was
        if progress:
            progress.close()
        print(f"ret-desktop: error: {exc} in {args.out}; nothing was written", file=sys.stderr)
        return 1
    except OSError as exc:  # named as DIR when deeper inside it: in a scratch folder there
        out, path = args.out.absolute(), Path(exc.filename).absolute() if exc.filename else None
        where = path if path and (path.parent == out or not path.is_relative_to(out)) else args.out
        raise CommandError(f"{exc.strerror or type(exc).__name__}: {where}; nothing was written in {args.out}") from None
    finally:
        record_scratch_in(None)
        if progress:
            progress.close()
    converted = [f for f in result.files if f.status == "ok"]
    print(f"{counted(len(converted), 'document')} converted into {counted(len(result.tables), 'table')} in {args.out}")
    parents = {table.parent for table in result.tables}
    for table in result.tables:
        print(f"  {table.name}: {counted(table.rows, 'row')} x {counted(len(table.columns), 'column')} "
              f"({', '.join(table.files)})")
        if len(table.columns) > MANY_WIDE_COLUMNS and not table.parent and table.name not in parents:
            better = "a deeper --record-path" if args.mode == "relational" else \
                "--mode relational or a deeper --record-path"
            print(f"  note: {table.name} has {len(table.columns):,} columns; {better} may read better", file=sys.stderr)
    problems = [f for f in result.files if f.status != "ok"]
    for outcome in problems:
        print(f"  {outcome.status}: {outcome.path}: {outcome.error}", file=sys.stderr)
    for outcome in result.files:
        for warning in outcome.warnings:
            print(f"  warning: {outcome.path}: {warning}", file=sys.stderr)
    for table in result.tables:
        if table.xlsx_cells_cut:
            xlsx = next(name for name in table.files if name.endswith(".xlsx"))
            values = "1 value longer than an Excel cell holds is" if table.xlsx_cells_cut == 1 else \
                f"{table.xlsx_cells_cut:,} values longer than an Excel cell holds are"
            print(f"  warning: {table.name}: {values} cut in {xlsx} ({EXCEL_MAX_CELL:,} characters kept)",
                  file=sys.stderr)
    return 0 if not problems else 1


def _compare_keys(specs: list[str]) -> tuple[tuple[str, ...], dict[str, tuple[str, ...]]]:
    """``--key`` values: COLUMN for every table, TABLE=COLUMN for one (split at the last ``=``: an
    XML-made column name never holds one), TABLE= for one without a key."""
    key: list[str] = []
    table_keys: dict[str, list[str]] = {}
    for spec in specs:
        table, equals, column = spec.rpartition("=")
        if not equals:
            key.append(spec)
        elif not table:
            raise CommandError(f"--key {spec}: name the table before =, or give just the column")
        else:
            columns = table_keys.setdefault(table, [])
            if column:
                columns.append(column)
    return tuple(dict.fromkeys(key)), {table: tuple(dict.fromkeys(columns)) for table, columns in table_keys.items()}


def run_compare(settings: Settings, args: argparse.Namespace) -> int:
    from ret_desktop.core.compare import CompareError, CompareOptions, Side, compare
    from ret_desktop.core.compare.reports import REPORT_FORMATS, write_reports

    formats = [f.strip().lower() for f in args.format.split(",") if f.strip()]
    unknown = [f for f in formats if f not in REPORT_FORMATS]
    if unknown or not formats:
        raise CommandError(f"--format: {', '.join(unknown) or 'nothing given'}; choose from {','.join(REPORT_FORMATS)}")
    if not 0 < args.similarity <= 1:
        raise CommandError("--similarity must be above 0 and at most 1")
    if args.record_path and (problem := record_path_problem(args.record_path)):
        raise CommandError(problem)
    key, table_keys = _compare_keys(args.key)
    options = CompareOptions(
        key=key, table_keys=table_keys, ignore_case=args.ignore_case, trim=args.trim, ignore_columns=tuple(args.ignore_column),
        empty_equals_absent=not args.empty_differs, similarity=args.similarity,
        convert=ConvertOptions(mode=args.mode, record_path=args.record_path),
        limits=IntakeLimits.from_settings(settings))
    progress = _ProgressBar() if sys.stderr.isatty() else None
    try:
        old, new = Side.from_path(args.old), Side.from_path(args.new)
        args.out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".ret-compare-", dir=args.out) as scratch:
            result = Path(scratch) / "compare.sqlite"
            summary = compare(old, new, result, options,
                              on_progress=progress.update if progress else lambda *a: None)
            write_reports(result, summary, args.out, formats)
    except CompareError as exc:
        raise CommandError(str(exc)) from None
    except sqlite3.DatabaseError as exc:
        raise CommandError(f"cannot read a side: {exc}") from None
    finally:
        if progress:
            progress.close()
    for warning in summary.warnings:
        print(f"  warning: {warning}", file=sys.stderr)
    for t in summary.tables:
        detail = ""
        if t.status == "changed":
            detail = (f": {t.rows_added} rows added, {t.rows_removed} removed, {t.rows_changed} changed "
                      f"({t.cells_changed} cells)")
            if t.columns_added or t.columns_removed:
                detail += f"; columns added: {', '.join(t.columns_added) or '-'}, removed: {', '.join(t.columns_removed) or '-'}"
            if t.duplicate_keys:
                detail += f"; {t.duplicate_keys} rows with a repeated or empty key"
        elif t.status in ("added", "removed"):
            detail = f" ({t.rows_added or t.rows_removed} rows)"
        keyed = f" (key {', '.join(t.key)})" if t.key else ""
        print(f"{t.name}{keyed}: {t.status}{detail}")
    if summary.documents:
        states: dict[str, int] = {}
        for d in summary.documents:
            states[d.status] = states.get(d.status, 0) + 1
        print("documents: " + ", ".join(f"{n} {s}" for s, n in sorted(states.items())))
    print(f"{'same' if summary.same else 'different'}; reports in {args.out}")
    return 0 if summary.same else 1


class _ProgressBar:
    def __init__(self) -> None:
        self._last = -1

    def update(self, done: int, total: int, current: str) -> None:
        percent = int(100 * done / total) if total else 100
        if percent != self._last:
            self._last = percent
            bar = "#" * (percent // 4)
            name = current[-40:]
            print(f"\r[{bar:<25}] {percent:3d}% {name:<40}", end="", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._last >= 0:
            print(file=sys.stderr)
            self._last = -1


def _workers(text: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, not {text!r}")
    return int(text)


def _error(message: str) -> int:
    print(f"ret-desktop: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def main(argv: Sequence[str] | None = None) -> int:
    multiprocessing.freeze_support()  # a frozen bundle started as a conversion worker runs it, not this
    restrict_umask()  # before anything is created: every file and folder of the app is owner-only
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        return _error(str(exc))
    configure_logging(settings.log_dir)
    if args.command is None:
        try:
            from ret_desktop.app import main as run_app  # Qt is loaded only for the window
        except ImportError as error:  # a system library PySide6 needs is missing: say which
            from ret_desktop.gui.platform_check import report_import_failure

            return report_import_failure(error)

        return run_app(settings)
    try:
        if not getattr(args, "needs_services", True):
            return args.handler(settings, args)
        handler: Callable[[Services, argparse.Namespace], int] = args.handler
        with open_services(settings) as services:
            return handler(services, args)
    except (CommandError, AccountError, AuditError, PermissionDenied, CacheError, AppDatabaseError, WorkbookError,
            OSError) as exc:
        return _error(str(exc))
