"""What the self-test's windows share: Kivy set up for the kiosk's screen, and output.

Both print lines for the process that started them.

The windows (the tap test, the report) each run in a process of their own: Kivy takes
over the process, and a screen that cannot be opened must end only that window.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable


def say(line: str) -> None:
    """One line to the starting process, at once."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def configure(size: tuple[int, int] | None) -> None:
    """Fullscreen and borderless, or ``size`` at the top left; no Escape, no console noise.

    An X screen without a window manager does not honour fullscreen: ``size`` is for it.
    Call before any other Kivy import.
    """
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")
    os.environ.setdefault("KIVY_NO_FILELOG", "1")
    # SDL swallows a click that gives its window the focus: the technician's first tap
    # would not count (or a first tap beside a square would go unseen).
    os.environ.setdefault("SDL_MOUSE_FOCUS_CLICKTHROUGH", "1")
    from kivy.config import Config

    Config.set("kivy", "exit_on_escape", "0")
    Config.set("graphics", "borderless", "1")
    if size is None:
        Config.set("graphics", "fullscreen", "auto")
    else:
        Config.set("graphics", "fullscreen", "0")
        Config.set("graphics", "width", str(size[0]))
        Config.set("graphics", "height", str(size[1]))
        Config.set("graphics", "position", "custom")
        Config.set("graphics", "left", "0")
        Config.set("graphics", "top", "0")
    Config.set("input", "mouse", "mouse,disable_multitouch")


def report_pointer() -> None:
    """Print ``pointer at X,Y`` (from the top left) whenever the pointer moves.

    For automation: a press the window gets before it has seen the pointer come in is
    lost, so a driver taps once the window says the pointer is where it aimed.
    Call from the running app (the window exists).
    """
    from kivy.core.window import Window

    def moved(_window: object, pos: tuple[float, float]) -> None:
        say(f"pointer at {round(pos[0])},{round(Window.size[1] - 1 - pos[1])}")

    Window.bind(mouse_pos=moved)


def parse_size(text: str | None) -> tuple[int, int] | None:
    """``WIDTHxHEIGHT`` as two numbers (``None`` stays ``None``: fullscreen)."""
    if not text:
        return None
    width, _, height = text.partition("x")
    return int(width), int(height)


def run_window(
    module: str,
    arguments: list[str],
    *,
    timeout: float,
    text: str = "",
    watch: Callable[[str], None] | None = None,
) -> tuple[str, str]:
    """Run one window program (``python -m module``) to its end: its output and errors.

    ``text`` goes to its standard input; ``watch`` gets each line it prints as it prints
    it. The program ends itself after its own timeout; past ``timeout`` (and a minute
    more) it is killed, so a hung window cannot hang the self-test.
    """
    command = [sys.executable, "-m", module, *arguments]
    with tempfile.TemporaryFile("w+") as errors:
        child = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors, text=True
        )
        guard = threading.Timer(timeout + 60, child.kill)
        guard.start()
        lines = []
        try:
            if child.stdin is not None:
                child.stdin.write(text)
                child.stdin.close()
            for line in child.stdout or ():
                lines.append(line)
                if watch is not None:
                    watch(line.rstrip("\n"))
            child.wait()
        finally:
            guard.cancel()
        errors.seek(0)
        return "".join(lines), errors.read()


def show_report(
    report: str,
    *,
    window: str | None = None,
    timeout: float = 300.0,
    watch: Callable[[str], None] | None = None,
) -> str | None:
    """Show the report on this screen until a tap; ``None`` when no window could open."""
    arguments = ["--timeout", f"{timeout:g}", *(["--size", window] if window else [])]
    output, _ = run_window(
        "provisioning.selftest.report_screen",
        arguments,
        timeout=timeout,
        text=report,
        watch=watch,
    )
    closed = [line.split()[1] for line in output.splitlines() if line.startswith("closed ")]
    return closed[-1] if closed else None
