"""SIGKILL the card service again and again while kiosks unlock: nothing lost, nothing twice.

``kiosk-cardservice serve`` runs as a process (SQLite in its state folder) beside the
simulated identity provider; six kiosk threads each unlock cards one after another,
retrying every step with the same Idempotency-Key until it is answered, as a kiosk that
keeps its requests does; every fourth kiosk "dies" after its credential and never
reports. Meanwhile the service is killed with SIGKILL and started again, several times.

Sized to prove the point in well under a minute: 6 kiosks x 6 unlocks, 5 kills.
"""

from __future__ import annotations

import random
import threading
import uuid
from collections import Counter
from dataclasses import dataclass, field

import pytest
import requests

from cardservice.records import Card
from cardservice.store import Store
from cardservice.vault import Vault
from protocol import cardservice_api as api
from protocol.credential import UnlockKey
from protocol.login_qr import QrAnimation
from sim.dev_pki import write_dev_pki
from sim.identity_provider.orders import Orders
from sim.identity_provider.server import ProviderServer, provider_tls_context
from tests.harness.service_process import ServiceProcess
from tests.harness.waiting import wait_for

KIOSKS = 6
ROUNDS = 6
KILLS = 5
PUK = b"12345678"
#: Answers that mean "try again": the service is down or restarting.
RETRY = (requests.ConnectionError, requests.Timeout)


@dataclass
class Round:
    """What one kiosk saw of one unlock."""

    card_number: str
    order_ref: str = ""
    unlock_ids: set[str] = field(default_factory=set)
    reported: bool = False


def card_number(kiosk: int, round_: int) -> str:
    return f"97520000{kiosk:03d}{round_:08d}"


def person(kiosk: int, round_: int) -> str:
    return f"19{kiosk:02d}0101{round_:04d}"


def until_answered(
    session: requests.Session, method: str, url: str, **options: object
) -> requests.Response:
    """Send the same request (the same Idempotency-Key) until the service answers it (bounded)."""
    for _ in range(2000):
        try:
            answer = session.request(method, url, timeout=10, **options)
        except RETRY:
            continue
        if answer.status_code not in (502, 503):
            return answer
    raise TimeoutError(f"{method} {url} was never answered")


class Kiosk(threading.Thread):
    def __init__(self, index: int, service: ServiceProcess, orders: Orders) -> None:
        super().__init__(name=f"kiosk-{index}", daemon=True)
        self.index = index
        self.service = service
        self.orders = orders
        self.kiosk_id = f"kiosk-{index}"
        self.rounds: list[Round] = []
        self.error: BaseException | None = None
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.verify = str(service.pki.service_ca)
        self.session.cert = (
            str(service.pki.kiosk_cert(self.kiosk_id)),
            str(service.pki.kiosk_key(self.kiosk_id)),
        )

    def post(self, path: str, body: dict, key: str) -> requests.Response:
        return until_answered(
            self.session,
            "POST",
            self.service.url + path,
            json=body,
            headers={"Idempotency-Key": key},
        )

    def run(self) -> None:
        try:
            for round_ in range(ROUNDS):
                self.unlock(round_)
        except BaseException as error:
            self.error = error

    def unlock(self, round_: int) -> None:
        seen = Round(card_number(self.index, round_))
        self.rounds.append(seen)
        start = self.post("/v1/logins", {"cardNumber": seen.card_number}, str(uuid.uuid4()))
        assert start.status_code == 201, start.text
        login = api.from_wire(api.LoginStart, start.json())
        seen.order_ref = login.order_ref
        frame = QrAnimation(login.qr_prefix, login.qr_start_token, login.qr_start_secret).current()
        order = self.orders.scan(frame, person(self.index, round_))
        self.orders.decide(order.order_ref, person(self.index, round_), approve=True)
        key, unlock_key = str(uuid.uuid4()), UnlockKey()
        body = {
            "orderRef": login.order_ref,
            "cardNumber": seen.card_number,
            "pinRole": "identification",
            "kioskPublicKey": unlock_key.public_b64,
        }
        for _ in range(2):  # a second identical request (same key) must get the very same unlock
            answer = self.post("/v1/unlocks", body, key)
            assert answer.status_code == 201, answer.text
            seen.unlock_ids.add(answer.json()["unlockId"])
        if (self.index + round_) % 4 == 3:
            return  # this kiosk dies before it can report: the service must call it unknown
        unlock_id = next(iter(seen.unlock_ids))
        reported = self.post(
            f"/v1/unlocks/{unlock_id}/outcome", {"result": "unlocked"}, str(uuid.uuid4())
        )
        assert reported.status_code == 200, reported.text
        seen.reported = True


