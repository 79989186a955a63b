"""The kiosk program itself (``kiosk run --headless``) as the fleet sees it through a real
Mosquitto: killed, it is marked lost after its will delay; stopped, it says offline; killed
with events not yet delivered, they arrive after it starts again."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys

import pytest

from cardservice.service import ServiceConfig
from kiosk.config import render
from protocol import telemetry as tm
from tests.harness.cardservice import KIOSK_ID, CardServiceHarness
from tests.harness.waiting import wait_for
from tests.harness.xvfb import Xvfb

pytestmark = pytest.mark.pcsc


class KioskProcess:
    """One ``kiosk run --headless`` child, started and stopped by the test."""

    def __init__(self, config, environment) -> None:
        self.config = config
        self.environment = environment
        self.process: subprocess.Popen[str] | None = None

    def start(self, *, headless: bool = True) -> KioskProcess:
        screen = ["--headless"] if headless else []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "kiosk.cli", "run", *screen, "--config", str(self.config)],
            env=self.environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        return self

    def signal(self, number: int) -> int:
        assert self.process is not None
        self.process.send_signal(number)
        return self.process.wait(30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@pytest.fixture
def kiosk(tmp_path, broker, broker_pki, siths_pki, smtp_sink, pcscd, standard_siths_certificates):
    service = CardServiceHarness(tmp_path / "cs", broker_pki, smtp_sink, ServiceConfig())
    holder, _ = standard_siths_certificates
    service.register(holder)
    trust = tmp_path / "siths-trust.pem"
    trust.write_bytes(siths_pki.anchors_pem() + siths_pki.intermediates_pem())
    (tmp_path / "card-hash.key").write_bytes(b"k" * 32)
    config = tmp_path / "kiosk.toml"
    config.write_text(
        render(
            kiosk_id=KIOSK_ID,
            location="Entré A",
            url=service.url,
            ca_file=broker_pki.service_ca,
            client_cert=broker_pki.kiosk_cert(KIOSK_ID),
            client_key=broker_pki.kiosk_key(KIOSK_ID),
            trust_anchors=[trust],
            fullscreen=False,
            outcome_outbox=tmp_path / "outcomes.sqlite3",
            telemetry={
                "broker": f"mqtts://127.0.0.1:{broker.port}",
                "ca_file": broker_pki.service_ca,
                "card_hash_key_file": tmp_path / "card-hash.key",
                "outbox": tmp_path / "outbox.sqlite3",
                "health_interval": 5,
                "will_delay": 1,
            },
        )
    )
    child = KioskProcess(config, pcscd.environment())
    child.outbox = tmp_path / "outbox.sqlite3"
    yield child
    child.stop()
    service.stop()


def test_a_killed_kiosk_is_marked_lost_after_its_will_delay(kiosk, fleet):
    kiosk.start()
    fleet.wait(lambda: fleet.states(KIOSK_ID), "the birth", 30)
    assert kiosk.signal(signal.SIGKILL) == -signal.SIGKILL
    lost = fleet.wait(lambda: fleet.states(KIOSK_ID)[-1].state == "lost", "the will", 30)
    assert lost
    assert fleet.of(KIOSK_ID, tm.Channel.STATE)[-1].retained is False  # live delivery
    birth, will = fleet.states(KIOSK_ID)[0], fleet.states(KIOSK_ID)[-1]
    assert will.incarnation == birth.incarnation


def test_a_stopped_kiosk_says_offline(kiosk, fleet):
    kiosk.start()
    fleet.wait(lambda: fleet.states(KIOSK_ID), "the birth", 30)
    assert kiosk.signal(signal.SIGTERM) == 0
    fleet.wait(lambda: fleet.states(KIOSK_ID)[-1].state == "offline", "offline", 30)
    assert [s.state for s in fleet.states(KIOSK_ID)] == ["online", "offline"]  # never "lost"


@pytest.fixture(scope="module")
def xvfb():
    server = Xvfb().start()
    yield server
    server.stop()


@pytest.mark.ui
def test_the_kiosk_with_its_screen_says_offline_when_systemd_stops_it(kiosk, fleet, xvfb):
    kiosk.environment = xvfb.environment(kiosk.environment)
    kiosk.start(headless=False)
    fleet.wait(lambda: fleet.states(KIOSK_ID), "the birth", 60)
    assert kiosk.signal(signal.SIGTERM) == 0  # the window does not refuse systemd
    fleet.wait(lambda: fleet.states(KIOSK_ID)[-1].state == "offline", "offline", 30)


def queued_events(outbox) -> int:
    try:
        with sqlite3.connect(f"file:{outbox}?mode=ro", uri=True, timeout=5) as db:
            return db.execute("SELECT COUNT(*) FROM messages WHERE kind = 'event'").fetchone()[0]
    except sqlite3.Error:
        return 0


def test_events_not_yet_delivered_arrive_after_a_restart(kiosk, broker, fleet, make_siths_slot):
    kiosk.start()
    fleet.wait(lambda: fleet.states(KIOSK_ID), "the birth", 30)
    broker.stop()
    slot = make_siths_slot(identification_tries_left=0)  # a holder comes while the link is down
    wait_for(lambda: queued_events(kiosk.outbox) >= 2, timeout=30, what="the card read")
    slot.remove()
    wait_for(lambda: queued_events(kiosk.outbox) >= 3, timeout=30, what="the events on disk")
    queued = queued_events(kiosk.outbox)
    kiosk.signal(signal.SIGKILL)  # the kiosk loses power
    broker.start()
    kiosk.start()
    fleet.wait(lambda: len(fleet.states(KIOSK_ID)) >= 2, "the second birth", 30)
    fleet.wait(
        lambda: "session-ended" in [e.kind for e in fleet.events(KIOSK_ID)], "the backlog", 30
    )
    first, second = fleet.states(KIOSK_ID)[0].incarnation, fleet.states(KIOSK_ID)[-1].incarnation
    assert second > first  # a higher incarnation: the kiosk restarted
    first_run = {e.id: e for e in fleet.events(KIOSK_ID) if e.incarnation == first}.values()
    kinds = [e.kind for e in first_run]
    assert kinds[-3:] == ["session-started", "card-read", "session-ended"]
    assert len(kinds) >= queued
    wait_for(lambda: queued_events(kiosk.outbox) == 0, timeout=30, what="the outbox to drain")
