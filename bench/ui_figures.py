"""Benchmark: the kiosk at rest and at work, today's revision and this tree side by side.

Both run in the same run, on the same Xvfb (software GL), the same private pcscd
with a virtual SITHS card, and the same in-process reference card service:

* idle CPU and RSS of the kiosk, sampled over the same wall-clock windows as a
  bare Kivy app (``bench/bare_kivy.py``) running beside it;
* for each of many insertions, a paired sample: when a bare
  ``SCardGetStatusChange`` in this process heard of the card, and when the
  kiosk's card summary reached the screen (``bench/ui_child.py`` times every
  frame); and how many "Reading the card" frames reached the screen after the
  card had already been read (stale);
* the QR: the widget's ``show`` and ``show`` until that frame is on the screen;
* the card commands on insertion and for one whole unlock, from the virtual
  card's APDU log.

"Today" is the revision before the work on idle cost and QR frames (``--before``),
unpacked with ``git archive`` and run from there.

Run: ``.venv/bin/python bench/ui_figures.py [--rounds 30] [--before REV | --no-before]``
Soak: ``.venv/bin/python bench/ui_figures.py --soak 1000 [--soak-rev REV]`` (this tree, or
revision REV, alone: RSS at the
start, every 100 insertions and at the end).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))

from bench_parts import PresenceProbe, cpu_shares, rss_mib, spread, unpack  # noqa: E402

import tests.conftest as shared  # noqa: E402  (sets PCSCLITE_CSOCK_NAME first)
from cardservice.service import ServiceConfig  # noqa: E402
from sim.dev_pki import write_dev_pki  # noqa: E402
from sim.siths_pki import SithsHolder, SithsTestPki  # noqa: E402
from sim.vcard.apdu_log import ApduLog  # noqa: E402
from sim.vcard.siths_card import SithsCardState, VirtualSithsCard  # noqa: E402
from sim.vcard.vpcd import VpcdLink  # noqa: E402
from tests.harness.cardservice import KIOSK_ID, CardServiceHarness  # noqa: E402
from tests.harness.pcscd import PrivatePcscd  # noqa: E402
from tests.harness.smtp_sink import SmtpSink  # noqa: E402
from tests.harness.xvfb import Xvfb  # noqa: E402
from tests.kiosk.test_ui_unlock import KioskWindow  # noqa: E402

#: The last revision before the idle-cost and QR-frame work (issue 15).
BEFORE_REV = "8503763"
NEW_PIN = "48291573"
#: Seconds between the first idle frame and the idle figures: start-up work done, and the
#: kiosk back at its idle frame rate (kiosk.ui.frame_pacing.HOLD_SECONDS after a new screen).
SETTLE = 15.0
#: Cold starts timed (the kiosk alone, each window closed before the next).
COLD_STARTS = 3


@dataclass
class Figures:
    """One kiosk revision's figures (strings, ready for the table)."""

    rows: dict[str, str] = field(default_factory=dict)


@dataclass
class Rig:
    """What both revisions share: pcscd, the screen, the card service, a holder."""

    work: Path
    daemon: PrivatePcscd
    xvfb: Xvfb
    service: CardServiceHarness
    holder: SithsHolder
    pki: SithsTestPki
    config: Path
    probe: PresenceProbe

    def environment(self, tree: Path) -> dict[str, str]:
        env = self.xvfb.environment(self.daemon.environment())
        env["PYTHONPATH"] = str(tree)
        return env

    def new_card(self) -> tuple[ApduLog, VpcdLink]:
        state = SithsCardState.issue(self.holder, self.pki, identification_tries_left=0)
        card = ApduLog(VirtualSithsCard(state))
        return card, VpcdLink(card, port=self.daemon.slot_port(0))  # type: ignore[arg-type]


def start_kiosk(rig: Rig, tree: Path, name: str) -> tuple[KioskWindow, float]:
    """The kiosk window of ``tree``; and its cold start to the first idle frame (s)."""
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, str(BENCH / "ui_child.py"), str(rig.config), str(rig.work / "shots")],
        env=rig.environment(tree),
        cwd=tree,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=(rig.work / f"{name}.log").open("w"),
        text=True,
    )
    window = KioskWindow(process)
    ready = window.lines.get(timeout=60)
    if ready != "ok ready":
        raise RuntimeError(f"the kiosk of {tree} did not start: {ready}")
    at = float(window.ask("drawn Idle").split()[0])
    return window, at - started


