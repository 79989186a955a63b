"""Smaller parts: QR frames, the e-mail outbox, the simulated phone's command line."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

from hypothesis import given
from hypothesis import strategies as st

from cardservice.mailer import Mailer, SmtpSettings
from cardservice.notices import compose_unlock_notice
from cardservice.store import Store
from protocol.login_qr import QrAnimation, frame_is_authentic, parse_qr_content, qr_content
from sim.identity_provider.orders import frame_is_fresh
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
            "sim.identity_provider",
            "phone",
            "--url",
            cardservice.provider.url,
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


def test_phone_page_is_served_by_the_simulator_without_a_client_certificate(cardservice):
    import requests

    session = requests.Session()
    session.trust_env = False
    url = f"{cardservice.provider.url}/phone"
    page = session.get(url, verify=cardservice.pki.service_ca, timeout=10)
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
    store.queue_mail(0.0, "<m1@example.org>", "holder@example.org", "subject", "body")
    down = Mailer(store, SmtpSettings("127.0.0.1", free_port(), "kiosk@example.org", timeout=2))
    assert down.flush() is False
    assert len(store.unsent_mail()) == 1
    smtp_sink.clear()
    up = Mailer(store, SmtpSettings("127.0.0.1", smtp_sink.port, "kiosk@example.org"))
    assert up.flush() is True
    mail = smtp_sink.wait_for(1)[0]
    assert mail["To"] == "holder@example.org" and mail["Message-ID"] == "<m1@example.org>"
    assert mail["Date"]  # when it was queued, the same on every retry
    assert store.unsent_mail() == []
    store.close()
