"""How fast Kivy's loop turns: slowly while the screen is still, at full speed while in use.

Kivy's loop wakes ``maxfps`` times a second even when nothing changed, and on a
kiosk that waits most of the day that was nearly all of its idle CPU. The kiosk
runs Kivy's interruptible clock (``kivy_setup``) so anything scheduled from
another thread, such as a new state from the controller, wakes the loop at once:
a card's reply never waits for a slow frame. The loop then turns at
:data:`IDLE_FPS` while the screen is still, and at :data:`ACTIVE_FPS` while the
QR animates and for :data:`HOLD_SECONDS` after a touch or a new screen, so a
person gets full speed from their first touch (which itself may be seen up to
1/:data:`IDLE_FPS` s late).

:func:`wanted_fps` decides; :class:`FramePacer` applies it to Kivy's clock on the
main thread. Kivy has no public setter for the frame rate after start, so the
pacer sets the clock's ``_max_fps``; on a Kivy without it, or without the
interruptible clock, it leaves Kivy at full speed rather than risk a slow reply.
"""

from __future__ import annotations

import logging
import time

log = logging.getLogger(__name__)

#: Frames a second while nothing moves and nobody touches (at most 100 ms to see a first touch).
IDLE_FPS = 10
#: Frames a second while the screen is in use.
ACTIVE_FPS = 60
#: How long a touch or a new screen keeps the loop at full speed.
HOLD_SECONDS = 10.0
#: Kivy runs an event this early rather than sleep again (its default at 10 fps is 33 ms,
#: and it spins the whole loop for that long before every timed event).
CLOCK_RESOLUTION = 0.001


def wanted_fps(now: float, active_until: float, animating: bool) -> int:
    """The frame rate for this moment: full speed while animating or recently in use."""
    return ACTIVE_FPS if animating or now < active_until else IDLE_FPS


class FramePacer:
    """Applies :func:`wanted_fps` to Kivy's clock (main thread only)."""

    def __init__(self) -> None:
        from kivy.clock import Clock, ClockBaseInterruptBehavior

        self._clock = Clock
        self._active_until = 0.0
        self._animating = False
        self._settle_event = None
        self.enabled = isinstance(Clock, ClockBaseInterruptBehavior) and hasattr(Clock, "_max_fps")
        if not self.enabled:
            log.warning("Kivy's clock cannot be paced; the screen runs at full speed")
            return
        Clock.clock_resolution = CLOCK_RESOLUTION
        self._apply()

    @property
    def fps(self) -> float:
        """The frame rate Kivy's loop runs at now."""
        return float(self._clock._max_fps)

    def wake(self, seconds: float = HOLD_SECONDS) -> None:
        """Someone is here (a touch, a new screen): full speed for ``seconds``."""
        self._active_until = max(self._active_until, time.monotonic() + seconds)
        self._apply()

    def rest(self) -> None:
        """Back to the idle rate now, as after :data:`HOLD_SECONDS` untouched.

        The bench starts each timed insertion from rest this way.
        """
        self._active_until = 0.0
        self._apply()

    def animating(self, moving: bool) -> None:
        """Whether something on the screen moves by itself (the QR)."""
        self._animating = moving
        self._apply()

    def _apply(self, *_args: object) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        fps = wanted_fps(now, self._active_until, self._animating)
        self._clock._max_fps = float(fps)
        if self._settle_event is not None:
            self._settle_event.cancel()
            self._settle_event = None
        if fps != IDLE_FPS and not self._animating:
            # Come back to decide again when the hold is over.
            self._settle_event = self._clock.schedule_once(self._apply, self._active_until - now)
