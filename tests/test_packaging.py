"""A built wheel carries everything the programs read at run time, not only the code."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("protocol", "hw", "kiosk", "cardservice", "fleet", "provisioning", "sim")


def test_the_wheel_holds_every_data_file_and_the_words_load_from_it(tmp_path: Path) -> None:
    source = tmp_path / "source"  # a clean copy: no build/ left over from another build
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    subprocess.run(
        [
            *(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"),
            *("-w", str(tmp_path / "dist"), str(source)),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        archive.extractall(tmp_path / "unpacked")
    data = {
        str(path.relative_to(ROOT))
        for package in PACKAGES
        for path in (ROOT / package).rglob("*")
        if path.is_file() and path.suffix not in (".py", ".pyc")
    }
    assert data, "no data files found in the source tree"
    assert data <= names, f"left out of the wheel: {sorted(data - names)}"
    # The shared words, read from the unpacked wheel alone (no site-packages, no checkout).
    spoken = subprocess.run(
        [
            sys.executable,
            "-S",
            "-c",
            "import protocol.reasons as r; print(r.__file__);"
            " print(r.reason_text('sv', 'wrong-puk', tries=2))",
        ],
        env={"PYTHONPATH": str(tmp_path / "unpacked")},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.splitlines()
    assert spoken[0].startswith(str(tmp_path / "unpacked"))
    assert spoken[1] == "Fel PUK-kod. 2 försök kvar."
