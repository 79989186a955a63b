"""Benchmark: APDUs and time of the read phase and of an unblock, before and after issue 9.

On real pcscd + vpcd with virtual cards. Counts the APDUs each operation sends
(at the virtual card, so the count does not depend on the code measured) and
the median wall time, and prints them beside the figures measured the same way
on the code before issue 9 (commit 8503763: no transactions around the read
phase, the PIN's role read between the reset and the verify). Issue 9 adds one
transaction per operation, the application SELECT at its start, the PIN's state
read before the reset, and the new PIN verified right after it.

Run: .venv/bin/python bench/card_operations.py [rounds]
"""

from __future__ import annotations

import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
_WORKDIR = Path(tempfile.mkdtemp(prefix="kiosk-bench-"))
os.environ["PCSCLITE_CSOCK_NAME"] = str(_WORKDIR / "pcscd" / "run" / "pcscd.comm")

from cardservice.service import ServiceConfig  # noqa: E402
from hw import pcsc  # noqa: E402
from hw.pins import pad_reference  # noqa: E402
from hw.siths.trust import TrustStore  # noqa: E402
from kiosk import card_commands  # noqa: E402
from kiosk.card_actions import PcscCardAccess  # noqa: E402
from kiosk.flow import effects as fx  # noqa: E402
from kiosk.flow import events as ev  # noqa: E402
from protocol.login_qr import QrAnimation  # noqa: E402
from sim.dev_pki import write_dev_pki  # noqa: E402
from sim.siths_pki import SithsHolder, SithsTestPki  # noqa: E402
from sim.vcard.card import VirtualCard  # noqa: E402
from sim.vcard.piv_card import PivCardState, VirtualPivCard  # noqa: E402
from sim.vcard.piv_objects import standard_objects  # noqa: E402
from sim.vcard.siths_card import SithsCardState, VirtualSithsCard  # noqa: E402
from sim.vcard.vpcd import VpcdLink  # noqa: E402
from tests.harness.cardservice import KIOSK_ID, CardServiceHarness  # noqa: E402
from tests.harness.pcscd import PrivatePcscd  # noqa: E402
from tests.harness.smtp_sink import SmtpSink  # noqa: E402
from tests.harness.waiting import wait_for  # noqa: E402

#: Measured at commit 8503763 (before issue 9) the same way: (APDUs, median ms).
BEFORE = {
    "SITHS kiosk read phase": (24, 8.9),
    "SITHS card status read": (24, 9.5),
    "SITHS card unblock": (28, 10.0),
    "SITHS kiosk unlock, PUK letter": (28, 7.9),
    "SITHS kiosk unlock, card service": (31, 20.5),
    "PIV card status read": (5, 0.9),
    "PIV card unblock": (8, 1.3),
}
OLD, NEW, PUK = "123456", "24681357", "12345678"


def present(reader: str) -> bool:
    with pcsc.pcsc_context() as context:
        return pcsc.reader_states(context, [reader])[0].card_present


class Bench:
    """One virtual card in slot 0; each operation run ``rounds`` times from the same state."""

    def __init__(self, daemon: PrivatePcscd, rounds: int) -> None:
        self.daemon = daemon
        self.rounds = rounds
        self.reader = daemon.reader(0)
        self.link: VpcdLink | None = None
        self.rows: list[tuple[str, int, float]] = []

    def insert(self, card: VirtualCard) -> None:
        if self.link is not None:
            self.link.remove()
            wait_for(lambda: not present(self.reader), timeout=15)
        self.link = VpcdLink(card, port=self.daemon.slot_port(0))
        self.link.insert()
        wait_for(lambda: present(self.reader), timeout=15)

    def measure(self, name: str, reset: Callable[[], None], run: Callable[[], object]) -> None:
        assert self.link is not None
        times, counts = [], []
        for _ in range(self.rounds):
            reset()
            before = self.link.commands_seen
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
            counts.append(self.link.commands_seen - before)
        self.rows.append((name, int(statistics.median(counts)), statistics.median(times) * 1000))

    def print(self) -> None:
        print(f"{'operation':34} {'APDUs before':>12} {'after':>6} {'ms before':>10} {'after':>7}")
        for name, count, ms in self.rows:
            old_count, old_ms = BEFORE[name]
            print(f"{name:34} {old_count:12d} {count:6d} {old_ms:10.1f} {ms:7.1f}")