def start_bare_kivy(rig: Rig) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, str(BENCH / "bare_kivy.py")],
        env=rig.environment(ROOT),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    if process.stdout.readline().strip() != "ok ready":
        raise RuntimeError("the bare Kivy app did not start")
    return process


@dataclass
class Insertion:
    """One insertion's paired times (s, from pcscd's report) and its Reading frames."""

    handed: float  # the summary's state reached the window
    drawn: float  # the summary was on the screen
    reading: int
    stale: int


def insertion(rig: Rig, window: KioskWindow, link: VpcdLink) -> Insertion:
    """One insertion, from rest, and removal, timed against the bare PC/SC probe."""
    window.ask("rest")  # as if nobody had touched the kiosk for a while: the slow frame rate
    window.ask("mark")
    since = time.monotonic()
    link.insert()
    heard = rig.probe.wait(True, since)
    at, reading, stale, handed = window.ask("drawn CardSummary").split()
    window.ask("mark")
    link.remove()
    rig.probe.wait(False, time.monotonic() - 0.001)
    window.ask("drawn Idle")
    return Insertion(float(handed) - heard, float(at) - heard, int(reading), int(stale))


def measure(rig: Rig, tree: Path, name: str, rounds: int, windows: int, seconds: float) -> Figures:
    """Every figure of one revision; the bare Kivy app runs beside it while idle."""
    figures = Figures()
    colds = []
    for _ in range(COLD_STARTS):
        window, cold = start_kiosk(rig, tree, name)
        colds.append(cold * 1000)
        window.close()
    figures.rows[f"cold start to the idle screen drawn ({COLD_STARTS} starts)"] = spread(
        colds, " ms", 0
    )
    bare = start_bare_kivy(rig)
    window, _cold = start_kiosk(rig, tree, name)
    pid = window.process.pid
    card, link = rig.new_card()
    try:
        time.sleep(SETTLE)  # start-up work done, and the screen untouched for a while
        kiosk_cpu, bare_cpu = [], []
        for _ in range(windows):
            kiosk, base = cpu_shares([pid, bare.pid], seconds)
            kiosk_cpu.append(kiosk)
            bare_cpu.append(base)
        figures.rows["idle CPU, % of a core"] = spread(kiosk_cpu, " %", 2)
        figures.rows["idle CPU of a bare Kivy app beside it"] = spread(bare_cpu, " %", 2)
        figures.rows["idle RSS at first idle"] = f"{rss_mib(pid):.0f} MiB"
        figures.rows["RSS of the bare Kivy app"] = f"{rss_mib(bare.pid):.0f} MiB"
        samples = [insertion(rig, window, link) for _ in range(rounds)]
        figures.rows[f"pcscd reports the card -> summary on screen ({rounds} insertions)"] = spread(
            [s.drawn * 1000 for s in samples], " ms"
        )
        figures.rows["  of which: card read, summary state handed to the window"] = spread(
            [s.handed * 1000 for s in samples], " ms"
        )
        figures.rows["  of which: state handed -> summary on screen"] = spread(
            [(s.drawn - s.handed) * 1000 for s in samples], " ms"
        )
        figures.rows["'Reading the card' frames drawn / of them stale"] = (
            f"{sum(s.reading for s in samples)} / {sum(s.stale for s in samples)}"
        )
        figures.rows[f"idle RSS after {rounds} insertions"] = f"{rss_mib(pid):.0f} MiB"
        qr_and_unlock(rig, window, card, link, figures, seconds)
    finally:
        window.close()
        link.remove()
        assert bare.stdin is not None
        bare.stdin.close()
        bare.wait(timeout=30)
    return figures


