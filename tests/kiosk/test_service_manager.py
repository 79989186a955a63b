"""What systemd hears from the kiosk (kiosk/service_manager.py), on a real notify socket.

The decisions are plain functions (the interval from WATCHDOG_USEC, which parts are
frozen); the kiosk itself then runs on the real parts (pcscd with a virtual SITHS card,
the card service over mutual TLS) with ``NOTIFY_SOCKET`` pointing at the test's socket:
READY after start-up, STATUS as the flow moves, WATCHDOG every half interval, and no
WATCHDOG while the reader watcher is stuck in a hung pcscd.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time

import pytest

from kiosk.appliance import Appliance
from kiosk.config import parse
from kiosk.service_manager import Liveness, ServiceManager, stale_parts, watchdog_interval
from tests.harness.notify_socket import NotifySocket
from tests.harness.waiting import wait_for

WATCHDOG_USEC = 1_000_000  # systemd's WatchdogSec=1: a ping at least every second


def test_the_interval_is_half_of_what_systemd_asked_for():
    assert watchdog_interval({"WATCHDOG_USEC": "20000000"}) == 10.0
    assert watchdog_interval({}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "0"}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "soon"}) is None


def test_a_part_is_frozen_once_it_missed_its_own_limit():
    beats, limits = {"screen": 10.0, "reader-watcher": 10.0}, {"screen": 5, "reader-watcher": 15}
    assert stale_parts(beats, limits, now=14.0) == []
    assert stale_parts(beats, limits, now=16.0) == ["screen"]
    assert stale_parts(beats, limits, now=26.0) == ["reader-watcher", "screen"]


def test_liveness_counts_from_registration_and_each_beat():
    now = [100.0]
    liveness = Liveness(clock=lambda: now[0])
    beat = liveness.heartbeat("main", within=2.0)
    now[0] = 101.5
    assert liveness.frozen() == []
    now[0] = 103.0
    assert liveness.frozen() == ["main"]
    beat()
    assert liveness.frozen() == []


def test_without_systemd_nothing_is_sent():
    sent: list[str] = []
    manager = ServiceManager({}, notify=sent.append)
    manager.status("idle")
    manager.ready()
    manager.stopping()
    assert sent == [] and not manager.enabled and manager.interval is None


@pytest.fixture
def notify(tmp_path, monkeypatch):
    listening = NotifySocket(tmp_path / "notify")
    for key, value in listening.environment(WATCHDOG_USEC).items():
        monkeypatch.setenv(key, value)  # libsystemd's sd_notify reads NOTIFY_SOCKET itself
    yield listening
    listening.close()


@pytest.fixture
def headless_kiosk(cardservice, siths_pki, standard_siths_certificates, tmp_path, pcscd, notify):
    holder, _ = standard_siths_certificates
    cardservice.register(holder)
    (tmp_path / "siths.pem").write_bytes(siths_pki.anchors_pem() + siths_pki.intermediates_pem())
    config = parse(cardservice.kiosk_config(tmp_path / "siths.pem"))
    limits = {"main": 3.0, "reader-watcher": 3.0}
    appliance = Appliance.build(config, systemd=ServiceManager(), limits=limits).start()
    running = threading.Thread(target=appliance.run_headless, daemon=True)
    running.start()
    yield appliance
    appliance.request_stop()
    running.join(10)
    appliance.stop()


def gaps(pings: list[tuple[float, str]]) -> list[float]:
    return [later - earlier for (earlier, _), (later, _) in itertools.pairwise(pings)]


def test_ready_status_and_the_watchdog_on_a_real_notify_socket(
    headless_kiosk, notify, make_siths_slot, pcscd, caplog
):
    ready_at, _ = notify.wait("READY", "1")
    assert headless_kiosk.systemd.enabled and headless_kiosk.systemd.interval == 0.5
    wait_for(lambda: notify.statuses()[-1:] == ["idle"], timeout=30, what="STATUS=idle")

    slot = make_siths_slot(identification_tries_left=0)
    wait_for(lambda: "card-summary" in notify.statuses(), timeout=30, what="card-summary")
    slot.remove()
    wait_for(lambda: notify.statuses()[-1] == "idle", timeout=30, what="idle again")
    shown = notify.statuses()
    assert shown[0] == "idle" and shown[-2:] == ["card-summary", "idle"], shown

    # Pings at the interval systemd asked for: never later than WATCHDOG_USEC apart.
    wait_for(lambda: len(notify.said("WATCHDOG", ready_at)) >= 6, timeout=30, what="pings")
    pings = notify.said("WATCHDOG", ready_at)
    print(f"ping gaps (s): {[round(gap, 3) for gap in gaps(pings)]}")
    assert all(value == "1" for _, value in pings)
    assert max(gaps(pings)) < WATCHDOG_USEC / 1e6

    # A hung pcscd holds the reader watcher: its heartbeat stops, and so do the pings.
    caplog.set_level(logging.ERROR, logger="kiosk.service_manager")
    with pcscd.frozen():
        frozen_at = time.monotonic()
        wait_for(
            lambda: "reader-watcher" in caplog.text, timeout=30, what="the watcher seen frozen"
        )
        seen_at = time.monotonic()
        last_ping = notify.said("WATCHDOG")[-1][0]
        wait_for(lambda: time.monotonic() - last_ping > 3 * 0.5, timeout=10, what="silence")
        assert notify.said("WATCHDOG", seen_at) == []
        print(f"frozen for {seen_at - frozen_at:.1f} s before the pings stopped")
    thawed_at = time.monotonic()
    notify.wait("WATCHDOG", "1", since=thawed_at, timeout=30)  # alive again: pinging again
