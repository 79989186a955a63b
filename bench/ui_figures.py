"""Benchmark: the kiosk window's figures, on a virtual screen (Xvfb) with real parts.

Prints: cold start to the idle screen drawn; card insertion to the card
summary drawn; time to draw one QR frame; CPU share and memory (RSS) while
idle and while the QR animates. Uses the same private pcscd, virtual SITHS
card and in-process reference card service as the UI tests.

Run: .venv/bin/python bench/ui_figures.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.chdir(ROOT)

import tests.conftest as shared  # noqa: E402  (sets PCSCLITE_CSOCK_NAME first)
from cardservice.service import ServiceConfig  # noqa: E402
from sim.dev_pki import write_dev_pki  # noqa: E402
from sim.siths_pki import SithsHolder, SithsTestPki  # noqa: E402
from sim.vcard.siths_card import SithsCardState, VirtualSithsCard  # noqa: E402
from tests.harness.cardservice import KIOSK_ID, CardServiceHarness  # noqa: E402
from tests.harness.pcscd import PrivatePcscd  # noqa: E402
from tests.harness.smtp_sink import SmtpSink  # noqa: E402
from tests.harness.xvfb import Xvfb  # noqa: E402
from tests.kiosk.test_ui_unlock import KioskWindow  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def sample(pid: int, seconds: float = 5.0) -> tuple[float, float]:
    """CPU share of one core (%) over ``seconds``, and RSS at the end."""
    before, start = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)  # measuring over a wall-clock window is the point here
    used = cpu_seconds(pid) - before
    return 100 * used / (time.monotonic() - start), rss_mib(pid)


def main() -> None:
    import subprocess

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
    from sim.vcard.vpcd import VpcdLink

    card = VirtualSithsCard(SithsCardState.issue(holder, pki, identification_tries_left=0))
    link = VpcdLink(card, port=daemon.slot_port(0))
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.kiosk.ui_kiosk_child", str(config), str(work / "shots")],
        env=xvfb.environment(daemon.environment()),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    window = KioskWindow(process)
    try:
        window.ask("wait Idle")
        cold = time.perf_counter() - started
        idle_cpu, idle_rss = sample(process.pid)
        inserted = time.perf_counter()
        link.insert()
        window.ask("wait CardSummary")
        summary = time.perf_counter() - inserted
        qr_ms = float(window.ask("bench-qr 50"))
        window.ask("tap unlock_mobile")
        window.ask("wait LoginQr")
        qr_cpu, qr_rss = sample(process.pid)
    finally:
        window.close()
        link.remove()
        service.stop()
        smtp.stop()
        xvfb.stop()
        daemon.stop()
    print("kiosk window on Xvfb (software GL), real pcscd + reference card service")
    print(f"  cold start to idle screen drawn     {cold * 1000:8.0f} ms")
    print(
        f"  card insertion to summary drawn     {summary * 1000:8.0f} ms"
        "  (includes pcscd's 400 ms vpcd polling)"
    )
    print(f"  draw one QR frame (median of 50)    {qr_ms:8.2f} ms")
    print(f"  idle:            CPU {idle_cpu:5.1f} % of a core, RSS {idle_rss:6.1f} MiB")
    print(f"  QR animating:    CPU {qr_cpu:5.1f} % of a core, RSS {qr_rss:6.1f} MiB")


if __name__ == "__main__":
    main()
