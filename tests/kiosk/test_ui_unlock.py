"""The kiosk in a real Kivy window under Xvfb, touched like a person touches it, through
real pcscd, a virtual SITHS card and the reference card service over mutual TLS."""

from __future__ import annotations

import contextlib
import queue
import subprocess
import sys
import threading

import pytest

from tests.harness.xvfb import Xvfb

pytestmark = [pytest.mark.ui, pytest.mark.pcsc]
NEW_PIN = "48291573"


@pytest.fixture(scope="module")
def xvfb():
    server = Xvfb().start()
    yield server
    server.stop()


class KioskWindow:
    """The child process running the kiosk window, and its line protocol."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put("error the kiosk process ended")

    def ask(self, command: str, timeout: float = 90.0) -> str:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        reply = self.lines.get(timeout=timeout)
        assert reply.startswith("ok"), f"{command}: {reply}"
        return reply[3:]

    def close(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(AssertionError, queue.Empty, BrokenPipeError):
                self.ask("quit", timeout=30)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


@pytest.fixture
def kiosk_window(xvfb, pcscd, cardservice, siths_pki, tmp_path, standard_siths_certificates):
    holder, _ = standard_siths_certificates
    cardservice.register(holder, secret=b"12345678")
    (tmp_path / "siths.pem").write_bytes(siths_pki.anchors_pem() + siths_pki.intermediates_pem())
    config = tmp_path / "kiosk.toml"
    config.write_text(cardservice.kiosk_config(tmp_path / "siths.pem"))
    windows = []

    def open_window() -> KioskWindow:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.kiosk.ui_kiosk_child",
                str(config),
                str(tmp_path / "shots"),
            ],
            env=xvfb.environment(pcscd.environment()),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        window = KioskWindow(process)
        windows.append(window)
        return window

    yield open_window, holder
    for window in windows:
        window.close()


def test_full_unlock_reading_the_qr_off_the_screen(kiosk_window, cardservice, make_siths_slot):
    open_window, holder = kiosk_window
    window = open_window()
    assert window.ask("wait Idle") == "Idle"
    slot = make_siths_slot(identification_tries_left=0)
    assert window.ask("wait CardSummary") == "CardSummary"
    window.ask("tap unlock_mobile")
    assert window.ask("wait LoginQr") == "LoginQr"
    content = window.ask("qr")  # decoded by zbar from a screenshot
    assert content.startswith("mobiltsiths.")
    cardservice.scan_and_approve(content, holder.personal_identity_number)
    assert window.ask("wait NewPin") == "NewPin"
    window.ask(f"type {NEW_PIN}")
    window.ask(f"type {NEW_PIN}")
    assert window.ask("wait Done") == "Done"
    pin = slot.card.state.identification_pin
    assert not pin.blocked and pin.value.startswith(NEW_PIN.encode())
    window.ask("shot done")


def test_card_pulled_out_during_pin_entry(kiosk_window, cardservice, make_siths_slot):
    open_window, holder = kiosk_window
    window = open_window()
    window.ask("wait Idle")
    slot = make_siths_slot(identification_tries_left=0)
    window.ask("wait CardSummary")
    window.ask("tap unlock_mobile")
    window.ask("wait LoginQr")
    cardservice.scan_and_approve(window.ask("qr"), holder.personal_identity_number)
    window.ask("wait NewPin")
    window.ask(f"type {NEW_PIN}")
    slot.remove()
    assert window.ask("wait Idle") == "Idle"
    assert slot.card.state.identification_pin.blocked


def test_login_declined_on_the_phone(kiosk_window, cardservice, make_siths_slot):
    open_window, holder = kiosk_window
    window = open_window()
    window.ask("wait Idle")
    make_siths_slot(identification_tries_left=0)
    window.ask("wait CardSummary")
    window.ask("tap unlock_mobile")
    window.ask("wait LoginQr")
    person = {"personalIdentityNumber": holder.personal_identity_number}
    scan = cardservice.phone("/v1/phone/scan", {"qrContent": window.ask("qr"), **person})
    cardservice.phone(f"/v1/phone/{scan.json()['orderRef']}/decline", person)
    assert window.ask("wait Failed") == "Failed login-declined"


def test_card_that_needs_an_id_administrator(kiosk_window, cardservice, make_siths_slot):
    open_window, holder = kiosk_window
    cardservice.register(holder, product_code="SITHS-LEGACY-2")
    window = open_window()
    window.ask("wait Idle")
    make_siths_slot(identification_tries_left=0)
    window.ask("wait CardSummary")
    window.ask("tap unlock_mobile")
    assert window.ask("wait Failed") == "Failed needs-id-administrator"
    window.ask("shot needs-id-administrator")


def test_language_toggle_and_no_way_out(kiosk_window):
    open_window, _holder = kiosk_window
    window = open_window()
    window.ask("wait Idle")
    assert window.ask("language") == "sv"  # Swedish first
    window.ask("tap language")
    assert window.ask("language") == "en"
    assert window.ask("try-to-leave") == "still-open"  # Escape and close are refused
    assert window.ask("wait Idle") == "Idle"  # and the kiosk keeps running
