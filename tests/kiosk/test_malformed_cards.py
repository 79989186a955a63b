"""Hostile and broken cards through ``card status``, ``card unblock`` and the kiosk.

Each case (a certificate with a duplicate or a malformed extension, a PIN reference
of 300 or -1 in the AODF, a card that never answers) gives a clear sentence, never
a traceback, and nothing waits past the deadline: the kiosk's screen says what is
wrong and is idle again once the card is taken out.
"""

from __future__ import annotations

import dataclasses
import io
import subprocess
import sys

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from hw.pkcs15 import model
from hw.reader_watcher import ReaderWatcher
from kiosk import cli
from kiosk.card_actions import PcscCardAccess
from kiosk.controller import Controller
from kiosk.flow.states import Failed, Idle
from protocol.reasons import reason_text
from sim.vcard.siths_files import replace_file
from sim.vcard.vpcd import Interruption
from sim.x509_parts import with_duplicate_extension, with_malformed_key_usage

pytestmark = pytest.mark.pcsc

SECRETS = "12345678\n48291573\n"


def bad_certificate(garble):
    def make(state) -> None:
        app = state.files.children[0x5015]
        der = app.children[0x4301].data
        x509.load_der_x509_certificate(der)  # it is a good certificate until garbled
        replace_file(state.files, 0x4301, garble(der))

    return make


def pin_reference(reference: int):
    def make(state) -> None:
        pins = model.parse_aodf(state.files.children[0x5015].children[0x4403].data)
        pins[0] = dataclasses.replace(pins[0], reference=reference)
        replace_file(state.files, 0x4403, model.build_aodf(pins))

    return make


#: case -> (how the card is broken, the reason the kiosk gives, card unblock's exit code)
CASES = {
    "duplicate-extension": (bad_certificate(with_duplicate_extension), "unreadable-certificate", 0),
    "malformed-extension": (bad_certificate(with_malformed_key_usage), "unreadable-certificate", 0),
    "pin-reference-300": (pin_reference(300), "invalid-pin-reference", 1),
    "pin-reference-minus-1": (pin_reference(-1), "invalid-pin-reference", 1),
}


def run_cli(monkeypatch, capsys, *args: str) -> tuple[int, str]:
    monkeypatch.setattr(sys, "stdin", io.StringIO(SECRETS))
    code = cli.main(list(args))
    out = capsys.readouterr()
    return code, out.out + out.err


class UpService:
    """A card service that is up; these cases never get as far as talking to it."""

    def health(self) -> str:
        return "ok"


def kiosk_says(card_access: PcscCardAccess, slot) -> tuple[Failed, Controller, ReaderWatcher]:
    controller = Controller(card=card_access, service=UpService(), kiosk_id="k", tick_interval=0.1)
    controller.start()
    watcher = ReaderWatcher(controller.on_reader_event, poll_ms=300)
    watcher.start()
    failed = controller.wait_for(lambda s: isinstance(s, Failed), 20)
    return failed, controller, watcher


@pytest.fixture
def trust_pem(tmp_path, siths_pki) -> str:
    path = tmp_path / "siths-trust.pem"
    certificates = (siths_pki.root, siths_pki.issuing)
    path.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certificates))
    return str(path)


@pytest.mark.parametrize("case", sorted(CASES))
def test_malformed_card_data(case, make_siths_slot, trust, trust_pem, monkeypatch, capsys):
    breaks, reason, unblock_exit = CASES[case]
    slot = make_siths_slot(identification_tries_left=0)
    breaks(slot.card.state)

    code, said = run_cli(monkeypatch, capsys, "card", "status", "--trust", trust_pem)
    assert code == 0 and "Traceback" not in said
    assert "problem: could not read" in said

    code, said = run_cli(monkeypatch, capsys, "card", "unblock", "--reader", slot.reader)
    assert code == unblock_exit, said
    if unblock_exit:
        assert reason_text("en", reason) in said and "was not reset" in said
    else:  # the PIN objects are sound: the technician can still unblock the PIN
        assert "the new PIN verifies" in said
        slot.card.state.identification_pin.tries_left = 0

    failed, controller, watcher = kiosk_says(PcscCardAccess(trust), slot)
    try:
        assert failed.reason == reason
        slot.remove()
        controller.wait_for(lambda s: isinstance(s, Idle), 20)
    finally:
        watcher.stop()
        controller.stop()


def test_a_card_that_never_answers(pcscd, make_siths_slot, trust):
    slot = make_siths_slot(identification_tries_left=0)
    slot.link.interrupt(Interruption(0, mute=True))
    for command in (["status"], ["unblock", "--reader", slot.reader]):
        result = subprocess.run(
            [sys.executable, "-m", "kiosk.cli", "card", *command, "--apdu-timeout", "0.5"],
            input=SECRETS,
            env=pcscd.environment(),
            capture_output=True,
            text=True,
            timeout=60,  # a hang fails here, not for ever
            check=False,
        )
        said = result.stdout + result.stderr
        assert "Traceback" not in said
        assert "does not answer" in said, said
        assert result.returncode == (0 if command == ["status"] else 1)
    failed, controller, watcher = kiosk_says(PcscCardAccess(trust, apdu_timeout=0.5), slot)
    try:
        assert failed.reason == "card-not-answering"
        slot.remove()  # the holder takes the silent card out: the kiosk is ready again
        controller.wait_for(lambda s: isinstance(s, Idle), 20)
    finally:
        watcher.stop()
        controller.stop()