def secrets(puk: str = PUK) -> card_commands.SecretReader:
    answers = iter([puk, NEW])
    return lambda _prompt: next(answers)


def siths(bench: Bench, pki: SithsTestPki, service: CardServiceHarness) -> None:
    holder = SithsHolder()
    state = SithsCardState.issue(holder, pki, identification_pin=OLD)
    bench.insert(VirtualSithsCard(state))
    access = PcscCardAccess(TrustStore([pki.root], [pki.issuing]))

    def block() -> None:
        state.identification_pin.value = pad_reference(OLD)
        state.identification_pin.tries_left = 0

    bench.measure("SITHS kiosk read phase", block, lambda: access.read_card(1, bench.reader))
    bench.measure(
        "SITHS card status read", block, lambda: card_commands.read_card(bench.reader, access.trust)
    )

    def cli() -> None:
        result = card_commands.unblock(bench.reader, None, secrets())
        assert result.outcome == "unlocked", result

    bench.measure("SITHS card unblock", block, cli)
    pins = (("Identification PIN", NEW),)

    def puk_letter() -> None:
        job = fx.UnlockWithPuk(1, bench.reader, None, PUK, pins)
        assert isinstance(access.unlock_with_puk(job, safety_margin=3), ev.UnlockFinished)

    bench.measure("SITHS kiosk unlock, PUK letter", block, puk_letter)
    service.register(holder, secret=PUK.encode())
    client = service.client()
    jobs: list[fx.UnlockWithService] = []

    def logged_in() -> None:  # the login is not part of the unlock measured
        block()
        start = client.start_login(holder.card_number)
        frame = QrAnimation(start.qr_prefix, start.qr_start_token, start.qr_start_secret)
        service.scan_and_approve(frame.current(), holder.personal_identity_number)
        client.poll_login(start.order_ref)
        roles = (("Identification PIN", "identification"),)
        jobs[:] = [
            fx.UnlockWithService(1, bench.reader, start.order_ref, holder.card_number, pins, roles)
        ]

    def with_service() -> None:
        event = access.unlock_with_service(jobs[0], client, safety_margin=3)
        assert isinstance(event, ev.UnlockFinished), event

    bench.measure("SITHS kiosk unlock, card service", logged_in, with_service)
    client.close()


def piv(bench: Bench) -> None:
    state = PivCardState(pin=OLD, objects=standard_objects())
    bench.insert(VirtualPivCard(state))

    def block() -> None:
        state.pin, state.pin_tries_left = OLD, 0

    bench.measure("PIV card status read", block, lambda: card_commands.read_card(bench.reader))

    def cli() -> None:
        result = card_commands.unblock(bench.reader, None, secrets("12345678"), safety_margin=1)
        assert result.outcome == "unlocked", result

    bench.measure("PIV card unblock", block, cli)


def main(rounds: int) -> None:
    logging.disable(logging.WARNING)
    daemon = PrivatePcscd(_WORKDIR / "pcscd")
    daemon.start()
    smtp = SmtpSink().start()
    service = CardServiceHarness(
        _WORKDIR / "cardservice",
        write_dev_pki(_WORKDIR / "dev-pki", [KIOSK_ID]),
        smtp,
        ServiceConfig(card_attempt_limit=10_000, kiosk_login_limit=10_000),
    )
    bench = Bench(daemon, rounds)
    try:
        siths(bench, SithsTestPki.generate(), service)
        piv(bench)
        print(f"real pcscd + vpcd, virtual cards; median of {rounds} rounds each")
        bench.print()
    finally:
        if bench.link is not None:
            bench.link.remove()
        service.stop()
        smtp.stop()
        daemon.stop()
        shutil.rmtree(_WORKDIR, ignore_errors=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 15)
