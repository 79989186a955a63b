"""The unit files as systemd itself reads them: ``systemd-analyze verify`` and ``security``."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).parents[2]
UNITS = sorted(
    path for path in (REPOSITORY / "systemd").iterdir() if path.suffix in (".service", ".timer")
)
#: Where install-kiosk puts the program; on this machine the same commands are the venv's.
INSTALLED_BIN = "/opt/siths-kiosk/bin/"


def as_on_this_machine(unit: Path, folder: Path) -> Path:
    """The unit with the installed program's path pointing at this checkout's venv.

    ``systemd-analyze verify`` checks that every ``ExecStart`` command is executable, and
    /opt/siths-kiosk exists only on an installed kiosk (the container test runs the
    installed units unchanged). Nothing else in the unit is touched.
    """
    venv_bin = str(Path(sys.prefix) / "bin") + "/"
    copy = folder / unit.name
    copy.write_text(unit.read_text().replace(INSTALLED_BIN, venv_bin))
    return copy


DOCS = Path(__file__).parents[2] / "docs" / "install-raspberry-pi.md"


@pytest.mark.parametrize("unit", UNITS, ids=lambda path: path.name)
def test_systemd_analyze_verify_passes(unit: Path, tmp_path: Path):
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(as_on_this_machine(unit, tmp_path))],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", result.stderr  # not even a warning


def security(unit: Path) -> tuple[float, str, list[str]]:
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", "--no-pager", str(unit)],
        capture_output=True,
        text=True,
        check=True,
    )
    print(result.stdout)
    overall = re.search(r"Overall exposure level for \S+: ([0-9.]+) (\w+)", result.stdout)
    assert overall is not None, result.stdout
    exposed = re.findall(r"^✗ (\S+)", result.stdout, flags=re.MULTILINE)
    return float(overall.group(1)), overall.group(2), exposed


def test_the_kiosk_unit_is_exposed_2_or_less_and_the_docs_say_why_for_the_rest():
    exposure, verdict, exposed = security(Path(__file__).parents[2] / "systemd/siths-kiosk.service")
    assert exposure <= 2.0 and verdict == "OK"
    docs = DOCS.read_text()
    missing = [setting for setting in exposed if f"`{setting}`" not in docs]
    assert missing == [], f"docs/install-raspberry-pi.md does not explain {missing}"
