"""The kiosk window for ``bench/ui_figures.py``, telling when each frame reached the screen.

Not run by hand: the bench starts ``python bench/ui_child.py CONFIG`` with ``DISPLAY``,
``PCSCLITE_CSOCK_NAME`` and ``PYTHONPATH`` set. It runs whichever kiosk is on
``PYTHONPATH`` and uses only what every revision of it has (``Appliance``,
``load``, the flow's states, the app's ``state`` and ``find``, the QR widget's
``show``), so the bench can run an earlier revision beside this one in the same
run. Times are ``time.monotonic()`` (CLOCK_MONOTONIC: comparable across processes).

Commands, one a line; each answers one line, ``ok ...`` or ``error ...``:

``mark``                 forget the frames and states seen so far
``drawn STATE``          wait for the first frame since the mark that shows STATE; answers
                         its time, the frames since the mark that showed ReadingCard, how
                         many of those reached the screen after the card had been read, and
                         when the window was handed STATE
``rest``                 put the frame pacer (where the revision has one) at its idle rate
``tap NAME``, ``type DIGITS``  touches at the widgets, as ``sim.scripted_person`` does
``qr-content``           what the QR widget on the screen shows
``qr-frames N``          N new QR contents, one a frame: median and spread (ms) of the
                         widget's ``show`` and of ``show`` until that frame is on the screen
``quit``
"""

from __future__ import annotations

import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from kiosk.appliance import Appliance
from kiosk.config import load

FrameLog = list[tuple[float, str]]


class Recorder:
    """Frames flipped to the screen and states handed to the window, with their times."""

    def __init__(self) -> None:
        self.lock = threading.Condition()
        self.frames: FrameLog = []  # (time the frame was on the screen, state it showed)
        self.arrivals: FrameLog = []  # (time the window was handed a state, its type)
        self.after_flip: list[Callable[[float], None]] = []

    def mark(self) -> None:
        with self.lock:
            self.frames.clear()
            self.arrivals.clear()

    def frame(self, shown: str) -> None:
        now = time.monotonic()
        with self.lock:
            self.frames.append((now, shown))
            self.lock.notify_all()
        callbacks, self.after_flip = self.after_flip, []
        for callback in callbacks:
            callback(now)

    def arrived(self, name: str) -> None:
        with self.lock:
            self.arrivals.append((time.monotonic(), name))

    def drawn(self, state: str, timeout: float = 60.0) -> str:
        """The first frame showing ``state``; ReadingCard frames, and those drawn stale."""
        with self.lock:
            found = self.lock.wait_for(
                lambda: any(name == state for _t, name in self.frames), timeout
            )
            if not found:
                raise TimeoutError(f"no frame showed {state}")
            at = next(t for t, name in self.frames if name == state)
            handed = next((t for t, name in self.arrivals if name == state), at)
            read_at = next((t for t, name in self.arrivals if name != "ReadingCard"), None)
            reading = [t for t, name in self.frames if name == "ReadingCard"]
            stale = [t for t in reading if read_at is not None and t > read_at]
        return f"{at:.6f} {len(reading)} {len(stale)} {handed:.6f}"


def answer(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def qr_frames(app: object, person: object, recorder: Recorder, count: int) -> str:
    """Draw ``count`` new QR contents, one a frame, timing each until it is on the screen."""
    from kivy.clock import Clock

    from protocol.login_qr import qr_content

    shows: list[float] = []
    frames: list[float] = []
    done = threading.Event()

    def step(_dt: float = 0.0) -> None:
        if len(frames) == count:
            done.set()
            return
        widget = app.find("qr")  # type: ignore[attr-defined]
        content = qr_content("mobiltsiths", "0f3c2a9e-6b1d-4c55", "bench", 10_000 + len(frames))
        start = time.monotonic()
        widget.show(content)
        shows.append(time.monotonic() - start)

        def flipped(at: float) -> None:
            frames.append(at - start)
            Clock.schedule_once(step, 0)

        recorder.after_flip.append(flipped)

    person.on_main(step)  # type: ignore[attr-defined]
    if not done.wait(30 + count):
        raise TimeoutError("QR frames were not drawn")
    return f"{spread(shows)} {spread(frames)}"


def rest(app: object) -> str:
    """The frame pacer at its idle rate, as when nobody has touched the kiosk for a while."""
    pacer = getattr(app, "pacer", None)
    if pacer is None:
        return "no-pacer"  # an earlier revision: it always runs at full speed
    pacer.rest()
    return f"{pacer.fps:.0f}"


def spread(values: list[float]) -> str:
    """median,min,max in milliseconds."""
    ms = [v * 1000 for v in values]
    return f"{statistics.median(ms):.3f},{min(ms):.3f},{max(ms):.3f}"


def serve(app: object, person: object, recorder: Recorder) -> None:
    """The command loop (its own thread; the window is touched through ``person.on_main``)."""
    for line in sys.stdin:
        verb, _, argument = line.strip().partition(" ")
        try:
            if verb == "mark":
                recorder.mark()
                answer("ok")
            elif verb == "drawn":
                answer(f"ok {recorder.drawn(argument)}")
            elif verb == "rest":
                answer(f"ok {person.on_main(lambda: rest(app))}")  # type: ignore[attr-defined]
            elif verb == "tap":
                person.tap(argument)  # type: ignore[attr-defined]
                answer("ok")
            elif verb == "type":
                person.type_digits(argument)  # type: ignore[attr-defined]
                answer("ok")
            elif verb == "qr-content":
                answer(f"ok {person.on_main(lambda: app.find('qr').content)}")  # type: ignore[attr-defined]
            elif verb == "qr-frames":
                answer(f"ok {qr_frames(app, person, recorder, int(argument))}")
            elif verb == "quit":
                break
            else:
                answer(f"error unknown command {verb!r}")
        except Exception as error:
            answer(f"error {type(error).__name__}: {error}")
    person.on_main(app.stop)  # type: ignore[attr-defined]


def main() -> int:
    config_path = Path(sys.argv[1])
    appliance = Appliance.build(load(config_path)).start()
    recorder = Recorder()

    def started(app: object) -> None:
        from kivy.core.window import Window

        from sim.scripted_person import ScriptedPerson

        flip = Window.flip

        def flip_and_record() -> None:
            flip()
            recorder.frame(type(app.state).__name__)  # type: ignore[attr-defined]

        Window.flip = flip_and_record  # on_flip calls self.flip(): the frame is on the screen
        on_state = appliance.controller.on_state

        def handed(state: object) -> None:
            recorder.arrived(type(state).__name__)
            on_state(state)  # type: ignore[arg-type]

        appliance.controller.on_state = handed
        person = ScriptedPerson(app, Path(sys.argv[2]))  # type: ignore[arg-type]
        threading.Thread(target=serve, args=(app, person, recorder), daemon=True).start()
        answer("ok ready")

    try:
        appliance.run_window(on_started=started)
    finally:
        appliance.stop()
    answer("ok bye")
    return 0


if __name__ == "__main__":
    sys.exit(main())
