"""Shared fixtures: one private pcscd for the session, virtual cards per test.

``PCSCLITE_CSOCK_NAME`` is set here, at import, because libpcsclite reads it
once, on the first PC/SC call of the process.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

# No timing assertions in tests: hypothesis's per-example deadline would be one.
settings.register_profile("kiosk", deadline=None, print_blob=True)
settings.load_profile("kiosk")

_WORKDIR = Path(tempfile.mkdtemp(prefix="kiosk-tests-"))
os.environ["PCSCLITE_CSOCK_NAME"] = str(_WORKDIR / "pcscd" / "run" / "pcscd.comm")

from cardservice.service import ServiceConfig  # noqa: E402
from hw import pcsc  # noqa: E402  (after the socket variable is set)
from hw.siths.certificates import CertificateRole  # noqa: E402
from hw.siths.trust import TrustStore  # noqa: E402
from sim.dev_pki import DevPkiFiles, write_dev_pki  # noqa: E402
from sim.siths_pki import SithsHolder, SithsTestPki  # noqa: E402
from sim.vcard.card import VirtualCard  # noqa: E402
from sim.vcard.piv_card import PivCardState, VirtualPivCard  # noqa: E402
from sim.vcard.piv_objects import standard_objects  # noqa: E402
from sim.vcard.siths_card import SithsCardState, VirtualSithsCard  # noqa: E402
from sim.vcard.vpcd import VpcdLink  # noqa: E402
from tests.harness.cardservice import KIOSK_ID, CardServiceHarness  # noqa: E402
from tests.harness.pcscd import PrivatePcscd  # noqa: E402
from tests.harness.postgres import PrivatePostgres  # noqa: E402
from tests.harness.small_disk import small_disk  # noqa: E402, F401 (a fixture for every test)
from tests.harness.smtp_sink import SmtpSink  # noqa: E402
from tests.harness.waiting import wait_for  # noqa: E402


@pytest.fixture(autouse=True)
def _umask_restored() -> Iterator[None]:
    """Each test starts with the umask the suite started with.

    The servers' commands set a private umask for their whole process (``os.umask``),
    and tests run them in-process; without this, every later test would create its
    files and folders 0700 (a booted root whose ``/`` the kiosk user cannot enter).
    """
    saved = os.umask(0o022)
    os.umask(saved)
    yield
    os.umask(saved)


@pytest.fixture(scope="session")
def pcscd() -> Iterator[PrivatePcscd]:
    """A pcscd with two vpcd slots that only this test session uses."""
    daemon = PrivatePcscd(_WORKDIR / "pcscd")
    daemon.start()
    try:
        yield daemon
    finally:
        daemon.stop()
        shutil.rmtree(_WORKDIR, ignore_errors=True)


def card_present(reader: str) -> bool:
    """Whether pcscd currently reports a card in ``reader``."""
    try:
        with pcsc.pcsc_context() as context:
            return pcsc.reader_states(context, [reader])[0].card_present
    except pcsc.CardError:
        return False


class VirtualCardSlot:
    """A virtual card in a vpcd slot, with insert/remove that wait for pcscd to see it."""

    def __init__(self, daemon: PrivatePcscd, card: VirtualCard, slot: int = 0) -> None:
        self.daemon = daemon
        self.card = card
        self.reader = daemon.reader(slot)
        self.link = VpcdLink(card, port=daemon.slot_port(slot))

    def insert(self) -> None:
        self.link.insert()
        wait_for(lambda: card_present(self.reader), timeout=15, what="pcscd to see the card")

    def remove(self) -> None:
        self.link.remove()
        wait_for(lambda: not card_present(self.reader), timeout=15, what="card removal")


def piv_state(**overrides: object) -> PivCardState:
    """A PIV card state with standard objects and the given overrides."""
    overrides.setdefault("objects", standard_objects())
    return PivCardState(**overrides)  # type: ignore[arg-type]


@pytest.fixture
def make_slot(pcscd: PrivatePcscd) -> Iterator:
    """Factory: any virtual card in a slot (default 0), inserted; removed after the test."""
    slots: list[VirtualCardSlot] = []

    def make(card: VirtualCard, *, slot: int = 0) -> VirtualCardSlot:
        holder = VirtualCardSlot(pcscd, card, slot)
        holder.insert()
        slots.append(holder)
        return holder

    yield make
    for holder in slots:
        if holder.link.inserted:
            holder.remove()
        else:
            holder.link.remove()


@pytest.fixture
def make_piv_slot(make_slot) -> object:
    """Factory: a virtual PIV card (default state) in slot 0."""

    def make(state: PivCardState | None = None, *, slot: int = 0) -> VirtualCardSlot:
        return make_slot(VirtualPivCard(state or piv_state()), slot=slot)

    return make


@pytest.fixture(scope="session")
def siths_pki() -> SithsTestPki:
    """A test SITHS PKI, generated once per test session."""
    return SithsTestPki.generate()


@pytest.fixture(scope="session")
def trust(siths_pki: SithsTestPki) -> TrustStore:
    """The kiosk's trust configuration for the test PKI."""
    return TrustStore([siths_pki.root], [siths_pki.issuing])


