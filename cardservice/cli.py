"""``kiosk-cardservice``: run the reference card service, register kiosks and cards, be a phone."""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import signal
import sqlite3
import ssl
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import requests
from pydantic import TypeAdapter, ValidationError

from cardservice.http_server import CardServiceServer, server_tls_context
from cardservice.mailer import MAIL_RETRY_INTERVAL, Mailer
from cardservice.service import CardService, ServiceConfig
from cardservice.store import Card, Store
from cardservice.vault import Vault, VaultError
from protocol.admin_key import ADMIN_KEY_LENGTH
from protocol.card_rules import PUK_LENGTH, is_puk_format
from protocol.cardservice_api import CardNumber, PersonalIdentityNumber

DB_NAME = "cardservice.sqlite3"
KEY_NAME = "master.key"


def open_state(state_dir: Path) -> tuple[Store, Vault]:
    """The database and the vault in a state directory (created on first use)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    return Store(state_dir / DB_NAME), Vault.from_file(state_dir / KEY_NAME)


def _wire_value(kind: object, what: str) -> Callable[[str], str]:
    """An argparse type that checks a value as the API does (one pattern, in protocol)."""
    adapter = TypeAdapter(kind)

    def check(value: str) -> str:
        try:
            return str(adapter.validate_python(value))
        except ValidationError:
            raise argparse.ArgumentTypeError(f"not a valid {what}: {value!r}") from None

    return check


def _smtp(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError("use HOST:PORT")
    return host, int(port)


def _serve(args: argparse.Namespace) -> int:
    store, vault = open_state(args.state_dir)
    mailer = (
        Mailer(store, *args.smtp, args.sender, retry_interval=args.mail_retry).start()
        if args.smtp
        else None
    )
    config = ServiceConfig(login_ttl=args.login_ttl)
    service = CardService(store, vault, mailer, config)
    try:
        tls = server_tls_context(args.cert, args.key, args.client_ca)
    except (OSError, ssl.SSLError) as error:
        files = f"--cert {args.cert}, --key {args.key}, --client-ca {args.client_ca}"
        raise OSError(f"cannot load the TLS files ({files}): {error}") from None
    server = CardServiceServer(service, tls, args.host, args.port).start()
    print(f"card service listening on https://{args.host}:{server.port}", flush=True)
    print(f"simulated phone page: https://{args.host}:{server.port}/phone", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    server.stop()
    if mailer is not None:
        mailer.stop()
    store.close()
    return 0


def _add_card(args: argparse.Namespace) -> int:
    store, vault = open_state(args.state_dir)
    prompt = "PUK: " if args.mechanism == "puk" else "Administration key (hex): "
    secret_text = getpass.getpass(prompt) if sys.stdin.isatty() else sys.stdin.readline().strip()
    if args.mechanism == "puk":
        if not is_puk_format(secret_text):
            print(f"kiosk-cardservice: the PUK must be {PUK_LENGTH} digits", file=sys.stderr)
            return 2
        secret = secret_text.encode()
    else:
        try:
            secret = bytes.fromhex(secret_text)
        except ValueError:
            secret = b""
        if len(secret) != ADMIN_KEY_LENGTH:
            digits = 2 * ADMIN_KEY_LENGTH
            print(
                f"kiosk-cardservice: the administration key must be {digits} hex digits",
                file=sys.stderr,
            )
            return 2
    store.add_card(
        Card(
            card_number=args.card_number,
            holder_name=args.name,
            hsa_id=args.hsa_id,
            personal_identity_number=args.personal_identity_number,
            email=args.email,
            product_code=args.product_code,
            mechanism=args.mechanism,
            secret_sealed=vault.seal(secret, args.card_number),
        )
    )
    print(f"registered card {args.card_number} ({args.mechanism})")
    return 0


def _phone(args: argparse.Namespace) -> int:
    session = requests.Session()
    session.trust_env = False  # trust only the given CA
    session.verify = str(args.ca)
    person = {"personalIdentityNumber": args.identity}
    try:
        scan = session.post(
            f"{args.url}/v1/phone/scan", json={"qrContent": args.qr, **person}, timeout=10
        )
        if scan.status_code != 200:
            print(f"scan refused: {scan.json().get('code')}", file=sys.stderr)
            return 1
        order_ref = scan.json()["orderRef"]
        verb = "decline" if args.decline else "approve"
        decision = session.post(f"{args.url}/v1/phone/{order_ref}/{verb}", json=person, timeout=10)
    except (requests.RequestException, OSError, ValueError, KeyError) as error:
        print(f"phone: the card service did not answer properly: {error}", file=sys.stderr)
        return 3
    if decision.status_code != 200:
        print(f"{verb} refused: {decision.json().get('code')}", file=sys.stderr)
        return 1
    print(json.dumps(decision.json()))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(prog="kiosk-cardservice", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true")
    commands = parser.add_subparsers(dest="command", required=True)

    def with_state(sub: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sub.add_argument("--state-dir", type=Path, required=True, help="database and master key")
        return sub

    serve = with_state(commands.add_parser("serve", help="run the HTTPS service"))
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8443)
    serve.add_argument("--cert", type=Path, required=True, help="server certificate (PEM)")
    serve.add_argument("--key", type=Path, required=True, help="server private key (PEM)")
    serve.add_argument("--client-ca", type=Path, required=True, help="kiosk device CA (PEM)")
    serve.add_argument("--smtp", type=_smtp, help="SMTP server HOST:PORT for holder e-mail")
    serve.add_argument("--sender", default="SITHS-kiosk <no-reply@siths-kiosk.example>")
    serve.add_argument(
        "--login-ttl",
        type=float,
        default=ServiceConfig.login_ttl,
        help="seconds a login may take (default %(default)s)",
    )
    serve.add_argument(
        "--mail-retry",
        type=float,
        default=MAIL_RETRY_INTERVAL,
        help="seconds between e-mail retries (default %(default)s)",
    )

    kiosk = with_state(commands.add_parser("add-kiosk", help="register a kiosk"))
    kiosk.add_argument("kiosk_id", help="the common name in the kiosk's device certificate")
    kiosk.add_argument("--location", required=True, help="where it stands (goes in e-mails)")

    card = with_state(
        commands.add_parser("add-card", help="register a card (secret read from stdin)")
    )
    card.add_argument(
        "--card-number", required=True, type=_wire_value(CardNumber, "card number (6-20 digits)")
    )
    card.add_argument("--name", required=True, help="holder's name")
    card.add_argument("--hsa-id", required=True)
    card.add_argument(
        "--personal-identity-number",
        required=True,
        type=_wire_value(PersonalIdentityNumber, "personal identity number (12 digits)"),
    )
    card.add_argument("--email", required=True)
    card.add_argument("--product-code", default="SITHS-EID-CARD-3")
    card.add_argument("--mechanism", choices=("puk", "admin-key"), default="puk")

    identity = with_state(commands.add_parser("add-identity", help="a phone test identity"))
    identity.add_argument("personal_identity_number")
    identity.add_argument("--name", required=True)
    identity.add_argument("--hsa-id")

    maintenance = with_state(commands.add_parser("maintenance", help="refuse kiosks (on/off)"))
    maintenance.add_argument("state", choices=("on", "off"))

    phone = commands.add_parser("phone", help="the command-line simulated phone")
    phone.add_argument("--url", required=True, help="card service base URL")
    phone.add_argument("--ca", type=Path, required=True, help="the service's CA (PEM)")
    phone.add_argument("--qr", required=True, help="the QR content read off the kiosk screen")
    phone.add_argument("--identity", required=True, help="personal identity number to log in as")
    phone.add_argument("--decline", action="store_true", help="decline instead of approving")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return _run(args)
    except (OSError, sqlite3.Error, ssl.SSLError, VaultError) as error:
        # A missing certificate, an unwritable state folder, a broken database: say which.
        print(f"kiosk-cardservice {args.command}: {error}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace) -> int:
    if args.command == "serve":
        return _serve(args)
    if args.command == "add-card":
        return _add_card(args)
    if args.command == "phone":
        return _phone(args)
    store, _vault = open_state(args.state_dir)
    if args.command == "add-kiosk":
        store.add_kiosk(args.kiosk_id, args.location)
        print(f"registered kiosk {args.kiosk_id} at {args.location}")
    elif args.command == "add-identity":
        store.add_identity(args.personal_identity_number, args.name, args.hsa_id)
    elif args.command == "maintenance":
        store.set_setting("maintenance", args.state)
        print(f"maintenance {args.state}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
