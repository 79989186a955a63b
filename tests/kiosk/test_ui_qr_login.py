"""Every QR frame the kiosk draws during a whole login reads, with zbar off the screen, as
the frame the card service expects for that second (a short login, so it ends in seconds)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from cardservice.service import ServiceConfig
from protocol.login_qr import qr_content
from tests.harness.cardservice import CardServiceHarness
from tests.kiosk.test_ui_unlock import KioskWindow, xvfb  # noqa: F401  (xvfb: a fixture)

pytestmark = [pytest.mark.ui, pytest.mark.pcsc]
LOGIN_SECONDS = 8


@pytest.fixture
def short_login_service(tmp_path, dev_pki, smtp_sink, standard_siths_certificates):
    service = CardServiceHarness(
        tmp_path / "cardservice", dev_pki, smtp_sink, ServiceConfig(login_ttl=LOGIN_SECONDS)
    )
    service.register(standard_siths_certificates[0])
    yield service
    service.stop()


def test_every_frame_of_a_whole_login_reads_as_expected(
    xvfb,  # noqa: F811
    pcscd,
    short_login_service,
    siths_pki,
    make_siths_slot,
    tmp_path,
):
    (tmp_path / "siths.pem").write_bytes(siths_pki.anchors_pem() + siths_pki.intermediates_pem())
    config = tmp_path / "kiosk.toml"
    config.write_text(short_login_service.kiosk_config(tmp_path / "siths.pem"))
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.kiosk.ui_kiosk_child", str(config), str(tmp_path / "shots")],
        env=xvfb.environment(pcscd.environment()),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    window = KioskWindow(process)
    try:
        window.ask("wait Idle")
        make_siths_slot(identification_tries_left=0)
        window.ask("wait CardSummary")
        window.ask("record-qr")
        window.ask("tap unlock_mobile")
        window.ask("wait LoginQr")
        login = json.loads(window.ask("login"))
        # The login ran to its end: the kiosk's deadline or the service's verdict, whichever first.
        assert window.ask("wait Failed") in ("Failed login-expired", "Failed login-not-scanned")
        frames = json.loads(window.ask("qr-frames"))
    finally:
        window.close()

    expected = [
        qr_content(login["prefix"], login["token"], login["secret"], second)
        for second in range(len(frames))
    ]
    drawn = [content for content, _path in frames]
    assert drawn == expected  # one frame for every second, none skipped, none repeated
    assert len(drawn) >= LOGIN_SECONDS - 2  # drawn until the login was nearly over
    if shutil.which("zbarimg") is None:
        pytest.fail("zbarimg is not installed (Debian package zbar-tools): run ./scripts/test")
    read = subprocess.run(
        ["zbarimg", "--raw", "-q", *(path for _content, path in frames)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert read.stdout.splitlines() == expected
