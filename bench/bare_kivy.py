"""A bare Kivy app (one label, Kivy's defaults): the baseline beside the kiosk's idle figures.

Started by ``bench/ui_figures.py`` under the same Xvfb, at the kiosk's window size.
Prints ``ok ready`` once its first frame is drawn; ends when its standard input closes.
"""

from __future__ import annotations

import os
import sys
import threading

os.environ.setdefault("KIVY_NO_ARGS", "1")
os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")
os.environ.setdefault("KIVY_NO_FILELOG", "1")

from kivy.config import Config

Config.set("graphics", "width", "800")
Config.set("graphics", "height", "480")

from kivy.app import App  # noqa: E402
from kivy.clock import Clock  # noqa: E402
from kivy.uix.label import Label  # noqa: E402


class Bare(App):
    def build(self) -> Label:
        Clock.schedule_once(lambda _dt: print("ok ready", flush=True), 0)
        threading.Thread(target=self.wait_for_stdin_to_close, daemon=True).start()
        return Label(text="A bare Kivy app", font_size="30sp")

    def wait_for_stdin_to_close(self) -> None:
        sys.stdin.read()
        Clock.schedule_once(lambda _dt: self.stop(), 0)


if __name__ == "__main__":
    Bare().run()
