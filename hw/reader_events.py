"""Typed events the reader watcher delivers.

Consumers (the kiosk controller, the CLI, tests) match on ``kind``; the events
are plain frozen data so they can cross threads and queues safely.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class EventKind(enum.Enum):
    """What happened."""

    READER_ADDED = "reader_added"
    READER_REMOVED = "reader_removed"
    CARD_INSERTED = "card_inserted"
    CARD_REMOVED = "card_removed"
    #: pcscd stopped or restarted; every card handle is now invalid.
    SERVICE_LOST = "service_lost"
    #: pcscd answers again; reader and card events that follow describe the new state.
    SERVICE_RESTORED = "service_restored"


@dataclass(frozen=True)
class ReaderEvent:
    """One change in the reader landscape."""

    kind: EventKind
    reader: str = ""
    atr: bytes = b""
