"""A scripted person at the touchscreen: taps buttons, types on the keypad, reads the QR.

Used by ``kiosk demo`` on a machine without a display (on a virtual screen,
saving a screenshot of each step) and by the UI tests. It runs on its own
thread and does everything to the window on Kivy's main thread: touches are
real touch events at the widgets' positions, and the QR code is read off a
screenshot with a real decoder (``zbarimg`` from zbar-tools).
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from kivy.clock import Clock

from kiosk.ui.app import KioskApp

T = TypeVar("T")


class ScriptedPerson:
    """Acts on a running :class:`KioskApp` from a background thread."""

    def __init__(self, app: KioskApp, shots: Path) -> None:
        self.app = app
        self.shots = shots
        shots.mkdir(parents=True, exist_ok=True)
        self.count = 0

    def on_main(self, work: Callable[[], T], timeout: float = 10.0) -> T:
        """Run ``work`` on Kivy's main thread two frames from now; return its result.

        Two frames: pending state changes are rendered and drawn first, so a
        screenshot shows what a person would see.
        """
        done = threading.Event()
        box: dict[str, object] = {}

        def run(_dt: float) -> None:
            try:
                box["value"] = work()
            except Exception as error:  # handed back to the calling thread
                box["error"] = error
            done.set()

        Clock.schedule_once(lambda _dt: Clock.schedule_once(run, 0), 0)
        if not done.wait(timeout):
            raise TimeoutError("the UI did not run the step")
        if "error" in box:
            raise box["error"]  # type: ignore[misc]
        return box["value"]  # type: ignore[return-value]

    def wait_shown(self, kind: type, timeout: float = 10.0) -> None:
        """Wait until the window shows a state of ``kind`` (the flow may be ahead of it)."""
        deadline = time.monotonic() + timeout
        while not self.on_main(lambda: isinstance(self.app.state, kind)):
            if time.monotonic() > deadline:
                raise TimeoutError(f"the screen never showed {kind.__name__}")

    def tap(self, name: str) -> None:
        """Touch the widget called ``name`` in its middle."""
        from kivy.tests.common import UnitTestTouch

        def touch() -> None:
            widget = self.app.find(name)
            if widget is None:
                raise LookupError(f"no widget {name!r} on the screen")
            x, y = widget.to_window(*widget.center)
            event = UnitTestTouch(x, y)
            event.touch_down()
            event.touch_up()

        self.on_main(touch)

    def type_digits(self, digits: str) -> None:
        """Tap each digit on the keypad, then OK."""

        def press_all() -> None:
            from kivy.tests.common import UnitTestTouch

            keypad = self.app.find("keypad")
            if keypad is None:
                raise LookupError("no keypad on the screen")
            for key in [*digits, "ok"]:
                button = keypad.buttons[key]
                x, y = button.to_window(*button.center)
                event = UnitTestTouch(x, y)
                event.touch_down()
                event.touch_up()

        self.on_main(press_all)

    def screenshot(self, label: str) -> Path:
        """Save the screen as ``NN-label.png``."""
        self.count += 1
        target = self.shots / f"{self.count:02d}-{label}.png"

        def save() -> Path:
            from kivy.core.window import Window

            saved = Window.screenshot(name=str(self.shots / "shot.png"))
            Path(saved).replace(target)
            return target

        return self.on_main(save)

    def read_qr(self) -> str:
        """Decode the QR on the screen with zbar, as a phone camera would."""
        if shutil.which("zbarimg") is None:
            raise RuntimeError("zbarimg is not installed (Debian package zbar-tools)")
        image = self.screenshot("qr")
        result = subprocess.run(
            ["zbarimg", "--raw", "-q", str(image)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        content = result.stdout.strip()
        if result.returncode != 0 or not content:
            raise RuntimeError("no QR code could be read off the screen")
        return content.splitlines()[0]
