"""A private pcscd with vpcd readers on free loopback ports.

Debian's pcscd 1.9 always puts its socket at ``/run/pcscd/pcscd.comm`` and its
pid file beside it. To run one that belongs to the tests alone (and can be
restarted by them) without touching a system pcscd, we start it in a private
mount namespace where ``/run/pcscd`` is a directory of ours. The client library
finds it through ``PCSCLITE_CSOCK_NAME``, which must be set before the first
PC/SC call in a process, so conftest sets it at import time.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

from tests.harness.waiting import wait_for

VPCD_DRIVER = Path("/usr/lib/pcsc/drivers/serial/libifdvpcd.so")
#: vpcd opens this many slots per configured reader, on consecutive ports.
VPCD_SLOTS = 2
OPENSC_CONF = """app default {
    enable_default_driver = yes;
    framework pkcs15 {
        use_file_caching = no;
    }
}
"""
READER_NAMES = tuple(f"Virtual PCD 00 {slot:02d}" for slot in range(VPCD_SLOTS))


_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the test process dies, however it dies."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def free_port_pair() -> int:
    """A port p such that p and p+1 are both free (vpcd needs one per slot)."""
    for _ in range(200):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port < 65000 and all(_port_free(port + i) for i in range(VPCD_SLOTS)):
            return port
    raise RuntimeError("no two consecutive free TCP ports found")


class PrivatePcscd:
    """Start, stop and restart a pcscd that only the tests use."""

    def __init__(self, workdir: Path, *, readers: bool = True) -> None:
        self.workdir = workdir
        #: False: no reader is configured (a kiosk whose reader is not plugged in).
        self.readers = readers
        self.run_dir = workdir / "run"
        self.conf_dir = workdir / "reader.conf.d"
        self.log_path = workdir / "pcscd.log"
        self.socket_path = self.run_dir / "pcscd.comm"
        self.port = free_port_pair()
        self._process: subprocess.Popen[bytes] | None = None

    @staticmethod
    def check_prerequisites() -> None:
        """Fail with a clear message when the Debian packages are missing."""
        missing = [
            name
            for name, ok in (
                ("pcscd", shutil.which("pcscd") is not None),
                ("vsmartcard-vpcd", VPCD_DRIVER.exists()),
                ("util-linux (unshare)", shutil.which("unshare") is not None),
            )
            if not ok
        ]
        if missing:
            raise RuntimeError(
                "missing " + ", ".join(missing) + ": run ./scripts/test, which installs them"
            )

    def reader(self, slot: int = 0) -> str:
        """The PC/SC name of a vpcd slot."""
        return READER_NAMES[slot]

    def slot_port(self, slot: int = 0) -> int:
        """The TCP port a virtual card connects to for that slot."""
        return self.port + slot

    def start(self) -> None:
        """Start pcscd and wait until it answers."""
        self.check_prerequisites()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.conf_dir.mkdir(parents=True, exist_ok=True)
        if self.readers:
            (self.conf_dir / "vpcd").write_text(
                'FRIENDLYNAME "Virtual PCD"\n'
                f"DEVICENAME   /dev/null:{self.port}\n"
                f"LIBPATH      {VPCD_DRIVER}\n"
                f"CHANNELID    {self.port}\n"
            )
        for stale in ("pcscd.comm", "pcscd.pid"):
            (self.run_dir / stale).unlink(missing_ok=True)
        script = 'mkdir -p /run/pcscd && mount --bind "$1" /run/pcscd && exec pcscd -f -c "$2"'
        log = self.log_path.open("ab")
        self._process = subprocess.Popen(
            [
                "unshare",
                "--mount",
                "--propagation",
                "private",
                "sh",
                "-c",
                script,
                "sh",
                str(self.run_dir),
                str(self.conf_dir),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
        )
        log.close()
        wait_for(self._ready, timeout=20, what="the private pcscd to start")

    def _ready(self) -> bool:
        if self._process is not None and self._process.poll() is not None:
            raise RuntimeError(f"pcscd exited with {self._process.returncode}; see {self.log_path}")
        if not self.socket_path.exists():
            return False
        if not self.readers:
            return True
        # Both vpcd slots listening means the readers are registered.
        return all(not _port_free(self.slot_port(i)) for i in range(VPCD_SLOTS))

    def stop(self) -> None:
        """Stop pcscd (only the process we started) and wait for it to exit."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    def restart(self) -> None:
        """Stop and start again on the same ports, as ``systemctl restart pcscd`` would."""
        self.stop()
        wait_for(lambda: _port_free(self.port), timeout=10, what="vpcd port to be released")
        self.start()

    @contextlib.contextmanager
    def frozen(self) -> Iterator[None]:
        """pcscd stopped in its tracks (SIGSTOP) for the block, as a hung daemon; then resumed."""
        assert self._process is not None
        self._process.send_signal(signal.SIGSTOP)
        try:
            yield
        finally:
            self._process.send_signal(signal.SIGCONT)

    @property
    def running(self) -> bool:
        """Whether our pcscd process is alive."""
        return self._process is not None and self._process.poll() is None

    def environment(self) -> dict[str, str]:
        """Environment for subprocesses (OpenSC, yubico-piv-tool, our CLI).

        OpenSC gets a configuration that enables its generic ISO 7816 driver,
        so a PKCS#15 card without a vendor driver (our virtual SITHS card) is
        read by the standard PKCS#15 framework alone.
        """
        env = dict(os.environ)
        env["PCSCLITE_CSOCK_NAME"] = str(self.socket_path)
        opensc_conf = self.workdir / "opensc.conf"
        if not opensc_conf.exists():
            opensc_conf.write_text(OPENSC_CONF)
        env["OPENSC_CONF"] = str(opensc_conf)
        return env
