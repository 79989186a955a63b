"""``kiosk-cardservice serve`` as a real process, for tests that watch or kill it."""

from __future__ import annotations

import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from kiosk.cardservice_client import CardServiceClient
from sim.dev_pki import DevPkiFiles
from tests.harness.smtp_sink import free_port
from tests.harness.waiting import wait_for

CLI = [sys.executable, "-m", "cardservice.cli"]


def cardservice_cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """Run one ``kiosk-cardservice`` command to its end."""
    return subprocess.run(
        [*CLI, *args], input=stdin, capture_output=True, text=True, timeout=120, check=False
    )


@dataclass
class ServiceProcess:
    """One ``serve`` process on a fixed free port (kept across restarts)."""

    state_dir: Path
    pki: DevPkiFiles
    provider_url: str
    smtp_port: int
    extra: list[str] = field(default_factory=list)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[str] | None = None
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        pki = self.pki
        return [
            *CLI, "serve", "--state-dir", str(self.state_dir), "--port", str(self.port),
            "--cert", str(pki.service_cert), "--key", str(pki.service_key),
            "--client-ca", str(pki.device_ca),
            "--idp-url", self.provider_url, "--idp-ca", str(pki.service_ca),
            "--idp-cert", str(pki.rp_cert), "--idp-key", str(pki.rp_key),
            "--smtp", f"127.0.0.1:{self.smtp_port}",
            *self.extra,
        ]  # fmt: skip

    def client(self, kiosk_id: str, **options: object) -> CardServiceClient:
        return CardServiceClient(
            self.url,
            kiosk_id=kiosk_id,
            client_cert=(self.pki.kiosk_cert(kiosk_id), self.pki.kiosk_key(kiosk_id)),
            ca_file=self.pki.service_ca,
            **options,
        )

    def start(self, timeout: float = 60) -> ServiceProcess:
        """Start and wait until it answers its health check."""
        self.log_path = self.log_path or self.state_dir.parent / f"serve-{self.port}.log"
        log = self.log_path.open("a")
        self.process = subprocess.Popen(
            self.command(), stdout=log, stderr=subprocess.STDOUT, text=True
        )
        log.close()
        probe = self.client("kiosk-unknown", retries=0)

        def healthy() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"serve exited: {self.output()}")
            try:
                return probe.health() == "ok"
            except Exception:
                return False

        wait_for(healthy, timeout=timeout, what="the card service to start")
        probe.close()
        return self

    def kill(self) -> None:
        """SIGKILL: no chance to finish anything."""
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(30)

    def stop(self) -> int:
        """SIGTERM; the exit code."""
        if self.process is None:
            return 0
        self.process.terminate()
        try:
            return self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(30)

    def output(self) -> str:
        return self.log_path.read_text() if self.log_path and self.log_path.exists() else ""
