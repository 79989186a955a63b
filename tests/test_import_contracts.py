"""The import rules of docs/design.md hold, and `lint-imports` would catch a break."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("protocol", "hw", "kiosk", "cardservice", "fleet", "provisioning", "sim")
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    """Run `lint-imports` on a copy of the packages (it imports from the working folder)."""
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=tree,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_code_keeps_every_contract(tree: Path) -> None:
    result = lint_imports(tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("KEPT") == 4


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        ("cardservice/vault.py", "import kiosk", "never import each other"),
        ("kiosk/config.py", "import cardservice.store", "never import each other"),
        ("protocol/login_qr.py", "import hw.tlv", "protocol imports nothing of ours"),
        ("hw/tlv.py", "import kiosk.reasons", "hw imports only protocol"),
        ("kiosk/controller.py", "import sim.vcard.card", "nothing but sim"),
        ("cardservice/service.py", "import sim.dev_pki", "nothing but sim"),
    ],
)
def test_a_wrong_import_fails_the_check(tree: Path, module: str, line: str, broken: str) -> None:
    with (tree / module).open("a", encoding="utf-8") as source:
        source.write(f"\n{line}  # noqa\n")
    result = lint_imports(tree)
    assert result.returncode != 0
    verdicts = [line for line in result.stdout.splitlines() if broken in line]
    assert any(line.rstrip().split(" (")[0].endswith("BROKEN") for line in verdicts), verdicts