def qr_and_unlock(
    rig: Rig, window: KioskWindow, card: ApduLog, link: VpcdLink, figures: Figures, seconds: float
) -> None:
    """The QR screen's figures, then one whole unlock with its card commands counted."""
    window.ask("mark")
    inserted = card.mark()
    link.insert()
    window.ask("drawn CardSummary")
    figures.rows["card commands on insertion"] = card.summary(inserted)
    window.ask("tap unlock_mobile")
    window.ask("drawn LoginQr")
    show, frame = window.ask("qr-frames 60").split()
    figures.rows["QR frame: the widget's show (median, min-max)"] = ms_spread(show)
    figures.rows["QR frame: show until on the screen"] = ms_spread(frame)
    (cpu,) = cpu_shares([window.process.pid], seconds)
    figures.rows["CPU while the QR animates"] = f"{cpu:.1f} %"
    rig.service.scan_and_approve(window.ask("qr-content"), rig.holder.personal_identity_number)
    window.ask("drawn NewPin")
    window.ask(f"type {NEW_PIN}")
    window.ask("mark")
    window.ask("drawn NewPin")  # the confirmation screen
    unlock = card.mark()
    window.ask(f"type {NEW_PIN}")
    window.ask("drawn Done")
    figures.rows["card commands for one unlock"] = card.summary(unlock)


def ms_spread(triple: str) -> str:
    median, low, high = (float(v) for v in triple.split(","))
    return f"{median:.2f} ms ({low:.2f}-{high:.2f})"


def soak(rig: Rig, rounds: int, tree: Path) -> None:
    """Many insertions; RSS at the start, every 100 insertions and at the end."""
    window, _cold = start_kiosk(rig, tree, "soak")
    pid = window.process.pid
    _card, link = rig.new_card()
    try:
        time.sleep(SETTLE)  # as in measure()
        print(f"soak: {rounds} insertions; RSS at the start {rss_mib(pid):.1f} MiB", flush=True)
        added = []
        for number in range(1, rounds + 1):
            added.append(insertion(rig, window, link).drawn * 1000)
            if number % 100 == 0 or number == rounds:
                print(
                    f"  after {number:5d} insertions: RSS {rss_mib(pid):6.1f} MiB,"
                    f" added delay {spread(added[-100:], ' ms')}",
                    flush=True,
                )
    finally:
        window.close()
        link.remove()


def print_table(columns: list[tuple[str, Figures]]) -> None:
    names = list(dict.fromkeys(row for _label, figures in columns for row in figures.rows))
    print("| figure | " + " | ".join(label for label, _f in columns) + " |")
    print("| --- |" + " --- |" * len(columns))
    for row in names:
        cells = [figures.rows.get(row, "-") for _label, figures in columns]
        print(f"| {row} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=30, help="insertions per revision")
    parser.add_argument("--windows", type=int, default=6, help="idle CPU windows")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of one window")
    parser.add_argument("--before", default=BEFORE_REV, help="the revision called today")
    parser.add_argument("--no-before", action="store_true", help="this tree only")
    parser.add_argument("--soak", type=int, default=0, help="run N insertions and print RSS")
    parser.add_argument("--soak-rev", default="", help="soak this revision, not this tree")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="kiosk-ui-bench-"))
    daemon = PrivatePcscd(shared._WORKDIR / "pcscd")
    daemon.start()
    xvfb = Xvfb().start()
    smtp = SmtpSink().start()
    service = CardServiceHarness(
        work / "service", write_dev_pki(work / "pki", [KIOSK_ID]), smtp, ServiceConfig()
    )
    holder, pki = SithsHolder(), SithsTestPki.generate()
    service.register(holder)
    (work / "siths.pem").write_bytes(pki.anchors_pem() + pki.intermediates_pem())
    config = work / "kiosk.toml"
    config.write_text(service.kiosk_config(work / "siths.pem"))
    probe = PresenceProbe(daemon.reader(0)).start()
    rig = Rig(work, daemon, xvfb, service, holder, pki, config, probe)
    try:
        if args.soak:
            soak(rig, args.soak, unpack(args.soak_rev, work / "soak") if args.soak_rev else ROOT)
            return
        trees = [] if args.no_before else [(f"today ({args.before})", args.before)]
        trees.append(("this tree", ""))
        columns = []
        for label, rev in trees:
            tree = unpack(rev, work / "before") if rev else ROOT
            name = "before" if rev else "now"
            figures = measure(rig, tree, name, args.rounds, args.windows, args.seconds)
            columns.append((label, figures))
            print(f"measured {label}", file=sys.stderr, flush=True)
        print(
            f"kiosk window on Xvfb (software GL), real pcscd + vpcd + reference card service;"
            f" median (min-max); {args.windows} idle windows"
            f" of {args.seconds:.0f} s"
        )
        print_table(columns)
    finally:
        probe.stop()
        service.stop()
        smtp.stop()
        xvfb.stop()
        daemon.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
