"""Which alerts a kiosk should have open now (pure: the time and thresholds are given).

An alert has a lifecycle: raised once when its condition starts, cleared once when it
ends, told by e-mail and webhook at each of the two moments, never once per health
sample. A fault read from health samples is raised only when the last two samples
both show it (a kiosk's first sample after a start can come before its reader is
found), and cleared as soon as the newest does not. :func:`wanted` says which conditions
hold for one kiosk; :func:`changes` compares them with the alerts open in the database.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
from dataclasses import dataclass

from fleet.liveness import Status


class AlertKind(enum.StrEnum):
    """What an alert is about."""

    OFFLINE = "offline"
    READER_MISSING = "reader-missing"
    OUT_OF_SERVICE = "out-of-service"
    TEMPERATURE = "temperature"
    THROTTLING = "throttling"
    FAILED_UNLOCKS = "failed-unlocks"
    CERTIFICATE_EXPIRING = "certificate-expiring"
    OUTBOX_GROWING = "outbox-growing"
    CLOCK_UNSYNCHRONISED = "clock-unsynchronised"


#: Conditions read from the newest health sample: kept as they are while the kiosk is
#: offline (its last sample is old news, neither a cure nor a new fault).
FROM_HEALTH = frozenset(
    {
        AlertKind.READER_MISSING,
        AlertKind.TEMPERATURE,
        AlertKind.THROTTLING,
        AlertKind.CERTIFICATE_EXPIRING,
        AlertKind.OUTBOX_GROWING,
        AlertKind.CLOCK_UNSYNCHRONISED,
    }
)

#: Out-of-service causes that are facility IT's own doing, not a fault.
_PLANNED = ("kiosk-maintenance",)


@dataclass(frozen=True)
class Thresholds:
    """When a condition becomes an alert (``kiosk-fleet serve`` options)."""

    offline_after: float = 300.0  # seconds offline
    temperature_c: float = 80.0
    failed_run: int = 3  # failed unlocks in a row at one kiosk
    certificate_days: int = 30
    outbox_depth: int = 500


@dataclass(frozen=True)
class KioskFacts:
    """What the rules read about one kiosk."""

    kiosk_id: str
    status: str
    status_since: float
    status_reason: str | None
    out_of_service: str | None
    failed_run: int
    last_health: str | None  # the newest health sample's JSON
    prior_health: str | None  # the one before it


def _from_health(sample: dict, limits: Thresholds) -> dict[AlertKind, str]:
    found: dict[AlertKind, str] = {}
    if sample.get("reader_present") is False:
        found[AlertKind.READER_MISSING] = "no card reader is connected"
    temperature = sample.get("cpu_temperature_c")
    if isinstance(temperature, int | float) and temperature >= limits.temperature_c:
        found[AlertKind.TEMPERATURE] = f"CPU at {temperature:.1f} °C"
    flags = sample.get("throttling") or {}
    now_flags = [
        name
        for name in ("under_voltage", "frequency_capped", "throttled", "soft_temperature_limit")
        if flags.get(name)
    ]
    if now_flags:
        found[AlertKind.THROTTLING] = "now: " + ", ".join(n.replace("_", " ") for n in now_flags)
    days = sample.get("certificate_days_left")
    if isinstance(days, int) and days < limits.certificate_days:
        found[AlertKind.CERTIFICATE_EXPIRING] = (
            "the device certificate has expired" if days < 0 else f"{days} days left"
        )
    depth = sample.get("outbox_depth")
    if isinstance(depth, int) and depth >= limits.outbox_depth:
        found[AlertKind.OUTBOX_GROWING] = f"{depth} messages waiting on the kiosk"
    if sample.get("clock_synchronised") is False:
        found[AlertKind.CLOCK_UNSYNCHRONISED] = "the clock is not synchronised (NTP)"
    return found


def _sample(text: str | None) -> dict:
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _moment(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def wanted(
    facts: KioskFacts, open_now: dict[AlertKind, str], limits: Thresholds, now: float
) -> dict[AlertKind, str]:
    """The alerts this kiosk should have open, with what each says."""
    found: dict[AlertKind, str] = {}
    offline = facts.status == Status.OFFLINE
    if offline and now - facts.status_since >= limits.offline_after:
        found[AlertKind.OFFLINE] = open_now.get(AlertKind.OFFLINE) or (
            f"offline since {_moment(facts.status_since)}: {facts.status_reason or 'no reason'}"
        )
    if offline:
        found.update({kind: text for kind, text in open_now.items() if kind in FROM_HEALTH})
    elif facts.last_health:
        newest = _from_health(_sample(facts.last_health), limits)
        before = _from_health(_sample(facts.prior_health), limits)
        found.update(
            {kind: text for kind, text in newest.items() if kind in before or kind in open_now}
        )
    planned = facts.status == Status.MAINTENANCE
    reason = facts.out_of_service
    if reason and not planned and not all(p in reason for p in _PLANNED):
        found[AlertKind.OUT_OF_SERVICE] = reason
    if facts.failed_run >= limits.failed_run:
        found[AlertKind.FAILED_UNLOCKS] = f"{facts.failed_run} failed unlocks in a row"
    return found


def changes(
    open_now: dict[AlertKind, str], should_be: dict[AlertKind, str]
) -> tuple[dict[AlertKind, str], list[AlertKind]]:
    """What to raise (with its text) and what to clear."""
    raise_ = {kind: text for kind, text in should_be.items() if kind not in open_now}
    clear = [kind for kind in open_now if kind not in should_be]
    return raise_, clear