@pytest.fixture
def world(tmp_path, smtp_sink):
    pki = write_dev_pki(tmp_path / "pki", [f"kiosk-{i}" for i in range(KIOSKS)] + ["kiosk-unknown"])
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    store = Store(state / "cardservice.sqlite3")
    vault = Vault.from_file(state / "master.key")
    for kiosk in range(KIOSKS):
        store.add_kiosk(f"kiosk-{kiosk}", f"Entré {kiosk}")
        for round_ in range(ROUNDS):
            number = card_number(kiosk, round_)
            store.add_card(
                Card(number, f"Holder {number}", "SE-1", person(kiosk, round_),
                     f"{number}@example.org",
                     "SITHS-EID-CARD-3", "puk", vault.seal(PUK, number))
            )  # fmt: skip
    store.close()
    orders = Orders()
    for kiosk in range(KIOSKS):
        for round_ in range(ROUNDS):
            orders.add_identity(person(kiosk, round_), "Holder", "SE-1")
    provider = ProviderServer(
        orders, provider_tls_context(pki.service_cert, pki.service_key, pki.service_ca)
    ).start()
    extra = ["--outcome-timeout", "6", "--housekeeping-interval", "0.5", "--mail-retry", "1"]
    service = ServiceProcess(state, pki, provider.url, smtp_sink.port, extra)
    smtp_sink.clear()
    yield service.start(), orders, state
    service.stop()
    provider.stop()


def test_sigkill_under_load_loses_nothing_and_doubles_nothing(world, smtp_sink):
    service, orders, state = world
    kiosks = [Kiosk(index, service, orders) for index in range(KIOSKS)]
    for kiosk in kiosks:
        kiosk.start()
    pause = threading.Event()
    for _ in range(KILLS):
        pause.wait(random.uniform(0.3, 1.2))  # load pacing, not synchronisation
        service.kill()
        service.start()
    for kiosk in kiosks:
        kiosk.join(120)
        assert kiosk.error is None, repr(kiosk.error)
    rounds = [seen for kiosk in kiosks for seen in kiosk.rounds]
    assert len(rounds) == KIOSKS * ROUNDS

    records = Store(state / "cardservice.sqlite3")

    def settled() -> bool:
        unlocks = records.unlocks()
        return (
            len(unlocks) == len(rounds)
            and all(u.outcome for u in unlocks)
            and not records.unsent_mail()
        )

    wait_for(settled, timeout=60, what="every outcome recorded and every e-mail sent")
    unlocks = {u.unlock_id: u for u in records.unlocks()}
    audit = records.audit_log()
    records.close()

    # No credential twice: one unlock per login, and each kiosk saw one unlock id per login.
    assert all(len(seen.unlock_ids) == 1 for seen in rounds)
    assert {next(iter(seen.unlock_ids)) for seen in rounds} == set(unlocks)
    assert len({u.order_ref for u in unlocks.values()}) == len(unlocks)
    # Exactly one outcome each: the kiosk's, or "unknown" for the kiosks that died.
    for seen in rounds:
        unlock = unlocks[next(iter(seen.unlock_ids))]
        expected = ("unlocked", "kiosk") if seen.reported else ("unknown", "timeout")
        assert (unlock.outcome, unlock.outcome_by) == expected
    outcome_rows = Counter(row["unlock_id"] for row in audit if row["event"].startswith("outcome-"))
    issued_rows = Counter(
        row["unlock_id"] for row in audit if row["event"].startswith("credential-issued")
    )
    assert outcome_rows == Counter(set(unlocks)) == issued_rows
    # One e-mail per unlock: one Message-ID per holder; a re-delivery after a kill in the
    # instant between the SMTP server's "250" and our record is the same message.
    messages = smtp_sink.wait_for(len(unlocks), timeout=30)
    ids_per_holder: dict[str, set[str]] = {}
    for message in messages:
        ids_per_holder.setdefault(message["To"], set()).add(message["Message-ID"])
    assert len(ids_per_holder) == len(unlocks)
    assert all(len(ids) == 1 for ids in ids_per_holder.values())
    redelivered = len(messages) - len(unlocks)
    print(f"{KILLS} kills, {len(unlocks)} unlocks, {redelivered} re-deliveries of the same message")
