"""Parts the benchmarks measure with: a bare PC/SC watcher, process CPU and RSS, an old tree.

Kept apart from ``bench/ui_figures.py`` so each file says one thing. The APDU log
is the virtual card's own (:mod:`sim.vcard.apdu_log`).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import threading
import time
from pathlib import Path

from smartcard import scard

TICKS = os.sysconf("SC_CLK_TCK")


class PresenceProbe:
    """A bare ``SCardGetStatusChange`` loop on one reader: when pcscd reported a card in or out.

    The kiosk's reader watcher waits on the same pcscd for the same change, so
    the kiosk's figure minus this one is what the kiosk itself adds.
    """

    def __init__(self, reader: str) -> None:
        self.reader = reader
        self.changes: list[tuple[float, bool]] = []
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bare-pcsc", daemon=True)

    def start(self) -> PresenceProbe:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def wait(self, present: bool, since: float, timeout: float = 20.0) -> float:
        """The time pcscd reported the card ``present`` (or gone), at or after ``since``."""
        with self._changed:
            ok = self._changed.wait_for(
                lambda: any(t >= since and p is present for t, p in self.changes), timeout
            )
            if not ok:
                raise TimeoutError(f"pcscd never reported the card {'in' if present else 'out'}")
            return next(t for t, p in self.changes if t >= since and p is present)

    def _run(self) -> None:
        result, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        if result != scard.SCARD_S_SUCCESS:
            raise RuntimeError(scard.SCardGetErrorMessage(result))
        known = scard.SCARD_STATE_UNAWARE
        present: bool | None = None
        try:
            while not self._stop.is_set():
                result, states = scard.SCardGetStatusChange(context, 250, [(self.reader, known)])
                now = time.monotonic()
                if result == scard.SCARD_E_TIMEOUT:
                    continue
                if result != scard.SCARD_S_SUCCESS:
                    time.sleep(0.05)  # reader not there yet: ask again shortly
                    continue
                _name, event_state, _atr = states[0]
                known = event_state & ~scard.SCARD_STATE_CHANGED
                is_present = bool(event_state & scard.SCARD_STATE_PRESENT)
                if is_present is not present:
                    present = is_present
                    with self._changed:
                        self.changes.append((now, is_present))
                        self._changed.notify_all()
        finally:
            scard.SCardReleaseContext(context)


def cpu_seconds(pid: int) -> float:
    """User + system CPU of the whole process (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_mib(pid: int) -> float:
    """Resident memory now."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_shares(pids: list[int], seconds: float) -> list[float]:
    """Each process's CPU (% of one core) over the same wall-clock window."""
    before = [cpu_seconds(pid) for pid in pids]
    start = time.monotonic()
    time.sleep(seconds)  # measuring over a wall-clock window is the point here
    elapsed = time.monotonic() - start
    return [100 * (cpu_seconds(pid) - b) / elapsed for pid, b in zip(pids, before, strict=True)]


def spread(values: list[float], unit: str = "", digits: int = 1) -> str:
    """``median (min-max)``."""
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}{unit}"
    return (
        f"{statistics.median(values):.{digits}f}{unit}"
        f" ({min(values):.{digits}f}-{max(values):.{digits}f})"
    )


def unpack(rev: str, target: Path) -> Path:
    """The files of revision ``rev`` of this repository in ``target`` (``git archive``)."""
    target.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(Path(__file__).resolve().parent.parent), "archive", rev],
        capture_output=True,
        check=False,
    )
    if archive.returncode != 0:
        raise SystemExit(f"cannot unpack revision {rev}: {archive.stderr.decode().strip()}")
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
    return target
