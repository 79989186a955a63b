"""The kiosk's own machine: disk space, temperature, power, its service and its screen.

Board readings come from :mod:`hw.board` (the same readings telemetry sends); a reading
the machine does not offer is a skipped check that says so, never a guess.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from hw.board import BoardReading, Throttling
from provisioning.selftest import screen
from provisioning.selftest.results import CheckResult

DISK = ("disk", "Disk space (state folder)")
TEMPERATURE = ("temperature", "Temperature")
POWER = ("power", "Power and throttling")
UNITS = ("units", "Kiosk service (systemd)")
DISPLAY = ("display", "Display and touch")

#: Megabytes the state folder needs free: the telemetry outbox (up to 100,000 messages)
#: and the logs grow there while the network is down; below this the kiosk may lose events.
MIN_FREE_MB = 200.0
#: °C at which a Raspberry Pi's firmware starts to slow the CPU down.
MAX_TEMPERATURE_C = 80.0
KIOSK_UNIT = "siths-kiosk.service"
#: systemd creates this folder at boot when it runs as PID 1 (``sd_booted()``'s test).
SYSTEMD_RUNTIME = Path("/run/systemd/system")


def judge_disk(state_dir: Path, free_mb: float | None) -> CheckResult:
    """Whether the kiosk's state folder has room."""
    if free_mb is None:
        return CheckResult.failed(
            *DISK,
            f"the state folder {state_dir} cannot be examined (missing?)",
            f"create it ('sudo install -d -m 0750 {state_dir}') or enrol the kiosk, which does",
        )
    words = f"{free_mb:,.0f} MB free in {state_dir} (needs {MIN_FREE_MB:,.0f} MB)"
    if free_mb < MIN_FREE_MB:
        return CheckResult.failed(
            *DISK,
            words,
            "free space: 'sudo journalctl --vacuum-size=100M', remove old files from /tmp and "
            "/var/log; if the card is full of data that must stay, use a larger SD card",
        )
    return CheckResult.ok(*DISK, words)


def judge_temperature(celsius: float | None) -> CheckResult:
    """Whether the board runs cool enough not to slow down."""
    if celsius is None:
        return CheckResult.skipped(*TEMPERATURE, "this machine does not report a CPU temperature")
    words = f"CPU at {celsius:.1f} °C (the limit is {MAX_TEMPERATURE_C:.0f} °C)"
    if celsius >= MAX_TEMPERATURE_C:
        return CheckResult.failed(
            *TEMPERATURE,
            words,
            "give the board air: check that the case's vents are free and its fan turns, add a "
            "heatsink, and keep the kiosk out of direct sunlight",
        )
    return CheckResult.ok(*TEMPERATURE, words)


_FLAG_WORDS = {
    "under_voltage": "under-voltage",
    "frequency_capped": "CPU frequency capped",
    "throttled": "throttled",
    "soft_temperature_limit": "soft temperature limit",
}


def judge_power(throttling: Throttling | None) -> CheckResult:
    """The Raspberry Pi firmware's flags: anything now, or under-voltage since boot, fails."""
    if throttling is None:
        return CheckResult.skipped(
            *POWER, "not a Raspberry Pi, so there are no firmware throttling flags"
        )
    now = [words for name, words in _FLAG_WORDS.items() if getattr(throttling, name)]
    since = [
        words for name, words in _FLAG_WORDS.items() if getattr(throttling, f"{name}_since_boot")
    ]
    found = f"now: {', '.join(now) or 'nothing'}; since boot: {', '.join(since) or 'nothing'}"
    if now or throttling.under_voltage_since_boot:
        fix = (
            "use the Raspberry Pi's official power supply (5 V, 3 A for a Pi 4, 5 A for a Pi 5) "
            "and a short, thick cable; power the card reader and screen from it only if it is "
            "rated for them"
        )
        if throttling.soft_temperature_limit or throttling.throttled:
            fix += "; also cool the board (see the temperature check)"
        return CheckResult.failed(*POWER, found, fix)
    return CheckResult.ok(*POWER, found)


