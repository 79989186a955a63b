"""Which outcome reports the service accepts for an unlock (pure).

The kiosk reports what became of the card. The first report of any result is
recorded. ``unknown`` (the card left mid-unblock, or no report came in time) may
later be turned into a final result, once: the kiosk saw the card again and read it.
A final result stays: the same result again is acknowledged and changes nothing,
anything else is refused with ``outcome-already-final``.
"""

from __future__ import annotations

import enum

from protocol.reasons import Outcome


class Step(enum.Enum):
    """What to do with a report."""

    RECORD = "record"  # the first outcome of this unlock
    RESOLVE = "resolve"  # unknown becomes final
    ALREADY = "already"  # nothing new: acknowledge, change nothing
    REFUSE = "refuse"  # would change a final outcome


def next_step(current: str | None, reported: Outcome) -> Step:
    """The step for ``reported`` when the unlock's outcome is ``current`` (``None``: none yet)."""
    if current is None:
        return Step.RECORD
    if current == Outcome.UNKNOWN:
        return Step.ALREADY if reported == Outcome.UNKNOWN else Step.RESOLVE
    return Step.ALREADY if reported == current else Step.REFUSE
