"""Benchmark: concurrent kiosks unlocking through `kiosk-cardservice serve`, SQLite and PostgreSQL.

The service runs as its own process (as deployed), beside the simulated identity
provider's process; this process plays N kiosks (asyncio tasks on aiohttp, one HTTPS keep-alive
connection each, mutual TLS) and their holders' phones. One unlock is the whole
conversation: start the login, poll, the phone scans and approves (two calls to the
provider), poll until complete, get the credential (opened with the kiosk's one-time
key), report the outcome (which queues the holder's e-mail). Prints unlocks per
second and the p50/p95 of one whole unlock, for 20 and 100 kiosks, on SQLite (the
state folder's file) and on PostgreSQL (a private cluster started here).

The load generator shares the machine's cores with the service, so the figures are
a floor for the service alone. To say how much of the machine each part took, every
run also prints the CPU seconds per unlock of the service process, the identity
provider's process, PostgreSQL (all its processes) and this process (the kiosks, the
phones and the SMTP sink), from /proc and getrusage.

Run: .venv/bin/python bench/cardservice_load.py [seconds-per-run] [--kiosks 20 100]
[--stores sqlite postgresql] [--workers 32] [--instances 2]
"""

from __future__ import annotations

import asyncio
import os
import resource
import ssl
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402

from cardservice.records import Card  # noqa: E402
from cardservice.store import Store  # noqa: E402
from cardservice.vault import Vault  # noqa: E402
from protocol import cardservice_api as api  # noqa: E402
from protocol.credential import UnlockKey  # noqa: E402
from protocol.login_qr import QrAnimation  # noqa: E402
from sim.dev_pki import write_dev_pki  # noqa: E402
from sim.identity_provider.process import ProviderProcess  # noqa: E402
from tests.harness.postgres import PrivatePostgres  # noqa: E402
from tests.harness.service_process import ServiceProcess  # noqa: E402
from tests.harness.smtp_sink import free_port  # noqa: E402

#: Logins one kiosk may start in ten minutes (the service's limit), so cards per kiosk.
CARDS_PER_KIOSK = 60


def card(kiosk: int, index: int) -> tuple[str, str]:
    """Card number and holder's personal identity number."""
    return f"9752{kiosk:04d}{index:011d}", f"19{kiosk % 100:02d}{index % 10000:04d}{kiosk:04d}"[:12]


def register(state: Path, database: str | None, kiosks: int) -> list[tuple[str, str, str]]:
    store = Store(database or state / "cardservice.sqlite3")
    vault = Vault.from_file(state / "master.key")
    identities = []
    with store.transaction() as records:
        for kiosk in range(kiosks):
            records.add_kiosk(f"kiosk-{kiosk}", f"Bench {kiosk}")
            for index in range(CARDS_PER_KIOSK):
                number, person = card(kiosk, index)
                records.add_card(
                    Card(number, "Bench Holder", "SE-1", person, f"{number}@example.org",
                         "SITHS-EID-CARD-3", "puk", vault.seal(b"12345678", number))
                )  # fmt: skip
                identities.append((person, "Bench Holder", "SE-1"))
    store.close()
    return identities


TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int, *, reaped: bool = False) -> float:
    """CPU seconds (user + system) of a live process, with its reaped children's if asked."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    used = int(fields[11]) + int(fields[12])  # utime, stime
    if reaped:
        used += int(fields[13]) + int(fields[14])  # cutime, cstime
    return used / TICKS


def tree_cpu(root: int) -> float:
    """A server and its live children (PostgreSQL: a backend per connection, and helpers)."""
    total = process_cpu(root, reaped=True)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int(entry.joinpath("stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if parent == root:
                total += process_cpu(int(entry.name))
    return total


def own_cpu() -> float:
    """This process: the kiosks, the phones, the SMTP sink."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def cpu_meters(
    services: list[ServiceProcess], provider: ProviderProcess, postgres: PrivatePostgres | None
) -> dict[str, Callable[[], float]]:
    """Each part's CPU seconds so far, by name (the service: all its instances)."""
    pids = [service.process.pid for service in services if service.process is not None]
    meters = {
        "service": lambda: sum(process_cpu(pid) for pid in pids),
        "provider": lambda: process_cpu(provider.process.pid),
        "load generator": own_cpu,
    }
    if postgres is not None:
        postmaster = int((postgres.data / "postmaster.pid").read_text().split()[0])
        meters["PostgreSQL"] = lambda: tree_cpu(postmaster)
    return meters


