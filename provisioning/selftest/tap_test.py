"""The on-screen tap test: run at the kiosk's own screen, in a process of its own.

Three green squares appear one after another, near two opposite corners and in the
middle, so a display that shows nothing, a touch panel that does not answer, and one
whose touches land in the wrong place (a rotated or mis-calibrated panel) are each seen:
the technician taps each square; a tap beside it counts as a miss. A process of its own
(:mod:`provisioning.selftest.screen` says why). For automation it prints a line per
square shown (``target N at X,Y``: the square's centre in screen pixels from the top
left), per pointer move (``pointer at X,Y``), per tap beside the square (``miss at X,Y``),
and a last line
``result ok|timeout HITS MISSES WIDTHxHEIGHT``; the exit status is 0 when every square
was tapped.

``python -m provisioning.selftest.tap_test [--timeout SECONDS]``
"""

from __future__ import annotations

import argparse
import sys

from provisioning.selftest.screen import configure, parse_size, report_pointer, say

#: Where the squares' centres are, as fractions of the screen from the top left.
TARGETS = ((0.15, 0.2), (0.85, 0.8), (0.5, 0.5))
#: A square's side, as a fraction of the screen's shorter side: a fingertip's size.
TARGET_SIDE = 0.2
TIMEOUT = 60.0
TITLE = "SITHS kiosk self-test: tap test"


def run(timeout: float, size: tuple[int, int] | None = None) -> int:
    """Show the squares one by one until all are tapped or ``timeout`` seconds pass.

    ``size``: a borderless window of that size at the top left instead of fullscreen, for
    an X screen without a window manager (which does not honour fullscreen).
    """
    configure(size)

    from kivy.app import App
    from kivy.clock import Clock
    from kivy.core.window import Window
    from kivy.graphics import Color, Rectangle
    from kivy.uix.label import Label
    from kivy.uix.widget import Widget

    class Board(Widget):
        """The whole screen: a line of instructions and the square to tap."""

        def __init__(self) -> None:
            super().__init__()
            self.index = 0
            self.misses = 0
            self.outcome = "timeout"
            self.label = Label(font_size="28sp", halign="center")
            self.add_widget(self.label)
            self.announce = ""
            Window.bind(on_flip=self.flipped)
            report_pointer()
            Clock.schedule_once(lambda _dt: self.show(), 0)

        def flipped(self, *_args: object) -> None:
            """Say where a square is once a frame showing it is on the screen."""
            if self.announce:
                say(self.announce)
                self.announce = ""

        def square(self) -> tuple[float, float, float]:
            """The current square's left, bottom (Kivy's origin) and side, in pixels."""
            width, height = Window.size
            side = TARGET_SIDE * min(width, height)
            fx, fy = TARGETS[self.index]
            return fx * width - side / 2, (1 - fy) * height - side / 2, side

        def show(self) -> None:
            width, height = Window.size
            left, bottom, side = self.square()
            self.canvas.before.clear()
            with self.canvas.before:
                Color(0, 0.6, 0.2)
                Rectangle(pos=(left, bottom), size=(side, side))
            self.label.text = f"Tap the green square ({self.index + 1} of {len(TARGETS)})"
            self.label.center = (
                width / 2,
                height * 0.9 if TARGETS[self.index][1] > 0.5 else height * 0.1,
            )
            fx, fy = TARGETS[self.index]
            self.announce = f"target {self.index + 1} at {round(fx * width)},{round(fy * height)}"

        def on_touch_up(self, touch: object) -> bool:
            left, bottom, side = self.square()
            x, y = touch.pos  # type: ignore[attr-defined]
            if left <= x <= left + side and bottom <= y <= bottom + side:
                self.index += 1
                if self.index == len(TARGETS):
                    self.outcome = "ok"
                    App.get_running_app().stop()
                    return True
                self.show()
            else:
                self.misses += 1
                say(f"miss at {round(x)},{round(Window.size[1] - y)}")
            return True

    class TapTest(App):
        title = TITLE

        def build(self) -> Widget:
            self.board = Board()
            Clock.schedule_once(lambda _dt: self.stop(), timeout)
            return self.board

    app = TapTest()
    app.run()
    board = app.board
    width, height = Window.size
    say(f"result {board.outcome} {board.index} {board.misses} {width}x{height}")
    return 0 if board.outcome == "ok" else 1


def main() -> int:
    """Parse the options and run."""
    parser = argparse.ArgumentParser(prog="python -m provisioning.selftest.tap_test")
    parser.add_argument("--timeout", type=float, default=TIMEOUT)
    parser.add_argument(
        "--size",
        metavar="WIDTHxHEIGHT",
        help="a window of this size at the top left instead of fullscreen (no window manager)",
    )
    args = parser.parse_args()
    return run(args.timeout, parse_size(args.size))


if __name__ == "__main__":
    sys.exit(main())
