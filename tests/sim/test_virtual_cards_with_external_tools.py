"""The virtual PIV card is faithful: Yubico's and OpenSC's tools treat it as a real card.

The tools talk to the private pcscd through the same socket (PCSCLITE_CSOCK_NAME)
and know nothing of our code; the assertions are on what they print and on the
card's state afterwards.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from sim.vcard.piv_card import DEFAULT_PUK
from sim.vcard.piv_objects import standard_objects
from tests.conftest import piv_state

pytestmark = [pytest.mark.pcsc, pytest.mark.tools]


def run(pcscd, *argv: str) -> subprocess.CompletedProcess[str]:
    if shutil.which(argv[0]) is None:
        pytest.fail(f"{argv[0]} is not installed; ./scripts/test installs it")
    return subprocess.run(
        argv, env=pcscd.environment(), capture_output=True, text=True, timeout=60, check=False
    )


def ykpiv(pcscd, slot, *args: str) -> subprocess.CompletedProcess[str]:
    return run(pcscd, "yubico-piv-tool", "-r", slot.reader, *args)


# -- yubico-piv-tool ------------------------------------------------------------


def test_yubico_status_shows_version_chuid_certificate_and_tries(pcscd, make_piv_slot):
    objects = standard_objects(holder="Karin Karlsson", organisation="Region Test")
    slot = make_piv_slot(piv_state(objects=objects, pin_tries_left=2))
    result = ykpiv(pcscd, slot, "-a", "status")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Version:\t5.4.3" in out
    assert "Serial Number:\t13371337" in out
    assert "CHUID:\t30" in out  # starts with the FASC-N tag
    assert "Slot 9a:" in out and "Subject DN:\tCN=Karin Karlsson, O=Region Test" in out
    assert "PIN tries left:\t2" in out


def test_yubico_verify_pin_right_and_wrong(pcscd, make_piv_slot):
    slot = make_piv_slot()
    ok = ykpiv(pcscd, slot, "-a", "verify-pin", "-P", "123456")
    assert ok.returncode == 0 and "Successfully verified PIN" in ok.stdout + ok.stderr
    wrong = ykpiv(pcscd, slot, "-a", "verify-pin", "-P", "000000")
    assert wrong.returncode != 0
    assert "2 tries left before pin is blocked" in wrong.stdout + wrong.stderr
    assert slot.card.state.pin_tries_left == 2


def test_yubico_unblock_pin_and_change_pin(pcscd, make_piv_slot):
    slot = make_piv_slot(piv_state(pin_tries_left=0))
    blocked = ykpiv(pcscd, slot, "-a", "verify-pin", "-P", "123456")
    assert "Pin code blocked" in blocked.stdout + blocked.stderr
    wrong = ykpiv(pcscd, slot, "-a", "unblock-pin", "-P", "11111111", "-N", "246810")
    assert wrong.returncode != 0 and "now 2 tries left" in wrong.stdout + wrong.stderr
    unblocked = ykpiv(pcscd, slot, "-a", "unblock-pin", "-P", DEFAULT_PUK, "-N", "246810")
    assert unblocked.returncode == 0, unblocked.stderr
    assert "Successfully unblocked the pin code" in unblocked.stdout + unblocked.stderr
    changed = ykpiv(pcscd, slot, "-a", "change-pin", "-P", "246810", "-N", "13572468")
    assert changed.returncode == 0 and "Successfully changed the pin code" in changed.stderr
    assert slot.card.state.pin == "13572468"
    assert ykpiv(pcscd, slot, "-a", "verify-pin", "-P", "13572468").returncode == 0


def test_yubico_management_key_authentication_and_put_data(pcscd, make_piv_slot):
    slot = make_piv_slot()
    wrong_key = ykpiv(pcscd, slot, "-k", "00" * 24, "-a", "set-ccc")
    assert wrong_key.returncode != 0
    assert 0x5FC107 not in slot.card.state.objects
    default_key = ykpiv(pcscd, slot, "-a", "set-ccc")  # default 3DES management key
    assert default_key.returncode == 0, default_key.stderr
    assert "Successfully set new CCC" in default_key.stdout + default_key.stderr
    status = ykpiv(pcscd, slot, "-a", "status")
    assert "CCC:\tf015a000000116" in status.stdout


# -- OpenSC ---------------------------------------------------------------------


def test_opensc_recognises_a_piv_card(pcscd, make_piv_slot):
    slot = make_piv_slot()
    readers = run(pcscd, "opensc-tool", "--list-readers")
    assert slot.reader in readers.stdout
    name = run(pcscd, "opensc-tool", "--reader", slot.reader, "--name")
    assert name.returncode == 0, name.stderr
    assert "Personal Identity Verification Card" in name.stdout
    atr = run(pcscd, "opensc-tool", "--reader", slot.reader, "--atr")
    assert slot.card.atr.hex(":") in atr.stdout


def test_opensc_lists_pin_and_puk_and_certificate(pcscd, make_piv_slot):
    slot = make_piv_slot()
    pins = run(pcscd, "pkcs15-tool", "--reader", slot.reader, "--list-pins")
    assert pins.returncode == 0, pins.stderr
    assert "PIN [PIN]" in pins.stdout and "PIN [PIV PUK]" in pins.stdout
    assert "Reference      : 128 (0x80)" in pins.stdout
    assert "unblockingPin" in pins.stdout
    certs = run(pcscd, "pkcs15-tool", "--reader", slot.reader, "--list-certificates")
    assert "Certificate for PIV Authentication" in certs.stdout


def test_opensc_verify_and_unblock_pin(pcscd, make_piv_slot):
    slot = make_piv_slot(piv_state(pin_tries_left=1))
    base = ("pkcs15-tool", "--reader", slot.reader, "--auth-id", "01")
    wrong = run(pcscd, *base, "--verify-pin", "--pin", "000000")
    assert wrong.returncode != 0
    assert slot.card.state.pin_blocked
    blocked = run(pcscd, *base, "--verify-pin", "--pin", "123456")
    assert "Authentication method blocked" in blocked.stdout + blocked.stderr
    unblock = run(pcscd, *base, "--unblock-pin", "--puk", DEFAULT_PUK, "--new-pin", "864213")
    assert unblock.returncode == 0, unblock.stdout + unblock.stderr
    assert not slot.card.state.pin_blocked
    verify = run(pcscd, *base, "--verify-pin", "--pin", "864213")
    assert verify.returncode == 0, verify.stdout + verify.stderr


# -- OpenSC and the virtual SITHS card ------------------------------------------


def test_opensc_reads_the_siths_card_as_pkcs15(pcscd, make_siths_slot):
    slot = make_siths_slot()
    result = run(
        pcscd, "pkcs15-tool", "--reader", slot.reader, "--list-pins", "--list-certificates"
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "PIN [Identification PIN]" in out and "PIN [Signature PIN]" in out
    assert "PIN [PUK]" in out and "unblockingPin" in out
    assert "Reference      : 129 (0x81)" in out and "Pad char       : 0xFF" in out
    assert "X.509 Certificate [Identification certificate]" in out
    assert "X.509 Certificate [Signature certificate]" in out
    keys = run(pcscd, "pkcs15-tool", "--reader", slot.reader, "--list-keys")
    assert "Identification key" in keys.stdout and "nonRepudiation" in keys.stdout


def test_opensc_reads_the_siths_certificate_we_issued(pcscd, make_siths_slot):
    slot = make_siths_slot()
    result = run(pcscd, "pkcs15-tool", "--reader", slot.reader, "--read-certificate", "45")
    assert result.returncode == 0, result.stderr
    from cryptography import x509

    certificate = x509.load_pem_x509_certificate(result.stdout.encode())
    assert "SE2321000016-A1B2" in certificate.subject.rfc4514_string()


def test_opensc_unblocks_the_siths_pin(pcscd, make_siths_slot):
    slot = make_siths_slot(identification_tries_left=0)
    base = ("pkcs15-tool", "--reader", slot.reader, "--auth-id", "01")
    unblock = run(pcscd, *base, "--unblock-pin", "--puk", "12345678", "--new-pin", "864213")
    assert unblock.returncode == 0, unblock.stdout + unblock.stderr
    assert not slot.card.state.identification_pin.blocked
    verify = run(pcscd, *base, "--verify-pin", "--pin", "864213")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    wrong = run(pcscd, *base, "--verify-pin", "--pin", "111111")
    assert wrong.returncode != 0
    assert slot.card.state.identification_pin.tries_left == 2
