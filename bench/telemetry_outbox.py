"""Benchmark: telemetry's durable path against raw MQTT, and draining a backlog after an outage.

Against one private Mosquitto (TLS, client certificates, the ACL), in the same run:

1. raw QoS 1 publishes per second (a paho client, as many in flight as the kiosk's
   link allows, no disk);
2. events persisted in the outbox (SQLite, WAL, synchronous=FULL, on this machine's disk)
   and acknowledged by the broker per second, through the kiosk's own code;
3. the time to drain 10,000 events queued while the broker was down, from the moment it
   is back.

Goals (issue 11): (2) at least half of (1); (3) under 10 s.

Run: .venv/bin/python bench/telemetry_outbox.py [events]
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hw.board import LinuxBoard  # noqa: E402
from kiosk.event_sink import BackgroundSink  # noqa: E402
from kiosk.flow import effects as fx  # noqa: E402
from kiosk.session_report import SessionReport  # noqa: E402
from kiosk.telemetry.link import LinkSettings  # noqa: E402
from kiosk.telemetry.messages import KioskCondition  # noqa: E402
from kiosk.telemetry.service import Telemetry, TelemetrySettings  # noqa: E402
from protocol import telemetry as tm  # noqa: E402
from sim.dev_pki import DevPkiFiles, write_dev_pki  # noqa: E402
from tests.harness.fleet_listener import mqtt_client  # noqa: E402
from tests.harness.mosquitto import FLEET_ID, Mosquitto  # noqa: E402

KIOSK = "kiosk-bench"


def raw_qos1(broker: Mosquitto, pki: DevPkiFiles, count: int, payload: bytes) -> float:
    """Messages per second, published and acknowledged, as many in flight as the kiosk allows."""
    client = mqtt_client(
        "raw", broker.port, pki.service_ca, pki.kiosk_cert(KIOSK), pki.kiosk_key(KIOSK)
    )
    client.max_inflight_messages_set(LinkSettings.window)
    done = threading.Event()
    acked = [0]

    def on_publish(*_args: object) -> None:
        acked[0] += 1
        if acked[0] == count:
            done.set()

    client.on_publish = on_publish
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    topic = tm.topic(KIOSK, tm.Channel.EVENT)
    started = time.perf_counter()
    for _ in range(count):
        client.publish(topic, payload, qos=1)
    done.wait(120)
    elapsed = time.perf_counter() - started
    client.disconnect()
    client.loop_stop()
    return count / elapsed


def telemetry(broker: Mosquitto, pki: DevPkiFiles, folder: Path) -> Telemetry:
    settings = TelemetrySettings(
        link=LinkSettings(
            KIOSK,
            "127.0.0.1",
            broker.port,
            pki.service_ca,
            pki.kiosk_cert(KIOSK),
            pki.kiosk_key(KIOSK),
            retry_delay=0.1,
        ),
        outbox=folder / "outbox.sqlite3",
        card_hash_key=b"k" * 32,
        location="Bench",
        health_interval=3600,
    )
    return Telemetry(
        settings,
        condition=lambda: KioskCondition(True, True, None, False),
        set_maintenance=lambda on: None,
        board=LinuxBoard(),
    )


def reports(count: int) -> list[SessionReport]:
    now = dt.datetime.now(dt.UTC)
    step = fx.Report(fx.ReportKind.SESSION_ENDED, 1, "9752269885719985027", detail="Done")
    return [SessionReport.of(step, kiosk_id=KIOSK, incarnation="b", at=now) for _ in range(count)]


def wait_empty(kiosk: Telemetry, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while kiosk.outbox.depth() and time.monotonic() < deadline:
        time.sleep(0.01)  # polling a deadline, in a benchmark


def persisted_and_acked(kiosk: Telemetry, count: int) -> float:
    """Reports as the event sink hands them on: in batches of what queued up meanwhile."""
    sink = BackgroundSink(kiosk.deliver, deliver_batch=kiosk.deliver_batch).start()
    batch = reports(count)
    started = time.perf_counter()
    for report in batch:
        sink(report)
    sink.stop(60)
    wait_empty(kiosk)
    return count / (time.perf_counter() - started)


def drain_after_outage(kiosk: Telemetry, broker: Mosquitto, count: int) -> float:
    broker.stop()
    while kiosk.link.connected.is_set():
        time.sleep(0.01)
    for report in reports(count):
        kiosk.deliver(report)
    broker.start()
    started = time.perf_counter()
    wait_empty(kiosk)
    return time.perf_counter() - started


def main(count: int) -> None:
    logging.basicConfig(level=logging.ERROR)
    folder = Path(tempfile.mkdtemp(prefix="bench-telemetry-"))
    pki = write_dev_pki(folder / "pki", [KIOSK, FLEET_ID])
    broker = Mosquitto(folder / "broker", pki, persistent=False).start()
    try:
        payload = tm.encode(
            tm.EventMessage(
                id="x" * 36,
                kiosk=KIOSK,
                incarnation=1,
                seq=1,
                at=dt.datetime.now(dt.UTC),
                kind=tm.EventKind.SESSION_ENDED,
                card="0" * 64,
                detail="Done",
            )
        )
        raw = raw_qos1(broker, pki, count, payload)
        kiosk = telemetry(broker, pki, folder).start()
        while not kiosk.link.connected.is_set():
            time.sleep(0.01)
        durable = persisted_and_acked(kiosk, count)
        drain = drain_after_outage(kiosk, broker, 10_000)
        kiosk.stop()
    finally:
        broker.stop()
        shutil.rmtree(folder, ignore_errors=True)  # keys and the outbox: nothing left behind
    print(f"telemetry over one Mosquitto on loopback, {count} events of {len(payload)} bytes")
    print(f"  raw QoS 1 publishes:                {raw:8.0f} /s")
    print(
        f"  persisted + acknowledged (outbox):  {durable:8.0f} /s  ({durable / raw:.0%} of raw;"
        " goal >= 50%)"
    )
    print(f"  drain 10,000 queued after an outage: {drain:7.2f} s   (goal < 10 s)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5000)
