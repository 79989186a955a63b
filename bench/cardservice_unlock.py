"""Benchmark: one whole unlock conversation with the reference card service over loopback.

From login start to outcome reported, with the phone's scan and approval
scripted, over real HTTPS with mutual TLS (in-process server, SQLite on disk,
e-mail queued in the outbox and delivered by a background worker). Prints the median time and
the number of HTTP round trips (kiosk and phone).

Run: .venv/bin/python bench/cardservice_unlock.py [rounds]
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

from cardservice.http_server import CardServiceServer, server_tls_context  # noqa: E402
from cardservice.mailer import Mailer  # noqa: E402
from cardservice.service import CardService  # noqa: E402
from cardservice.store import Card, Store  # noqa: E402
from cardservice.vault import Vault  # noqa: E402
from kiosk.cardservice_client import CardServiceClient  # noqa: E402
from protocol.credential import UnlockKey  # noqa: E402
from protocol.login_qr import QrAnimation  # noqa: E402
from sim.dev_pki import write_dev_pki  # noqa: E402
from tests.harness.smtp_sink import free_port  # noqa: E402

KIOSK = "kiosk-bench"


def main(rounds: int) -> None:
    import logging

    logging.disable(logging.WARNING)
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        pki = write_dev_pki(work / "pki", [KIOSK])
        store = Store(work / "db.sqlite3")
        vault = Vault.from_file(work / "master.key")
        mailer = Mailer(store, "127.0.0.1", free_port(), "bench@example.org", timeout=0.2).start()
        service = CardService(store, vault, mailer)
        server = CardServiceServer(
            service, server_tls_context(pki.service_cert, pki.service_key, pki.device_ca)
        ).start()
        store.add_kiosk(KIOSK, "Bench")
        client = CardServiceClient(
            server.url,
            kiosk_id=KIOSK,
            client_cert=(pki.kiosk_cert(KIOSK), pki.kiosk_key(KIOSK)),
            ca_file=pki.service_ca,
        )
        kiosk_calls = []
        client.session.hooks["response"].append(lambda r, *a, **k: kiosk_calls.append(r))
        phone = requests.Session()
        phone.trust_env = False
        phone.verify = str(pki.service_ca)
        times, trips = [], []
        try:
            for index in range(rounds):
                card_number = f"97520000000{index:08d}"
                person = f"19800101{index:04d}"
                store.add_card(
                    Card(
                        card_number,
                        "Bench Holder",
                        "SE-1",
                        person,
                        "b@example.org",
                        "SITHS-EID-CARD-3",
                        "puk",
                        vault.seal(b"12345678", card_number),
                    )
                )
                kiosk_calls.clear()
                started = time.perf_counter()
                login = client.start_login(card_number)
                qr = QrAnimation(login.qr_prefix, login.qr_start_token, login.qr_start_secret)
                client.poll_login(login.order_ref)
                scan = phone.post(
                    f"{server.url}/v1/phone/scan",
                    json={"qrContent": qr.current(), "personalIdentityNumber": person},
                )
                phone.post(
                    f"{server.url}/v1/phone/{scan.json()['orderRef']}/approve",
                    json={"personalIdentityNumber": person},
                )
                assert client.poll_login(login.order_ref).status == "complete"
                credential = client.request_unlock(
                    login.order_ref, card_number, "identification", UnlockKey()
                )
                client.report_outcome(credential.unlock_id, "unlocked")
                times.append(time.perf_counter() - started)
                trips.append(len(kiosk_calls) + 2)
        finally:
            client.close()
            server.stop()
            mailer.stop()
            store.close()
    print(f"whole unlock conversation over HTTPS + mutual TLS, {rounds} rounds (loopback)")
    print(
        f"  median {statistics.median(times) * 1000:.1f} ms"
        f"  (min {min(times) * 1000:.1f}, max {max(times) * 1000:.1f})"
    )
    print(
        f"  HTTP round trips: {statistics.median(trips):.0f}"
        " (kiosk: start, poll x2, credential, outcome; phone: scan, approve)"
    )
    print(
        "  excludes the phone user's think time and the 2 s poll interval;"
        " e-mail goes out in the background (not in the figure)"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
