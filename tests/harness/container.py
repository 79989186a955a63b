"""A root folder booted with systemd as PID 1 (``systemd-nspawn``), for the appliance tests.

The machine running the tests is not booted by systemd (its PID 1 is something
else) and has no D-Bus, so nspawn runs with ``--register=no --keep-unit``, in a
private mount namespace whose ``/run`` is a fresh tmpfs (nspawn keeps its own state
there and refuses a ``/run`` on disk). The container shares the host's network,
so the kiosk inside reaches the test's card service, broker and X server on
loopback, and gets this machine's ``/usr`` read-only (Debian: ``/bin``, ``/lib``
are links into it). Commands run inside through ``nsenter`` on the container's
PID 1. Stopping powers it off (nspawn forwards SIGTERM as systemd's poweroff) and
waits; only the nspawn we started is ever signalled.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from pathlib import Path

from tests.harness.pcscd import _die_with_parent
from tests.harness.waiting import wait_for

MERGED_USR = ("bin", "sbin", "lib", "lib64")


def prepare_root(root: Path) -> None:
    """An empty folder made bootable on this machine's /usr: links, /etc basics."""
    for name in ("etc", "var", "run", "tmp", "proc", "sys", "dev", "usr", "root", "home"):
        (root / name).mkdir(parents=True, exist_ok=True)
        (root / name).chmod({"tmp": 0o1777, "root": 0o700}.get(name, 0o755))  # any umask
    root.chmod(0o755)
    for name in MERGED_USR:
        if not (root / name).is_symlink():
            (root / name).symlink_to(f"usr/{name}")
    for name in ("passwd", "group", "shadow", "gshadow", "os-release"):
        shutil.copy2(Path("/etc") / name, root / "etc" / name)
    (root / "etc/machine-id").write_text("")


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                children = (task / "children").read_text().split()
            except OSError:
                continue
            found += [int(child) for child in children]
            todo += [int(child) for child in children]
    return found


def _is_container_init(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    for line in status.splitlines():
        if line.startswith("NSpid:"):
            ids = line.split()[1:]
            return len(ids) > 1 and ids[-1] == "1"
    return False


class BootedRoot:
    """systemd as PID 1 on ``root``; ``binds`` maps host folders to paths inside."""

    def __init__(self, root: Path, log: Path, binds: dict[Path, str] | None = None) -> None:
        self.root = root
        self.log = log
        self.binds = binds or {}
        self.process: subprocess.Popen[bytes] | None = None
        self.leader = 0

    @staticmethod
    def available() -> str | None:
        """Why it cannot run here, or None."""
        if os.geteuid() != 0:
            return "systemd-nspawn needs root"
        if shutil.which("systemd-nspawn") is None:
            return "systemd-nspawn is missing (Debian: systemd-container; scripts/bootstrap)"
        return None

    def start(self, timeout: float = 180) -> BootedRoot:
        binds = [f"--bind={host}:{inside}" for host, inside in self.binds.items()]
        nspawn = [
            "systemd-nspawn",
            "--quiet",
            "--register=no",
            "--keep-unit",
            f"--directory={self.root}",
            "--bind-ro=/usr",
            *binds,
            "--console=passive",
            "--link-journal=no",
            "--resolv-conf=off",
            "--timezone=off",
            "--boot",
        ]
        script = 'mount -t tmpfs tmpfs /run && exec "$@"'
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [
                    "unshare",
                    "--mount",
                    "--propagation",
                    "private",
                    "sh",
                    "-c",
                    script,
                    "sh",
                    *nspawn,
                ],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
            )
        self.leader = wait_for(self._find_leader, timeout=timeout, what="the container's PID 1")
        try:
            wait_for(self._booted, timeout=timeout, what="systemd in the container to boot")
        except TimeoutError as error:
            raise TimeoutError(f"{error}; jobs still waiting:\n{self._waiting()}") from None
        return self

    def _waiting(self) -> str:
        """What the boot still waits for, and the newest journal lines (for a failure)."""
        jobs = self.run("systemctl", "list-jobs", "--no-pager", check=False).stdout
        tail = self.run("journalctl", "--no-pager", "-n", "30", check=False).stdout
        return f"{jobs}\n{tail}"

    def _find_leader(self) -> int:
        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError(f"systemd-nspawn exited ({self.process.returncode}); see {self.log}")
        return next((p for p in _descendants(self.process.pid) if _is_container_init(p)), 0)

    def _booted(self) -> bool:
        state = self.run("systemctl", "is-system-running", check=False).stdout.strip()
        return state in ("running", "degraded")

    def run(
        self, *command: str, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """A command inside the container (as root), its output captured."""
        return subprocess.run(
            ["nsenter", "-t", str(self.leader), "-a", "--", *command],
            capture_output=True,
            text=True,
            check=check,
            timeout=timeout,
        )

    def unit(self, name: str, *properties: str) -> dict[str, str]:
        """``systemctl show`` of a unit: the properties asked for."""
        shown = self.run("systemctl", "show", name, "-p", ",".join(properties)).stdout
        return dict(line.split("=", 1) for line in shown.splitlines() if "=" in line)

    def journal(self, *matches: str) -> list[dict[str, object]]:
        """The container's journal entries matching ``FIELD=value`` terms, as JSON objects."""
        out = self.run("journalctl", "--no-pager", "-o", "json", *matches, check=False).stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def children(self, pid: int) -> list[int]:
        """The container-side PIDs of ``pid``'s children (``pid`` as seen inside)."""
        out = self.run("sh", "-c", f"cat /proc/{pid}/task/*/children", check=False).stdout
        return [int(child) for child in out.split()]

    def stop(self, timeout: float = 30) -> None:
        """Power off (clean shutdown of every unit); kill nspawn only if it hangs."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