@pytest.fixture(scope="session")
def standard_siths_certificates(siths_pki: SithsTestPki):
    """Identification and signature certificates for the default holder (made once)."""
    holder = SithsHolder()
    ident, _ = siths_pki.issue(holder, CertificateRole.IDENTIFICATION)
    sign, _ = siths_pki.issue(holder, CertificateRole.SIGNATURE)
    return holder, (ident, sign)


@pytest.fixture
def make_siths_slot(make_slot, siths_pki, standard_siths_certificates) -> object:
    """Factory: a virtual SITHS card in slot 0; keyword arguments go to ``SithsCardState.issue``."""

    def make(*, slot: int = 0, holder: SithsHolder | None = None, pki=None, **options):
        if holder is None and pki is None and "with_card_number" not in options:
            holder, certificates = standard_siths_certificates
            options.setdefault("certificates", certificates)
        state = SithsCardState.issue(holder or SithsHolder(), pki or siths_pki, **options)
        return make_slot(VirtualSithsCard(state), slot=slot)

    return make


# -- card service -------------------------------------------------------------------


@pytest.fixture(scope="session")
def dev_pki(tmp_path_factory) -> DevPkiFiles:
    """TLS certificates for the card service and two kiosks (one registered, one not)."""
    return write_dev_pki(tmp_path_factory.mktemp("dev-pki"), [KIOSK_ID, "kiosk-unknown"])


@pytest.fixture(scope="session")
def smtp_sink() -> Iterator[SmtpSink]:
    """A real SMTP server catching the holder e-mails."""
    sink = SmtpSink().start()
    yield sink
    sink.stop()


@pytest.fixture
def cardservice(tmp_path, dev_pki, smtp_sink) -> Iterator[CardServiceHarness]:
    """A fresh reference card service over HTTPS with mutual TLS."""
    smtp_sink.clear()
    harness = CardServiceHarness(tmp_path / "cardservice", dev_pki, smtp_sink, ServiceConfig())
    yield harness
    harness.stop()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PrivatePostgres]:
    """A private PostgreSQL cluster for the whole session (started on first use).

    Its folder is straight under the temporary folder: the cluster's unprivileged owner
    must be able to reach it, which pytest's private temporary folders do not allow.
    """
    cluster = PrivatePostgres(Path(tempfile.mkdtemp(prefix="kiosk-tests-postgres-"))).start()
    yield cluster
    cluster.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request) -> str | None:
    """Each store test twice: on SQLite (``None``: the state folder's file) and on PostgreSQL."""
    if request.param == "sqlite":
        return None
    return request.getfixturevalue("postgres").new_database()


@pytest.fixture
def any_cardservice(tmp_path, dev_pki, smtp_sink, database_url) -> Iterator[CardServiceHarness]:
    """The reference card service on SQLite, then on PostgreSQL."""
    smtp_sink.clear()
    harness = CardServiceHarness(
        tmp_path / "cardservice", dev_pki, smtp_sink, ServiceConfig(), database=database_url
    )
    yield harness
    harness.stop()
