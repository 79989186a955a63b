"""A private Mosquitto for developers, the tests and ``kiosk-fleet demo``.

TLS with client certificates, the certificate's common name as the user name, and the
ACL docs/telemetry.md gives operators (:func:`protocol.telemetry.mosquitto_acl`), and
optionally another client CA and the fleet's CRL (``crlfile``, reloaded on SIGHUP). The
broker's certificate is the development service certificate (``localhost``,
``127.0.0.1``); clients need one from the development device CA.
"""

from __future__ import annotations

import ctypes
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from protocol import telemetry as tm
from sim.dev_pki import DevPkiFiles

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """In a child: get SIGTERM when the parent dies, however it dies."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _accepting(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _until(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)  # polling interval of a deadline wait


class Mosquitto:
    """Start, stop and restart one broker on one port; its log is kept for failures."""

    def __init__(
        self,
        folder: Path,
        pki: DevPkiFiles,
        port: int | None = None,
        *,
        persistent: bool = True,
        fleet_ids: Sequence[str] = ("fleet:server",),
        extra_acl: str = "",
        extra_config: Sequence[str] = (),
        client_ca: Path | None = None,
        crl_file: Path | None = None,
    ) -> None:
        self.folder = folder
        self.pki = pki
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "acl").write_text(tm.mosquitto_acl(fleet_ids) + extra_acl)
        (folder / "mosquitto.conf").write_text(
            "\n".join(
                [
                    "per_listener_settings false",
                    # Sessions and queued messages survive a restart, as on a real broker.
                    f"persistence {'true' if persistent else 'false'}",
                    f"persistence_location {folder}/",
                    "user root",  # tests and the demo run as root; keeps file permissions simple
                    "log_dest stderr",
                    "log_type error",
                    "log_type warning",
                    "log_type notice",
                    f"listener {self.port} 127.0.0.1",
                    f"cafile {client_ca or pki.device_ca}",
                    f"certfile {pki.service_cert}",
                    f"keyfile {pki.service_key}",
                    "require_certificate true",
                    "use_identity_as_username true",
                    *tm.BROKER_SETTINGS,
                    f"acl_file {folder / 'acl'}",
                    # Revoked device certificates (the fleet's CRL); reloaded on SIGHUP.
                    *([f"crlfile {crl_file}"] if crl_file is not None else []),
                    *extra_config,
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
            preexec_fn=die_with_parent,
        )
        log.close()
        _until(lambda: _accepting(self.port), 15, "mosquitto to listen")
        return self

    def stop(self) -> None:
        """Stop it (with persistence, sessions and retained messages are kept for the restart)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.process = None
        _until(lambda: not _accepting(self.port), 10, "mosquitto to stop")

    def reload(self) -> None:
        """SIGHUP: Mosquitto reads its configuration, certificates and CRL again."""
        if self.process is not None:
            self.process.send_signal(signal.SIGHUP)

    def restart(self) -> None:
        """Stop and start again on the same port."""
        self.stop()
        self.start()
