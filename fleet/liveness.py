"""Whether a kiosk is up, from three signals (pure: no I/O, the time is given).

1. The **will**: the broker publishes ``state: lost`` when a kiosk's connection ends
   without a goodbye; a clean stop says ``state: offline`` itself.
2. The **birth incarnation**: a state message from an older incarnation than the one
   the fleet knows (a will delivered late, a retained message replayed) changes nothing.
3. A **heartbeat timeout** from the kiosk's own health interval: a kiosk that has sent
   nothing for :func:`heartbeat_timeout` seconds is offline, even when no will comes
   (a broker restarted without persistence, a network that drops packets silently).
"""

from __future__ import annotations

import enum

from protocol import telemetry as tm

#: Health samples a kiosk may miss before it is called offline, and a little slack.
HEARTBEAT_MISSES = 3
HEARTBEAT_SLACK = 10.0
#: The interval assumed before a kiosk's birth has said its own.
DEFAULT_HEALTH_INTERVAL = 60.0


class Status(enum.StrEnum):
    """What the dashboard shows."""

    ONLINE = "online"
    MAINTENANCE = "maintenance"
    OFFLINE = "offline"


#: Why a kiosk is offline (``status_reason``).
STOPPED = "stopped cleanly"
CONNECTION_LOST = "connection lost (the broker published its will)"
SILENT = "silent: no message within its heartbeat timeout"


def heartbeat_timeout(health_interval: float | None) -> float:
    """Seconds of silence after which a kiosk is offline."""
    interval = health_interval or DEFAULT_HEALTH_INTERVAL
    return HEARTBEAT_MISSES * interval + HEARTBEAT_SLACK


def is_newer(incarnation: int, at: float, known_incarnation: int, known_at: float | None) -> bool:
    """Whether a state message supersedes the one the fleet has (incarnation, then time)."""
    if incarnation != known_incarnation:
        return incarnation > known_incarnation
    return known_at is None or at >= known_at


def from_state(state: tm.KioskState, maintenance: bool) -> tuple[Status, str | None]:
    """The status a state message means, and why."""
    if state is tm.KioskState.ONLINE:
        return (Status.MAINTENANCE if maintenance else Status.ONLINE), None
    return Status.OFFLINE, (STOPPED if state is tm.KioskState.OFFLINE else CONNECTION_LOST)


def is_silent(last_seen: float, health_interval: float | None, now: float) -> bool:
    """Whether the heartbeat timeout has run out."""
    return now - last_seen > heartbeat_timeout(health_interval)
