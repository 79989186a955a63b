"""The appliance as installed: ``scripts/install-kiosk`` run twice into one root folder.

The root is prepared as a bare Debian root on this machine's /usr (tests/harness/
container.py): the same root the container tests then boot, so what they run is what
the install script put there.
"""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.harness.container import prepare_root

REPOSITORY = Path(__file__).resolve().parents[2]
INSTALL = REPOSITORY / "scripts" / "install-kiosk"
#: A Raspberry Pi OS kernel command line, as the image has it before the install.
PI_CMDLINE = "console=serial0,115200 console=tty1 root=PARTUUID=0c4e-02 rootfstype=ext4 rootwait\n"

Tree = dict[str, tuple[int, int, int, str]]


def snapshot(root: Path) -> Tree:
    """Every path under ``root``: mode, owner, group and content hash or link target."""
    tree: Tree = {}
    for folder, names, files in os.walk(root):
        for name in names + files:
            path = Path(folder) / name
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                what = "-> " + os.readlink(path)
            elif stat.S_ISREG(info.st_mode):
                what = hashlib.sha256(path.read_bytes()).hexdigest()
            else:
                what = ""
            tree[str(path.relative_to(root))] = (info.st_mode, info.st_uid, info.st_gid, what)
    return tree


@dataclass
class Installed:
    root: Path
    first: Tree
    second: Tree
    outputs: list[str]


def install(root: Path) -> str:
    result = subprocess.run(
        [str(INSTALL), "--root", str(root), "--skip-debian-packages"],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture(scope="session")
def installed(tmp_path_factory) -> Installed:
    """The install run twice into a fresh root; the tree after each run."""
    root = tmp_path_factory.mktemp("appliance") / "root"
    root.mkdir()
    prepare_root(root)
    (root / "boot/firmware").mkdir(parents=True)
    (root / "boot/firmware/cmdline.txt").write_text(PI_CMDLINE)
    first_output = install(root)
    first = snapshot(root)
    second_output = install(root)
    return Installed(root, first, snapshot(root), [first_output, second_output])
