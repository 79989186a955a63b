"""``kiosk vcard piv``: serve a virtual PIV card into vpcd until told to stop.

For the demo and for trying the kiosk by hand. Reads simple commands on
standard input (``remove``, ``insert``, ``status``, ``quit``) so a person can
"pull the card out" without a reader; with no terminal it just stays inserted.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import TextIO

from hw.pins import PinPolicyViolation, check_piv_pin, check_piv_puk
from hw.vcard.piv_card import DEFAULT_PIN, DEFAULT_PUK, PivCardState, VirtualPivCard
from hw.vcard.piv_objects import standard_objects
from hw.vcard.vpcd import DEFAULT_HOST, DEFAULT_PORT, VpcdLink

HELP = "commands: remove, insert, status, quit"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``kiosk vcard piv``."""
    parser.add_argument("--host", default=DEFAULT_HOST, help="vpcd host (default %(default)s)")
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help="vpcd port of the reader slot (default %(default)s, slot 0 of Debian's vpcd)",
    )
    parser.add_argument("--pin", default=DEFAULT_PIN, help="the card's PIN")
    parser.add_argument("--puk", default=DEFAULT_PUK, help="the card's PUK")
    parser.add_argument("--pin-tries", type=int, default=3, help="PIN tries when unblocked")
    parser.add_argument("--puk-tries", type=int, default=3, help="PUK tries when unblocked")
    parser.add_argument("--pin-tries-left", type=int, help="start with this many PIN tries left")
    parser.add_argument("--puk-tries-left", type=int, help="start with this many PUK tries left")
    parser.add_argument(
        "--blocked", action="store_true", help="start with the PIN blocked (0 tries left)"
    )
    parser.add_argument("--holder", default="Test Holder", help="certificate holder name")
    parser.add_argument(
        "--organisation", default="Test Organisation", help="certificate organisation"
    )
    parser.add_argument(
        "--no-certificate", action="store_true", help="no PIV Authentication certificate"
    )
    parser.add_argument(
        "--compress-certificate", action="store_true", help="store the certificate gzipped"
    )
    parser.add_argument("--removed", action="store_true", help="start with the card out")


def state_from_arguments(args: argparse.Namespace) -> PivCardState:
    """Build the card's start state, refusing values a PIV card cannot hold."""
    check_piv_pin(args.pin)
    check_piv_puk(args.puk)
    for name in ("pin_tries", "puk_tries"):
        if not 1 <= getattr(args, name) <= 15:
            raise PinPolicyViolation(f"--{name.replace('_', '-')} must be 1 to 15")
    pin_left = 0 if args.blocked else args.pin_tries_left
    pin_left = args.pin_tries if pin_left is None else pin_left
    puk_left = args.puk_tries if args.puk_tries_left is None else args.puk_tries_left
    if not 0 <= pin_left <= args.pin_tries or not 0 <= puk_left <= args.puk_tries:
        raise PinPolicyViolation("tries left must be between 0 and the number of tries")
    return PivCardState(
        pin=args.pin,
        puk=args.puk,
        pin_max_tries=args.pin_tries,
        puk_max_tries=args.puk_tries,
        pin_tries_left=pin_left,
        puk_tries_left=puk_left,
        objects=standard_objects(
            holder=args.holder,
            organisation=args.organisation,
            with_certificate=not args.no_certificate,
            compress_certificate=args.compress_certificate,
        ),
    )


def describe(card: VirtualPivCard, link: VpcdLink) -> str:
    """One status line for a person."""
    state = card.state
    where = "in the reader" if link.inserted else "out of the reader"
    pin = "blocked" if state.pin_blocked else f"{state.pin_tries_left} tries left"
    puk = "blocked" if state.puk_blocked else f"{state.puk_tries_left} tries left"
    return f"virtual PIV card {where} (vpcd port {link.port}); PIN {pin}; PUK {puk}"


def serve(args: argparse.Namespace, stdin: TextIO = sys.stdin, out: TextIO = sys.stdout) -> int:
    """Run the virtual card until ``quit``, end of input on a terminal, or a signal."""
    try:
        state = state_from_arguments(args)
    except PinPolicyViolation as error:
        print(f"kiosk vcard: {error}", file=sys.stderr)
        return 2
    card = VirtualPivCard(state)
    link = VpcdLink(card, host=args.host, port=args.port)
    stop = threading.Event()

    def on_signal(_signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if not args.removed:
        link.insert()
    print(describe(card, link), file=out, flush=True)
    if stdin.isatty():
        print(HELP, file=out, flush=True)
        threading.Thread(
            target=_read_commands, args=(stdin, out, card, link, stop), daemon=True
        ).start()
    stop.wait()
    link.remove()
    return 0


def _read_commands(
    stdin: TextIO, out: TextIO, card: VirtualPivCard, link: VpcdLink, stop: threading.Event
) -> None:
    for line in stdin:
        command = line.strip().lower()
        if command in ("remove", "r"):
            link.remove()
        elif command in ("insert", "i"):
            link.insert()
        elif command in ("quit", "q", "exit"):
            break
        elif command not in ("status", "s", ""):
            print(HELP, file=out, flush=True)
            continue
        print(describe(card, link), file=out, flush=True)
    stop.set()
