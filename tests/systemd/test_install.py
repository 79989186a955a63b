"""``scripts/install-kiosk --root DIR``: the tree it makes, and a second run changing nothing."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.systemd.conftest import Installed

VENV = "opt/siths-kiosk"
SITE = f"{VENV}/lib/python3.11/site-packages"


def owner(root: Path, name: str) -> int:
    for line in (root / "etc/passwd").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == name:
            return int(fields[2])
    raise AssertionError(f"no user {name} in {root}/etc/passwd")


def test_a_second_install_changes_nothing(installed: Installed):
    added = sorted(set(installed.second) - set(installed.first))
    gone = sorted(set(installed.first) - set(installed.second))
    changed = sorted(
        path
        for path in set(installed.first) & set(installed.second)
        if installed.first[path] != installed.second[path]
    )
    print(f"{len(installed.first)} paths installed; second run: {added=} {gone=} {changed=}")
    assert (added, gone, changed) == ([], [], [])


def test_the_program_is_installed_without_the_simulators(installed: Installed):
    root, tree = installed.root, installed.first
    for package in ("protocol", "hw", "kiosk", "provisioning", "systemd", "kivy", "smartcard"):
        assert f"{SITE}/{package}/__init__.py" in tree, package
    for package in ("sim", "cardservice", "tests"):
        assert not any(path.startswith(f"{SITE}/{package}/") for path in tree), package
    assert not (root / VENV / "bin/kiosk-cardservice").exists()
    script = (root / VENV / "bin/kiosk").read_text().splitlines()[0]
    assert script == "#!/opt/siths-kiosk/bin/python"  # where it runs, not where it was built
    assert str(root) not in (root / VENV / "pyvenv.cfg").read_text()
    assert os.readlink(root / "usr/local/bin/kiosk") == "/opt/siths-kiosk/bin/kiosk"
    # Compiled at install, hash-based (the same bytes each time; the root may be read-only).
    pyc = (root / SITE / "kiosk/__pycache__/appliance.cpython-311.pyc").read_bytes()
    assert int.from_bytes(pyc[4:8], "little") == 0b11  # hash-based, checked


def test_the_developer_commands_say_they_are_not_on_the_unit(installed: Installed, tmp_path):
    python = installed.root / VENV / "bin/python"
    result = subprocess.run(
        [str(python), "-m", "kiosk.cli", "demo", "--scripted"],
        capture_output=True,
        text=True,
        cwd=tmp_path,  # not the repository, whose sim/ would be found first
        check=False,
    )
    assert result.returncode == 2
    assert "not installed on this unit" in result.stderr


def test_units_user_folders_and_console(installed: Installed):
    root = installed.root
    system = root / "etc/systemd/system"
    unit = system / "siths-kiosk.service"
    assert (
        unit.read_text() == (Path(__file__).parents[2] / "systemd/siths-kiosk.service").read_text()
    )
    for target, name in (
        ("multi-user.target", "siths-kiosk.service"),
        ("multi-user.target", "siths-kiosk-enrol.service"),  # first boot, until enrolled
        ("timers.target", "siths-kiosk-renew.timer"),  # the certificate renewed when due
    ):
        wanted = system / f"{target}.wants/{name}"
        assert os.readlink(wanted) == f"/etc/systemd/system/{name}"
    assert (system / "siths-kiosk-renew.service").is_file()
    # The first-boot enrolment's USB stick is mounted read-only under /media by udev.
    rule = (root / "etc/udev/rules.d/90-siths-kiosk-usb.rules").read_text()
    assert "systemd-mount --no-block --collect --options=ro,nosuid,nodev,noexec" in rule
    assert "/media/%k" in rule
    assert os.readlink(system / "getty@tty1.service") == "/dev/null"
    assert (
        "RuntimeWatchdogSec="
        in (system.parent / "system.conf.d/siths-kiosk-watchdog.conf").read_text()
    )
    kiosk = owner(root, "siths-kiosk")
    passwd = next(
        line
        for line in (root / "etc/passwd").read_text().splitlines()
        if line.startswith("siths-kiosk:")
    )
    assert passwd.endswith(":/var/lib/siths-kiosk:/usr/sbin/nologin")
    groups = {
        line.split(":")[0]: line.split(":")[3].split(",")
        for line in (root / "etc/group").read_text().splitlines()
    }
    assert all("siths-kiosk" in groups[name] for name in ("video", "render", "input"))
    state, config = (root / "var/lib/siths-kiosk").stat(), (root / "etc/siths-kiosk").stat()
    assert (state.st_uid, state.st_mode & 0o777) == (kiosk, 0o700)
    assert (config.st_uid, config.st_gid, config.st_mode & 0o777) == (0, kiosk, 0o750)
    cmdline = (root / "boot/firmware/cmdline.txt").read_text()
    assert "console=tty1" not in cmdline.split() and "console=tty3" in cmdline.split()
    assert "vt.global_cursor_default=0" in cmdline and "rootwait" in cmdline


def test_the_install_said_what_it_left_to_debian(installed: Installed):
    assert "Debian packages skipped; the appliance needs: pcscd cage seatd" in installed.outputs[0]
