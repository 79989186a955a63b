"""Start the simulated identity provider as a process of its own (the demo, the fault tests, bench).

The child gets SIGTERM if its parent dies (``PR_SET_PDEATHSIG``), so a crashed demo or
test run leaves no provider behind.
"""

from __future__ import annotations

import ctypes
import queue
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass

from sim.dev_pki import DevPkiFiles

_PR_SET_PDEATHSIG = 1
#: Seconds the provider may take to start.
START_TIMEOUT = 30.0


def _die_with_parent() -> None:
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class ProviderProcess:
    """A running ``python -m sim.identity_provider serve``."""

    process: subprocess.Popen[str]
    url: str

    @classmethod
    def start(cls, pki: DevPkiFiles, identities: list[tuple[str, str, str]]) -> ProviderProcess:
        """Start it on a free port with development certificates; wait until it listens."""
        command = [
            sys.executable, "-m", "sim.identity_provider", "serve",
            "--cert", str(pki.service_cert), "--key", str(pki.service_key),
            "--rp-ca", str(pki.service_ca),
        ]  # fmt: skip
        for identity in identities:
            command += ["--identity", ",".join(identity)]
        process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            preexec_fn=_die_with_parent,
        )
        lines: queue.Queue[str] = queue.Queue()

        def read() -> None:
            assert process.stdout is not None
            for line in process.stdout:
                lines.put(line)

        threading.Thread(target=read, name="identity-provider-output", daemon=True).start()
        try:
            first = lines.get(timeout=START_TIMEOUT)
        except queue.Empty:
            process.kill()
            raise RuntimeError("the simulated identity provider did not start") from None
        if "listening on " not in first:
            process.kill()
            raise RuntimeError(f"the simulated identity provider did not start: {first.strip()}")
        return cls(process, first.rsplit("listening on ", 1)[1].strip())

    def stop(self) -> None:
        """SIGTERM, and wait for it."""
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
