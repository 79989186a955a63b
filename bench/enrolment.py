"""Benchmark: enrolment over HTTPS and the CRL at fleet scale (SQLite).

The fleet's own enrolment listener (tests/harness/enrol_fleet.py) on loopback with the
development certificates: N kiosks enrol one after another (a fresh P-256 key and CSR
each, made before the clock starts; each call a new TLS connection, as the tool makes
one), then the CRL is generated with R revoked certificates. Prints enrolment p50/p95
and per second, and the CRL's signing time and size (``GET /v1/crl`` signs one per request).

Run: .venv/bin/python bench/enrolment.py [kiosks] [revoked]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402
from sqlalchemy import insert  # noqa: E402

from fleet import schema  # noqa: E402
from protocol import enrolment as en  # noqa: E402
from provisioning.keystore import FileKeyStore  # noqa: E402
from sim.dev_pki import write_dev_pki  # noqa: E402
from tests.harness.enrol_fleet import EnrolFleet, site_settings  # noqa: E402


def main() -> None:
    kiosks = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    revoked = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        pki = write_dev_pki(base / "pki", [])
        settings = site_settings(pki, "https://127.0.0.1:9", 8883, pki.service_ca.read_text())
        fleet = EnrolFleet(base / "fleet", f"sqlite:///{base / 'fleet.sqlite3'}", pki, settings)
        try:
            bodies = []
            for number in range(kiosks):
                store = FileKeyStore(base / f"k{number}.key")
                store.generate()
                kiosk = f"bench-{number}"
                csr = store.certificate_request(kiosk)
                bodies.append({"token": fleet.token().token, "kioskId": kiosk, "csr": csr})
            times = []
            started = time.perf_counter()
            for body in bodies:
                begun = time.perf_counter()
                answer = requests.post(
                    fleet.url + en.ENROL_PATH, json=body, verify=str(pki.service_ca), timeout=30
                )
                times.append((time.perf_counter() - begun) * 1000)
                assert answer.status_code == 201, answer.text
            total = time.perf_counter() - started
            times.sort()
            print(
                f"enrolment over HTTPS, {kiosks} kiosks one after another: p50"
                f" {statistics.median(times):.1f} ms, p95 {times[int(len(times) * 0.95)]:.1f} ms,"
                f" {kiosks / total:.0f} per second"
            )
            now = time.time()
            with fleet.store.transaction() as db:
                db.execute(
                    insert(schema.device_certificates),
                    [
                        {
                            "serial": format(10**20 + i, "x"),
                            "kiosk_id": f"gone-{i}",
                            "issued_at": now - 1000,
                            "not_after": now + 86400 * 300,
                            "revoked_at": now - 10,
                            "revoked_by": "bench",
                            "pem": "-",
                        }
                        for i in range(revoked)
                    ],
                )
            begun = time.perf_counter()
            crl = fleet.enrolment.crl(time.time())
            signing = (time.perf_counter() - begun) * 1000
            begun = time.perf_counter()
            requests.get(fleet.url + en.CRL_PATH, verify=str(pki.service_ca), timeout=30)
            served = (time.perf_counter() - begun) * 1000
            print(
                f"CRL with {revoked} revoked: made in {signing:.0f} ms ({len(crl) / 1024:.0f} KiB"
                f" PEM), GET /v1/crl {served:.0f} ms"
            )
        finally:
            fleet.stop()


if __name__ == "__main__":
    main()
