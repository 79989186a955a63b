"""``kiosk vcard piv|siths``: serve a virtual card into vpcd until told to stop.

For the demo and for trying the kiosk by hand. Reads simple commands on
standard input (``remove``, ``insert``, ``status``, ``quit``) so a person can
"pull the card out" without a reader; with no terminal it just stays inserted.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from hw.pins import PinPolicyViolation, check_piv_pin, check_piv_puk
from protocol.card_rules import PUK_LENGTH, is_puk_format
from sim.siths_pki import SithsHolder, SithsTestPki
from sim.vcard.card import VirtualCard
from sim.vcard.piv_card import DEFAULT_PIN, DEFAULT_PUK, PivCardState, VirtualPivCard
from sim.vcard.piv_objects import standard_objects
from sim.vcard.siths_card import SithsCardState, VirtualSithsCard
from sim.vcard.vpcd import DEFAULT_HOST, DEFAULT_PORT, VpcdLink

HELP = "commands: remove, insert, status, quit"


def _common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default=DEFAULT_HOST, help="vpcd host (default %(default)s)")
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help="vpcd port of the reader slot (default %(default)s, slot 0 of Debian's vpcd)",
    )
    parser.add_argument("--removed", action="store_true", help="start with the card out")


def add_piv_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``kiosk vcard piv``."""
    _common_arguments(parser)
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


def add_siths_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``kiosk vcard siths``."""
    _common_arguments(parser)
    default = SithsHolder()
    parser.add_argument("--given-name", default=default.given_name)
    parser.add_argument("--surname", default=default.surname)
    parser.add_argument("--hsa-id", default=default.hsa_id)
    parser.add_argument("--card-number", default=default.card_number)
    parser.add_argument("--organisation", default=default.organisation)
    parser.add_argument("--personal-identity-number", default=default.personal_identity_number)
    parser.add_argument("--email", default=default.email)
    parser.add_argument("--identification-pin", default="123456")
    parser.add_argument("--signature-pin", default="12345678")
    parser.add_argument("--puk", default="12345678", help="the PUK (8 digits)")
    parser.add_argument(
        "--blocked", action="store_true", help="start with the identification PIN blocked"
    )
    parser.add_argument(
        "--signature-blocked", action="store_true", help="start with the signature PIN blocked"
    )
    parser.add_argument("--puk-tries-left", type=int, default=10)
    parser.add_argument("--admin-key", help="administration key, 32 hex digits (AES-128)")
    parser.add_argument("--expired", action="store_true", help="certificates expired yesterday")
    parser.add_argument(
        "--no-card-number", action="store_true", help="certificates without the card number"
    )
    parser.add_argument(
        "--export-trust",
        type=Path,
        help="write the generated test root and issuing CA (PEM) into this folder",
    )


def piv_card_from_arguments(args: argparse.Namespace) -> VirtualPivCard:
    """Build the PIV card's start state, refusing values a PIV card cannot hold."""
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
    return VirtualPivCard(
        PivCardState(
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
    )


def siths_card_from_arguments(args: argparse.Namespace) -> VirtualSithsCard:
    """Generate a test PKI and personalise a SITHS card as the options say."""
    check_piv_pin(args.identification_pin, what="identification PIN")
    check_piv_pin(args.signature_pin, what="signature PIN")
    if not is_puk_format(args.puk):
        raise PinPolicyViolation(f"the PUK must be {PUK_LENGTH} digits")
    if not 0 <= args.puk_tries_left <= 10:
        raise PinPolicyViolation("--puk-tries-left must be 0 to 10")
    admin_key = None
    if args.admin_key:
        try:
            admin_key = bytes.fromhex(args.admin_key)
        except ValueError:
            admin_key = b""
        if len(admin_key) != 16:
            raise PinPolicyViolation("--admin-key must be 32 hex digits")
    holder = SithsHolder(
        given_name=args.given_name,
        surname=args.surname,
        hsa_id=args.hsa_id,
        personal_identity_number=args.personal_identity_number,
        card_number=args.card_number,
        organisation=args.organisation,
        email=args.email,
    )
    if args.expired:
        holder = holder.expired()
    pki = SithsTestPki.generate()
    if args.export_trust:
        args.export_trust.mkdir(parents=True, exist_ok=True)
        (args.export_trust / "siths-test-root.pem").write_bytes(pki.anchors_pem())
        (args.export_trust / "siths-test-issuing.pem").write_bytes(pki.intermediates_pem())
    state = SithsCardState.issue(
        holder,
        pki,
        identification_pin=args.identification_pin,
        signature_pin=args.signature_pin,
        puk=args.puk,
        admin_key=admin_key,
        identification_tries_left=0 if args.blocked else 3,
        signature_tries_left=0 if args.signature_blocked else 3,
        puk_tries_left=args.puk_tries_left,
        with_card_number=not args.no_card_number,
    )
    return VirtualSithsCard(state)


def describe(card: VirtualCard, link: VpcdLink) -> str:
    """One status line for a person."""
    where = "in the reader" if link.inserted else "out of the reader"
    if isinstance(card, VirtualPivCard):
        state = card.state
        pin = "blocked" if state.pin_blocked else f"{state.pin_tries_left} tries left"
        puk = "blocked" if state.puk_blocked else f"{state.puk_tries_left} tries left"
        return f"virtual PIV card {where} (vpcd port {link.port}); PIN {pin}; PUK {puk}"
    assert isinstance(card, VirtualSithsCard)
    siths = card.state
    parts = []
    for name, counter in (
        ("identification PIN", siths.identification_pin),
        ("signature PIN", siths.signature_pin),
        ("PUK", siths.puk),
    ):
        parts.append(
            f"{name} " + ("blocked" if counter.blocked else f"{counter.tries_left} tries left")
        )
    number = siths.holder.card_number if siths.holder else "?"
    return f"virtual SITHS card {number} {where} (vpcd port {link.port}); " + "; ".join(parts)


def serve(
    args: argparse.Namespace,
    build: Callable[[argparse.Namespace], VirtualCard],
    stdin: TextIO = sys.stdin,
    out: TextIO = sys.stdout,
) -> int:
    """Run the virtual card until ``quit``, end of input on a terminal, or a signal."""
    try:
        card = build(args)
    except PinPolicyViolation as error:
        print(f"kiosk vcard: {error}", file=sys.stderr)
        return 2
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
    stdin: TextIO, out: TextIO, card: VirtualCard, link: VpcdLink, stop: threading.Event
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
