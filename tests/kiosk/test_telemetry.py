"""Kiosk telemetry against a real Mosquitto (TLS, client certificates, identity as user name,
the ACL of docs/telemetry.md): what the fleet sees, what survives an outage, who may do what."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import threading

import paho.mqtt.client as mqtt
import pytest

from hw.board import LinuxBoard
from kiosk.flow import effects as fx
from kiosk.session_report import SessionReport
from kiosk.telemetry.link import LinkSettings
from kiosk.telemetry.messages import KioskCondition
from kiosk.telemetry.service import Telemetry, TelemetrySettings
from protocol import telemetry as tm
from sim.dev_pki import write_dev_pki
from tests.harness.fleet_listener import mqtt_client
from tests.harness.mosquitto import OTHER_FLEET_ID
from tests.harness.waiting import wait_for

CARD = "9752269885719985027"
KEY = b"card-hash-key-for-the-tests-only"


def make_telemetry(broker, pki, tmp_path, kiosk="kiosk-a", **changes) -> Telemetry:
    link = LinkSettings(
        kiosk,
        "127.0.0.1",
        broker.port,
        pki.service_ca,
        pki.kiosk_cert(kiosk),
        pki.kiosk_key(kiosk),
        will_delay=1,
        retry_delay=0.2,
    )
    settings = TelemetrySettings(
        link=link,
        outbox=tmp_path / f"{kiosk}.sqlite3",
        card_hash_key=changes.pop("card_hash_key", KEY),
        location="Entré A",
        site="Testsjukhuset",
        health_interval=changes.pop("health_interval", 3600),
        software="test",
    )
    return Telemetry(
        settings,
        condition=changes.pop("condition", lambda: KioskCondition(True, True, 4.2, False)),
        set_maintenance=changes.pop("set_maintenance", lambda on: None),
        board=LinuxBoard(),
    )


def report(kind=fx.ReportKind.SESSION_STARTED, session=1, **facts) -> SessionReport:
    step = fx.Report(kind, session, CARD, **facts)
    return SessionReport.of(step, kiosk_id="kiosk-a", incarnation="run", at=dt.datetime.now(dt.UTC))


@pytest.fixture
def kiosk(broker, broker_pki, tmp_path):
    telemetry = make_telemetry(broker, broker_pki, tmp_path).start()
    yield telemetry
    telemetry.stop()


def test_birth_health_and_events_follow_the_contract(kiosk, fleet):
    kiosk.deliver(report())
    kiosk.deliver(
        report(
            fx.ReportKind.UNLOCK_FAILED, reason="wrong-puk", outcome="not-unlocked", tries_left=6
        )
    )
    fleet.wait(lambda: len(fleet.events("kiosk-a")) == 2, "two events")
    fleet.wait(lambda: fleet.of("kiosk-a", tm.Channel.HEALTH), "a health sample")
    (birth,) = fleet.states("kiosk-a")
    assert birth.state == "online" and birth.site == "Testsjukhuset" and birth.location == "Entré A"
    started, failed = fleet.events("kiosk-a")
    assert (started.kind, failed.kind) == ("session-started", "unlock-failed")
    assert failed.reason == "wrong-puk" and failed.tries_left == 6
    assert started.card == tm.card_hash(KEY, CARD) and CARD not in str(started)
    assert started.incarnation == birth.incarnation and started.seq < failed.seq
    health = tm.decode(tm.HealthMessage, fleet.of("kiosk-a", tm.Channel.HEALTH)[0].payload)
    assert health.reader_present and health.card_service_latency_ms == 4.2
    assert health.certificate_days_left > 800 and health.uptime_s > 0
    counters = kiosk.sample().counters  # the sample after the two events
    assert (counters.sessions, counters.unlocks_failed, counters.events_lost) == (1, 1, 0)


def test_a_clean_stop_says_offline_and_the_fleet_finds_it_retained(
    broker, broker_pki, tmp_path, fleet
):
    telemetry = make_telemetry(broker, broker_pki, tmp_path).start()
    fleet.wait(lambda: fleet.states("kiosk-a"), "the birth")
    telemetry.stop()
    fleet.wait(lambda: fleet.states("kiosk-a")[-1].state == "offline", "offline")
    late = mqtt_client("late", broker.port, broker_pki.service_ca, *fleet_files(broker_pki))
    got: list[mqtt.MQTTMessage] = []
    late.on_message = lambda client, userdata, message: got.append(message)
    late.connect("127.0.0.1", broker.port)
    late.loop_start()
    late.subscribe(tm.topic("kiosk-a", tm.Channel.STATE), qos=1)
    wait_for(lambda: got, what="the retained state")
    late.disconnect()
    late.loop_stop()
    assert got[0].retain and tm.decode(tm.StateMessage, got[0].payload).state == "offline"


def fleet_files(pki):
    """Another fleet instance's identity (each instance has its own name and so client id)."""
    return pki.kiosk_cert(OTHER_FLEET_ID), pki.kiosk_key(OTHER_FLEET_ID)


