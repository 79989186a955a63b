"""The self-test's report on the kiosk's own screen, until a tap (or a timeout).

A technician working from a phone beside the kiosk can read (or photograph) the result
on the kiosk itself. Runs in a process of its own (:mod:`provisioning.selftest.screen`
says why); the text comes on standard input. It prints ``shown`` once a frame with the
report is on the screen, ``pointer at X,Y`` when the pointer moves (for automation), and
``closed tap`` or ``closed timeout`` at the end.

``python -m provisioning.selftest.report_screen [--timeout SECONDS] [--size WxH] < report``
"""

from __future__ import annotations

import argparse
import sys

from provisioning.selftest.screen import configure, parse_size, report_pointer, say

TIMEOUT = 300.0
TITLE = "SITHS kiosk self-test: report"
HINT = "Tap the screen to close."


def run(text: str, timeout: float, size: tuple[int, int] | None = None) -> int:
    """Show ``text`` (and how to close it) until a tap or ``timeout`` seconds."""
    configure(size)
    from kivy.app import App
    from kivy.clock import Clock
    from kivy.core.window import Window
    from kivy.uix.label import Label

    class Report(Label):
        """The report, top left, wrapped to the screen; any tap closes it."""

        closed = "timeout"
        announced = False

        def on_touch_up(self, touch: object) -> bool:
            self.closed = "tap"
            App.get_running_app().stop()
            return True

    class ReportScreen(App):
        title = TITLE

        def build(self) -> Report:
            self.view = Report(
                text=f"{text.rstrip()}\n\n{HINT}",
                font_size="15sp",
                halign="left",
                valign="top",
                padding=(16, 16),
            )
            self.view.bind(size=lambda view, size: setattr(view, "text_size", size))
            Window.bind(on_flip=self.flipped)
            report_pointer()
            Clock.schedule_once(lambda _dt: self.stop(), timeout)
            return self.view

        def flipped(self, *_args: object) -> None:
            if not self.view.announced:
                self.view.announced = True
                say("shown")

    app = ReportScreen()
    app.run()
    say(f"closed {app.view.closed}")
    return 0


def main() -> int:
    """Read the report from standard input and show it."""
    parser = argparse.ArgumentParser(prog="python -m provisioning.selftest.report_screen")
    parser.add_argument("--timeout", type=float, default=TIMEOUT)
    parser.add_argument("--size", metavar="WIDTHxHEIGHT")
    args = parser.parse_args()
    return run(sys.stdin.read(), args.timeout, parse_size(args.size))


if __name__ == "__main__":
    sys.exit(main())
