"""Parts the UI benchmark measures with: a bare PC/SC watcher, process CPU and RSS, an APDU log.

Kept apart from ``bench/ui_figures.py`` so each file says one thing.
"""

from __future__ import annotations

import collections
import os
import statistics
import threading
import time
from pathlib import Path

from smartcard import scard

from sim.vcard.card import VirtualCard

TICKS = os.sysconf("SC_CLK_TCK")

#: Instruction bytes by name, for the APDU breakdown (never the data: it may hold a PIN).
INSTRUCTIONS = {
    0xA4: "SELECT",
    0xB0: "READ BINARY",
    0xB1: "READ BINARY (odd)",
    0xC0: "GET RESPONSE",
    0xCA: "GET DATA",
    0xCB: "GET DATA (odd)",
    0x20: "VERIFY",
    0x24: "CHANGE REFERENCE DATA",
    0x2C: "RESET RETRY COUNTER",
    0x87: "GENERAL AUTHENTICATE",
}


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


class ApduLog:
    """A virtual card that notes the instruction of every command it is sent (never the data)."""

    def __init__(self, card: VirtualCard) -> None:
        self.card = card
        self.instructions: list[int] = []

    @property
    def atr(self) -> bytes:
        return self.card.atr

    def power_on(self) -> None:
        self.card.power_on()

    def power_off(self) -> None:
        self.card.power_off()

    def reset(self) -> None:
        self.card.reset()

    def process(self, command: bytes) -> bytes:
        self.instructions.append(command[1] if len(command) > 1 else -1)
        return self.card.process(command)

    def mark(self) -> int:
        return len(self.instructions)

    def since(self, mark: int) -> str:
        """``N (SELECT 3, READ BINARY 13, ...)`` for the commands after ``mark``."""
        names = collections.Counter(
            INSTRUCTIONS.get(ins, f"INS {ins:02X}") for ins in self.instructions[mark:]
        )
        parts = ", ".join(f"{name} {count}" for name, count in names.most_common())
        return f"{len(self.instructions) - mark} ({parts})"


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
