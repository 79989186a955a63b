"""``kiosk card unblock``'s exit codes say what the card says, as a technician runs it.

0 only when the PIN was reset and verifies, 1 only when it was not reset, 3 when
pcscd is gone before anything was sent, 4 when the outcome is unknown. Also: the
kiosk's PIN rules, PIN names as a person types them, text from the card shown safely.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import threading

import pytest

from hw.pins import pad_reference
from hw.pkcs15 import model
from sim.vcard.siths_files import replace_file
from sim.vcard.vpcd import Interruption
from tests.harness.waiting import wait_for
from tests.kiosk.test_cli import kiosk

pytestmark = pytest.mark.pcsc

PUK, NEW = "12345678", "48291573"
IS_RESET = lambda command: command[1] == 0x2C  # noqa: E731  (RESET RETRY COUNTER)


def test_card_pulled_as_the_pin_is_reset_and_not_put_back_is_unknown(pcscd, make_siths_slot):
    slot = make_siths_slot(identification_tries_left=0)
    slot.link.pull_on(IS_RESET, after=True)
    result = kiosk(pcscd, "card", "unblock", "--wait", "0", stdin=f"{PUK}\n{NEW}\n")
    assert result.returncode == 4, result.stderr
    assert "Whether Identification PIN was reset is not known" in result.stderr
    assert "kiosk card status" in result.stderr  # what the technician does next
    assert slot.card.state.identification_pin.value == pad_reference(NEW)  # it was, in fact


def test_card_put_back_while_the_command_waits_gives_the_outcome(pcscd, make_siths_slot):
    slot = make_siths_slot(identification_tries_left=0)
    slot.link.pull_on(IS_RESET, after=True)
    process = subprocess.Popen(
        [sys.executable, "-m", "kiosk.cli", "card", "unblock", "--wait", "30"],
        env=pcscd.environment(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    said: list[str] = []
    listener = threading.Thread(target=lambda: said.extend(process.stderr), daemon=True)
    listener.start()
    process.stdin.write(f"{PUK}\n{NEW}\n")
    process.stdin.close()
    wait_for(lambda: any("put it back" in line for line in said), timeout=30, what="the prompt")
    slot.insert()
    out = process.stdout.read()
    assert process.wait(30) == 0, "".join(said)
    assert "the new PIN verifies" in out


def test_pcscd_dying_mid_command_is_said_as_such(pcscd, make_siths_slot):
    slot = make_siths_slot(identification_tries_left=0)
    slot.link.interrupt(Interruption(0, mute=True))
    process = subprocess.Popen(
        [sys.executable, "-m", "kiosk.cli", "card", "unblock", "--apdu-timeout", "30"],
        env=pcscd.environment(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: slot.link.interruption_fired, timeout=30, what="the command to wait")
        pcscd.stop()
        _out, err = process.communicate(f"{PUK}\n{NEW}\n", timeout=30)
    finally:
        pcscd.restart()
    assert process.returncode == 3, err
    assert "pcscd" in err and "not running" in err
    assert slot.card.state.identification_pin.blocked


@pytest.mark.parametrize(
    ("new_pin", "why"), [("000000", "repeat one digit"), ("850712", "birth date")]
)
def test_the_kiosks_pin_rules_hold_at_the_command_line(pcscd, make_siths_slot, new_pin, why):
    slot = make_siths_slot(identification_tries_left=0)
    result = kiosk(pcscd, "card", "unblock", stdin=f"{PUK}\n{new_pin}\n")
    assert result.returncode == 1
    assert "the new PIN is not allowed" in result.stderr and why in result.stderr
    assert slot.card.state.identification_pin.blocked and slot.card.state.puk.tries_left == 10
    assert new_pin not in result.stdout + result.stderr


def test_pins_named_as_a_person_types_them(pcscd, make_siths_slot):
    slot = make_siths_slot(signature_tries_left=0)
    for name in ("Signature", "signature pin"):
        slot.card.state.signature_pin.tries_left = 0
        result = kiosk(pcscd, "card", "unblock", "--pin", name, stdin=f"{PUK}\n{NEW}\n")
        assert result.returncode == 0, result.stderr
        assert "Unblocked Signature PIN" in result.stdout
    refused = kiosk(pcscd, "card", "unblock", "--pin", "PIN", stdin=f"{PUK}\n{NEW}\n")
    assert refused.returncode == 1
    assert "Identification PIN, Signature PIN" in refused.stderr


def test_text_from_the_card_reaches_the_terminal_escaped(pcscd, make_siths_slot):
    slot = make_siths_slot(identification_tries_left=0)
    files = slot.card.state.files
    pins = model.parse_aodf(files.children[0x5015].children[0x4403].data)
    pins[0] = dataclasses.replace(pins[0], label="Identification PIN\x1b[2J\x07")
    replace_file(files, 0x4403, model.build_aodf(pins))
    result = kiosk(pcscd, "card", "status")
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    assert "Identification PIN\\x1b[2J\\x07: BLOCKED" in result.stdout
