"""The on-screen tap test in a real Kivy window on a private X server (Xvfb), tapped with
real X pointer events (xdotool), as a technician's finger would on a touch screen.

Xvfb has no window manager, which does not honour fullscreen: the test asks for a window
of the screen's size at the top left (``--window``), as a kiosk on bare X would.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from provisioning.selftest.local_checks import check_display
from provisioning.selftest.results import Status
from provisioning.selftest.screen import show_report
from provisioning.selftest.tap_test import TARGETS
from tests.harness.xvfb import Xvfb

pytestmark = pytest.mark.ui

WIDTH, HEIGHT = 800, 480


@pytest.fixture
def screen(monkeypatch) -> Iterator[Xvfb]:
    """A private X screen the size of the kiosk's; the tap test's process inherits DISPLAY."""
    server = Xvfb(f"{WIDTH}x{HEIGHT}x24").start()
    monkeypatch.setenv("DISPLAY", server.display)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    yield server
    server.stop()


def xdotool(display: str, *arguments: str) -> None:
    subprocess.run(["xdotool", *arguments], env={"DISPLAY": display}, check=True, timeout=30)


def finger(display: str, *, first_beside: bool = False):
    """Taps each square once it is shown (the tap test's ``target N at X,Y`` line).

    The finger moves to a point, and taps once the window says the pointer is there
    (``pointer at X,Y``): a press the window gets before it knows the pointer came in is
    not a tap on a touch screen either. After a tap beside the square it waits until the
    window has counted it (``miss at X,Y``) before it moves on, as a finger lifts first.
    """
    aims: list[tuple[int, int]] = []
    tapped_beside: list[bool] = []

    def watch(line: str) -> None:
        kind, _, at = line.partition(" at ")
        if kind.startswith("target"):
            x, y = (int(value) for value in at.split(","))
            aims[:] = [(x + 200, y), (x, y)] if first_beside and kind == "target 1" else [(x, y)]
            xdotool(display, "mousemove", *map(str, aims[0]))
        elif kind == "pointer" and aims and tuple(int(v) for v in at.split(",")) == aims[0]:
            aims.pop(0)
            xdotool(display, "click", "1")
            if aims:
                tapped_beside.append(True)
        elif kind == "miss" and tapped_beside and aims:
            tapped_beside.clear()
            xdotool(display, "mousemove", *map(str, aims[0]))

    return watch


def test_every_square_tapped_passes_and_a_tap_beside_one_is_told(screen):
    result = check_display(
        True,
        window=f"{WIDTH}x{HEIGHT}",
        timeout=60,
        watch=finger(screen.display, first_beside=True),
    )
    assert result.status is Status.OK, result
    assert (
        result.found
        == "all 3 squares tapped on the 800x480 screen; 1 tap(s) landed beside a square"
    )


def test_a_screen_nobody_can_tap_fails_with_what_to_check(screen):
    shown: list[str] = []
    result = check_display(True, window=f"{WIDTH}x{HEIGHT}", timeout=3, watch=shown.append)
    first = TARGETS[0]
    assert shown[0] == f"target 1 at {round(first[0] * WIDTH)},{round(first[1] * HEIGHT)}"
    assert result.status is Status.FAILED
    assert result.found == "0 of 3 squares tapped within 3 s on the 800x480 screen"
    assert "libinput list-devices" in result.fix


def test_without_a_screen_it_fails_saying_no_window_opened(monkeypatch):
    monkeypatch.setenv("DISPLAY", ":9999")  # no X server there
    monkeypatch.setenv("SDL_VIDEODRIVER", "x11")  # not a console fallback
    result = check_display(True, timeout=5)
    assert result.status is Status.FAILED
    assert result.found.startswith("no window could be opened on this screen")
    assert "DISPLAY=:0" in result.fix


def test_the_report_stays_on_the_screen_until_a_tap(screen):
    def watch(line: str) -> None:
        if line == "shown":  # a frame with the report is on the screen: tap it away
            xdotool(screen.display, "mousemove", "300", "200")  # not where the pointer starts
        elif line == "pointer at 300,200":
            xdotool(screen.display, "click", "1")

    report = "SITHS kiosk self-test passed\nkiosk kiosk-entre-a | site Sjukhuset\n"
    assert show_report(report, window=f"{WIDTH}x{HEIGHT}", timeout=60, watch=watch) == "tap"


def test_the_report_closes_by_itself_and_without_a_screen_says_so(screen, monkeypatch):
    assert show_report("x\n", window=f"{WIDTH}x{HEIGHT}", timeout=2) == "timeout"
    monkeypatch.setenv("DISPLAY", ":9999")
    monkeypatch.setenv("SDL_VIDEODRIVER", "x11")
    assert show_report("x\n", timeout=5) is None
