"""The kiosk never drops an outcome: real pcscd and a virtual SITHS card, the appliance,
the reference card service over mutual TLS.

The card service goes down at the very moment the card gets its PIN reset (the
virtual card's trigger stops the server), so the unlock finishes with no service
to report to. The holder still sees "done"; the report waits on disk through a
restart of the kiosk and reaches the service, once, with its audit row and the
holder's e-mail, when the service is back. On a full disk the screen is the same
and the log says so.
"""

from __future__ import annotations

import logging

import pytest

from cardservice.http_server import CardServiceServer, server_tls_context
from kiosk.appliance import Appliance
from kiosk.config import parse
from kiosk.flow import events as ev
from kiosk.flow.states import CardSummary, Done, LoginQr, NewPin
from protocol.login_qr import QrAnimation
from tests.harness.small_disk import fill
from tests.harness.waiting import wait_for

pytestmark = pytest.mark.pcsc
NEW_PIN = "48291573"
PUK = b"12345678"
RESET_RETRY_COUNTER = 0x2C
#: Outcome report tries after 50 ms, then at most every 200 ms (a minute in service).
QUICK = (0.05, 0.2)


def is_(kind):
    return lambda state: isinstance(state, kind)


def outcome_rows(cardservice, unlock_id: str) -> int:
    """The audit rows that record an outcome for ``unlock_id``."""
    return sum(
        1
        for row in cardservice.store.audit_log()
        if row["unlock_id"] == unlock_id and row["event"].startswith("outcome-")
    )


def mails_to(smtp_sink, address: str) -> int:
    return sum(1 for message in smtp_sink.messages if address in str(message["To"]))


def unlock_to_done(appliance, cardservice, holder, slot) -> None:
    """Log in with the simulated phone, choose the new PIN twice; the screen says done."""
    controller = appliance.controller
    controller.wait_for(is_(CardSummary), 30)
    controller.dispatch(ev.StartMobileLogin())
    login = controller.wait_for(is_(LoginQr), 30).login
    frame = QrAnimation(login.qr_prefix, login.qr_start_token, login.qr_start_secret).current()
    cardservice.scan_and_approve(frame, holder.personal_identity_number)
    controller.wait_for(is_(NewPin), 30)
    controller.dispatch(ev.PinEntered(NEW_PIN))
    controller.dispatch(ev.PinEntered(NEW_PIN))
    controller.wait_for(is_(Done), 60)
    slot.remove()
    controller.wait_for(lambda state: not isinstance(state, Done), 30)  # the screen moved on


@pytest.fixture
def kiosk_setup(cardservice, siths_pki, standard_siths_certificates, tmp_path, pcscd):
    holder, _ = standard_siths_certificates
    cardservice.register(holder, secret=PUK)
    trust = tmp_path / "siths.pem"
    trust.write_bytes(siths_pki.anchors_pem() + siths_pki.intermediates_pem())
    return parse(cardservice.kiosk_config(trust)), holder


def test_an_outcome_reported_while_the_service_is_down_arrives_once_after_a_restart(
    kiosk_setup, cardservice, make_siths_slot, smtp_sink
):
    config, holder = kiosk_setup
    port = int(cardservice.url.rsplit(":", 1)[1])
    slot = make_siths_slot(identification_tries_left=0, puk=PUK.decode())

    def stop_service_at_the_reset(apdu: bytes) -> bool:
        if len(apdu) > 1 and apdu[1] == RESET_RETRY_COUNTER:
            cardservice.server.stop()  # the card is reset; no service to tell it to
        return False  # never pull the card

    slot.link.pull_on(stop_service_at_the_reset)
    first = Appliance.build(config, report_backoff=QUICK).start()
    try:
        unlock_to_done(first, cardservice, holder, slot)
    finally:
        first.stop()
    slot.link.pull_on(None)
    [unlock] = cardservice.store.unlocks()
    assert unlock.outcome is None  # the service never heard it
    assert first.reports is not None and first.reports.depth() == 1  # it waits on disk

    second = Appliance.build(config, report_backoff=QUICK).start()  # the kiosk restarted
    try:
        tls = server_tls_context(
            cardservice.pki.service_cert, cardservice.pki.service_key, cardservice.pki.device_ca
        )
        cardservice.server = CardServiceServer(cardservice.service, tls, port=port).start()
        wait_for(
            lambda: second.reports.depth() == 0,
            timeout=60,
            what="the outcome report to reach the service that came back",
        )
        smtp_sink.wait_for(1, timeout=30)
        assert second.reports.counter("refused") == 0
    finally:
        second.stop()
    assert cardservice.store.unlock(unlock.unlock_id).outcome == "unlocked"
    assert outcome_rows(cardservice, unlock.unlock_id) == 1
    assert mails_to(smtp_sink, holder.email) == 1


def test_on_a_full_disk_the_screen_is_right_the_log_says_so_and_the_report_goes(
    kiosk_setup, cardservice, make_siths_slot, small_disk, caplog
):
    config, holder = kiosk_setup
    config = config.model_copy(
        update={
            "card_service": config.card_service.model_copy(
                update={"outbox": small_disk / "outcomes.sqlite3"}
            )
        }
    )
    slot = make_siths_slot(identification_tries_left=0, puk=PUK.decode())
    appliance = Appliance.build(config, report_backoff=QUICK).start()
    fill(small_disk)
    try:
        with caplog.at_level(logging.ERROR, logger="kiosk.outcome_reports"):
            unlock_to_done(appliance, cardservice, holder, slot)
    finally:
        appliance.stop()
    assert "an outcome report could not be kept on disk" in caplog.text
    assert "full" in caplog.text
    [unlock] = cardservice.store.unlocks()
    assert unlock.outcome == "unlocked"
    assert outcome_rows(cardservice, unlock.unlock_id) == 1
    for secret in (NEW_PIN, PUK.decode(), holder.card_number):
        assert secret not in caplog.text
