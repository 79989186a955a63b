"""Benchmark: a fleet of 10,000 kiosks on loopback into `kiosk-fleet serve`, SQLite and PostgreSQL.

A private Mosquitto (TLS, the ACL of docs/telemetry.md plus one load-generator identity
allowed to speak for every kiosk, so 10,000 kiosks need not hold 10,000 connections),
the fleet server as its own process (as deployed), and two publisher processes that
play the kiosks: a retained birth each, then rounds of a health sample per kiosk
and unlock events (session-started, unlock-succeeded or unlock-failed,
session-ended), published at QoS 1 as fast as the broker takes them.

Prints, per database: births stored per second; ingest messages per second (from the
first publish to the last message stored; goal >= 5,000); the lag from publish to
stored (p50/p95, from the server's histogram, as bucket bounds); the database's size
per kiosk-day (bytes per stored health sample and event, times a day of samples at the
default 60 s interval and a busy kiosk's events); and the dashboard's and API's
response times at that size (p50/p95 of sequential requests; goal p95 < 300 ms).

The publishers and the measuring client share the machine's two cores with the broker
and the server, so the figures are a floor for the server alone.

Run: .venv/bin/python bench/fleet_load.py [kiosks] [rounds]
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402
from sqlalchemy import func, select, text  # noqa: E402

from fleet import schema  # noqa: E402
from fleet.accounts import Accounts, Role  # noqa: E402
from fleet.store import Store  # noqa: E402
from protocol import telemetry as tm  # noqa: E402
from sim.broker import Mosquitto, free_port  # noqa: E402
from sim.dev_pki import write_dev_pki  # noqa: E402
from tests.harness.fleet_listener import mqtt_client  # noqa: E402
from tests.harness.postgres import PrivatePostgres  # noqa: E402

LOADER = "bench:load"
FLEET = "fleet:server"
PASSWORD = "bench password 123"
SITES = 50
#: Assumed for a kiosk-day: a health sample a minute, and a busy kiosk's events.
SAMPLES_PER_DAY = 1440
EVENTS_PER_DAY = 25 * 4


def kiosk_id(n: int) -> str:
    return f"kiosk-{n:05d}"


def publish(
    port: int, pki_dir: str, kiosks: range, rounds: int, births: bool, pace: float = 0.0
) -> None:
    """One publisher process: births, or rounds of health and unlock events.

    ``pace``: kiosks per second (a health sample and three events each); 0 = flat out.
    """
    directory = Path(pki_dir)
    client = mqtt_client(
        f"{LOADER}-{kiosks.start}",
        port,
        directory / "service-ca.pem",
        directory / f"kiosk-{LOADER}.pem",
        directory / f"kiosk-{LOADER}.key",
    )
    client.max_inflight_messages_set(500)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    last = None
    seq = int(time.time() * 100) % 10**9  # each run its own sequence numbers
    began = time.monotonic()
    done = 0
    for round_ in range(1 if births else rounds):
        for n in kiosks:
            done += 1
            if pace and done % 20 == 0:
                ahead = began + done / pace - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)
            now = dt.datetime.now(dt.UTC)
            kiosk = kiosk_id(n)
            if births:
                message = tm.StateMessage(
                    kiosk=kiosk,
                    state="online",
                    incarnation=1,
                    at=now,
                    software="0.1.0",
                    site=f"Site {n % SITES}",
                    location=f"Entrance {n}",
                    health_interval=60.0,
                )
                last = client.publish(
                    tm.topic(kiosk, tm.Channel.STATE), tm.encode(message), 1, True
                )
                continue
            seq += 10
            health = tm.HealthMessage(
                kiosk=kiosk,
                incarnation=1,
                seq=seq,
                at=now,
                uptime_s=1000.0 + round_,
                load1=0.3,
                memory_available_mb=1400.0,
                disk_free_mb=9000.0,
                cpu_temperature_c=45.0 + n % 20,
                reader_present=True,
                card_service_up=True,
                card_service_latency_ms=30.0,
                clock_synchronised=True,
                certificate_days_left=300,
                outbox_depth=0,
            )
            client.publish(tm.topic(kiosk, tm.Channel.HEALTH), tm.encode(health), 1)
            session = f"1-{round_}"
            ok = (n + round_) % 5 != 0
            for step, kind in enumerate(
                ("session-started", "unlock-succeeded" if ok else "unlock-failed", "session-ended")
            ):
                extra = {}
                if kind.startswith("unlock"):
                    extra = {"outcome": "unlocked" if ok else "not-unlocked", "mechanism": "puk"}
                    if not ok:
                        extra["reason"] = "wrong-puk"
                event = tm.EventMessage(
                    id=str(uuid.uuid4()),
                    kiosk=kiosk,
                    incarnation=1,
                    seq=seq + step + 1,
                    at=now,
                    kind=kind,
                    session=session,
                    **extra,
                )
                last = client.publish(tm.topic(kiosk, tm.Channel.EVENT), tm.encode(event), 1)
    if last is not None:
        last.wait_for_publish(600)
    client.disconnect()
    client.loop_stop()


def in_parallel(
    port: int, pki: Path, kiosks: int, rounds: int, births: bool, pace: float = 0.0
) -> None:
    half = kiosks // 2
    workers = [
        multiprocessing.Process(
            target=publish, args=(port, str(pki), part, rounds, births, pace / 2)
        )
        for part in (range(0, half), range(half, kiosks))
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def counts(store: Store) -> tuple[int, int, int]:
    with store.reading() as db:
        return (
            db.execute(select(func.count()).select_from(schema.kiosks)).scalar_one(),
            db.execute(select(func.count()).select_from(schema.health)).scalar_one(),
            db.execute(select(func.count()).select_from(schema.events)).scalar_one(),
        )


def until(condition: Callable[[], bool], timeout: float) -> float:
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise TimeoutError("the fleet did not store everything in time")
        time.sleep(0.25)
    return time.monotonic()


def size(store: Store, url: str) -> int:
    if store.dialect == "sqlite":
        with store.reading() as db:
            pages = db.exec_driver_sql("PRAGMA page_count").scalar_one()
            page = db.exec_driver_sql("PRAGMA page_size").scalar_one()
        return int(pages * page)
    with store.reading() as db:
        return int(db.execute(text("SELECT pg_database_size(current_database())")).scalar_one())


def histogram(metrics_text: str, name: str) -> list[tuple[float, float]]:
    buckets = []
    for line in metrics_text.splitlines():
        if line.startswith(f"{name}_bucket"):
            bound = line.split('le="')[1].split('"')[0]
            buckets.append((float(bound), float(line.split()[-1])))
    return buckets


def settled_histogram(session: requests.Session, base: str, name: str) -> list:
    """The histogram once every stored message is in it (it is observed after the commit)."""

    def total(text: str, metric: str) -> float:
        return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(metric))

    while True:
        text = session.get(base + "/metrics").text
        received = total(text, 'fleet_messages_received_total{channel="health"}') + total(
            text, 'fleet_messages_received_total{channel="event"}'
        )
        if total(text, f"{name}_count") >= received:
            return histogram(text, name)
        time.sleep(0.1)


def histogram_quantiles(
    after: list[tuple[float, float]], before: list[tuple[float, float]]
) -> tuple[str, str]:
    buckets = [(b, n - m) for (b, n), (_, m) in zip(after, before, strict=True)]
    total = buckets[-1][1]

    def q(fraction: float) -> str:
        for bound, count in buckets:
            if count >= fraction * total:
                return f"<= {bound:g} s"
        return "?"

    return q(0.5), q(0.95)


def timings(session: requests.Session, url: str, times: int = 40) -> tuple[float, float]:
    spent = []
    for _ in range(times):
        started = time.perf_counter()
        answer = session.get(url)
        spent.append((time.perf_counter() - started) * 1000)
        answer.raise_for_status()
    spent.sort()
    return statistics.median(spent), spent[int(0.95 * (len(spent) - 1))]


def run(label: str, url: str, work: Path, kiosks: int, rounds: int) -> None:
    pki = write_dev_pki(work / "pki", [FLEET, LOADER])
    broker = Mosquitto(
        work / "broker",
        pki,
        persistent=False,
        extra_acl=f"user {LOADER}\ntopic write {tm.ROOT}/#\n",
        extra_config=["max_queued_messages 1000000", "max_inflight_messages 1000"],
    ).start()
    store = Store(url)
    Accounts(store).add_user("bench", Role.VIEWER, PASSWORD, time.time())
    port = free_port()
    command = [
        str(Path(sys.executable).parent / "kiosk-fleet"),
        "serve",
        "--database",
        url,
        "--broker",
        f"mqtts://127.0.0.1:{broker.port}",
        "--broker-ca",
        str(pki.service_ca),
        "--cert",
        str(pki.kiosk_cert(FLEET)),
        "--key",
        str(pki.kiosk_key(FLEET)),
        "--port",
        str(port),
        "--instance",
        "bench",
    ]
    log = (work / "fleet.log").open("a")
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        until(lambda: _answers(base), 60)
        time.sleep(1)  # the subscription follows the connection
        start = time.monotonic()
        in_parallel(broker.port, pki.directory, kiosks, rounds, births=True)
        done = until(lambda: counts(store)[0] >= kiosks, 600)
        print(f"{label}: {kiosks:,} births stored at {kiosks / (done - start):,.0f}/s")
        before = size(store, url)
        health, events = counts(store)[1:]
        messages = kiosks * rounds * 4
        start = time.monotonic()
        in_parallel(broker.port, pki.directory, kiosks, rounds, births=False)
        published = time.monotonic()
        health, events = health + kiosks * rounds, events + kiosks * rounds * 3
        done = until(lambda: counts(store)[1:] >= (health, events), 1200)
        print(
            f"{label}: live: {messages:,} messages ({kiosks:,} kiosks x {rounds} rounds of a"
            f" health sample and 3 events) published at {messages / (published - start):,.0f}/s"
            f" and stored at {messages / (done - start):,.0f} messages/s while publishing"
        )
        server.terminate()  # an outage of the fleet: the broker queues for its session
        server.wait(30)
        in_parallel(broker.port, pki.directory, kiosks, rounds, births=False)
        start = time.monotonic()
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        health, events = health + kiosks * rounds, events + kiosks * rounds * 3
        done = until(lambda: counts(store)[1:] >= (health, events), 1200)
        print(
            f"{label}: backlog: {messages:,} messages queued during a fleet outage stored at"
            f" {messages / (done - start):,.0f} messages/s (from the fleet's start)"
        )
        until(lambda: _answers(base), 60)
        messages *= 2
        session = requests.Session()
        session.post(base + "/login", data={"name": "bench", "password": PASSWORD})
        lag = "fleet_ingest_lag_seconds"
        before_lag = settled_histogram(session, base, lag)
        steady = 500  # kiosks a second: ~2,000 messages/s, 10x a 10,000-kiosk fleet's own
        start = time.monotonic()
        in_parallel(broker.port, pki.directory, kiosks, 1, births=False, pace=steady)
        health, events = health + kiosks, events + kiosks * 3
        until(lambda: counts(store)[1:] >= (health, events), 1200)
        after_lag = settled_histogram(session, base, lag)
        p50, p95 = histogram_quantiles(after_lag, before_lag)
        rate = 4 * kiosks / (time.monotonic() - start)
        print(
            f"{label}: lag from publish to stored at a steady {rate:,.0f}"
            f" messages/s: p50 {p50}, p95 {p95} (histogram bucket bounds)"
        )
        messages += kiosks * 4
        grown = size(store, url) - before
        per_message = grown / messages
        day = per_message * (SAMPLES_PER_DAY + EVENTS_PER_DAY)
        print(
            f"{label}: database grew {grown / 1e6:.1f} MB, {per_message:.0f} bytes per message;"
            f" a kiosk-day ({SAMPLES_PER_DAY} samples + {EVENTS_PER_DAY} events)"
            f" ~ {day / 1e3:.0f} kB,"
            f" 10,000 kiosks ~ {day * 10000 / 1e9:.2f} GB/day before thinning"
        )
        for path in (
            "/",
            "/api/fleet",
            "/api/fleet?site=Site%207&status=online",
            f"/api/kiosks/{kiosk_id(min(4242, kiosks - 1))}",
            "/api/events?limit=200",
            f"/api/events?kiosk={kiosk_id(min(4242, kiosks - 1))}",
            "/api/alerts?open=1",
            "/metrics",
        ):
            p50, p95 = timings(session, base + path)
            print(f"{label}:   GET {path:45s} p50 {p50:6.1f} ms  p95 {p95:6.1f} ms")
    finally:
        server.terminate()
        server.wait(30)
        store.close()
        broker.stop()


def _answers(base: str) -> bool:
    try:
        return requests.get(base + "/healthz", timeout=1).ok
    except requests.RequestException:
        return False


def main(kiosks: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        run(
            "SQLite",
            f"sqlite:///{work / 'sqlite' / 'fleet.sqlite3'}",
            work / "sqlite",
            kiosks,
            rounds,
        )
        cluster = PrivatePostgres(Path(tempfile.mkdtemp(prefix="fleet-bench-postgres-"))).start()
        try:
            run("PostgreSQL", cluster.new_database(), work / "postgresql", kiosks, rounds)
        finally:
            cluster.stop()


if __name__ == "__main__":
    os.umask(0o077)
    main(
        int(sys.argv[1]) if len(sys.argv) > 1 else 10_000,
        int(sys.argv[2]) if len(sys.argv) > 2 else 3,
    )
