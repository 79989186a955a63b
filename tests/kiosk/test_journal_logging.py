"""``kiosk run``'s log under systemd: journal fields to find a kiosk and a session, no PIN.

The journal handler is systemd-python's own, with its ``send`` replaced by a list, so
the test sees every field each record would carry to journald (the container test in
tests/systemd/ reads the same fields back from a real journal). A whole unlock runs on
the real parts at DEBUG, and every record, in every field, is searched for the new PIN
and the PUK.
"""

from __future__ import annotations

import logging

import pytest

from kiosk import journal_logging
from kiosk.appliance import Appliance
from kiosk.config import parse
from kiosk.flow import events as ev
from kiosk.flow.model import Session
from kiosk.flow.states import CardSummary, Done, Idle, LoginQr, NewPin, OutOfService
from protocol.login_qr import QrAnimation
from protocol.reasons import Reason
from tests.harness.cardservice import KIOSK_ID

NEW_PIN = "48291573"
PUK = "73915062"


def test_state_names_and_status_lines_hold_only_the_state():
    assert journal_logging.state_name(Idle()) == "idle"
    assert journal_logging.state_name(LoginQr.__new__(LoginQr)) == "login-qr"
    reasons = (Reason.NO_READER, Reason.CARD_SERVICE_DOWN)
    line = journal_logging.status_line(OutOfService(reasons))
    assert line == f"out-of-service: {reasons[0].value}, {reasons[1].value}"
    pin = NewPin(Session.__new__(Session), ("identification",), 0.0, puk=PUK, first=NEW_PIN)
    assert journal_logging.status_line(pin) == "new-pin"


def test_stderr_unless_systemd_runs_the_kiosk():
    assert journal_logging.run_by_systemd({"JOURNAL_STREAM": "8:12345"})
    assert not journal_logging.run_by_systemd({})


@pytest.fixture
def journal():
    """The root logger on the journal handler (sends captured); restored afterwards."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    sent: list[dict[str, object]] = []
    records: list[logging.LogRecord] = []

    def send(MESSAGE: str, **fields: object) -> None:  # journal.send's own signature
        sent.append({"MESSAGE": MESSAGE, **fields})

    fields = journal_logging.configure(logging.DEBUG, journal=True, device=KIOSK_ID, sender=send)
    keeper = logging.Handler(logging.DEBUG)
    keeper.emit = records.append  # type: ignore[method-assign]
    root.addHandler(keeper)
    yield fields, sent, records
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in saved[0]:
        root.addHandler(handler)
    root.setLevel(saved[1])


@pytest.fixture
def kiosk(cardservice, siths_pki, standard_siths_certificates, tmp_path, pcscd, journal):
    holder, _ = standard_siths_certificates
    cardservice.register(holder, secret=PUK.encode())
    (tmp_path / "siths.pem").write_bytes(siths_pki.anchors_pem() + siths_pki.intermediates_pem())
    appliance = Appliance.build(parse(cardservice.kiosk_config(tmp_path / "siths.pem")))
    journal[0].context = appliance.journal_context
    appliance.start()
    appliance.holder = holder
    yield appliance
    appliance.stop()


def test_a_whole_unlock_logs_the_session_and_never_the_pin(
    kiosk, cardservice, journal, make_siths_slot
):
    _, sent, records = journal
    controller = kiosk.controller
    slot = make_siths_slot(identification_tries_left=0, puk=PUK)
    controller.wait_for(lambda s: isinstance(s, CardSummary), 30)
    controller.dispatch(ev.StartMobileLogin())
    login = controller.wait_for(lambda s: isinstance(s, LoginQr), 30).login
    frame = QrAnimation(login.qr_prefix, login.qr_start_token, login.qr_start_secret).current()
    cardservice.scan_and_approve(frame, kiosk.holder.personal_identity_number)
    controller.wait_for(lambda s: isinstance(s, NewPin), 30)
    controller.dispatch(ev.PinEntered(NEW_PIN))
    controller.dispatch(ev.PinEntered(NEW_PIN))
    controller.wait_for(lambda s: isinstance(s, Done), 30)
    slot.remove()
    controller.wait_for(lambda s: isinstance(s, Idle), 30)
    kiosk.stop()  # the last reports are handed on (and logged) before we look

    assert sent and len(sent) == len(records)
    assert {entry["KIOSK_DEVICE"] for entry in sent} == {KIOSK_ID}
    assert all(entry["SYSLOG_IDENTIFIER"] == "siths-kiosk" for entry in sent)
    sessions = {entry["KIOSK_SESSION"] for entry in sent} - {""}
    assert sessions == {f"{controller.incarnation}-1"}
    unlocked = [e for e in sent if "unlock-succeeded" in str(e["MESSAGE"])]
    assert unlocked and unlocked[0]["KIOSK_SESSION"] == f"{controller.incarnation}-1"
    states = {entry["KIOSK_STATE"] for entry in sent if entry["KIOSK_SESSION"]}
    assert {"card-summary", "new-pin", "done"} <= states

    for secret in (NEW_PIN, PUK):
        for entry in sent:
            assert all(secret not in str(value) for value in entry.values()), entry["MESSAGE"]
        for record in records:
            text = f"{record.getMessage()} {record.args} {record.exc_text} {record.__dict__}"
            assert secret not in text, record.getMessage()
    print(f"{len(sent)} journal records, {len(sessions)} session, no PIN or PUK in any")
