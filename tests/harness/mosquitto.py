"""A private Mosquitto for the tests: TLS, client certificates, identity as username, an ACL.

The broker's certificate is the development service certificate (``localhost``,
``127.0.0.1``); clients need a certificate from the development device CA, and
their certificate's common name is their MQTT user name. The ACL is the one
docs/telemetry.md gives operators (:func:`protocol.telemetry.mosquitto_acl`).
"""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

from protocol import telemetry as tm
from sim.dev_pki import DevPkiFiles
from tests.harness.pcscd import _die_with_parent
from tests.harness.smtp_sink import free_port
from tests.harness.waiting import wait_for

FLEET_ID = "fleet:server"
#: A second fleet identity (each fleet instance has its own: the client id is the name).
OTHER_FLEET_ID = "fleet:other"


def _accepting(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class Mosquitto:
    """Start, stop and restart one broker on one port; its log is kept for failures."""

    def __init__(
        self, folder: Path, pki: DevPkiFiles, port: int | None = None, *, persistent: bool = True
    ) -> None:
        self.folder = folder
        self.pki = pki
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "acl").write_text(tm.mosquitto_acl([FLEET_ID, OTHER_FLEET_ID]))
        (folder / "mosquitto.conf").write_text(
            "\n".join(
                [
                    "per_listener_settings false",
                    # Sessions and queued messages survive a restart, as on a real broker.
                    f"persistence {'true' if persistent else 'false'}",
                    f"persistence_location {folder}/",
                    "user root",  # the tests run as root; keeps file permissions simple
                    "log_dest stderr",
                    "log_type error",
                    "log_type warning",
                    "log_type notice",
                    f"listener {self.port} 127.0.0.1",
                    f"cafile {pki.device_ca}",
                    f"certfile {pki.service_cert}",
                    f"keyfile {pki.service_key}",
                    "require_certificate true",
                    "use_identity_as_username true",
                    *tm.BROKER_SETTINGS,
                    f"acl_file {folder / 'acl'}",
                    "",
                ]
            )
        )

    @property
    def log(self) -> str:
        """What the broker said (for a failing test's message)."""
        path = self.folder / "mosquitto.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start(self) -> Mosquitto:
        """Start and wait until it accepts connections."""
        log = (self.folder / "mosquitto.log").open("ab")
        self.process = subprocess.Popen(
            ["mosquitto", "-c", str(self.folder / "mosquitto.conf")],
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )
        log.close()
        wait_for(lambda: _accepting(self.port), timeout=15, what="mosquitto to listen")
        return self

    def stop(self) -> None:
        """Stop it (with persistence, sessions and retained messages are kept for the restart)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.process = None
        wait_for(lambda: not _accepting(self.port), timeout=10, what="mosquitto to stop")

    def restart(self) -> None:
        """Stop and start again on the same port."""
        self.stop()
        self.start()
