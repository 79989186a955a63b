"""``python -m sim.identity_provider serve|phone``: the simulated provider, and a phone.

``serve`` runs the provider until SIGTERM/SIGINT (the demo and the fault tests start it
beside the card service); ``phone`` scans a QR content and approves (or declines) as one
test identity, as the Mobilt SITHS app would.
"""

from __future__ import annotations

import argparse
import json
import signal
import ssl
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

import requests

from sim.identity_provider.orders import Orders, ProviderRules
from sim.identity_provider.server import ProviderServer, provider_tls_context
from sim.phone_client import PhoneRefused, SimulatedPhone


def _identity(value: str) -> tuple[str, str, str]:
    parts = value.split(",")
    if len(parts) != 3 or not parts[0].isascii() or not parts[0].isdigit():
        raise argparse.ArgumentTypeError("use PERSONAL-NUMBER,NAME,HSA-ID")
    return parts[0], parts[1], parts[2]


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m sim.identity_provider", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the simulated identity provider")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=0, help="0: any free port (printed)")
    serve.add_argument("--cert", type=Path, required=True, help="server certificate (PEM)")
    serve.add_argument("--key", type=Path, required=True, help="server key (PEM)")
    serve.add_argument(
        "--rp-ca", type=Path, required=True, help="CA of relying parties' certificates"
    )
    serve.add_argument(
        "--identity",
        type=_identity,
        action="append",
        default=[],
        help="PERSONAL-NUMBER,NAME,HSA-ID (repeatable)",
    )
    serve.add_argument("--order-ttl", type=float, default=ProviderRules.order_ttl)
    phone = commands.add_parser("phone", help="the command-line simulated phone")
    phone.add_argument("--url", required=True, help="the simulated provider's base URL")
    phone.add_argument("--ca", type=Path, required=True, help="the provider's CA (PEM)")
    phone.add_argument("--qr", required=True, help="the QR content read off the kiosk screen")
    phone.add_argument("--identity", required=True, help="personal identity number to log in as")
    phone.add_argument("--decline", action="store_true", help="decline instead of approving")
    return parser


def _serve(args: argparse.Namespace) -> int:
    orders = Orders(ProviderRules(order_ttl=args.order_ttl))
    for number, name, hsa_id in args.identity:
        orders.add_identity(number, name, hsa_id)
    try:
        tls = provider_tls_context(args.cert, args.key, args.rp_ca)
        server = ProviderServer(orders, tls, args.host, args.port).start()
    except (OSError, ssl.SSLError) as error:
        print(f"identity provider: {error}", file=sys.stderr)
        return 1
    print(f"simulated identity provider listening on {server.url}", flush=True)
    print(f"simulated phone page: {server.url}/phone", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    server.stop()
    return 0


def _phone(args: argparse.Namespace) -> int:
    simulated = SimulatedPhone(args.url, args.ca, args.identity)
    try:
        order_ref = simulated.log_in(args.qr, approve=not args.decline)
    except PhoneRefused as refused:
        print(f"phone: {refused}", file=sys.stderr)
        return 1
    except (requests.RequestException, OSError, ValueError) as error:
        print(f"phone: the identity provider did not answer properly: {error}", file=sys.stderr)
        return 3
    print(json.dumps({"orderRef": order_ref, "approved": not args.decline}))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point."""
    args = build_parser().parse_args(argv)
    return _serve(args) if args.command == "serve" else _phone(args)


if __name__ == "__main__":
    sys.exit(main())
