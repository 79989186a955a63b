"""Board readings: the Raspberry Pi's firmware flags decoded, every reading from its file,
``None`` where the machine does not say (a Pi's files are prepared in a folder here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hw.board import LinuxBoard, RaspberryPiBoard, decode_throttled, detect_board


def test_throttling_flags_now_and_since_boot():
    flags = decode_throttled(0x50005)  # under-voltage and throttled, now and since boot
    assert flags.under_voltage and flags.throttled
    assert not flags.frequency_capped and not flags.soft_temperature_limit
    assert flags.under_voltage_since_boot and flags.throttled_since_boot
    assert not flags.frequency_capped_since_boot
    assert decode_throttled(0x80000).soft_temperature_limit_since_boot
    assert not any(vars(decode_throttled(0)).values())


def pi_tree(root: Path, *, throttled: str = "0x50005") -> Path:
    files = {
        "proc/device-tree/model": "Raspberry Pi 4 Model B Rev 1.5\0",
        "proc/uptime": "12345.67 23456.78\n",
        "proc/loadavg": "0.42 0.30 0.25 1/123 4567\n",
        "proc/meminfo": "MemTotal: 3884096 kB\nMemAvailable: 2048000 kB\n",
        "sys/class/thermal/thermal_zone0/temp": "61234\n",
        "sys/devices/platform/soc/soc:firmware/get_throttled": throttled + "\n",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_a_raspberry_pi_is_recognised_and_read(tmp_path):
    board = detect_board(pi_tree(tmp_path), disk=tmp_path)
    assert isinstance(board, RaspberryPiBoard)
    reading = board.read()
    assert reading.cpu_temperature_c == 61.2
    assert reading.uptime_s == 12345.67 and reading.load1 == 0.42
    assert reading.memory_available_mb == 2000.0
    assert reading.throttling is not None and reading.throttling.under_voltage
    assert reading.disk_free_mb is not None and reading.disk_free_mb > 0
    assert reading.clock_synchronised is None  # not this machine's clock: not known


@pytest.mark.parametrize("garbage", ["", "not hex", "0xzz"])
def test_a_firmware_file_that_makes_no_sense_is_not_guessed_at(tmp_path, garbage):
    assert detect_board(pi_tree(tmp_path, throttled=garbage)).read().throttling is None


def test_any_other_linux_machine_has_no_throttling_flags(tmp_path):
    board = detect_board(tmp_path)
    assert type(board) is LinuxBoard
    reading = board.read()
    assert reading.throttling is None and reading.cpu_temperature_c is None
    assert reading.uptime_s is None and reading.memory_available_mb is None


def test_this_machine_reads_without_errors():
    reading = detect_board().read()
    assert reading.uptime_s > 0 and reading.memory_available_mb
    assert reading.clock_synchronised in (True, False, None)
