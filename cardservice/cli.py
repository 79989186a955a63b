"""``kiosk-cardservice``: run the reference card service; register and revoke kiosks, cards."""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import signal
import ssl
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from pydantic import TypeAdapter, ValidationError
from sqlalchemy.exc import SQLAlchemyError

from cardservice.housekeeping import HOUSEKEEPING_INTERVAL, Housekeeper
from cardservice.http_app import ServerLimits
from cardservice.http_server import CardServiceServer, CrlSettings, server_tls_context
from cardservice.identity_provider import ProviderSettings, RelyingPartyClient
from cardservice.mailer import MAIL_RETRY_INTERVAL, Mailer, SmtpSettings, sendable_address
from cardservice.migrations import MigrationError
from cardservice.notices import Notices
from cardservice.records import Card
from cardservice.service import CardService, ServiceConfig
from cardservice.store import Store, private_folder
from cardservice.vault import Vault, VaultError
from protocol.admin_key import ADMIN_KEY_LENGTH
from protocol.card_rules import PUK_LENGTH, is_puk_format
from protocol.cardservice_api import CardNumber, PersonalIdentityNumber

DB_NAME = "cardservice.sqlite3"
KEY_NAME = "master.key"


#: The database URL when --database is not given (PostgreSQL URLs carry a password).
DATABASE_VARIABLE = "KIOSK_CARDSERVICE_DATABASE"


def open_state(
    state_dir: Path, database: str | None = None, *, connections: int = 8
) -> tuple[Store, Vault]:
    """The database (SQLite in the state folder unless a URL is given) and the vault.

    The folder is 0700 and every file in it 0600: they hold personal identity numbers
    and the master key. ``connections``: pooled database connections to keep.
    """
    private_folder(state_dir)
    url = database or os.environ.get(DATABASE_VARIABLE) or state_dir / DB_NAME
    return Store(url, pool_size=connections), Vault.from_file(state_dir / KEY_NAME)


def _wire_value(kind: object, what: str) -> Callable[[str], str]:
    """An argparse type that checks a value as the API does (one pattern, in protocol)."""
    adapter = TypeAdapter(kind)

    def check(value: str) -> str:
        try:
            return str(adapter.validate_python(value))
        except ValidationError:
            raise argparse.ArgumentTypeError(f"not a valid {what}: {value!r}") from None

    return check


def _mail_address(value: str) -> str:
    if not sendable_address(value):
        raise argparse.ArgumentTypeError(
            f"not an e-mail address the card service can send to: {value!r} (write it as"
            " name@domain in plain ASCII letters, no doubled, leading or trailing dot;"
            " å, ä and ö are not supported)"
        )
    return value


