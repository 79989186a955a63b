"""``kiosk-fleet demo``: a broker, the fleet server and a handful of real kiosks, for facility IT.

It starts, with development certificates in a temporary folder: Mosquitto (TLS, client
certificates, the ACL of docs/telemetry.md), the reference card service with the
simulated identity provider (so the kiosks find their card service up), the fleet
server with an operator account, an SMTP server that prints the alert e-mails, and
``kiosk run --headless`` for each kiosk: the real kiosk program with its real
telemetry, reading the machine's pcscd (readers missing without one, which the
dashboard then shows). It prints the dashboard's address and a sign-in, and runs
until Ctrl-C, then stops everything it started and deletes the folder.

Type ``kill N`` to cut kiosk N off as a power cut would (SIGKILL: its will goes out),
``stop N`` to stop it cleanly, ``start N`` to bring it back, ``quit`` to end.
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from contextlib import ExitStack
from email.message import EmailMessage
from pathlib import Path

from cardservice.http_server import CardServiceServer, server_tls_context
from cardservice.identity_provider import ProviderSettings, RelyingPartyClient
from cardservice.service import CardService
from cardservice.store import Store as CardStore
from cardservice.vault import Vault
from fleet.accounts import Role
from fleet.alerts import Thresholds
from fleet.ingest import BrokerSettings
from fleet.notify import MailSettings
from fleet.server import FleetServer, ServerSettings
from fleet.store import Store as FleetStore
from kiosk.config import render
from sim.broker import Mosquitto, die_with_parent
from sim.demo_mail import body_text, smtp_printer
from sim.dev_pki import write_dev_pki
from sim.identity_provider.process import ProviderProcess

FLEET_ID = "fleet:demo"
PLACES = (
    ("Sahlgrenska", "Entré A"),
    ("Sahlgrenska", "Entré B"),
    ("Östra sjukhuset", "Huvudentrén"),
    ("Mölndals sjukhus", "Akutmottagningen"),
    ("Kungälvs sjukhus", "Entré"),
    ("Angereds närsjukhus", "Reception"),
)
USER = "demo"


def _say(text: str) -> None:
    print(text, flush=True)


def _alert_mail(message: EmailMessage) -> str:
    """How the demo shows an alert e-mail."""
    return f"\n--- alert e-mail to {message['To']}: {message['Subject']}\n{body_text(message)}"


def _smtp_printer(stack: ExitStack) -> int:
    """An SMTP server printing each alert e-mail (aiosmtpd, a test extra), or a dead port."""
    controller, port = smtp_printer(_alert_mail)
    if controller is None:
        _say("(aiosmtpd is not installed: alert e-mails are not shown)")
    else:
        stack.callback(controller.stop)  # type: ignore[attr-defined]
    return port


class DemoKiosk:
    """One ``kiosk run --headless`` child."""

    def __init__(self, number: int, kiosk_id: str, config: Path) -> None:
        self.number = number
        self.kiosk_id = kiosk_id
        self.config = config
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start it (its output goes to a log file beside its configuration)."""
        if self.process is not None and self.process.poll() is None:
            return
        log = (self.config.parent / "kiosk.log").open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "kiosk.cli", "run", "--headless", "--config", str(self.config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )
        log.close()

    def signal(self, number: int, *, wait: bool = True) -> None:
        """Send a signal and (unless told not to) wait for the end."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(number)
        if wait:
            self.wait()

    def wait(self) -> None:
        """Wait for the end (killed after 15 s)."""
        if self.process is not None:
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def _kiosk_config(folder: Path, tls, kiosk_id: str, place, card_url: str, broker: int) -> Path:  # noqa: ANN001
    home = folder / kiosk_id
    home.mkdir(parents=True)
    (home / "card-hash.key").write_bytes(b"demo-card-hash-key-0123456789abc")
    trust = home / "siths-trust.pem"
    trust.write_bytes(tls.service_ca.read_bytes())  # no SITHS cards in this demo
    config = home / "kiosk.toml"
    config.write_text(
        render(
            kiosk_id=kiosk_id,
            location=place[1],
            url=card_url,
            ca_file=tls.service_ca,
            client_cert=tls.kiosk_cert(kiosk_id),
            client_key=tls.kiosk_key(kiosk_id),
            trust_anchors=[trust],
            fullscreen=False,
            outcome_outbox=home / "outcomes.sqlite3",
            telemetry={
                "broker": f"mqtts://127.0.0.1:{broker}",
                "ca_file": tls.service_ca,
                "card_hash_key_file": home / "card-hash.key",
                "outbox": home / "outbox.sqlite3",
                "site": place[0],
                "health_interval": 10,
                "will_delay": 5,
            },
        )
    )
    return config


def _commands(kiosks: list[DemoKiosk], done: threading.Event) -> None:
    """Read ``kill N`` / ``stop N`` / ``start N`` / ``quit`` from the terminal."""
    for line in sys.stdin:
        words = line.split()
        if words[:1] == ["quit"]:
            break
        if len(words) == 2 and words[0] in ("kill", "stop", "start") and words[1].isdigit():
            found = [k for k in kiosks if k.number == int(words[1])]
            if not found:
                _say(f"no kiosk {words[1]}")
                continue
            kiosk = found[0]
            if words[0] == "start":
                kiosk.start()
            else:
                kiosk.signal(signal.SIGKILL if words[0] == "kill" else signal.SIGTERM)
            _say(f"{words[0]}: {kiosk.kiosk_id}")
        elif words:
            _say("commands: kill N, stop N, start N, quit")
    done.set()


def run(count: int, port: int, offline_after: float) -> int:
    """Start everything, wait for Ctrl-C (or ``quit``), stop everything."""
    folder = Path(tempfile.mkdtemp(prefix="kiosk-fleet-demo-"))
    kiosk_ids = [f"demo-kiosk-{n}" for n in range(1, count + 1)]
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, folder, ignore_errors=True)
        tls = write_dev_pki(folder / "tls", [*kiosk_ids, FLEET_ID])
        broker = Mosquitto(folder / "broker", tls, fleet_ids=[FLEET_ID]).start()
        stack.callback(broker.stop)
        provider = ProviderProcess.start(tls, [])
        stack.callback(provider.stop)
        card_store = CardStore(folder / "cardservice.sqlite3")
        stack.callback(card_store.close)
        relying_party = RelyingPartyClient(
            ProviderSettings(provider.url, tls.service_ca, tls.rp_cert, tls.rp_key)
        )
        service = CardService(card_store, Vault.from_file(folder / "master.key"), relying_party)
        card_server = CardServiceServer(
            service, server_tls_context(tls.service_cert, tls.service_key, tls.device_ca)
        ).start()
        stack.callback(card_server.stop)
        smtp_port = _smtp_printer(stack)
        fleet_store = FleetStore(folder / "fleet.sqlite3")
        stack.callback(fleet_store.close)
        settings = ServerSettings(
            broker=BrokerSettings(
                "127.0.0.1",
                broker.port,
                tls.service_ca,
                tls.kiosk_cert(FLEET_ID),
                tls.kiosk_key(FLEET_ID),
                instance="demo",
            ),
            port=port,
            thresholds=Thresholds(offline_after=offline_after),
            mail=MailSettings("127.0.0.1", smtp_port, "fleet@demo.example", ("it@demo.example",)),
            look_interval=1.0,
        )
        server = FleetServer(settings, fleet_store)
        server.start()
        stack.callback(server.stop)
        password = secrets.token_urlsafe(9)
        server.accounts.add_user(USER, Role.OPERATOR, password + "-demo", time.time())
        kiosks = []
        for number, kiosk_id in enumerate(kiosk_ids, start=1):
            place = PLACES[(number - 1) % len(PLACES)]
            card_store.add_kiosk(kiosk_id, f"{place[1]}, {place[0]}")
            config = _kiosk_config(folder, tls, kiosk_id, place, card_server.url, broker.port)
            kiosks.append(DemoKiosk(number, kiosk_id, config))
        for kiosk in kiosks:
            kiosk.start()
            stack.callback(kiosk.wait)
        for kiosk in kiosks:  # stopped together, then waited for (the callbacks run last first)
            stack.callback(kiosk.signal, signal.SIGTERM, wait=False)
        _say(f"Fleet dashboard: {server.url}")
        _say(f"Sign in as {USER!r} with password {password + '-demo'!r} (operator)")
        _say(f"{count} kiosks: " + ", ".join(f"{k.number}={k.kiosk_id}" for k in kiosks))
        _say("Type 'kill N' (power cut), 'stop N' (clean stop), 'start N', or Ctrl-C to end.")
        _say(f"A kiosk offline for {offline_after:g} s raises an alert; its e-mail prints here.")
        done = threading.Event()
        signal.signal(signal.SIGINT, lambda *_: done.set())
        signal.signal(signal.SIGTERM, lambda *_: done.set())
        if sys.stdin is not None and sys.stdin.isatty():
            threading.Thread(target=_commands, args=(kiosks, done), daemon=True).start()
        done.wait()
        _say("Stopping the kiosks, the fleet server, the card service and the broker ...")
    return 0


def main(argv: Sequence[str]) -> int:
    """``kiosk-fleet demo [--kiosks N] [--port P]``."""
    parser = argparse.ArgumentParser(prog="kiosk-fleet demo", description=__doc__.splitlines()[0])
    parser.add_argument("--kiosks", type=int, default=4, help="how many (1-20, default 4)")
    parser.add_argument("--port", type=int, default=8080, help="dashboard port (0: any free)")
    parser.add_argument(
        "--offline-alert-after", type=float, default=20.0, help="seconds (default 20)"
    )
    args = parser.parse_args(list(argv))
    if not 1 <= args.kiosks <= 20:
        parser.error("--kiosks must be between 1 and 20")
    os.umask(0o077)
    logging.getLogger().setLevel(logging.WARNING)  # the console is for the address and alerts
    try:
        return run(args.kiosks, args.port, args.offline_alert_after)
    except OSError as error:
        print(f"kiosk-fleet demo: {error}", file=sys.stderr)
        return 1