class Kiosk:
    """One kiosk and its holders' phones: its own mutual-TLS connection, unlocking in turn.

    Why asyncio (aiohttp's client) and not a thread per kiosk with requests: the load
    generator shares the two cores with what it measures, and requests took 9 ms of CPU
    per unlock; every millisecond it takes is one the service does not get.
    """

    def __init__(self, index: int, service: ServiceProcess, provider_url: str) -> None:
        self.index, self.service, self.provider_url = index, service, provider_url
        pki = service.pki
        self.tls = ssl.create_default_context(cafile=str(pki.service_ca))
        self.tls.load_cert_chain(pki.kiosk_cert(f"kiosk-{index}"), pki.kiosk_key(f"kiosk-{index}"))
        self.phone_tls = ssl.create_default_context(cafile=str(pki.service_ca))
        self.times: list[float] = []
        self.errors = 0

    async def run(self, until: float) -> None:
        """Unlock card after card until ``until`` (monotonic) or the kiosk's cards run out."""
        timeout = aiohttp.ClientTimeout(total=30)
        async with (
            aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=1, ssl=self.tls), timeout=timeout
            ) as session,
            aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=1, ssl=self.phone_tls), timeout=timeout
            ) as phone,
        ):
            for index in range(CARDS_PER_KIOSK):
                if time.monotonic() >= until:
                    return
                number, person = card(self.index, index)
                started = time.perf_counter()
                try:
                    await self.unlock(session, phone, number, person)
                except (aiohttp.ClientError, TimeoutError, ValueError, KeyError):
                    self.errors += 1
                    continue
                self.times.append(time.perf_counter() - started)

    async def call(
        self, session: aiohttp.ClientSession, method: str, url: str, body: object = None
    ) -> dict:
        headers = {"Idempotency-Key": str(uuid.uuid4())} if method == "POST" else {}
        async with session.request(method, url, json=body, headers=headers) as answer:
            answer.raise_for_status()
            return await answer.json()

    async def unlock(
        self,
        session: aiohttp.ClientSession,
        phone: aiohttp.ClientSession,
        number: str,
        person: str,
    ) -> None:
        service = self.service.url
        started = await self.call(session, "POST", f"{service}/v1/logins", {"cardNumber": number})
        login = api.from_wire(api.LoginStart, started)
        await self.call(session, "GET", f"{service}/v1/logins/{login.order_ref}")
        frame = QrAnimation(login.qr_prefix, login.qr_start_token, login.qr_start_secret).current()
        who = {"personalIdentityNumber": person}
        provider = self.provider_url
        scan = await self.call(
            phone, "POST", f"{provider}/v1/phone/scan", {"qrContent": frame, **who}
        )
        await self.call(phone, "POST", f"{provider}/v1/phone/{scan['orderRef']}/approve", who)
        status = await self.call(session, "GET", f"{service}/v1/logins/{login.order_ref}")
        if status["status"] != "complete":
            raise ValueError(f"the login is {status['status']} after the phone approved")
        key = UnlockKey()
        body = {"orderRef": login.order_ref, "cardNumber": number, "pinRole": "identification",
                "kioskPublicKey": key.public_b64}  # fmt: skip
        unlock = await self.call(session, "POST", f"{service}/v1/unlocks", body)
        outcome = f"{service}/v1/unlocks/{unlock['unlockId']}/outcome"
        await self.call(session, "POST", outcome, {"result": "unlocked"})


class CountingSink:
    """An SMTP server that takes every message and only counts them.

    Why not the tests' sink: that one parses each message, which cost this process about
    a millisecond per unlock that neither the kiosk nor the service spends.
    """

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.taken = 0
        self.port = free_port()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, _server: object, _session: object, _envelope: object) -> str:
        self.taken += 1
        return "250 OK"

    def start(self) -> CountingSink:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()