def _smtp(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError("use HOST:PORT")
    return host, int(port)


def _tls_files(what: str, load: Callable[[], ssl.SSLContext], *files: Path) -> ssl.SSLContext:
    try:
        return load()
    except (OSError, ssl.SSLError) as error:
        names = ", ".join(str(f) for f in files)
        raise OSError(f"cannot load the {what} TLS files ({names}): {error}") from None


def _serve(args: argparse.Namespace) -> int:
    # Every request thread may hold a database connection and a connection to the provider
    # at once (and the mailer and housekeeping one each): pools smaller than that make
    # threads queue for a connection, and extra provider connections are thrown away after
    # one use, each costing a mutual-TLS handshake.
    store, vault = open_state(args.state_dir, args.database, connections=args.workers + 2)
    provider = ProviderSettings(args.idp_url, args.idp_ca, args.idp_cert, args.idp_key)
    _tls_files(
        "identity provider",
        lambda: ssl.create_default_context(cafile=str(args.idp_ca)),
        args.idp_ca,
    ).load_cert_chain(args.idp_cert, args.idp_key)
    config = ServiceConfig(login_ttl=args.login_ttl, outcome_timeout=args.outcome_timeout)
    sender_domain = args.sender.rpartition("@")[2].strip("<> ") or "siths-kiosk.example"
    service = CardService(
        store,
        vault,
        RelyingPartyClient(provider, pool_size=args.workers),
        config,
        notices=Notices(sender_domain),
    )
    tls = _tls_files(
        "server",
        lambda: server_tls_context(args.cert, args.key, args.client_ca, args.client_crl),
        args.cert,
        args.key,
        args.client_ca,
        *([args.client_crl] if args.client_crl else []),
    )
    crl = None
    if args.client_crl is not None:
        crl = CrlSettings(args.cert, args.key, args.client_ca, args.client_crl)
    limits = ServerLimits(
        max_connections=args.max_connections,
        header_timeout=args.header_timeout,
        workers=args.workers,
    )
    mailer = None
    if args.smtp:
        smtp = SmtpSettings(
            *args.smtp, args.sender, ca_file=args.smtp_ca, require_tls=args.smtp_require_tls
        )
        mailer = Mailer(store, smtp, retry_interval=args.mail_retry).start()
    housekeeper = Housekeeper(service, args.housekeeping_interval).start()
    server = CardServiceServer(service, tls, args.host, args.port, limits, crl).start()
    print(f"card service listening on https://{args.host}:{server.port}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    server.stop()
    housekeeper.stop()
    if mailer is not None:
        mailer.stop()
    store.close()
    return 0


def _add_card(args: argparse.Namespace) -> int:
    store, vault = open_state(args.state_dir, args.database)
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


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(prog="kiosk-cardservice", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true")
    commands = parser.add_subparsers(dest="command", required=True)

    def with_state(sub: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sub.add_argument("--state-dir", type=Path, required=True, help="master key (and SQLite)")
        sub.add_argument(
            "--database",
            help=f"database URL (postgresql+psycopg://...; default: SQLite in the state folder,"
            f" or ${DATABASE_VARIABLE})",
        )
        return sub

    serve = with_state(commands.add_parser("serve", help="run the HTTPS service"))
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8443)
    serve.add_argument("--cert", type=Path, required=True, help="server certificate (PEM)")
    serve.add_argument("--key", type=Path, required=True, help="server private key (PEM)")
    serve.add_argument("--client-ca", type=Path, required=True, help="kiosk device CA (PEM)")
    serve.add_argument(
        "--client-crl",
        type=Path,
        help="the kiosks' CRL (kiosk-fleet crl --out FILE); reloaded when it changes",
    )
    serve.add_argument("--idp-url", required=True, help="identity provider's RP API base URL")
    serve.add_argument("--idp-ca", type=Path, required=True, help="identity provider's CA (PEM)")
    serve.add_argument("--idp-cert", type=Path, required=True, help="our RP client certificate")
    serve.add_argument("--idp-key", type=Path, required=True, help="our RP client key")
    serve.add_argument("--smtp", type=_smtp, help="SMTP server HOST:PORT for holder e-mail")
    serve.add_argument("--smtp-ca", type=Path, help="CA of the SMTP server's STARTTLS certificate")
    serve.add_argument(
        "--smtp-require-tls", action="store_true", help="refuse SMTP servers without STARTTLS"
    )
    serve.add_argument("--sender", default="SITHS-kiosk <no-reply@siths-kiosk.example>")
    serve.add_argument(
        "--login-ttl",
        type=float,
        default=ServiceConfig.login_ttl,
        help="seconds a login may take (default %(default)s)",
    )
    serve.add_argument(
        "--outcome-timeout",
        type=float,
        default=ServiceConfig.outcome_timeout,
        help="seconds after a credential before a missing outcome is called unknown"
        " (default %(default)s)",
    )
    serve.add_argument(
        "--mail-retry",
        type=float,
        default=MAIL_RETRY_INTERVAL,
        help="seconds between e-mail retries (default %(default)s)",
    )
    serve.add_argument(
        "--housekeeping-interval",
        type=float,
        default=HOUSEKEEPING_INTERVAL,
        help="seconds between looks for overdue outcomes (default %(default)s)",
    )
    serve.add_argument(
        "--max-connections", type=int, default=ServerLimits.max_connections, help="open connections"
    )
    serve.add_argument(
        "--header-timeout",
        type=float,
        default=ServerLimits.header_timeout,
        help="seconds for a request's headers (default %(default)s)",
    )
    serve.add_argument(
        "--workers", type=int, default=ServerLimits.workers, help="threads for requests"
    )

    with_state(commands.add_parser("migrate", help="bring the database to this version's schema"))

    add_kiosk = with_state(commands.add_parser("add-kiosk", help="register a kiosk"))
    add_kiosk.add_argument("kiosk_id", help="the common name in the kiosk's device certificate")
    add_kiosk.add_argument("--location", required=True, help="where it stands (goes in e-mails)")

    kiosk = commands.add_parser("kiosk", help="list or revoke kiosks")
    kiosk_commands = kiosk.add_subparsers(dest="kiosk_command", required=True)
    revoke = with_state(kiosk_commands.add_parser("revoke", help="refuse a kiosk from now on"))
    revoke.add_argument("kiosk_id")
    with_state(kiosk_commands.add_parser("list", help="every registered kiosk"))

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
    card.add_argument("--email", required=True, type=_mail_address, help="the holder's e-mail")
    card.add_argument("--product-code", default="SITHS-EID-CARD-3")
    card.add_argument("--mechanism", choices=("puk", "admin-key"), default="puk")

    maintenance = with_state(commands.add_parser("maintenance", help="refuse kiosks (on/off)"))
    maintenance.add_argument("state", choices=("on", "off"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point."""
    os.umask(0o077)  # whatever this process creates is its owner's alone
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return _run(args)
    except (OSError, SQLAlchemyError, ssl.SSLError, VaultError, MigrationError) as error:
        # A missing certificate, an unwritable state folder, a broken database: say which.
        print(f"kiosk-cardservice {args.command}: {_one_line(error)}", file=sys.stderr)
        return 1


def _one_line(error: BaseException) -> str:
    if isinstance(error, SQLAlchemyError):
        return f"the database cannot be used: {str(error).splitlines()[0]}"
    return str(error)


def _run(args: argparse.Namespace) -> int:
    if args.command == "serve":
        return _serve(args)
    if args.command == "add-card":
        return _add_card(args)
    store, _vault = open_state(args.state_dir, args.database)
    try:
        return _registry(args, store)
    finally:
        store.close()


def _registry(args: argparse.Namespace, store: Store) -> int:
    if args.command == "add-kiosk":
        store.add_kiosk(args.kiosk_id, args.location)
        print(f"registered kiosk {args.kiosk_id} at {args.location}")
    elif args.command == "kiosk" and args.kiosk_command == "revoke":
        if not store.revoke_kiosk(args.kiosk_id, time.time()):
            print(f"kiosk-cardservice: no kiosk {args.kiosk_id!r} is registered", file=sys.stderr)
            return 1
        print(f"revoked kiosk {args.kiosk_id}: refused from its next request on")
    elif args.command == "kiosk":
        for kiosk in store.kiosks():
            state = "revoked" if kiosk.revoked_at is not None else "active"
            print(f"{kiosk.kiosk_id}\t{state}\t{kiosk.location}")
    elif args.command == "maintenance":
        store.set_setting("maintenance", args.state)
        print(f"maintenance {args.state}")
    elif args.command == "migrate":
        print("the database is at this version's schema")
    return 0


if __name__ == "__main__":
    sys.exit(main())
