"""A screen that goes is freed soon after, not whenever Python's collector gets round to it.

A Kivy widget tree is full of reference cycles (parents and children, bound
callbacks), so a replaced screen is freed only by a full collection, which
Python runs rarely; until then it keeps its text textures and its widgets.
Measured over repeated insertions (docs/performance.md), the kiosk's memory
grew by about 20 MiB over the first 40 cards and kept creeping.

So the kiosk freezes what is alive when its window is built (``gc.freeze``:
the modules, Kivy and the app stay for good and are never scanned again, which
makes a full collection take about 3 ms instead of 25) and runs a full
collection :data:`COLLECT_AFTER` seconds after a new screen, when its frame is
long on the screen.
"""

from __future__ import annotations

import gc

#: Seconds between a new screen and the collection that frees the one it replaced.
COLLECT_AFTER = 1.0


def freeze_what_lives() -> None:
    """Collect start-up garbage, then keep everything alive now out of later collections."""
    gc.collect()
    gc.freeze()


class ScreenCollector:
    """Runs a full collection a while after each new screen (main thread)."""

    def __init__(self) -> None:
        from kivy.clock import Clock

        # A trigger already pending is not scheduled again: a burst of screens costs one collection.
        self._collect = Clock.create_trigger(lambda _dt: gc.collect(), COLLECT_AFTER)

    def screen_changed(self) -> None:
        """A screen was replaced: free it soon."""
        self._collect()
