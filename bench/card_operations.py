"""Benchmark: APDUs and time of each card operation, before issue 9, today and in this tree.

On real pcscd + vpcd with virtual cards. Counts the APDUs each operation sends
(at the virtual card, so the count does not depend on the code measured) and
the median wall time, in three columns:

* before issue 9 (commit 8503763: no transactions around the read phase, the
  PIN's role read between the reset and the verify), measured the same way then
  and kept here;
* today (``--today``, default the revision before issue 15's card-command work:
  one transaction per operation beginning with the application SELECT, the PIN's
  state read before the reset, the new PIN verified after it), unpacked with
  ``git archive`` and measured in this run;
* this tree, measured in this run: no second SELECT, each file in one
  extended-length READ BINARY where the card takes it, and the kiosk's unlock
  reusing what the read of its session learned.

Today and this tree run in child processes (each with its own pcscd), in
alternating blocks, so both see the same machine. ``--log`` lists every command
of each SITHS operation in this tree, from the virtual card's APDU log.

Run: .venv/bin/python bench/card_operations.py [--rounds 15] [--today REV] [--log]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent


def _tree() -> Path:
    """The tree whose code a child measures (``--tree``), else this one."""
    if "--tree" in sys.argv:
        return Path(sys.argv[sys.argv.index("--tree") + 1]).resolve()
    return ROOT


sys.path.insert(0, str(_tree()))
_WORKDIR = Path(tempfile.mkdtemp(prefix="kiosk-bench-"))
os.environ["PCSCLITE_CSOCK_NAME"] = str(_WORKDIR / "pcscd" / "run" / "pcscd.comm")

from bench_parts import unpack  # noqa: E402

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

#: The last revision before issue 15's card-command work.
TODAY_REV = "c533b66"
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

    def __init__(self, daemon: PrivatePcscd, rounds: int, log: bool) -> None:
        self.daemon = daemon
        self.rounds = rounds
        self.reader = daemon.reader(0)
        self.link: VpcdLink | None = None
        #: This tree's APDU log of the card in the slot (``--log``), else ``None``.
        self.log: object | None = None
        self.wants_log = log
        self.rows: list[dict[str, object]] = []

    def insert(self, card: VirtualCard) -> None:
        if self.link is not None:
            self.link.remove()
            wait_for(lambda: not present(self.reader), timeout=15)
        if self.wants_log:
            from sim.vcard.apdu_log import ApduLog  # this tree's: older ones have none

            card = self.log = ApduLog(card)
        self.link = VpcdLink(card, port=self.daemon.slot_port(0))
        self.link.insert()
        wait_for(lambda: present(self.reader), timeout=15)

    def measure(self, name: str, reset: Callable[[], None], run: Callable[[], object]) -> None:
        assert self.link is not None
        times, counts, listing = [], [], []
        for _ in range(self.rounds):
            reset()
            before = self.link.commands_seen
            mark = self.log.mark() if self.log is not None else 0  # type: ignore[attr-defined]
            start = time.perf_counter()
            run()
            times.append((time.perf_counter() - start) * 1000)
            counts.append(self.link.commands_seen - before)
            if self.log is not None:
                listing = [str(c) for c in self.log.since(mark)]  # type: ignore[attr-defined]
        self.rows.append({"name": name, "counts": counts, "ms": times, "log": listing})


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

    def inserted() -> None:  # as in the kiosk: the unlock follows its session's read
        block()
        assert isinstance(access.read_card(1, bench.reader), ev.CardRead)

    def puk_letter() -> None:
        job = fx.UnlockWithPuk(1, bench.reader, None, PUK, pins)
        assert isinstance(access.unlock_with_puk(job, safety_margin=3), ev.UnlockFinished)

    bench.measure("SITHS kiosk unlock, PUK letter", inserted, puk_letter)
    service.register(holder, secret=PUK.encode())
    client = service.client()
    jobs: list[fx.UnlockWithService] = []

    def logged_in() -> None:  # the read and the login are not part of the unlock measured
        inserted()
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


def child(rounds: int, log: bool) -> None:
    """Measure every operation with this process's tree; one JSON line a row on stdout."""
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
    bench = Bench(daemon, rounds, log)
    try:
        siths(bench, SithsTestPki.generate(), service)
        piv(bench)
    finally:
        if bench.link is not None:
            bench.link.remove()
        service.stop()
        smtp.stop()
        daemon.stop()
        shutil.rmtree(_WORKDIR, ignore_errors=True)
    for row in bench.rows:
        print(json.dumps(row))


def run_child(tree: Path, rounds: int, log: bool) -> list[dict]:
    """One block of rounds measured on ``tree``'s code, in a process of its own."""
    command = [sys.executable, str(Path(__file__)), "--child", "--tree", str(tree)]
    command += ["--rounds", str(rounds)] + (["--log"] if log else [])
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=tree)
    if done.returncode != 0:
        raise SystemExit(f"measuring {tree} failed:\n{done.stderr[-3000:]}")
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def combine(blocks: list[list[dict]]) -> dict[str, tuple[int, float, list[str]]]:
    """By operation: the median APDU count and time over every block, and the last log."""
    found: dict[str, tuple[list[int], list[float], list[str]]] = {}
    for block in blocks:
        for row in block:
            counts, times, _log = found.setdefault(row["name"], ([], [], []))
            counts.extend(row["counts"])
            times.extend(row["ms"])
            found[row["name"]] = (counts, times, row["log"] or _log)
    return {
        name: (int(statistics.median(c)), statistics.median(t), log)
        for name, (c, t, log) in found.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=15, help="rounds per operation and tree")
    parser.add_argument("--blocks", type=int, default=3, help="alternating blocks per tree")
    parser.add_argument("--today", default=TODAY_REV, help="the revision called today")
    parser.add_argument("--log", action="store_true", help="list this tree's commands")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--tree", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.rounds, args.log)
        return
    shutil.rmtree(_WORKDIR, ignore_errors=True)  # the children make their own
    work = Path(tempfile.mkdtemp(prefix="kiosk-bench-trees-"))
    try:
        today = unpack(args.today, work / "today")
        per_block = max(1, args.rounds // args.blocks)
        old_blocks, new_blocks = [], []
        for _ in range(args.blocks):
            old_blocks.append(run_child(today, per_block, log=False))
            new_blocks.append(run_child(ROOT, per_block, log=args.log))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    old, new = combine(old_blocks), combine(new_blocks)
    rounds = per_block * args.blocks
    print(f"real pcscd + vpcd, virtual cards; median of {rounds} rounds each, {args.blocks} blocks")
    print(f"{'':34} {'APDUs':^28} {'median ms':^28}")
    columns = f"{'8503763':>8} {args.today:>9} {'this tree':>9}"
    print(f"{'operation':34} {columns}  {columns}")
    for name, (count, ms, _log) in new.items():
        before_count, before_ms = BEFORE[name]
        today_count, today_ms, _ = old[name]
        print(
            f"{name:34} {before_count:8d} {today_count:9d} {count:9d}"
            f"  {before_ms:8.1f} {today_ms:9.1f} {ms:9.1f}"
        )
    if args.log:
        for name, (count, _ms, log) in new.items():
            if log and name.startswith("SITHS"):
                print(f"\n{name}, this tree: {count} commands")
                print("\n".join(f"  {number:2d}. {line}" for number, line in enumerate(log, 1)))


if __name__ == "__main__":
    main()
