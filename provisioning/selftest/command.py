"""``kiosk-provision self-test``: the shell around the checks (read, run, print, exit code).

:func:`register` adds the subcommand to the technician's tool; ``python -m
provisioning.selftest`` runs the same thing on its own. Exit status: 0 when nothing
failed, 1 when a check failed, 2 when the configuration cannot be read.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from provisioning.selftest import report, screen
from provisioning.selftest.results import exit_code
from provisioning.selftest.run import Options, self_test
from provisioning.selftest.target import DEFAULT_CONFIG, TargetError, load

DESCRIPTION = (
    "Check that this kiosk is ready: pcscd and the card reader, a read of a test card (no PIN "
    "or PUK is ever tried), the network, the clock, the card service and the broker over "
    "mutual TLS, disk space, temperature and power, the kiosk's service, the screen. Prints "
    "a checklist with a fix under every failed item, and a short report to paste into a "
    "ticket. Exit status 0: nothing failed; 1: something failed; 2: no usable configuration."
)
CONFIG_ERROR = 2


def add_arguments(
    parser: argparse.ArgumentParser, *, config_default: object = DEFAULT_CONFIG
) -> None:
    """The self-test's options (shared by the subcommand and ``python -m``).

    Under ``kiosk-provision`` the tool's own ``--config`` (before the subcommand) must
    stay in force, so there the option has no default of its own (``SUPPRESS``).
    """
    parser.add_argument(
        "--config",
        type=Path,
        default=config_default,
        help=f"the kiosk's configuration (default {DEFAULT_CONFIG})",
    )
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print the results as JSON")
    output.add_argument(
        "--report", action="store_true", help="print only the short report for a ticket"
    )
    parser.add_argument(
        "--on-screen",
        action="store_true",
        help="run at the kiosk's own screen: a tap test of the display and touch "
        "(skipped otherwise), and the report shown there at the end",
    )
    parser.add_argument(
        "--window",
        metavar="WIDTHxHEIGHT",
        type=_size,
        help="with --on-screen: draw the tap test in a window of this size at the top left "
        "instead of fullscreen (for an X screen without a window manager)",
    )
    parser.set_defaults(func=run_command)


def _size(text: str) -> str:
    """A ``WIDTHxHEIGHT`` option, checked here so a typo is named before the checks run."""
    try:
        screen.parse_size(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be WIDTHxHEIGHT such as 800x480 (got {text!r})"
        ) from None
    return text


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``self-test`` to a tool's subcommands.

    The parsed arguments' ``func(args, layout=None)`` runs it and returns the exit status
    (``kiosk-provision`` calls ``args.func(args, layout)``).
    """
    parser = subparsers.add_parser(
        "self-test", help="check that this kiosk is ready", description=DESCRIPTION
    )
    add_arguments(parser, config_default=argparse.SUPPRESS)
    return parser


def run_command(args: argparse.Namespace, layout: object = None) -> int:
    """Run the self-test as the arguments say; the exit status.

    ``layout`` is what ``kiosk-provision`` hands every subcommand (its ``config`` is the
    kiosk.toml it manages); a ``--config`` given to the self-test wins.
    """
    config = getattr(args, "config", None) or getattr(layout, "config", None) or DEFAULT_CONFIG
    try:
        target = load(Path(config))
    except TargetError as error:
        print(f"self-test: {error}", file=sys.stderr)
        return CONFIG_ERROR
    run = self_test(target, Options(on_screen=args.on_screen, window=args.window))
    if args.json:
        sys.stdout.write(report.as_json(run))
    elif args.report:
        sys.stdout.write(report.ticket(run))
    else:
        sys.stdout.write(report.checklist(run))
        sys.stdout.write("\nTo paste into a ticket:\n\n" + report.ticket(run))
    if args.on_screen:  # the report on the kiosk's screen too, until a tap
        sys.stdout.flush()
        if screen.show_report(report.ticket(run), window=args.window) is None:
            print("self-test: the report could not be shown on this screen", file=sys.stderr)
    return exit_code(run.results)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m provisioning.selftest``: the self-test on its own."""
    parser = argparse.ArgumentParser(
        prog="python -m provisioning.selftest", description=DESCRIPTION
    )
    add_arguments(parser)
    return run_command(parser.parse_args(argv))
