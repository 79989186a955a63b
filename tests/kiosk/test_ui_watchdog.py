"""The kiosk window tells systemd it lives only while its screen's loop turns.

The real kiosk window (tests/kiosk/ui_kiosk_child.py, under Xvfb) runs with
``NOTIFY_SOCKET`` and ``WATCHDOG_USEC`` set, as systemd starts it: READY comes once
the window is up, WATCHDOG every half interval; when the main thread is held (a hung
screen) the pings stop, and they come back when it turns again.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from tests.harness.notify_socket import NotifySocket
from tests.harness.waiting import wait_for
from tests.harness.xvfb import Xvfb
from tests.kiosk.test_ui_unlock import KioskWindow

pytestmark = [pytest.mark.ui, pytest.mark.pcsc]
WATCHDOG_USEC = 1_000_000
SCREEN_LIMIT = 2.0


@pytest.fixture
def window(pcscd, cardservice, siths_pki, tmp_path):
    (tmp_path / "siths.pem").write_bytes(siths_pki.anchors_pem() + siths_pki.intermediates_pem())
    config = tmp_path / "kiosk.toml"
    config.write_text(cardservice.kiosk_config(tmp_path / "siths.pem"))
    notify = NotifySocket(tmp_path / "notify")
    xvfb = Xvfb().start()
    env = xvfb.environment(pcscd.environment())
    env.update(notify.environment(WATCHDOG_USEC))
    env["HEARTBEAT_LIMITS"] = json.dumps({"screen": SCREEN_LIMIT})
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.kiosk.ui_kiosk_child", str(config), str(tmp_path / "s")],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    kiosk = KioskWindow(process)
    kiosk.notify = notify
    yield kiosk
    kiosk.close()
    notify.close()
    xvfb.stop()


def test_a_held_screen_stops_the_watchdog_pings(window):
    notify = window.notify
    ready_at, _ = notify.wait("READY", "1", timeout=90)
    wait_for(lambda: len(notify.said("WATCHDOG", ready_at)) >= 3, timeout=30, what="pings")
    assert notify.statuses()  # the state came with READY or right after

    held_for = 3 * SCREEN_LIMIT
    window.ask(f"freeze {held_for}")
    asked_at = time.monotonic()
    # While held, a gap opens wider than systemd's own watchdog interval: it would restart us.
    wait_for(
        lambda: time.monotonic() - notify.said("WATCHDOG")[-1][0] > WATCHDOG_USEC / 1e6,
        timeout=held_for,
        what="the pings to stop",
    )
    silent_from = notify.said("WATCHDOG")[-1][0]
    notify.wait("WATCHDOG", "1", since=silent_from, timeout=30)  # turning again: pings again
    resumed_at = notify.said("WATCHDOG", silent_from)[0][0]
    print(f"held at {asked_at - ready_at:.1f} s; no ping for {resumed_at - silent_from:.1f} s")
