"""Every screen renders in a real Kivy window under Xvfb, in both languages, at 800x480
and 1280x720, with nothing cut off (the gallery exits non-zero if a label overflows)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from sim.gallery import example_states
from tests.harness.xvfb import Xvfb

pytestmark = pytest.mark.ui


@pytest.fixture(scope="session")
def xvfb():
    server = Xvfb().start()
    yield server
    server.stop()


@pytest.mark.parametrize("size", ["800x480", "1280x720"])
@pytest.mark.parametrize("language", ["sv", "en"])
def test_every_screen_fits(xvfb, tmp_path, size, language):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sim.gallery",
            str(tmp_path),
            "--size",
            size,
            "--lang",
            language,
        ],
        env=xvfb.environment(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    shots = sorted(p.name for p in tmp_path.glob("*.png"))
    assert len(shots) == len(example_states())
    assert all(p.stat().st_size > 2000 for p in tmp_path.glob("*.png"))  # not blank
