"""Collects reader-watcher events and waits for the ones a test expects."""

from __future__ import annotations

import threading
from collections.abc import Callable

from hw.reader_events import EventKind, ReaderEvent


class EventRecorder:
    """A thread-safe event sink with a deadline wait."""

    def __init__(self) -> None:
        self.events: list[ReaderEvent] = []
        self._condition = threading.Condition()

    def __call__(self, event: ReaderEvent) -> None:
        with self._condition:
            self.events.append(event)
            self._condition.notify_all()

    def wait_for(
        self,
        predicate: Callable[[ReaderEvent], bool],
        *,
        after: int = 0,
        timeout: float = 15.0,
    ) -> ReaderEvent:
        """The first event at index >= ``after`` that matches; fail after ``timeout``."""
        with self._condition:
            found: list[ReaderEvent] = []

            def matched() -> bool:
                found[:] = [e for e in self.events[after:] if predicate(e)][:1]
                return bool(found)

            if not self._condition.wait_for(matched, timeout):
                raise TimeoutError(f"no matching event in {self.events[after:]!r}")
            return found[0]

    def mark(self) -> int:
        """Index to pass as ``after`` to wait only for events from now on."""
        with self._condition:
            return len(self.events)

    def kinds(self, after: int = 0) -> list[tuple[EventKind, str]]:
        """(kind, reader) of events since ``after``."""
        with self._condition:
            return [(e.kind, e.reader) for e in self.events[after:]]


def is_kind(kind: EventKind, reader: str = "") -> Callable[[ReaderEvent], bool]:
    """Predicate: an event of ``kind`` (for ``reader``, if given)."""
    return lambda event: event.kind is kind and (not reader or event.reader == reader)
