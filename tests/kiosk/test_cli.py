"""``kiosk card status``, ``kiosk card unblock`` and ``kiosk vcard piv`` as a person runs them."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from sim.vcard.piv_card import DEFAULT_PUK
from tests.conftest import card_present, piv_state
from tests.harness.waiting import wait_for

pytestmark = pytest.mark.pcsc


def kiosk(pcscd, *args: str, stdin: str = "", env: dict | None = None):
    return subprocess.run(
        [sys.executable, "-m", "kiosk.cli", *args],
        input=stdin,
        env=env or pcscd.environment(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_status_json_lists_every_reader_and_the_card(pcscd, make_piv_slot):
    make_piv_slot(piv_state(pin_tries_left=0, puk_tries_left=2))
    result = kiosk(pcscd, "card", "status", "--json")
    assert result.returncode == 0, result.stderr
    report = {entry["reader"]: entry["card"] for entry in json.loads(result.stdout)}
    assert report[pcscd.reader(1)] is None
    card = report[pcscd.reader(0)]
    assert card["profile"] == "piv"
    assert {"name": "PIV PIN", "tries_left": 0, "blocked": True} in card["pins"]
    assert {"name": "PIV PUK", "tries_left": 2, "blocked": False} in card["pins"]


def test_status_text_says_blocked(pcscd, make_piv_slot):
    make_piv_slot(piv_state(pin_tries_left=0))
    result = kiosk(pcscd, "card", "status")
    assert result.returncode == 0
    assert f"{pcscd.reader(0)}: PIV card" in result.stdout
    assert "PIV PIN: BLOCKED" in result.stdout
    assert f"{pcscd.reader(1)}: no card" in result.stdout


def test_status_without_pcscd_says_so(pcscd, tmp_path):
    env = pcscd.environment()
    env["PCSCLITE_CSOCK_NAME"] = str(tmp_path / "nothing-here.comm")
    result = kiosk(pcscd, "card", "status", env=env)
    assert result.returncode == 3
    assert "pcscd" in result.stderr and "not running" in result.stderr
    assert "Traceback" not in result.stderr


def test_unblock_reads_puk_and_pin_from_stdin_and_verifies(pcscd, make_piv_slot):
    slot = make_piv_slot(piv_state(pin_tries_left=0))
    result = kiosk(
        pcscd, "card", "unblock", "--puk-margin", "1", stdin=f"{DEFAULT_PUK}\n24681357\n"
    )
    assert result.returncode == 0, result.stderr
    assert "the new PIN verifies" in result.stdout
    assert slot.card.state.pin == "24681357"
    assert not slot.card.state.pin_blocked
    assert not slot.card.pin_verified  # the command logged out again
    assert "24681357" not in result.stdout + result.stderr


def test_unblock_wrong_puk_says_tries_left_and_leaks_nothing(pcscd, make_piv_slot):
    slot = make_piv_slot(piv_state(pin_tries_left=0))
    result = kiosk(
        pcscd,
        "-v",
        "card",
        "unblock",
        "--reader",
        "00 00",
        "--puk-margin",
        "1",
        stdin="87654321\n24681357\n",
    )
    assert result.returncode == 1
    assert "Wrong PUK. 2 tries left" in result.stderr
    assert slot.card.state.puk_tries_left == 2
    output = result.stdout + result.stderr
    assert "87654321" not in output and "24681357" not in output


def test_unblock_refuses_inside_the_safety_margin(pcscd, make_piv_slot):
    slot = make_piv_slot(piv_state(pin_tries_left=0, puk_tries_left=2))
    result = kiosk(
        pcscd, "card", "unblock", "--puk-margin", "2", stdin=f"{DEFAULT_PUK}\n24681357\n"
    )
    assert result.returncode == 1
    assert "ID administrator" in result.stderr
    assert slot.card.state.puk_tries_left == 2 and slot.card.state.pin_blocked


def test_unblock_with_no_card_says_insert_it(pcscd):
    wait_for(lambda: not card_present(pcscd.reader(0)), what="an empty reader")
    result = kiosk(pcscd, "card", "unblock", stdin=f"{DEFAULT_PUK}\n24681357\n")
    assert result.returncode == 3
    assert "No card in the reader" in result.stderr


def test_unblock_with_missing_input_changes_nothing(pcscd, make_piv_slot):
    slot = make_piv_slot(piv_state(pin_tries_left=0))
    result = kiosk(pcscd, "card", "unblock", stdin=f"{DEFAULT_PUK}\n")
    assert result.returncode == 2
    assert "ended before" in result.stderr
    assert slot.card.state.pin_blocked and slot.card.state.puk_tries_left == 3


def test_unblock_unknown_pin_name_is_explained(pcscd, make_piv_slot):
    make_piv_slot(piv_state(pin_tries_left=0))
    result = kiosk(pcscd, "card", "unblock", "--pin", "Signature PIN", stdin="x\ny\n")
    assert result.returncode == 1
    assert "has no PIN 'Signature PIN'" in result.stderr


def test_vcard_command_serves_a_card_until_stopped(pcscd):
    reader = pcscd.reader(1)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kiosk.cli",
            "vcard",
            "piv",
            "--blocked",
            "--port",
            str(pcscd.slot_port(1)),
            "--holder",
            "Eva Ek",
        ],
        env=pcscd.environment(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: card_present(reader), timeout=20, what="the vcard command's card")
        status = kiosk(pcscd, "card", "status", "--json")
        card = {e["reader"]: e["card"] for e in json.loads(status.stdout)}[reader]
        assert card["profile"] == "piv"
        assert card["pins"][0]["blocked"] is True
    finally:
        process.terminate()
        out, _ = process.communicate(timeout=20)
    assert process.returncode == 0
    assert "PIN blocked" in out
    wait_for(lambda: not card_present(reader), what="the card to leave with the command")


def test_vcard_command_rejects_impossible_state(pcscd):
    result = kiosk(pcscd, "vcard", "piv", "--pin", "12", "--port", "1")
    assert result.returncode == 2
    assert "6 to 8 digits" in result.stderr


def test_scripted_demo_unblocks_the_card_and_exits_zero(pcscd):
    wait_for(lambda: not card_present(pcscd.reader(0)), what="an empty reader")
    result = kiosk(pcscd, "demo", "--scripted", "--port", str(pcscd.slot_port(0)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Done: the card is unlocked and the new PIN is set." in result.stdout
    assert "--- e-mail to the holder" in result.stdout  # the reference service mailed
    assert "48291573" not in result.stdout + result.stderr  # the demo PIN is never shown
    wait_for(lambda: not card_present(pcscd.reader(0)), what="the demo to remove its card")


def test_status_of_a_siths_card_names_holder_and_checks_the_chain(
    pcscd, make_siths_slot, siths_pki, tmp_path
):
    make_siths_slot(identification_tries_left=0)
    anchors = tmp_path / "siths.pem"
    anchors.write_bytes(siths_pki.anchors_pem() + siths_pki.intermediates_pem())
    result = kiosk(pcscd, "card", "status", "--json", "--trust", str(anchors))
    assert result.returncode == 0, result.stderr
    card = {e["reader"]: e["card"] for e in json.loads(result.stdout)}[pcscd.reader(0)]
    assert card["profile"] == "siths"
    assert card["holder"]["card_number"] == "9752269885719985027"
    assert card["holder"]["hsa_id"] == "SE2321000016-A1B2"
    assert card["holder"]["problems"] == []
    pins = {pin["name"]: pin for pin in card["pins"]}
    assert pins["Identification PIN"] == {
        "name": "Identification PIN",
        "tries_left": 0,
        "blocked": True,
        "role": "identification",
    }
    assert pins["PUK"]["tries_left"] == 10
    text = kiosk(pcscd, "card", "status")
    assert "SITHS card" in text.stdout and "Identification PIN: BLOCKED" in text.stdout
    assert "Anna Andersson (SE2321000016-A1B2)" in text.stdout


def test_status_with_an_unreadable_trust_file_says_so(pcscd, tmp_path):
    bad = tmp_path / "not-a-cert.pem"
    bad.write_text("hello")
    result = kiosk(pcscd, "card", "status", "--trust", str(bad))
    assert result.returncode == 2
    assert "cannot use" in result.stderr and "Traceback" not in result.stderr


def test_unblock_a_siths_signature_pin_from_the_command_line(pcscd, make_siths_slot):
    slot = make_siths_slot(signature_tries_left=0)
    result = kiosk(pcscd, "card", "unblock", "--pin", "Signature PIN", stdin="12345678\n86420864\n")
    assert result.returncode == 0, result.stderr
    assert "Unblocked Signature PIN" in result.stdout
    assert not slot.card.state.signature_pin.blocked
    assert slot.card.state.identification_pin.tries_left == 3


def test_vcard_siths_command_serves_a_blocked_siths_card(pcscd, tmp_path):
    reader = pcscd.reader(1)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kiosk.cli",
            "vcard",
            "siths",
            "--blocked",
            "--port",
            str(pcscd.slot_port(1)),
            "--card-number",
            "9752000000000000001",
            "--export-trust",
            str(tmp_path),
        ],
        env=pcscd.environment(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: card_present(reader), timeout=30, what="the vcard command's card")
        status = kiosk(
            pcscd,
            "card",
            "status",
            "--json",
            "--trust",
            str(tmp_path / "siths-test-root.pem"),
            "--trust",
            str(tmp_path / "siths-test-issuing.pem"),
        )
        card = {e["reader"]: e["card"] for e in json.loads(status.stdout)}[reader]
        assert card["profile"] == "siths"
        assert card["holder"]["card_number"] == "9752000000000000001"
        assert card["holder"]["problems"] == []
        assert card["pins"][0]["blocked"] is True
    finally:
        process.terminate()
        out, _ = process.communicate(timeout=20)
    assert "virtual SITHS card 9752000000000000001" in out


def test_kiosk_run_with_a_broken_configuration_names_the_key(pcscd, tmp_path):
    config = tmp_path / "kiosk.toml"
    config.write_text('[kiosk]\nid = "k"\nlocation = "x"\n')
    result = kiosk(pcscd, "run", "--config", str(config))
    assert result.returncode == 2
    assert "card_service: missing table [card_service]" in result.stderr
    assert "Traceback" not in result.stderr
    missing = kiosk(pcscd, "run", "--config", str(tmp_path / "nope.toml"))
    assert missing.returncode == 2 and "no such file" in missing.stderr