def test_nothing_is_lost_while_the_broker_is_down(kiosk, broker, fleet):
    fleet.wait(lambda: fleet.states("kiosk-a"), "the birth")
    broker.stop()
    wait_for(lambda: not kiosk.link.connected.is_set(), what="the kiosk to notice")
    burst = 1500  # more than Mosquitto queues for an absent client by default (1,000)
    kiosk.deliver_batch([report(session=session) for session in range(1, burst + 1)])
    assert kiosk.outbox.depth() >= burst  # kept on disk, waiting
    broker.start()
    fleet.wait(lambda: len({e.id for e in fleet.events("kiosk-a")}) == burst, "all", 90)
    events = fleet.events("kiosk-a")
    unique = list({e.id: e for e in events}.values())
    assert [e.seq for e in unique] == sorted(e.seq for e in unique)  # in order
    assert [int(e.session.split("-")[1]) for e in unique] == list(range(1, burst + 1))
    wait_for(lambda: kiosk.outbox.depth() == 0, what="the outbox to empty")


def raw_kiosk(broker, pki, kiosk: str) -> mqtt.Client:
    client = mqtt_client(
        f"raw-{kiosk}", broker.port, pki.service_ca, *(pki.kiosk_cert(kiosk), pki.kiosk_key(kiosk))
    )
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    return client


def test_a_kiosk_cannot_speak_for_another_or_give_commands(broker, broker_pki, fleet):
    client = raw_kiosk(broker, broker_pki, "kiosk-a")
    answers: dict[int, object] = {}
    client.on_publish = lambda c, u, mid, reason, props: answers.setdefault(mid, reason)
    forged = [
        client.publish(tm.topic("kiosk-b", tm.Channel.EVENT), b'{"forged": 1}', qos=1),
        client.publish(
            tm.topic("kiosk-a", tm.Channel.COMMAND, tm.Command.MAINTENANCE), b"{}", qos=1
        ),
        client.publish(tm.topic("kiosk-b", tm.Channel.STATE), b"{}", qos=1, retain=True),
    ]
    own = client.publish(tm.topic("kiosk-a", tm.Channel.EVENT), b'{"own": 1}', qos=1)
    fleet.wait(lambda: fleet.of("kiosk-a", tm.Channel.EVENT), "the kiosk's own message")
    wait_for(lambda: len(answers) == 4, what="the broker's answers")
    assert all(answers[info.mid].is_failure for info in forged)  # "not authorized"
    assert not answers[own.mid].is_failure
    assert fleet.of("kiosk-b", tm.Channel.EVENT) == fleet.of("kiosk-b", tm.Channel.STATE) == []
    assert fleet.of("kiosk-a", tm.Channel.COMMAND) == []
    client.disconnect()
    client.loop_stop()