async def unlock_until(kiosks: list[Kiosk], until: float) -> None:
    """Every kiosk at once, on this one event loop."""
    await asyncio.gather(*(kiosk.run(until) for kiosk in kiosks))


def run(
    kiosks: int,
    seconds: float,
    work: Path,
    database: str | None,
    label: str,
    postgres: PrivatePostgres | None = None,
    workers: int = 32,
    instances: int = 1,
) -> None:
    name = f"{label}-{kiosks}-{instances}"
    state = work / f"state-{name}"
    state.mkdir(mode=0o700)
    pki = write_dev_pki(
        work / f"pki-{name}", [f"kiosk-{i}" for i in range(kiosks)] + ["kiosk-unknown"]
    )
    identities = register(state, database, kiosks)
    provider = ProviderProcess.start(pki, identities)
    smtp = CountingSink().start()
    extra = ["--workers", str(workers)] + (["--database", database] if database else [])
    services = [
        ServiceProcess(state, pki, provider.url, smtp.port, extra).start() for _ in range(instances)
    ]
    try:
        meters = cpu_meters(services, provider, postgres)
        # Kiosks are spread over the instances, as a balancer would spread their connections.
        players = [Kiosk(i, services[i % instances], provider.url) for i in range(kiosks)]
        before = {name: meter() for name, meter in meters.items()}
        began = time.perf_counter()
        asyncio.run(unlock_until(players, time.monotonic() + seconds))
        elapsed = time.perf_counter() - began
        used = {name: meter() - before[name] for name, meter in meters.items()}
    finally:
        for service in services:
            service.stop()
        provider.stop()
        smtp.stop()
    times = sorted(t for kiosk in players for t in kiosk.times)
    errors = sum(kiosk.errors for kiosk in players)
    p95 = times[int(0.95 * (len(times) - 1))] if times else float("nan")
    print(
        f"  {label + (f' x{instances}' if instances > 1 else ''):13s} {kiosks:3d} kiosks:"
        f" {len(times) / elapsed:6.1f} unlocks/s,"
        f" p50 {statistics.median(times) * 1000:6.0f} ms, p95 {p95 * 1000:6.0f} ms"
        f"  ({len(times)} unlocks, {errors} failed, {elapsed:.1f} s)",
        flush=True,
    )
    count = max(1, len(times))
    cores = os.cpu_count() or 1
    shares = ", ".join(
        f"{name} {seconds * 1000 / count:.1f} ms ({seconds / elapsed / cores:.0%})"
        for name, seconds in used.items()
    )
    print(f"      CPU per unlock (share of {cores} cores): {shares}", flush=True)
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"      machine's load average after the run: {load}", flush=True)


def main(
    seconds: float,
    kiosk_counts: tuple[int, ...],
    stores: tuple[str, ...],
    workers: int,
    instances: int,
) -> None:
    import logging

    logging.disable(logging.WARNING)
    print(f"whole unlocks through kiosk-cardservice serve, {seconds:.0f} s a run (loopback)")
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        if "sqlite" in stores:
            for kiosks in kiosk_counts:
                run(kiosks, seconds, work, None, "SQLite", workers=workers)
        if "postgresql" in stores:
            cluster = PrivatePostgres(Path(tempfile.mkdtemp(prefix="bench-postgres-"))).start()
            try:
                for kiosks in kiosk_counts:
                    for count in sorted({1, instances}):
                        database = cluster.new_database()
                        run(kiosks, seconds, work, database, "PostgreSQL", cluster, workers, count)
            finally:
                cluster.stop()


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("seconds", nargs="?", type=float, default=10.0, help="per run")
    parser.add_argument("--kiosks", nargs="+", type=int, default=[20, 100])
    parser.add_argument(
        "--stores", nargs="+", choices=["sqlite", "postgresql"], default=["sqlite", "postgresql"]
    )
    parser.add_argument("--workers", type=int, default=32, help="the service's --workers")
    parser.add_argument(
        "--instances",
        type=int,
        default=2,
        help="PostgreSQL: also run this many `serve` instances on one database (default 2)",
    )
    arguments = parser.parse_args()
    main(
        arguments.seconds,
        tuple(arguments.kiosks),
        tuple(arguments.stores),
        arguments.workers,
        arguments.instances,
    )
