"""The first contact with the fleet trusts exactly the CA the token pins, nothing more.

A server in the network path (a spoofed name on first boot) that answers the CA request
with the real fleet CA, which is public, followed by its own CA must not get its own CA
trusted: every later call (the token, renewal, decommissioning) would then go to it.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from protocol import enrolment as en
from provisioning.fleet_client import FleetError, fetch_pinned_ca


@pytest.fixture
def ca_server(dev_pki) -> Iterator[tuple[str, dict[str, bytes]]]:
    """An HTTPS server whose CA answer the test sets (TLS with the dev PKI's server cert)."""
    answer: dict[str, bytes] = {"body": b""}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(answer["body"])))
            self.end_headers()
            self.wfile.write(answer["body"])

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(dev_pki.service_cert, dev_pki.service_key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}", answer
    server.shutdown()
    server.server_close()
    thread.join(10)


def test_only_the_pinned_ca_is_trusted(ca_server, dev_pki):
    url, answer = ca_server
    fleet_ca = dev_pki.service_ca.read_bytes()
    pin = en.ca_sha256(fleet_ca)

    answer["body"] = fleet_ca
    trusted = fetch_pinned_ca(url, pin)
    assert en.ca_sha256(trusted) == pin and trusted.count("BEGIN CERTIFICATE") == 1

    answer["body"] = fleet_ca + dev_pki.device_ca.read_bytes()  # the pinned one, and another
    with pytest.raises(FleetError, match="sent 2 certificates where its one CA belongs"):
        fetch_pinned_ca(url, pin)

    answer["body"] = dev_pki.device_ca.read_bytes()
    with pytest.raises(FleetError, match="not the one the token names"):
        fetch_pinned_ca(url, pin)
