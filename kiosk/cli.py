"""The ``kiosk`` command: ``run``, ``card status``, ``card unblock``; developer commands.

``demo``, ``vcard`` and ``dev-pki`` are developer commands that live in :mod:`sim`;
this module hands them over without importing :mod:`sim` for anything else.
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509

from hw import pcsc
from hw.card_text import shown
from hw.errors import CardError, NoCard, PcscUnavailable, ReaderUnavailable
from hw.pins import PinStatus
from hw.siths.trust import TrustStore
from kiosk import card_commands
from kiosk.config import DEFAULT_PATH as DEFAULT_CONFIG
from kiosk.key_file import key_file_problem
from kiosk.messages import explain
from kiosk.ui.i18n import text
from protocol.card_rules import PUK_SAFETY_MARGIN
from protocol.reasons import Outcome

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_NO_SERVICE = 3
EXIT_UNKNOWN = 4

#: Seconds ``card unblock`` waits for a card taken out mid-command to be put back.
CARD_BACK_WAIT = 30.0

#: Subcommands served by :mod:`sim` (not part of the appliance image).
DEVELOPER_COMMANDS = {
    "demo": "the demo: a virtual card unblocked end to end (--scripted: no person needed)",
    "vcard": "serve a virtual card into vpcd (piv | siths)",
    "dev-pki": "write development TLS certificates for a card service and kiosks",
}


def _pin_state(pin: PinStatus) -> str:
    if pin.blocked:
        return "BLOCKED"
    if not pin.reported:
        return "state not reported by the card"
    if pin.verified:
        return "not blocked (verified in this session; tries left not reported)"
    if pin.tries_left is None:
        return "not blocked (tries left not reported)"
    return f"{pin.tries_left} tries left"


def _print_status(as_json: bool, trust_files: list[Path], apdu_timeout: float) -> int:
    trust = None
    if trust_files:
        certificates = []
        for path in trust_files:
            try:
                certificates += x509.load_pem_x509_certificates(path.read_bytes())
            except (OSError, ValueError) as error:
                print(
                    f"kiosk card status: cannot use {path} as trust anchors: {error}",
                    file=sys.stderr,
                )
                return EXIT_USAGE
        try:
            trust = TrustStore.from_certificates(certificates)
        except ValueError as error:
            print(f"kiosk card status: {error}", file=sys.stderr)
            return EXIT_USAGE
    reports = card_commands.status_report(trust, apdu_timeout=apdu_timeout)
    if as_json:
        print(json.dumps([report.to_json() for report in reports], indent=2))
        return EXIT_OK
    if not reports:
        print("No card readers found. Is the reader plugged in?")
        return EXIT_FAILED
    for report in reports:
        card = report.card
        reader = shown(report.reader)
        if card is None:
            print(f"{reader}: no card")
            continue
        kind = f"{card.profile.upper()} card" if card.profile else "card"
        print(f"{reader}: {kind} (ATR {card.atr.hex(' ').upper()})")
        if card.problem:
            print(f"  problem: {shown(card.problem)}")
        if card.holder:
            holder = card.holder
            print(f"  holder: {holder.name} ({holder.hsa_id}), {holder.organisation}")
            print(f"  card number: {holder.card_number}; valid to {holder.valid_to}")
            if holder.problems:
                print("  problems: " + ", ".join(holder.problems))
            elif trust is None:
                print("  certificate chain not checked (give --trust FILE.pem)")
            else:
                print("  certificates chain to the trust anchors")
        for pin in card.pins:
            print(f"  {pin.name}: {_pin_state(pin)}")
    return EXIT_OK


def _secret_reader() -> card_commands.SecretReader:
    """Read secrets without echo on a terminal, else one per line from stdin."""
    if sys.stdin.isatty():
        return lambda prompt: getpass.getpass(prompt)

    def from_stream(_prompt: str) -> str:
        line = sys.stdin.readline()
        if not line:
            raise EOFError("standard input ended before the PUK and the new PIN were given")
        return line.rstrip("\r\n")

    return from_stream


def _wait_for_card_back(reader: str, seconds: float) -> bool:
    """Ask for the card back and wait for it (``card_back`` of :func:`card_commands.unblock`)."""
    if seconds <= 0:
        return False
    print(
        "The card left the reader (or stopped answering) during the unblock, so whether the"
        f" PIN was reset is not known yet. Take the card out if it is still in, and put it"
        f" back in {shown(reader)} (waiting up to {seconds:g} s) ...",
        file=sys.stderr,
    )
    try:
        return pcsc.wait_for_card_back(reader, seconds)
    except CardError as error:  # pcscd gone, reader gone: the outcome stays unknown
        print(explain(error), file=sys.stderr)
        return False


def _unblock(args: argparse.Namespace) -> int:
    reader = card_commands.choose_reader(args.reader)
    try:
        result = card_commands.unblock(
            reader,
            args.pin,
            _secret_reader(),
            safety_margin=args.puk_margin,
            apdu_timeout=args.apdu_timeout,
            card_back=lambda: _wait_for_card_back(reader, args.wait),
        )
    except EOFError as error:
        print(f"kiosk card unblock: {error}", file=sys.stderr)
        return EXIT_USAGE
    except card_commands.NewPinRejected as refused:
        words = text("en", f"pin.error.{refused.rejection.value}")
        print(f"kiosk card unblock: the new PIN is not allowed: {words}", file=sys.stderr)
        return EXIT_FAILED
    except (PcscUnavailable, ReaderUnavailable, NoCard):
        raise
    except CardError as error:  # refused, or stopped, before the reset was sent
        print(f"{explain(error)} The PIN was not reset.", file=sys.stderr)
        return EXIT_FAILED
    pin, where = shown(result.pin), shown(reader)
    if result.outcome is Outcome.UNLOCKED:
        print(f"Unblocked {pin} on {where}; the new PIN verifies.")
        return EXIT_OK
    if result.outcome is Outcome.NOT_UNLOCKED:
        why = explain(result.error) if result.error is not None else ""
        print(f"{pin} was not reset (the card says so). {why}", file=sys.stderr)
        return EXIT_FAILED
    cause = f" ({shown(str(result.error))})" if result.error is not None else ""
    print(
        f"Whether {pin} was reset is not known{cause}.\n"
        f"Put the card in and run `kiosk card status`: if {pin} is still BLOCKED it was not"
        " reset, and `kiosk card unblock` can be run again; if it shows tries left, it was"
        " reset to the new PIN, which the holder can now try.",
        file=sys.stderr,
    )
    return EXIT_UNKNOWN


def _run_appliance(
    path: Path, *, headless: bool = False, journal: bool = False, level: int = logging.INFO
) -> int:
    from kiosk import journal_logging
    from kiosk.appliance import Appliance
    from kiosk.config import ConfigError, load

    try:
        config = load(path)
    except ConfigError as error:
        print(f"kiosk run: {error}", file=sys.stderr)
        return EXIT_USAGE
    problem = key_file_problem(config.card_service.client_key)
    if problem is not None:
        print(f"kiosk run: {problem}", file=sys.stderr)
        return EXIT_FAILED
    fields = journal_logging.configure(
        level, journal=journal or journal_logging.run_by_systemd(), device=config.kiosk_id
    )
    appliance = Appliance.build(config)
    fields.context = appliance.journal_context
    appliance.stop_on_signals().start()
    try:
        if headless:
            appliance.run_headless()
        else:
            appliance.run_window()
    finally:
        appliance.stop()
    return EXIT_OK


def _developer_command(name: str, rest: list[str]) -> int:
    """Hand a developer command to :mod:`sim` (the demo command: its one importer here)."""
    try:
        from sim import cli as sim_cli
    except ImportError:
        print(f"kiosk {name}: not installed on this unit (developer command)", file=sys.stderr)
        return EXIT_USAGE
    return sim_cli.main([name, *rest])


def build_parser() -> argparse.ArgumentParser:
    """The whole command line."""
    parser = argparse.ArgumentParser(prog="kiosk", description="SITHS card unlock kiosk")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging (APDUs)")
    commands = parser.add_subparsers(dest="command", required=True)

    card = commands.add_parser("card", help="look at and unblock cards in the readers")
    card_commands_parser = card.add_subparsers(dest="card_command", required=True)
    status = card_commands_parser.add_parser("status", help="every reader and its card")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.add_argument(
        "--trust",
        type=Path,
        action="append",
        default=[],
        help="PEM file of SITHS root/issuing CAs to check card certificates against (repeatable)",
    )
    unblock = card_commands_parser.add_parser(
        "unblock", help="unblock a PIN with the PUK (PUK and new PIN on stdin, one a line)"
    )
    unblock.add_argument("--reader", help="reader name (or a unique part of it)")
    unblock.add_argument("--pin", help="which PIN to unblock (default: the card's first)")
    unblock.add_argument(
        "--puk-margin",
        type=int,
        default=PUK_SAFETY_MARGIN,
        help="PUK tries never to spend (default %(default)s; 0 allows unknown counts)",
    )
    unblock.add_argument(
        "--wait",
        type=float,
        default=CARD_BACK_WAIT,
        metavar="SECONDS",
        help="how long to wait for a card taken out mid-command to be put back, so its"
        " outcome can be read (default %(default)g; 0: do not wait)",
    )
    for command in (status, unblock):
        command.add_argument(
            "--apdu-timeout",
            type=float,
            default=pcsc.APDU_TIMEOUT,
            metavar="SECONDS",
            help="give up on a card that does not answer a command in this time"
            " (default %(default)g)",
        )

    for name, about in DEVELOPER_COMMANDS.items():
        # Parsed by sim.cli; add_help=False passes --help through to it.
        commands.add_parser(name, help=about, add_help=False)

    run = commands.add_parser("run", help="the kiosk appliance (touchscreen UI)")
    run.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="kiosk.toml path")
    run.add_argument(
        "--headless", action="store_true", help="no screen: serve cards and telemetry only"
    )
    run.add_argument(
        "--journal",
        action="store_true",
        help="log to the systemd journal with the kiosk's fields (the default when systemd"
        " runs the kiosk: JOURNAL_STREAM is set); otherwise to stderr",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command not in DEVELOPER_COMMANDS:
        parser.error("unrecognized arguments: " + " ".join(extra))
    quiet = logging.INFO if args.command == "run" else logging.WARNING  # run: reports in the log
    level = logging.DEBUG if args.verbose else quiet
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.command in DEVELOPER_COMMANDS:
            return _developer_command(args.command, ["-v"] * args.verbose + extra)
        if args.command == "card" and args.card_command == "status":
            return _print_status(args.json, args.trust, args.apdu_timeout)
        if args.command == "card" and args.apdu_timeout <= 0:
            print("kiosk card: --apdu-timeout must be above 0", file=sys.stderr)
            return EXIT_USAGE
        if args.command == "card" and args.card_command == "unblock":
            if args.puk_margin < 0:
                print("kiosk card unblock: --puk-margin cannot be negative", file=sys.stderr)
                return EXIT_USAGE
            return _unblock(args)
        if args.command == "run":
            return _run_appliance(
                args.config, headless=args.headless, journal=args.journal, level=level
            )
    except (PcscUnavailable, ReaderUnavailable, NoCard) as error:
        print(explain(error), file=sys.stderr)
        return EXIT_NO_SERVICE
    except CardError as error:
        print(explain(error), file=sys.stderr)
        return EXIT_FAILED
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
