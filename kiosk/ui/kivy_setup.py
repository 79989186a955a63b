"""Kivy settings for a kiosk; must run before anything imports ``kivy.clock`` or the window.

The clock is Kivy's interruptible one, started at the idle frame rate:
:mod:`kiosk.ui.frame_pacing` says why and raises the rate while the screen is in use.
"""

from __future__ import annotations

import os

from kiosk.ui.frame_pacing import IDLE_FPS


def configure(*, fullscreen: bool, size: tuple[int, int] = (800, 480)) -> None:
    """Fullscreen and borderless in production; no escape key, no settings, no console noise."""
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    os.environ.setdefault("KIVY_LOG_MODE", "PYTHON")
    os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")
    os.environ.setdefault("KIVY_NO_FILELOG", "1")
    from kivy.config import Config

    Config.set("kivy", "exit_on_escape", "0")
    Config.set("kivy", "log_level", "warning")
    Config.set("kivy", "keyboard_mode", "system")
    Config.set("kivy", "kivy_clock", "interrupt")
    Config.set("graphics", "maxfps", str(IDLE_FPS))
    # No multisampling: the screens are upright rectangles and text rendered to textures,
    # which look the same without it; with Kivy's default of 2 samples, software GL took
    # three times as long to put a frame on the screen (docs/performance.md).
    Config.set("graphics", "multisamples", "0")
    Config.set("input", "mouse", "mouse,disable_multitouch")
    if fullscreen:
        Config.set("graphics", "fullscreen", "auto")
        Config.set("graphics", "borderless", "1")
        Config.set("graphics", "show_cursor", "0")
    else:
        Config.set("graphics", "fullscreen", "0")
        Config.set("graphics", "width", str(size[0]))
        Config.set("graphics", "height", str(size[1]))
        Config.set("graphics", "resizable", "0")
