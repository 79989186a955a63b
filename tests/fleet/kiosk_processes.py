"""Real kiosks for the fleet's end-to-end tests: ``kiosk run --headless`` children, each
with its own device certificate, outbox and configuration, talking to a real card
service and a real broker, reading the private pcscd's readers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from kiosk.config import render
from sim.dev_pki import DevPkiFiles

KIOSK_RUN = (sys.executable, "-m", "kiosk.cli", "run", "--headless")


class KioskChild:
    """One kiosk program; its output goes to a log file (read when a test fails)."""

    def __init__(self, kiosk_id: str, folder: Path, environment: dict[str, str]) -> None:
        self.kiosk_id = kiosk_id
        self.folder = folder
        self.environment = environment
        self.process: subprocess.Popen[bytes] | None = None

    @classmethod
    def configure(
        cls,
        kiosk_id: str,
        folder: Path,
        *,
        pki: DevPkiFiles,
        card_service: str,
        broker_port: int,
        trust: Path,
        site: str,
        location: str,
        environment: dict[str, str],
    ) -> KioskChild:
        folder.mkdir(parents=True)
        (folder / "card-hash.key").write_bytes(b"k" * 32)
        (folder / "kiosk.toml").write_text(
            render(
                kiosk_id=kiosk_id,
                location=location,
                url=card_service,
                ca_file=pki.service_ca,
                client_cert=pki.kiosk_cert(kiosk_id),
                client_key=pki.kiosk_key(kiosk_id),
                trust_anchors=[trust],
                fullscreen=False,
                outcome_outbox=folder / "outcomes.sqlite3",
                telemetry={
                    "broker": f"mqtts://127.0.0.1:{broker_port}",
                    "ca_file": pki.service_ca,
                    "card_hash_key_file": folder / "card-hash.key",
                    "outbox": folder / "outbox.sqlite3",
                    "site": site,
                    "health_interval": 5,
                    "will_delay": 1,
                },
            )
        )
        return cls(kiosk_id, folder, environment)

    def start(self) -> KioskChild:
        log = (self.folder / "kiosk.log").open("ab")
        self.process = subprocess.Popen(
            [*KIOSK_RUN, "--config", str(self.folder / "kiosk.toml")],
            env=self.environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        return self

    def kill(self) -> None:
        """A power cut: no goodbye, the broker publishes the will."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def stop(self) -> None:
        """A clean stop (SIGTERM), or a kill when it does not end."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    @property
    def log(self) -> str:
        path = self.folder / "kiosk.log"
        return path.read_text(errors="replace") if path.exists() else ""
