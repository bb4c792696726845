"""Command line: ``ret-desktop`` opens the window; sub-commands do headless work.

Errors go to stderr as one line, with exit status 2.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from typing import Callable, Sequence

from ret_desktop import __version__
from ret_desktop.core.accounts import ROLES, AccountError
from ret_desktop.core.appdb import AppDatabaseError
from ret_desktop.core.cache import CacheError
from ret_desktop.core.config import SettingsError, load_settings
from ret_desktop.core.logs import configure_logging
from ret_desktop.core.services import Services, open_services

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

    cache = commands.add_parser("cache", help="inspect or sweep the session cache")
    cache_commands = cache.add_subparsers(dest="cache_command", metavar="ACTION", required=True)
    stats = cache_commands.add_parser("stats", help="entries, size and counters of the session cache")
    stats.add_argument("--json", action="store_true", help="print one JSON object")
    stats.set_defaults(handler=cache_stats)
    cache_commands.add_parser("sweep", help="remove expired entries now").set_defaults(handler=cache_sweep)
    return parser


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
    users = services.accounts.list_users()
    width = max((len(u.name) for u in users), default=0)
    for user in users:
        print(f"{user.name:<{width}}  {user.role:<5}  {user.state}")
    return 0


def users_set_state(services: Services, args: argparse.Namespace) -> int:
    user = services.accounts.set_state(args.name, args.state)
    print(f"{user.name} is {user.state}")
    return 0


def cache_stats(services: Services, args: argparse.Namespace) -> int:
    stats = services.cache.stats()
    if args.json:
        print(json.dumps(stats, sort_keys=True))
    else:
        for key, value in stats.items():
            print(f"{key}: {value}")
    return 0


def cache_sweep(services: Services, args: argparse.Namespace) -> int:
    removed = services.cache.sweep_expired()
    print(f"removed {removed} expired {'entry' if removed == 1 else 'entries'}")
    return 0


def _error(message: str) -> int:
    print(f"ret-desktop: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        return _error(str(exc))
    configure_logging(settings.log_dir)
    if args.command is None:
        return run_gui(parser)
    handler: Callable[[Services, argparse.Namespace], int] = args.handler
    try:
        with open_services(settings) as services:
            return handler(services, args)
    except (CommandError, AccountError, CacheError, AppDatabaseError, OSError) as exc:
        return _error(str(exc))


def run_gui(parser: argparse.ArgumentParser) -> int:
    print(
        "The RET Desktop window is not in this build yet; the headless commands are ready:\n",
        file=sys.stderr,
    )
    parser.print_help(sys.stderr)
    return 0
