"""``kiosk-fleet ca|token|kiosk|crl``: facility IT's enrolment operations (docs/fleet-guide.md).

The device CA lives in the state folder (key 0600); tokens, certificates and
revocations in the fleet's database, so these commands and every running instance
agree. A token's secret is printed once (with its QR code) and never stored.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

import qrcode
import qrcode.image.svg

from fleet.device_ca import DeviceCa
from fleet.enrolment import Enrolment
from fleet.store import Store
from protocol import enrolment as en
from protocol.times import format_utc

COMMANDS = ("ca", "token", "kiosk", "crl")
_UNITS = {"m": 60, "h": 3600, "d": 86400}


def _duration(value: str) -> float:
    match = re.fullmatch(r"([0-9]+)([mhd])", value)
    if match is None or int(match.group(1)) == 0:
        raise argparse.ArgumentTypeError("use a number and m, h or d (e.g. 30m, 24h, 7d)")
    return int(match.group(1)) * _UNITS[match.group(2)]


def _kiosk_id(value: str) -> str:
    if not en.valid_kiosk_id(value):
        raise argparse.ArgumentTypeError(
            f"a kiosk id is 1 to {en.KIOSK_ID_MAX_LENGTH} letters, digits, '.', '_' or '-'"
        )
    return value


def add_enrol_commands(
    commands: argparse._SubParsersAction,  # type: ignore[type-arg]
    with_database: Callable[[argparse.ArgumentParser], argparse.ArgumentParser],
) -> None:
    """``ca``, ``token``, ``kiosk`` and ``crl`` with their options."""
    ca = commands.add_parser("ca", help="the kiosks' device CA")
    ca_commands = ca.add_subparsers(dest="ca_command", required=True)
    init = with_database(ca_commands.add_parser("init", help="make (or take) the device CA"))
    init.add_argument("--name", default="SITHS kiosk device CA", help="the CA's common name")
    init.add_argument("--from-cert", type=Path, help="an existing CA certificate (PEM)")
    init.add_argument("--from-key", type=Path, help="its private key (PEM, EC)")

    token = commands.add_parser("token", help="enrolment tokens")
    token_commands = token.add_subparsers(dest="token_command", required=True)
    create = with_database(token_commands.add_parser("create", help="a new one-time token"))
    create.add_argument("--site", required=True, help="the site the kiosk is for")
    create.add_argument("--kiosk-id", type=_kiosk_id, help="only this kiosk id may use it")
    create.add_argument("--location", help="where the kiosk stands (the technician may say)")
    create.add_argument("--valid", type=_duration, default=24 * 3600, help="e.g. 30m, 24h, 7d")
    create.add_argument("--fleet-url", required=True, help="the enrolment listener's https://")
    create.add_argument("--fleet-tls-ca", type=Path, required=True, help="the CA of its TLS")
    create.add_argument("--qr", type=Path, help="also write the QR code as SVG here")
    create.add_argument("--file", type=Path, help="also write the token file (enrol.json) here")
    listing = with_database(token_commands.add_parser("list", help="every token and its state"))
    listing.add_argument("--json", action="store_true")
    revoke = with_database(token_commands.add_parser("revoke", help="make a token unusable"))
    revoke.add_argument("id", help="the token's id (from create or list)")

    kiosk = commands.add_parser("kiosk", help="enrolled kiosks")
    kiosk_commands = kiosk.add_subparsers(dest="kiosk_command", required=True)
    revoke_kiosk = with_database(kiosk_commands.add_parser("revoke", help="revoke a kiosk"))
    revoke_kiosk.add_argument("kiosk_id")

    crl = with_database(commands.add_parser("crl", help="write the device CA's CRL"))
    crl.add_argument("--out", type=Path, required=True, help="the file (replaced atomically)")


def _replace(path: Path, text: str, mode: int = 0o644) -> None:
    """Write ``text`` beside ``path`` and rename it over: readers never see half a file."""
    partial = path.with_name(f".{path.name}.partial")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)
    partial.chmod(mode)
    partial.replace(path)


def _ca_init(args: argparse.Namespace) -> int:
    if (args.from_cert is None) != (args.from_key is None):
        raise OSError("--from-cert and --from-key go together")
    if args.from_cert is not None:
        ca = DeviceCa.from_pem(args.from_cert.read_bytes(), args.from_key.read_bytes())
    else:
        ca = DeviceCa.create(args.name, dt.datetime.now(dt.UTC))
    ca.save(args.state_dir)
    print(f"device CA in {args.state_dir} (key 0600): give device-ca.pem to the broker")
    print("(cafile) and to the card service (--client-ca)")
    return 0


def _qr(text: str) -> qrcode.QRCode:
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_L, border=2)
    code.add_data(text)
    code.make(fit=True)
    return code


def _token(args: argparse.Namespace, enrolment: Enrolment) -> int:
    now = time.time()
    if args.token_command == "create":
        made = enrolment.create_token(
            fleet_url=args.fleet_url,
            fleet_ca_pem=args.fleet_tls_ca.read_text(),
            site=args.site,
            valid_seconds=args.valid,
            now=now,
            kiosk_id=args.kiosk_id,
            location=args.location,
        )
        text = en.encode_token(made.token)
        if args.file is not None:
            _replace(args.file, text + "\n", 0o600)
        code = _qr(text)
        if args.qr is not None:
            image = io.BytesIO()
            code.make_image(image_factory=qrcode.image.svg.SvgPathImage).save(image)
            _replace(args.qr, image.getvalue().decode(), 0o600)
        until = format_utc(made.token.expires)
        print(f"token {made.id} for site {args.site}, valid until {until}")
        print(text)
        if sys.stdout.isatty():
            code.print_ascii(out=sys.stdout)
        return 0
    if args.token_command == "revoke":
        if not enrolment.revoke_token(args.id, now):
            print(f"kiosk-fleet token revoke: no unused token {args.id}", file=sys.stderr)
            return 1
        print(f"token {args.id} revoked")
        return 0
    tokens = enrolment.tokens(now)
    if args.json:
        print(json.dumps(tokens, indent=2, ensure_ascii=False))
    for t in [] if args.json else tokens:
        print(f"{t['id']}\t{t['site']}\t{t['kioskId'] or '-'}\t{t['expires']}\t{t['state']}")
    return 0


def run_enrol_command(args: argparse.Namespace, store: Store) -> int:
    """One of :data:`COMMANDS`; :class:`OSError` and friends are the caller's to report."""
    if args.command == "ca":
        return _ca_init(args)
    enrolment = Enrolment(store, DeviceCa.load(args.state_dir))
    if args.command == "token":
        return _token(args, enrolment)
    if args.command == "kiosk":
        count = enrolment.revoke_kiosk(args.kiosk_id, time.time(), "kiosk-fleet kiosk revoke")
        if count == 0:
            print(f"kiosk-fleet kiosk revoke: {args.kiosk_id} has no unrevoked certificate")
            return 1
        print(
            f"revoked {count} certificate(s) of {args.kiosk_id}; publish the CRL"
            " (kiosk-fleet crl --out FILE) and reload the broker (SIGHUP)"
        )
        return 0
    _replace(args.out, enrolment.crl(time.time()))
    print(f"CRL written to {args.out}")
    return 0
