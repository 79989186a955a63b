"""RFC 3339 times on the wire: written in UTC with ``Z``, read back strictly.

Why one module: the card service writes ``expiresAt``, the kiosk reads it, and the
credential envelope binds the exact text, so writing and reading must be one
definition. Reading is strict (a full date, a time and an explicit offset) because a
time without a zone, or a bare number of seconds, would be guessed at, and an expiry
must never be guessed.
"""

from __future__ import annotations

import datetime as dt
import re

_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)


def format_utc(moment: dt.datetime) -> str:
    """``moment`` as RFC 3339 UTC with ``Z``, to the second (e.g. ``2030-01-01T12:00:00Z``)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("a time without a time zone cannot be written as RFC 3339")
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_rfc3339(text: str) -> dt.datetime:
    """A timezone-aware datetime from RFC 3339 text; :class:`ValueError` if it is not one."""
    if not _RFC3339.fullmatch(text):
        raise ValueError("must be an RFC 3339 date-time with a time zone")
    normal = text.upper().replace("Z", "+00:00")
    fraction = re.search(r"\.([0-9]+)", normal)
    if fraction:  # Python reads at most microseconds: drop finer digits, never round up
        normal = normal.replace(fraction.group(0), "." + fraction.group(1)[:6].ljust(6, "0"), 1)
    try:
        return dt.datetime.fromisoformat(normal)
    except ValueError:
        raise ValueError("must be an RFC 3339 date-time with a time zone") from None
