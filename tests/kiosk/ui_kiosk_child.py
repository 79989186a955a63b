"""The kiosk app in a real window, driven line by line over stdin/stdout by a UI test.

Run by tests/kiosk/test_ui_unlock.py under Xvfb:
``python -m tests.kiosk.ui_kiosk_child CONFIG SHOTS``.
Commands (one a line): ``wait STATE``, ``tap NAME``, ``type DIGITS``, ``qr``,
``shot LABEL``, ``record-qr`` (from now on, save every frame that draws a new QR),
``qr-frames`` (JSON: each recorded frame's content and screenshot), ``login`` (JSON:
the QR prefix, token and secret of the login on the screen), ``hand STEM...`` (hand the
window the screen gallery's example states, back to back, as the controller would),
``drawn STATE`` (wait for a frame showing STATE; JSON: the states of the frames drawn
since the last ``drawn``), ``pacing`` (whether the frame rate is paced, and the rate),
``freeze SECONDS`` (hold the main thread, as a hung screen would; answers at once),
``quit``. Each answers one line: ``ok ...`` or ``error ...``. ``HEARTBEAT_LIMITS`` in
the environment (JSON) shortens the watchdog's limits (tests/kiosk/test_ui_watchdog.py).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path

from kiosk.appliance import Appliance
from kiosk.config import load
from kiosk.flow import states

STATES = {name: value for name, value in vars(states).items() if isinstance(value, type)}


def answer(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def try_to_leave(person: object, app: object) -> str:
    """Press Escape and ask the window to close, as a passer-by might; report if it is open."""

    def attempt() -> str:
        from kivy.core.window import Window

        Window.dispatch("on_keyboard", 27, 9, None, [])  # Escape
        refused = Window.dispatch("on_request_close")
        return "still-open" if refused and app.root is not None else "left"  # type: ignore[attr-defined]

    return person.on_main(attempt)  # type: ignore[attr-defined]


class QrFrameRecorder:
    """Saves a screenshot of every frame that puts a new QR content on the screen."""

    def __init__(self, app: object, folder: Path) -> None:
        self.app = app
        self.folder = folder
        self.frames: list[tuple[str, str]] = []

    def start(self) -> None:
        """Main thread: watch every frame from now on."""
        from kivy.core.window import Window

        self.folder.mkdir(parents=True, exist_ok=True)
        Window.bind(on_flip=self._flipped)

    def _flipped(self, window: object) -> None:
        # Runs before the buffers are swapped: the back buffer holds the frame just drawn.
        widget = self.app.find("qr")  # type: ignore[attr-defined]
        content = getattr(widget, "content", "")
        if not content or (self.frames and self.frames[-1][0] == content):
            return
        path = window.screenshot(name=str(self.folder / "frame.png"))  # type: ignore[attr-defined]
        self.frames.append((content, path))


class FrameLog:
    """The state each frame put on the screen."""

    def __init__(self, app: object) -> None:
        self.app = app
        self.shown: list[str] = []
        self.changed = threading.Condition()

    def start(self) -> None:
        """Main thread: note every frame from now on."""
        from kivy.core.window import Window

        Window.bind(on_flip=self._flipped)

    def _flipped(self, _window: object) -> None:
        with self.changed:
            self.shown.append(type(self.app.state).__name__)  # type: ignore[attr-defined]
            self.changed.notify_all()

    def drawn(self, state: str, timeout: float = 30.0) -> str:
        """Wait for a frame showing ``state``; the frames since the last call, as JSON."""
        with self.changed:
            if not self.changed.wait_for(lambda: state in self.shown, timeout):
                raise TimeoutError(f"no frame showed {state}: {self.shown}")
            shown, self.shown = self.shown, []
        return json.dumps(shown)


def hand_states(app: object, stems: list[str]) -> None:
    """Hand the window example states back to back, from this (non-main) thread."""
    from sim.gallery import example_states

    examples = dict(example_states())
    for stem in stems:
        app.state_changed(examples[stem])  # type: ignore[attr-defined]


def login_on_screen(app: object) -> str:
    """The QR parameters of the login on the screen, as JSON."""
    login = app.state.login  # type: ignore[attr-defined]
    return json.dumps(
        {"prefix": login.qr_prefix, "token": login.qr_start_token, "secret": login.qr_start_secret}
    )


def main() -> int:
    config_path, shots = Path(sys.argv[1]), Path(sys.argv[2])
    limits = json.loads(os.environ.get("HEARTBEAT_LIMITS", "{}"))
    appliance = Appliance.build(load(config_path), limits=limits).start()

    def started(app: object) -> None:
        from sim.scripted_person import ScriptedPerson

        person = ScriptedPerson(app, shots)  # type: ignore[arg-type]
        recorder = QrFrameRecorder(app, shots / "qr-frames")
        frames = FrameLog(app)
        frames.start()  # on_started runs on the main thread

        def serve() -> None:
            for line in sys.stdin:
                verb, _, argument = line.strip().partition(" ")
                try:
                    if verb == "wait":
                        kind = STATES[argument]
                        state = appliance.controller.wait_for(
                            lambda s, kind=kind: isinstance(s, kind | states.Failed), 60
                        )
                        person.wait_shown(type(state))
                        reason = getattr(state, "reason", "")
                        answer(f"ok {type(state).__name__} {reason}".strip())
                    elif verb == "tap":
                        person.tap(argument)
                        answer("ok")
                    elif verb == "type":
                        person.type_digits(argument)
                        answer("ok")
                    elif verb == "qr":
                        answer(f"ok {person.read_qr()}")
                    elif verb == "shot":
                        answer(f"ok {person.screenshot(argument)}")
                    elif verb == "language":
                        answer(f"ok {person.on_main(lambda: app.language)}")  # type: ignore[attr-defined]
                    elif verb == "try-to-leave":
                        answer(f"ok {try_to_leave(person, app)}")
                    elif verb == "record-qr":
                        person.on_main(recorder.start)
                        answer("ok")
                    elif verb == "qr-frames":
                        answer(f"ok {person.on_main(lambda: json.dumps(recorder.frames))}")
                    elif verb == "hand":
                        hand_states(app, argument.split())
                        answer("ok")
                    elif verb == "drawn":
                        answer(f"ok {frames.drawn(argument)}")
                    elif verb == "pacing":
                        pacing = person.on_main(lambda: (app.pacer.enabled, app.pacer.fps))  # type: ignore[attr-defined]
                        answer(f"ok {pacing[0]} {pacing[1]}")
                    elif verb == "login":
                        answer(f"ok {person.on_main(lambda: login_on_screen(app))}")
                    elif verb == "freeze":
                        from kivy.clock import Clock

                        held = float(argument)
                        Clock.schedule_once(lambda _dt, held=held: time.sleep(held))
                        answer("ok")
                    elif verb == "quit":
                        break
                    else:
                        answer(f"error unknown command {verb!r}")
                except Exception as error:
                    answer(f"error {type(error).__name__}: {error}")
            person.on_main(app.stop)  # type: ignore[attr-defined]

        threading.Thread(target=serve, daemon=True).start()

    try:
        appliance.run_window(on_started=started)
    finally:
        appliance.stop()
    answer("ok bye")
    return 0


if __name__ == "__main__":
    sys.exit(main())