def board_checks(state_dir: Path, reading: BoardReading) -> list[CheckResult]:
    """Disk, temperature and power from one board reading."""
    return [
        judge_disk(state_dir, reading.disk_free_mb),
        judge_temperature(reading.cpu_temperature_c),
        judge_power(reading.throttling),
    ]


def judge_unit(state: str) -> CheckResult:
    """What ``systemctl is-active`` said about the kiosk's unit."""
    if state == "active":
        return CheckResult.ok(*UNITS, f"{KIOSK_UNIT} is active")
    return CheckResult.failed(
        *UNITS,
        f"{KIOSK_UNIT} is {state or 'unknown to systemd'}, not active",
        f"start it: 'sudo systemctl enable --now {KIOSK_UNIT}'; if it stops again, "
        f"'journalctl -u {KIOSK_UNIT} -n 50' says why",
    )


def check_units(systemd_runtime: Path = SYSTEMD_RUNTIME) -> CheckResult:
    """Ask systemd whether the kiosk runs, when systemd runs this machine."""
    systemctl = shutil.which("systemctl")
    if not systemd_runtime.is_dir() or systemctl is None:
        return CheckResult.skipped(*UNITS, "not under systemd")
    done = subprocess.run(
        [systemctl, "is-active", KIOSK_UNIT],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    return judge_unit(done.stdout.strip())


TAP_TEST = "provisioning.selftest.tap_test"


def judge_tap_test(output: str, errors: str, timeout: float) -> CheckResult:
    """What the tap test's last line says (``result ok|timeout HITS MISSES WxH``)."""
    results = [line.split() for line in output.splitlines() if line.startswith("result ")]
    if not results or len(results[-1]) != 5:
        last = next((line for line in reversed(errors.splitlines()) if line.strip()), "")
        return CheckResult.failed(
            *DISPLAY,
            f"no window could be opened on this screen ({last.strip() or 'no reason given'})",
            "run the self-test at the kiosk's own screen session: as the kiosk's user, with "
            "DISPLAY=:0 under X (or on the console with KMS); if the screen stays dark, check "
            "its power and its cable (HDMI, or the DSI ribbon)",
        )
    _, outcome, hits, misses, size = results[-1]
    beside = f"; {misses} tap(s) landed beside a square" if misses != "0" else ""
    if outcome == "ok":
        return CheckResult.ok(*DISPLAY, f"all 3 squares tapped on the {size} screen{beside}")
    return CheckResult.failed(
        *DISPLAY,
        f"{hits} of 3 squares tapped within {timeout:g} s on the {size} screen{beside}",
        "if the squares did not show, check the screen's power and cable; if they showed but "
        "taps did nothing, check the touch panel's USB cable and that 'libinput list-devices' "
        "lists it; if taps landed beside the squares, the touch panel is rotated or not "
        "calibrated (its rotation in /boot/firmware/config.txt, or a libinput calibration "
        "matrix)",
    )


def check_display(
    on_screen: bool,
    *,
    window: str | None = None,
    timeout: float = 60.0,
    watch: Callable[[str], None] | None = None,
) -> CheckResult:
    """The tap test at the kiosk's screen (only with ``on_screen``: it needs a person there).

    ``window`` (``WIDTHxHEIGHT``): a window at the top left instead of fullscreen, for an X
    screen without a window manager. ``watch`` is given each line the tap test prints as it
    prints it (``target N at X,Y`` when a square is shown), for automation.
    """
    if not on_screen:
        return CheckResult.skipped(
            *DISPLAY,
            "not run on the kiosk's screen (run 'kiosk-provision self-test --on-screen' "
            "at the kiosk to test it)",
        )
    arguments = ["--timeout", f"{timeout:g}", *(["--size", window] if window else [])]
    output, errors = screen.run_window(TAP_TEST, arguments, timeout=timeout, watch=watch)
    return judge_tap_test(output, errors, timeout)