def test_a_kiosk_cannot_read_another_kiosks_data(kiosk, broker, broker_pki, fleet):
    eavesdropper = raw_kiosk(broker, broker_pki, "kiosk-b")
    heard: list[str] = []
    eavesdropper.on_message = lambda client, userdata, message: heard.append(message.topic)
    subscribed = threading.Event()
    eavesdropper.on_subscribe = lambda *args: subscribed.set()
    eavesdropper.subscribe(f"{tm.ROOT}/#", qos=1)
    assert subscribed.wait(10)
    kiosk.deliver(report())
    fleet.wait(lambda: fleet.events("kiosk-a"), "the event at the fleet")
    kiosk.link.rebirth()
    fleet.wait(lambda: len(fleet.states("kiosk-a")) >= 2, "the rebirth at the fleet")
    assert [topic for topic in heard if "/kiosk-a/" in topic] == []
    eavesdropper.disconnect()
    eavesdropper.loop_stop()


def mosquitto_pub(broker, pki, topic: str, cert=None, key=None) -> subprocess.CompletedProcess:
    """Mosquitto's own client (it waits for the broker's answer) publishing one message."""
    command = ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port), "-V", "mqttv5"]
    command += ["--cafile", str(pki.service_ca), "-t", topic, "-m", "{}", "-q", "1"]
    if cert is not None:
        command += ["--cert", str(cert), "--key", str(key)]
    return subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)


@pytest.mark.parametrize("who", ["no certificate", "another CA"])
def test_only_a_device_ca_certificate_connects(broker, broker_pki, tmp_path, fleet, who):
    topic = tm.topic("kiosk-a", tm.Channel.EVENT)
    cert = key = None
    if who == "another CA":
        rogue = write_dev_pki(tmp_path / "rogue", ["kiosk-a"])
        cert, key = rogue.kiosk_cert("kiosk-a"), rogue.kiosk_key("kiosk-a")
    refused = mosquitto_pub(broker, broker_pki, topic, cert, key)
    assert refused.returncode != 0, refused.stdout + refused.stderr
    good = broker_pki.kiosk_cert("kiosk-a"), broker_pki.kiosk_key("kiosk-a")
    assert mosquitto_pub(broker, broker_pki, topic, *good).returncode == 0  # the control
    fleet.wait(lambda: fleet.of("kiosk-a", tm.Channel.EVENT), "the control message")
    assert len(fleet.of("kiosk-a", tm.Channel.EVENT)) == 1  # and only that one


def test_no_client_can_take_over_another_kiosks_connection(broker, broker_pki, tmp_path, fleet):
    victim = make_telemetry(broker, broker_pki, tmp_path, kiosk="kiosk-b").start()
    try:
        fleet.wait(lambda: fleet.states("kiosk-b"), "kiosk-b's birth")
        intruder = mqtt_client(
            "kiosk-b",
            broker.port,
            broker_pki.service_ca,
            broker_pki.kiosk_cert("kiosk-a"),
            broker_pki.kiosk_key("kiosk-a"),
        )  # kiosk-a's certificate, asking for kiosk-b's client id
        intruder.connect("127.0.0.1", broker.port)
        intruder.loop_start()
        wait_for(intruder.is_connected, what="the intruder's connection")
        victim.link.rebirth()  # a round trip on kiosk-b's connection after the intruder came
        fleet.wait(lambda: len(fleet.states("kiosk-b")) == 2, "the rebirth")
        assert victim.link.connected.is_set()
        assert [s.state for s in fleet.states("kiosk-b")] == ["online", "online"]  # never cut
        intruder.disconnect()
        intruder.loop_stop()
    finally:
        victim.stop()


def test_the_first_health_sample_says_unknown_rather_than_guessing(broker, broker_pki, tmp_path):
    unknown = KioskCondition(
        reader_present=False, card_service_up=None, card_service_latency_ms=None, maintenance=False
    )
    telemetry = make_telemetry(broker, broker_pki, tmp_path, condition=lambda: unknown)
    sample = telemetry.sample()
    assert sample.card_service_up is None and sample.card_service_latency_ms is None
    assert "card_service_up" not in json.loads(tm.encode(sample))
    telemetry.outbox.close()


def test_a_short_card_hash_key_is_refused(broker, broker_pki, tmp_path):
    with pytest.raises(ValueError, match="at least 32 bytes"):
        make_telemetry(broker, broker_pki, tmp_path, card_hash_key=b"short")
