"""``kiosk-fleet``: the fleet server, its users, and the same views as the dashboard.

``demo`` is a developer command that lives in :mod:`sim`; this module hands it over
without importing :mod:`sim` for anything else.
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import os
import signal
import ssl
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.exc import SQLAlchemyError

from fleet import views
from fleet.accounts import AccountError, Accounts, Role
from fleet.cli_enrol import COMMANDS as ENROL_COMMANDS
from fleet.cli_enrol import add_enrol_commands, run_enrol_command
from fleet.cli_options import add_serve_arguments, server_settings
from fleet.database import MigrationError
from fleet.server import FleetServer
from fleet.store import Store
from protocol import telemetry as tm

DEFAULT_STATE = Path("/var/lib/siths-kiosk-fleet")
DB_NAME = "fleet.sqlite3"
#: The database URL when --database is not given (PostgreSQL URLs carry a password).
DATABASE_VARIABLE = "KIOSK_FLEET_DATABASE"
EXIT_USAGE = 2


def open_store(args: argparse.Namespace) -> Store:
    """The database: ``--database``, else $KIOSK_FLEET_DATABASE, else SQLite in the state folder."""
    url = args.database or os.environ.get(DATABASE_VARIABLE)
    if url is None:
        args.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        url = args.state_dir / DB_NAME
    try:
        zone = ZoneInfo(args.timezone) if args.timezone else None
    except (ZoneInfoNotFoundError, ValueError):
        raise OSError(f"unknown time zone {args.timezone!r}") from None
    return Store(url, zone=zone)


def _password(ask_twice: bool) -> str:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if ask_twice and getpass.getpass("Again: ") != first:
        raise AccountError("the two passwords differ")
    return first


def _serve(args: argparse.Namespace) -> int:
    store = open_store(args)
    server = FleetServer(server_settings(args), store).start()
    print(f"fleet dashboard on {server.url}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    server.stop()
    store.close()
    return 0


def _users(args: argparse.Namespace, accounts: Accounts) -> int:
    now = time.time()
    if args.user_command == "add":
        accounts.add_user(args.name, Role(args.role), _password(True), now)
        print(f"added {args.name} ({args.role})")
    elif args.user_command == "passwd":
        accounts.set_password(args.name, _password(True), now)
        print(f"new password for {args.name}; their sessions have ended")
    elif args.user_command == "role":
        accounts.set_role(args.name, Role(args.role), now)
        print(f"{args.name} is now {args.role}")
    elif args.user_command == "remove":
        accounts.remove_user(args.name, now)
        print(f"removed {args.name}")
    else:
        users = accounts.users()
        if args.json:
            print(json.dumps([{"name": n, "role": str(r)} for n, r in users], indent=2))
        for name, role in [] if args.json else users:
            print(f"{name}\t{role}")
    return 0


def _card(args: argparse.Namespace) -> str | None:
    if args.card_number is None:
        return args.card
    if args.card_hash_key_file is None:
        raise OSError("--card-number needs --card-hash-key-file (the kiosks' card-hash key)")
    return tm.card_hash(args.card_hash_key_file.read_bytes(), args.card_number)


def _views(args: argparse.Namespace, store: Store) -> int:
    now = time.time()
    if args.command == "status":
        data = views.fleet(store, now, site=args.site, status=args.status, limit=views.PAGE)
        rows = data["kiosks"]
        if not args.json:
            counts = ", ".join(f"{n} {s}" for s, n in data["counts"].items())
            print(f"{data['total']} kiosks: {counts}")
            for k in rows:
                print(
                    f"{k['kiosk']}\t{k['status']}\t{k['site'] or '-'}\t{k['location'] or '-'}"
                    f"\tlast seen {k['last_seen']}\talerts {k['open_alerts']}"
                )
            return 0
        print(json.dumps(data, indent=2, ensure_ascii=False))
        return 0
    if args.command == "events":
        found = views.events(
            store, kiosk=args.kiosk, kind=args.kind, card=_card(args), limit=args.limit
        )
        lines = [f"{e['at']}\t{e['kiosk']}\t{e['kind']}\t{e.get('detail', '')}" for e in found]
    else:
        found = views.alerts(store, open_only=args.open, kiosk=args.kiosk, limit=args.limit)
        lines = [
            f"{a['raised_at']}\t{'open' if a['open'] else 'cleared'}\t{a['kiosk']}\t{a['kind']}"
            f"\t{a['detail'] or ''}"
            for a in found
        ]
    print(json.dumps(found, indent=2, ensure_ascii=False) if args.json else "\n".join(lines))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The whole command line."""
    parser = argparse.ArgumentParser(prog="kiosk-fleet", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true")
    commands = parser.add_subparsers(dest="command", required=True)

    def with_database(sub: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sub.add_argument(
            "--state-dir",
            type=Path,
            default=DEFAULT_STATE,
            help="where the SQLite database lives (default %(default)s)",
        )
        sub.add_argument(
            "--database",
            help=f"database URL (postgresql+psycopg://...; default: SQLite in the state folder,"
            f" or ${DATABASE_VARIABLE})",
        )
        sub.add_argument("--timezone", help="the facility's time zone for 'today' (default: UTC)")
        return sub

    add_serve_arguments(with_database(commands.add_parser("serve", help="run the fleet server")))
    with_database(commands.add_parser("migrate", help="bring the database to this schema"))
    user = commands.add_parser("user", help="dashboard accounts")
    user_commands = user.add_subparsers(dest="user_command", required=True)
    for name, about in (("add", "a new user (password from stdin)"), ("role", "change a role")):
        sub = with_database(user_commands.add_parser(name, help=about))
        sub.add_argument("name")
        sub.add_argument("--role", choices=[str(r) for r in Role], required=True)
    for name, about in (("passwd", "a new password (from stdin)"), ("remove", "remove a user")):
        with_database(user_commands.add_parser(name, help=about)).add_argument("name")
    listing = with_database(user_commands.add_parser("list", help="every user"))
    listing.add_argument("--json", action="store_true")

    status = with_database(commands.add_parser("status", help="the fleet at a glance"))
    status.add_argument("--site")
    status.add_argument("--status", choices=views.STATUS_FILTERS)
    events = with_database(commands.add_parser("events", help="events, newest first"))
    events.add_argument("--kiosk")
    events.add_argument("--kind", choices=[str(k) for k in tm.EventKind])
    events.add_argument("--card", help="a card's hash as telemetry carries it")
    events.add_argument("--card-number", help="a card number (hashed with the key file)")
    events.add_argument("--card-hash-key-file", type=Path)
    alerts = with_database(commands.add_parser("alerts", help="alerts, open ones first"))
    alerts.add_argument("--open", action="store_true", help="only open alerts")
    alerts.add_argument("--kiosk")
    for sub in (status, events, alerts):
        sub.add_argument("--json", action="store_true", help="machine-readable output")
    for sub in (events, alerts):
        sub.add_argument("--limit", type=int, default=200)
    add_enrol_commands(commands, with_database)
    commands.add_parser(
        "demo", help="broker, fleet server and a few kiosks (developers)", add_help=False
    )
    return parser


def _developer_demo(rest: list[str]) -> int:
    """Hand ``demo`` to :mod:`sim` (the one import of sim here)."""
    try:
        from sim import fleet_demo
    except ImportError:
        print("kiosk-fleet demo: not installed here (developer command)", file=sys.stderr)
        return EXIT_USAGE
    return fleet_demo.main(rest)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point."""
    os.umask(0o077)  # the database and its companions are the owner's alone
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "demo":
        parser.error("unrecognized arguments: " + " ".join(extra))
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    if args.command == "demo":
        return _developer_demo(extra)
    try:
        if args.command == "serve":
            return _serve(args)
        store = open_store(args)
        try:
            if args.command == "user":
                return _users(args, Accounts(store))
            if args.command in ENROL_COMMANDS:
                return run_enrol_command(args, store)
            if args.command == "migrate":
                print("the database is at this version's schema")
                return 0
            return _views(args, store)
        finally:
            store.close()
    except AccountError as error:
        print(f"kiosk-fleet {args.command}: {error}", file=sys.stderr)
        return 1
    except (OSError, ValueError, SQLAlchemyError, ssl.SSLError, MigrationError) as error:
        text = str(error).splitlines()[0] if str(error) else type(error).__name__
        if isinstance(error, SQLAlchemyError):
            text = f"the database cannot be used: {text}"
        print(f"kiosk-fleet {args.command}: {text}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
