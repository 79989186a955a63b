"""Benchmark: card insertion to PIN state known, on real pcscd + vpcd.

Prints the median (and spread) of:
  * insertion -> the reader watcher reports the card (pcscd's slot polling),
  * that event -> connected, profile probed, every PIN's state read,
and the number of APDUs that second part exchanges with the card.

Run: .venv/bin/python bench/card_insert_to_pin_status.py [rounds]
"""

from __future__ import annotations

import os
import queue
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
_WORKDIR = Path(tempfile.mkdtemp(prefix="kiosk-bench-"))
os.environ["PCSCLITE_CSOCK_NAME"] = str(_WORKDIR / "run" / "pcscd.comm")

from hw.pcsc import PcscConnection  # noqa: E402
from hw.profiles import open_session  # noqa: E402
from hw.reader_events import EventKind, ReaderEvent  # noqa: E402
from hw.reader_watcher import ReaderWatcher  # noqa: E402
from sim.siths_pki import SithsHolder, SithsTestPki  # noqa: E402
from sim.vcard.card import VirtualCard  # noqa: E402
from sim.vcard.piv_card import PivCardState, VirtualPivCard  # noqa: E402
from sim.vcard.piv_objects import standard_objects  # noqa: E402
from sim.vcard.siths_card import SithsCardState, VirtualSithsCard  # noqa: E402
from sim.vcard.vpcd import VpcdLink  # noqa: E402
from tests.harness.pcscd import PrivatePcscd  # noqa: E402


class CountingTransport:
    """Counts the APDUs that cross the PC/SC connection."""

    def __init__(self, connection: PcscConnection) -> None:
        self.connection = connection
        self.count = 0

    def transmit(self, command: bytes) -> bytes:
        self.count += 1
        return self.connection.transmit(command)


def wait_event(events: queue.Queue[ReaderEvent], kind: EventKind) -> ReaderEvent:
    while True:
        event = events.get(timeout=20)
        if event.kind is kind:
            return event


def measure(daemon: PrivatePcscd, card: VirtualCard, rounds: int) -> None:
    events: queue.Queue[ReaderEvent] = queue.Queue()
    watcher = ReaderWatcher(events.put, poll_ms=1000)
    watcher.start()
    link = VpcdLink(card, port=daemon.slot_port(0))
    detect, read, total, apdus = [], [], [], []
    profile = "?"
    try:
        for _ in range(rounds):
            start = time.perf_counter()
            link.insert()
            event = wait_event(events, EventKind.CARD_INSERTED)
            seen = time.perf_counter()
            with PcscConnection(event.reader) as connection:
                counter = CountingTransport(connection)
                session = open_session(counter)
                profile = session.profile
                statuses = session.pin_statuses()
            done = time.perf_counter()
            assert statuses[0].blocked
            detect.append(seen - start)
            read.append(done - seen)
            total.append(done - start)
            apdus.append(counter.count)
            link.remove()
            wait_event(events, EventKind.CARD_REMOVED)
    finally:
        link.remove()
        watcher.stop()

    def ms(values: list[float]) -> str:
        return (
            f"median {statistics.median(values) * 1000:7.1f} ms"
            f"  (min {min(values) * 1000:.1f}, max {max(values) * 1000:.1f})"
        )

    print(f"{profile.upper()} card: insertion -> PIN state known, {rounds} rounds")
    print(f"  insertion -> watcher event     {ms(detect)}")
    print(f"  event -> all PIN states read   {ms(read)}")
    print(f"  total                          {ms(total)}")
    print(f"  APDUs to read the PIN states   {statistics.median(apdus):.0f}")


def main(rounds: int) -> None:
    daemon = PrivatePcscd(_WORKDIR)
    daemon.start()
    try:
        print("real pcscd + vpcd; the first figure is pcscd's 400 ms polling of vpcd")
        measure(
            daemon,
            VirtualPivCard(PivCardState(pin_tries_left=0, objects=standard_objects())),
            rounds,
        )
        pki = SithsTestPki.generate()
        siths = SithsCardState.issue(SithsHolder(), pki, identification_tries_left=0)
        measure(daemon, VirtualSithsCard(siths), rounds)
    finally:
        daemon.stop()
        shutil.rmtree(_WORKDIR, ignore_errors=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 15)
