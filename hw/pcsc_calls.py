"""Blocking PC/SC calls with a deadline, so a card that never answers cannot hold a caller.

pcsc-lite's ``SCardTransmit`` waits as long as the reader does, and ``SCardCancel``
interrupts only ``SCardGetStatusChange``: a mute card (or a reader driver with no
timeout of its own, such as vpcd) would hold the calling thread for good. So each
connection runs its PC/SC calls on a thread of its own (:class:`CallRunner`); the
caller waits up to a deadline and then gives the connection up. Whatever was queued
behind the stuck call (the disconnect that resets the card) runs as soon as it
returns: the card answers late, leaves the reader, or the driver gives up.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class CallTimedOut(Exception):
    """The call did not return within its deadline (it may still be running)."""


_Job = tuple["Future[Any] | None", Callable[..., Any], tuple[Any, ...]]


class CallRunner:
    """One daemon thread that runs calls in order; callers wait with a deadline."""

    def __init__(self, name: str) -> None:
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def call(self, timeout: float, function: Callable[..., T], *args: Any) -> T:
        """``function(*args)`` on the runner's thread; :class:`CallTimedOut` after ``timeout`` s."""
        future: Future[T] = Future()
        self._jobs.put((future, function, args))
        try:
            return future.result(timeout)
        except TimeoutError:
            raise CallTimedOut() from None

    def then(self, function: Callable[..., object], *args: Any) -> None:
        """Run ``function(*args)`` after whatever runs now; nobody waits for it."""
        self._jobs.put((None, function, args))

    def stop(self) -> None:
        """End the thread once the calls queued so far have run."""
        self._jobs.put(None)

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            future, function, args = job
            if future is not None and not future.set_running_or_notify_cancel():
                continue
            try:
                result = function(*args)
            except BaseException as error:  # handed to the waiting caller, or logged
                if future is None:
                    log.debug("PC/SC clean-up call failed: %s", error)
                else:
                    future.set_exception(error)
            else:
                if future is not None:
                    future.set_result(result)
