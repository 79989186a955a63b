"""The developer commands ``kiosk demo``, ``kiosk vcard`` and ``kiosk dev-pki``.

``kiosk`` hands these subcommands here: the one import of :mod:`sim` outside
:mod:`sim`, allowed by the import contracts in ``pyproject.toml``. The one
distribution still carries :mod:`sim`; an appliance install that leaves it out
gets "not installed on this unit" from these commands instead.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from sim import vcard_command
from sim.dev_pki import write_dev_pki


def build_parser() -> argparse.ArgumentParser:
    """``kiosk demo ...``, ``kiosk vcard ...`` and ``kiosk dev-pki ...``."""
    parser = argparse.ArgumentParser(prog="kiosk", description="SITHS card unlock kiosk")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging (APDUs)")
    commands = parser.add_subparsers(dest="command", required=True)

    vcard = commands.add_parser("vcard", help="serve a virtual card into vpcd")
    vcard_kinds = vcard.add_subparsers(dest="vcard_kind", required=True)
    vcard_command.add_piv_arguments(vcard_kinds.add_parser("piv", help="a virtual PIV card"))
    vcard_command.add_siths_arguments(
        vcard_kinds.add_parser("siths", help="a virtual SITHS card (with a fresh test PKI)")
    )

    pki = commands.add_parser("dev-pki", help="write development TLS certificates")
    pki.add_argument("directory", type=Path)
    pki.add_argument("--kiosk", action="append", default=[], help="kiosk id (repeatable)")

    demo = commands.add_parser("demo", help="the demo: a virtual card unblocked end to end")
    demo.add_argument(
        "--scripted", action="store_true", help="no person needed; exit 0 only if unlocked"
    )
    demo.add_argument("--port", type=int, help="vpcd port (default: Debian's 35963)")
    demo.add_argument("--screenshots", type=Path, help="where the screen-less run saves them")
    demo.add_argument("--ui-scripted", action="store_true", help=argparse.SUPPRESS)
    return parser


def _verbose_first(argv: Sequence[str]) -> list[str]:
    """``kiosk demo -v`` and ``kiosk -v demo`` alike: the flag goes before the command."""
    flags = [a for a in argv if a in ("-v", "--verbose")]
    return flags[:1] + [a for a in argv if a not in ("-v", "--verbose")]


def main(argv: Sequence[str]) -> int:
    """Run ``demo``, ``vcard`` or ``dev-pki`` (``argv`` starts with the subcommand's name)."""
    args = build_parser().parse_args(_verbose_first(argv))
    try:
        return _run(args)
    except OSError as error:  # a folder that cannot be written, a port in use ...
        print(f"kiosk {args.command}: {error}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    if args.verbose:
        logging.basicConfig(level=logging.DEBUG, format="%(levelname)s %(name)s: %(message)s")
    if args.command == "vcard":
        build = (
            vcard_command.piv_card_from_arguments
            if args.vcard_kind == "piv"
            else vcard_command.siths_card_from_arguments
        )
        return vcard_command.serve(args, build)
    if args.command == "dev-pki":
        files = write_dev_pki(args.directory, args.kiosk)
        print(f"wrote development certificates to {files.directory}")
        return 0
    from sim import demo  # Kivy and the card service load only for the demo

    return demo.run(
        scripted_run=args.scripted,
        port=args.port,
        screenshots=args.screenshots,
        ui_scripted=args.ui_scripted,
    )
