"""A real ``NOTIFY_SOCKET``: a datagram socket that hears what a service tells systemd.

``sd_notify`` (systemd-python, libsystemd) sends ``KEY=value`` lines in one datagram
to the socket named by ``NOTIFY_SOCKET``; this is systemd's end of it, so a test can
see READY, STATUS and WATCHDOG as systemd would, each with the time it arrived.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

from tests.harness.waiting import wait_for


class NotifySocket:
    """Binds the socket, collects every message on a thread, closes on :meth:`close`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.messages: list[tuple[float, dict[str, str]]] = []
        self._lock = threading.Lock()
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._socket.bind(str(path))
        self._socket.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._receive, name="notify-socket", daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        while not self._stop.is_set():
            try:
                data = self._socket.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            fields = dict(line.split("=", 1) for line in data.decode().splitlines() if "=" in line)
            with self._lock:
                self.messages.append((time.monotonic(), fields))

    def environment(self, watchdog_usec: int | None = None) -> dict[str, str]:
        """What systemd puts in a service's environment for this socket."""
        env = {"NOTIFY_SOCKET": str(self.path)}
        if watchdog_usec is not None:
            env["WATCHDOG_USEC"] = str(watchdog_usec)
        return env

    def said(self, key: str, since: float = 0.0) -> list[tuple[float, str]]:
        """Every (time, value) of ``key`` that arrived after ``since``."""
        with self._lock:
            return [
                (at, fields[key]) for at, fields in self.messages if key in fields and at > since
            ]

    def statuses(self) -> list[str]:
        """The STATUS values in order, repeats folded."""
        shown: list[str] = []
        for _, value in self.said("STATUS"):
            if not shown or shown[-1] != value:
                shown.append(value)
        return shown

    def wait(self, key: str, value: str | None = None, *, since: float = 0.0, timeout: float = 30):
        """The first ``key`` (equal to ``value`` if given) after ``since``."""
        return wait_for(
            lambda: next(
                (hit for hit in self.said(key, since) if value is None or hit[1] == value), None
            ),
            timeout=timeout,
            what=f"{key}={value or '...'} on the notify socket",
        )

    def close(self) -> None:
        self._stop.set()
        self._socket.close()
        self._thread.join(5)
