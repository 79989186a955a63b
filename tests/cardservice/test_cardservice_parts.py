"""Smaller parts of the card service: QR frames, the phone CLI, the e-mail outbox."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

from hypothesis import given
from hypothesis import strategies as st

from cardservice.login_state import frame_is_fresh
from cardservice.mailer import Mailer, compose_unlock_notice
from cardservice.store import Store
from protocol.login_qr import QrAnimation, frame_is_authentic, parse_qr_content, qr_content
from sim.siths_pki import SithsHolder
from tests.harness.smtp_sink import free_port

HOLDER = SithsHolder()


def test_qr_content_matches_the_bankid_format():
    content = qr_content("mobiltsiths", "tok", "secret", 7)
    prefix, token, seconds, digest = content.split(".")
    assert (prefix, token, seconds) == ("mobiltsiths", "tok", "7")
    # HMAC-SHA256("secret", "7"), computed independently
    import hashlib
    import hmac

    assert digest == hmac.new(b"secret", b"7", hashlib.sha256).hexdigest()


def test_qr_animation_changes_every_second():
    animation = QrAnimation("p", "t", "s", started=100.0)
    assert animation.current(100.2) == animation.current(100.9)
    assert animation.current(100.9) != animation.current(101.1)


@given(
    st.text("abcdef0123456789-", min_size=1, max_size=36),
    st.text(min_size=1, max_size=40),
    st.integers(0, 10**6),
)
def test_frames_round_trip_and_only_their_secret_authenticates(token, secret, seconds):
    frame = parse_qr_content(qr_content("mobiltsiths", token, secret, seconds))
    assert frame is not None and (frame.token, frame.seconds) == (token, seconds)
    assert frame_is_authentic(frame, secret)
    assert not frame_is_authentic(frame, secret + "x")


@given(st.text(max_size=120))
def test_any_scanned_text_is_parsed_or_rejected_without_crashing(text):
    parse_qr_content(text)


def test_freshness_window():
    assert frame_is_fresh(10, 12.0, 5.0, 2.0)
    assert not frame_is_fresh(0, 12.0, 5.0, 2.0)  # a photo taken 12 s ago
    assert not frame_is_fresh(20, 12.0, 5.0, 2.0)  # from the future


def test_command_line_phone_scans_and_approves(cardservice):
    cardservice.register(HOLDER)
    client = cardservice.client()
    login = client.start_login(HOLDER.card_number)
    frame = QrAnimation(login.qr_prefix, login.qr_start_token, login.qr_start_secret).current()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "cardservice.cli",
            "phone",
            "--url",
            cardservice.url,
            "--ca",
            str(cardservice.pki.service_ca),
            "--qr",
            frame,
            "--identity",
            HOLDER.personal_identity_number,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert client.poll_login(login.order_ref).status == "complete"


def test_phone_page_is_served_without_a_client_certificate(cardservice):
    import requests

    session = requests.Session()
    session.trust_env = False
    page = session.get(f"{cardservice.url}/phone", verify=cardservice.pki.service_ca, timeout=10)
    assert page.status_code == 200 and "Simulerad Mobilt SITHS" in page.text


def test_notice_names_card_place_and_time_in_both_languages():
    subject, body = compose_unlock_notice(
        holder_name="Åsa Öberg",
        card_number="9752000000000000001",
        location="Entré B",
        when=dt.datetime(2026, 11, 21, 12, 30, tzinfo=dt.UTC),
        result="unlocked",
    )
    assert "9752000000000000001" in subject
    assert "2026-11-21 13:30" in body  # Swedish time
    assert body.index("Hej Åsa Öberg") < body.index("Hello Åsa Öberg")
    assert "Entré B" in body


def test_mail_waits_in_the_outbox_while_smtp_is_down(tmp_path, smtp_sink):
    store = Store(tmp_path / "db.sqlite3")
    down = Mailer(store, "127.0.0.1", free_port(), "kiosk@example.org", timeout=2)
    down.send("holder@example.org", "subject", "body")
    assert down.flush() is False
    assert len(store.unsent_mail()) == 1
    smtp_sink.clear()
    up = Mailer(store, "127.0.0.1", smtp_sink.port, "kiosk@example.org")
    assert up.flush() is True
    assert smtp_sink.wait_for(1)[0]["To"] == "holder@example.org"
    assert store.unsent_mail() == []
    store.close()


def test_the_service_command_line_end_to_end(tmp_path, dev_pki, smtp_sink):
    """kiosk-cardservice add-kiosk / add-card / serve as an operator runs them."""
    from kiosk.cardservice_client import CardServiceClient
    from tests.harness.waiting import wait_for

    state = tmp_path / "state"
    base = [sys.executable, "-m", "cardservice.cli"]

    def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*base, *args], input=stdin, capture_output=True, text=True, timeout=60, check=False
        )

    assert (
        cli(
            "add-kiosk", "--state-dir", str(state), "kiosk-entre-a", "--location", "Entré A"
        ).returncode
        == 0
    )
    added = cli(
        "add-card",
        "--state-dir",
        str(state),
        "--card-number",
        HOLDER.card_number,
        "--name",
        HOLDER.full_name,
        "--hsa-id",
        HOLDER.hsa_id,
        "--personal-identity-number",
        HOLDER.personal_identity_number,
        "--email",
        HOLDER.email,
        stdin="12345678\n",
    )
    assert added.returncode == 0, added.stderr
    assert b"12345678" not in (state / "cardservice.sqlite3").read_bytes()  # sealed at rest
    port = free_port()
    server = subprocess.Popen(
        [
            *base,
            "serve",
            "--state-dir",
            str(state),
            "--port",
            str(port),
            "--cert",
            str(dev_pki.service_cert),
            "--key",
            str(dev_pki.service_key),
            "--client-ca",
            str(dev_pki.device_ca),
            "--smtp",
            f"127.0.0.1:{smtp_sink.port}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        client = CardServiceClient(
            f"https://127.0.0.1:{port}",
            kiosk_id="kiosk-entre-a",
            client_cert=(dev_pki.kiosk_cert("kiosk-entre-a"), dev_pki.kiosk_key("kiosk-entre-a")),
            ca_file=dev_pki.service_ca,
            retries=0,
        )

        def healthy() -> bool:
            try:
                return client.health() == "ok"
            except Exception:
                return False

        wait_for(healthy, timeout=30, what="the card service to start")
        assert client.start_login(HOLDER.card_number).qr_prefix == "mobiltsiths"
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=30)
    assert server.returncode == 0, output
    assert "listening on https://127.0.0.1" in output
