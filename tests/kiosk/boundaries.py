"""Pulling a virtual card out at every APDU boundary of an operation, one card reused.

For an operation of N commands there are 2N boundaries: before the card handles
command i, and after it handled it but before its answer leaves. The card's
true state is read from the virtual card itself (not through the code under
test), and compared with what the code reported.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from hw.pins import pad_reference
from protocol.reasons import Outcome
from sim.vcard.vpcd import Interruption
from tests.conftest import VirtualCardSlot


@dataclass(frozen=True)
class Boundary:
    """One APDU boundary: command ``index`` (from 0), before or after the card handled it."""

    index: int
    after: bool

    def __str__(self) -> str:
        return f"{'after' if self.after else 'before'} command {self.index + 1}"


def boundaries(commands: int) -> Iterator[Boundary]:
    """Every boundary of an operation of ``commands`` APDUs."""
    for index in range(commands):
        yield Boundary(index, after=False)
        yield Boundary(index, after=True)


def count_commands(slot: VirtualCardSlot, operation: Callable[[], object]) -> int:
    """How many APDUs ``operation`` sends to the card."""
    before = slot.link.commands_seen
    operation()
    return slot.link.commands_seen - before


def arm(slot: VirtualCardSlot, boundary: Boundary) -> Interruption:
    """Pull the card at ``boundary`` of the next operation."""
    interruption = Interruption(boundary.index, after=boundary.after)
    slot.link.interrupt(interruption)
    return interruption


def put_back(slot: VirtualCardSlot) -> None:
    """The card in the reader again (as the holder or the technician would), seen by pcscd."""
    slot.link.interrupt(None)
    if not slot.link.inserted:
        slot.insert()


def pin_truth(value: bytes, blocked: bool, old: str, new: str) -> Outcome | None:
    """What the virtual card's PIN really is: reset to ``new``, as it was, or neither."""
    if value == pad_reference(new) and not blocked:
        return Outcome.UNLOCKED
    if value == pad_reference(old) and blocked:
        return Outcome.NOT_UNLOCKED
    return None


#: What went wrong at one boundary, and whether the card had to be put back to tell.
Checked = tuple[list[str], bool]


def on_both_slots(
    slots: Sequence[VirtualCardSlot],
    every: Sequence[Boundary],
    one: Callable[[VirtualCardSlot, Boundary], Checked],
) -> list[tuple[Boundary, Checked]]:
    """Try every boundary, shared out between the slots' cards, which run side by side.

    pcscd notices a card going and coming on each slot by polling it; two slots
    halve the waiting.
    """

    def share(number: int) -> list[tuple[Boundary, Checked]]:
        return [(b, one(slots[number], b)) for b in every[number :: len(slots)]]

    with ThreadPoolExecutor(len(slots)) as pool:
        shares = list(pool.map(share, range(len(slots))))
    return [result for part in shares for result in part]


@dataclass
class Tally:
    """Boundaries tried and what went wrong at each."""

    name: str
    tried: int = 0
    wrong: list[str] | None = None
    #: Boundaries whose outcome was read from the card once it was put back.
    settled_on_return: int = 0

    def check(self, boundary: Boundary, problems: list[str], *, put_back: bool = False) -> None:
        """Count one boundary; keep its problems."""
        self.tried += 1
        self.settled_on_return += put_back
        if problems:
            self.wrong = [*(self.wrong or []), f"{boundary}: " + "; ".join(problems)]

    @property
    def line(self) -> str:
        """``N of N`` for the log."""
        right = self.tried - len(self.wrong or [])
        return (
            f"{self.name}: {right} of {self.tried} boundaries report the card's real state"
            f" ({self.settled_on_return} of them read from the card put back)"
        )
