"""The board the kiosk runs on: temperature, throttling, load, memory, disk, uptime, clock.

Behind one interface (:class:`Board`) with two implementations: :class:`LinuxBoard`
reads what any Linux machine offers under ``/proc`` and ``/sys``, and
:class:`RaspberryPiBoard` adds the firmware's throttling flags (under-voltage,
frequency capped, throttled, soft temperature limit, each now and since boot).
Both read from a root folder that tests point at a prepared tree: a Pi's files
cannot exist on this machine, so the tests exercise the same code on copies.
Every reading that the machine does not offer is ``None``, never a guess.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

#: Where the Raspberry Pi firmware driver publishes ``get_throttled`` (hex).
PI_THROTTLED = "sys/devices/platform/soc/soc:firmware/get_throttled"
PI_MODEL = "proc/device-tree/model"


@dataclass(frozen=True)
class Throttling:
    """The Raspberry Pi firmware's flags (``vcgencmd get_throttled``), decoded."""

    under_voltage: bool
    frequency_capped: bool
    throttled: bool
    soft_temperature_limit: bool
    under_voltage_since_boot: bool
    frequency_capped_since_boot: bool
    throttled_since_boot: bool
    soft_temperature_limit_since_boot: bool


def decode_throttled(value: int) -> Throttling:
    """Bits 0-3 are now, bits 16-19 since boot (the firmware's documented layout)."""
    bit = lambda n: bool(value >> n & 1)  # noqa: E731
    return Throttling(bit(0), bit(1), bit(2), bit(3), bit(16), bit(17), bit(18), bit(19))


@dataclass(frozen=True)
class BoardReading:
    """One look at the board; ``None`` where the machine does not say."""

    uptime_s: float | None
    load1: float | None
    memory_available_mb: float | None
    disk_free_mb: float | None
    cpu_temperature_c: float | None
    throttling: Throttling | None
    clock_synchronised: bool | None


class Board(Protocol):
    """What telemetry asks of the board."""

    def read(self) -> BoardReading:
        """Read every sensor now."""
        ...


def _text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii", errors="replace").strip()
    except OSError:
        return None


class _Timex(ctypes.Structure):
    """``struct timex`` up to ``status`` (enough for ``adjtimex`` to fill; padded)."""

    _fields_ = [
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("padding", ctypes.c_byte * 256),
    ]


TIME_ERROR = 5  # adjtimex's answer when the kernel clock is not synchronised


def kernel_clock_synchronised() -> bool | None:
    """Whether NTP (timesyncd, chrony) keeps the kernel clock in sync; ``None`` if unknown."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        state = ctypes.CDLL(name, use_errno=True).adjtimex(ctypes.byref(_Timex()))
    except (OSError, AttributeError):
        return None
    return None if state < 0 else state != TIME_ERROR


class LinuxBoard:
    """Any Linux machine: ``/proc`` and ``/sys`` under ``root``; disk as seen at ``disk``."""

    def __init__(self, root: Path = Path("/"), *, disk: Path = Path("/")) -> None:
        self.root = root
        self.disk = disk

    def read(self) -> BoardReading:
        """Every reading this machine offers."""
        return BoardReading(
            uptime_s=self._uptime(),
            load1=self._load(),
            memory_available_mb=self._memory(),
            disk_free_mb=self._disk(),
            cpu_temperature_c=self._temperature(),
            throttling=self._throttling(),
            clock_synchronised=self._clock(),
        )

    def _uptime(self) -> float | None:
        text = _text(self.root / "proc/uptime")
        try:
            return float(text.split()[0]) if text else None
        except ValueError:
            return None

    def _load(self) -> float | None:
        text = _text(self.root / "proc/loadavg")
        try:
            return float(text.split()[0]) if text else None
        except ValueError:
            return None

    def _memory(self) -> float | None:
        for line in (_text(self.root / "proc/meminfo") or "").splitlines():
            if line.startswith("MemAvailable:"):
                try:
                    return round(int(line.split()[1]) / 1024, 1)
                except (IndexError, ValueError):
                    return None
        return None

    def _disk(self) -> float | None:
        try:
            stat = os.statvfs(self.disk)
        except OSError:
            return None
        return round(stat.f_bavail * stat.f_frsize / 1024 / 1024, 1)

    def _temperature(self) -> float | None:
        """The first thermal zone (on a Pi, the SoC): millidegrees in sysfs."""
        zones = sorted((self.root / "sys/class/thermal").glob("thermal_zone*/temp"))
        for zone in zones:
            text = _text(zone)
            if text and text.lstrip("-").isdigit():
                return round(int(text) / 1000, 1)
        return None

    def _throttling(self) -> Throttling | None:
        return None  # only a Raspberry Pi's firmware says

    def _clock(self) -> bool | None:
        return kernel_clock_synchronised() if self.root == Path("/") else None


class RaspberryPiBoard(LinuxBoard):
    """A Raspberry Pi: what Linux offers, plus the firmware's throttling flags."""

    def _throttling(self) -> Throttling | None:
        text = _text(self.root / PI_THROTTLED)
        if not text:
            return None
        try:
            return decode_throttled(int(text, 16))
        except ValueError:
            return None


def detect_board(root: Path = Path("/"), *, disk: Path = Path("/")) -> Board:
    """A :class:`RaspberryPiBoard` on a Pi (its device tree says so), else a LinuxBoard."""
    model = _text(root / PI_MODEL) or ""
    kind = RaspberryPiBoard if "Raspberry Pi" in model else LinuxBoard
    return kind(root, disk=disk)
