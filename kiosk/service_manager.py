"""What systemd hears from the kiosk: READY, STATUS and WATCHDOG through ``sd_notify``.

systemd starts the kiosk as a ``Type=notify`` service with a watchdog
(``systemd/siths-kiosk.service``). The kiosk says READY once its screen (or,
without one, its main loop), the reader watcher and telemetry are up; STATUS
with the flow's state as it changes; and WATCHDOG=1 every half of the interval
systemd asked for (``WATCHDOG_USEC``), but only while every part that must live
shows a recent heartbeat (:class:`Liveness`). A part that hangs stops the pings,
and systemd restarts the kiosk.

The kiosk runs as cage's child (the unit starts cage), so ``WATCHDOG_PID`` names
cage, not us: the unit says ``NotifyAccess=all`` and the interval is honoured
whatever the pid. Without ``NOTIFY_SOCKET`` (not run by systemd: a developer, a
test) all of this does nothing.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping

log = logging.getLogger(__name__)

Notify = Callable[[str], object]


def watchdog_interval(environ: Mapping[str, str]) -> float | None:
    """Seconds between pings: half of systemd's ``WATCHDOG_USEC``; None without a watchdog."""
    try:
        usec = int(environ.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    return usec / 2_000_000 if usec > 0 else None


def stale_parts(beats: Mapping[str, float], limits: Mapping[str, float], now: float) -> list[str]:
    """The parts whose last heartbeat is older than their limit (pure; sorted)."""
    return sorted(name for name, within in limits.items() if now - beats[name] > within)


class Liveness:
    """The heartbeats of the parts that must be alive for the kiosk to be.

    Each part gets a ``beat`` callable it calls from its own loop; a part counts
    as frozen once it has not beaten for its own ``within`` seconds (the longest
    pause its loop takes when healthy, with room to spare).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._beats: dict[str, float] = {}
        self._limits: dict[str, float] = {}

    def heartbeat(self, name: str, within: float) -> Callable[[], None]:
        """Register ``name`` (alive from now) and return its beat."""
        self._limits[name] = within
        self._beats[name] = self._clock()

        def beat() -> None:
            self._beats[name] = self._clock()

        return beat

    def frozen(self) -> list[str]:
        """The parts that have not beaten in time."""
        return stale_parts(dict(self._beats), dict(self._limits), self._clock())


def _sd_notify(message: str) -> object:
    from systemd import daemon

    return daemon.notify(message)


class ServiceManager:
    """Talks to systemd when systemd started us; otherwise every call is a no-op."""

    def __init__(
        self,
        environ: Mapping[str, str] | None = None,
        *,
        notify: Notify = _sd_notify,
        liveness: Liveness | None = None,
    ) -> None:
        env = os.environ if environ is None else environ
        self.enabled = bool(env.get("NOTIFY_SOCKET"))
        self.interval = watchdog_interval(env) if self.enabled else None
        self.liveness = liveness or Liveness()
        self._notify = notify
        self._status: str | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._said_frozen: list[str] = []

    def _send(self, message: str) -> None:
        if not self.enabled:
            return
        try:
            self._notify(message)
        except OSError as error:  # systemd gone (shutting down): nothing to tell
            log.warning("sd_notify failed: %s", error)

    def ready(self) -> None:
        """Everything is up: READY, and from now on the watchdog pings."""
        with self._lock:
            status = self._status
        self._send("READY=1" + (f"\nSTATUS={status}" if status else ""))
        if self.enabled and self.interval is not None and self._thread is None:
            self._thread = threading.Thread(target=self._ping, name="watchdog", daemon=True)
            self._thread.start()

    def status(self, text: str) -> None:
        """The kiosk's state in one line (``systemctl status`` shows it); repeats are dropped."""
        with self._lock:
            if text == self._status:
                return
            self._status = text
        self._send(f"STATUS={text}")

    def stopping(self) -> None:
        """Say the kiosk is shutting down, and stop pinging."""
        self._stop.set()
        self._send("STOPPING=1")
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def _ping(self) -> None:
        assert self.interval is not None
        while not self._stop.wait(self.interval):
            frozen = self.liveness.frozen()
            if not frozen:
                self._send("WATCHDOG=1")
            elif frozen != self._said_frozen:
                log.error(
                    "not alive: %s; no watchdog ping, systemd will restart the kiosk",
                    ", ".join(frozen),
                )
            self._said_frozen = frozen
