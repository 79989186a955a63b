"""The kiosk app in a real window, driven line by line over stdin/stdout by a UI test.

Run by tests/kiosk/test_ui_unlock.py under Xvfb:
``python -m tests.kiosk.ui_kiosk_child CONFIG SHOTS``.
Commands (one a line): ``wait STATE``, ``tap NAME``, ``type DIGITS``, ``qr``,
``shot LABEL``, ``quit``. Each answers one line: ``ok ...`` or ``error ...``.
"""

from __future__ import annotations

import sys
import threading
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


def bench_qr(person: object, rounds: int) -> str:
    """Median milliseconds to draw one new QR frame (bench/ui_figures.py)."""
    import statistics
    import time

    from kiosk.ui.qr_widget import QrWidget
    from protocol.login_qr import qr_content

    def draw() -> float:
        widget = QrWidget(size=(300, 300))
        times = []
        for second in range(rounds):
            start = time.perf_counter()
            widget.show(
                qr_content("mobiltsiths", "0f3c2a9e-6b1d-4c55-9e0a-5d2f1b7c8e43", "secret", second)
            )
            times.append(time.perf_counter() - start)
        return statistics.median(times) * 1000

    return f"{person.on_main(draw):.2f}"  # type: ignore[attr-defined]


def main() -> int:
    config_path, shots = Path(sys.argv[1]), Path(sys.argv[2])
    appliance = Appliance.build(load(config_path)).start()

    def started(app: object) -> None:
        from sim.scripted_person import ScriptedPerson

        person = ScriptedPerson(app, shots)  # type: ignore[arg-type]

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
                    elif verb == "bench-qr":
                        answer(f"ok {bench_qr(person, int(argument or 50))}")
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
