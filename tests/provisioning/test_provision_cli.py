"""``kiosk-provision`` as a technician runs it, against the fleet's enrolment listener over HTTPS:
enrolment from a USB stick, status, renewal, decommissioning, and each refusal in words."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from fleet.device_ca import CA_CERT_NAME
from protocol import enrolment as en
from tests.harness.enrol_fleet import SITE, EnrolFleet, site_settings

KIOSK = "kiosk-entre-c"


@pytest.fixture
def fleet(tmp_path, dev_pki):
    settings = site_settings(dev_pki, "https://127.0.0.1:9", 8883, dev_pki.service_ca.read_text())
    url = f"sqlite:///{tmp_path / 'fleet.sqlite3'}"
    running = EnrolFleet(tmp_path / "fleet", url, dev_pki, settings)
    yield running
    running.stop()


def provision(tmp_path, *args: str, env: dict[str, str] | None = None):
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "provisioning.cli",
            "--state-dir",
            str(tmp_path / "device"),
            "--config",
            str(tmp_path / "etc" / "kiosk.toml"),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )


def test_enrol_from_a_usb_stick_then_status_renew_and_decommission(fleet, tmp_path):
    stick = tmp_path / "media" / "technician" / "KIOSK-USB"
    stick.mkdir(parents=True)
    (stick / en.TOKEN_FILE_NAME).write_text(en.encode_token(fleet.token(kiosk_id=KIOSK)))
    configured = provision(tmp_path, "configure", "--location", "Entré C")
    assert configured.returncode == 0, configured.stderr
    enrolled = provision(tmp_path, "enrol", "--usb", "--media-root", str(tmp_path / "media"))
    assert enrolled.returncode == 0, enrolled.stderr
    assert f"Enrolled as {KIOSK} at {SITE} (Entré C)." in enrolled.stdout
    key = tmp_path / "device" / "device.key"
    assert key.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "device" / "card-hash.key").stat().st_mode & 0o777 == 0o600

    status = provision(tmp_path, "status", "--json")
    assert status.returncode == 0, status.stderr
    found = json.loads(status.stdout)
    assert found["enrolled"] and found["keyPrivate"] and not found["renewDue"]
    assert (found["kioskId"], found["site"], found["location"]) == (KIOSK, SITE, "Entré C")
    assert found["daysLeft"] >= 364

    not_due = provision(tmp_path, "renew")
    assert not_due.returncode == 0 and "Not renewed yet" in not_due.stdout
    before = (tmp_path / "device" / "device.pem").read_text()
    forced = provision(tmp_path, "renew", "--force")
    assert forced.returncode == 0 and "Renewed" in forced.stdout, forced.stderr
    assert (tmp_path / "device" / "device.pem").read_text() != before

    key.chmod(0o644)
    loose = provision(tmp_path, "status")
    assert loose.returncode == 1 and f"chmod 600 {key}" in loose.stdout
    key.chmod(0o600)

    gone = provision(tmp_path, "decommission")
    assert gone.returncode == 0, gone.stderr
    assert "the fleet revoked the certificate" in gone.stdout
    assert not key.exists()
    assert not (tmp_path / "etc" / "kiosk.toml").exists()
    assert sorted(p.name for p in (tmp_path / "device").iterdir()) == []
    after = provision(tmp_path, "status")
    assert after.returncode == 1 and "Not enrolled" in after.stdout


def _refusal(tmp_path, token, *extra):
    result = provision(tmp_path, "enrol", en.encode_token(token), "--kiosk-id", KIOSK, *extra)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "etc" / "kiosk.toml").exists()
    return result.stderr


def test_each_refusal_says_what_it_is_and_what_to_do(fleet, tmp_path):
    token = fleet.token()
    assert (
        provision(tmp_path / "a", "enrol", en.encode_token(token), "--kiosk-id", "a").returncode
        == 0
    )
    said = _refusal(tmp_path, token)
    assert "already used" in said and "ask facility IT for a new token" in said

    said = _refusal(tmp_path, fleet.token(now=time.time() - 90000, valid=3600))
    assert "The enrolment token has expired: the token expired at" in said

    said = _refusal(tmp_path, fleet.token("Annat sjukhus"), "--site", SITE)
    assert "for another site" in said and "for site 'Annat sjukhus'" in said

    wrong_pin = fleet.token().model_copy(update={"fleet_ca_sha256": "0" * 64})
    said = _refusal(tmp_path, wrong_pin)
    assert "the fleet server's CA is not the one the token names" in said

    said = _refusal(tmp_path, fleet.token(kiosk_id="kiosk-x"))
    assert "the token is for kiosk 'kiosk-x'" in said


def test_renewal_with_a_revoked_certificate_is_refused_in_words(fleet, tmp_path, capsys):
    assert (
        provision(tmp_path, "enrol", en.encode_token(fleet.token(kiosk_id=KIOSK))).returncode == 0
    )
    from fleet.cli import main as fleet_cli

    code = fleet_cli(
        [
            "kiosk",
            "revoke",
            KIOSK,
            "--database",
            str(fleet.store.engine.url),
            "--state-dir",
            str(fleet.state),
        ]
    )
    assert code == 0 and "revoked 1 certificate(s)" in capsys.readouterr().out
    assert (fleet.state / CA_CERT_NAME).exists()
    renewal = provision(tmp_path, "renew", "--force")
    assert renewal.returncode == 1
    assert (
        "This kiosk's certificate has been revoked: the certificate was revoked at"
        in renewal.stderr
    )
    assert "enrolled again with a new token" in renewal.stderr


def test_a_token_that_is_not_one_is_named_without_a_traceback(tmp_path):
    for text in ("hello", '{"v": 1}'):
        result = provision(tmp_path, "enrol", text)
        assert result.returncode == 1
        assert "not" in result.stderr and "enrolment token" in result.stderr
        assert "Traceback" not in result.stderr
    none = provision(tmp_path, "enrol", "--usb", "--media-root", str(tmp_path / "nothing"))
    assert none.returncode == 1 and "no enrol.json on a USB stick" in none.stderr


def test_decommissioning_without_the_fleet_wipes_nothing(fleet, tmp_path):
    assert (
        provision(tmp_path, "enrol", en.encode_token(fleet.token(kiosk_id=KIOSK))).returncode == 0
    )
    fleet.server.stop()
    result = provision(tmp_path, "decommission")
    assert result.returncode == 1
    assert "the fleet server cannot be reached" in result.stderr
    assert (tmp_path / "device" / "device.key").exists()
    assert (tmp_path / "etc" / "kiosk.toml").exists()


def test_a_renewal_restarts_the_kiosk_only_when_it_renewed(fleet, tmp_path):
    """The renewal timer's service: the kiosk reads its certificate only when it starts."""
    token = en.encode_token(fleet.token(kiosk_id=KIOSK))
    assert provision(tmp_path, "enrol", token).returncode == 0
    tools, calls = tmp_path / "bin", tmp_path / "systemctl-calls"
    tools.mkdir()
    systemctl = tools / "systemctl"  # the machine has no systemd: a stand-in that notes its call
    systemctl.write_text(f'#!/bin/sh\necho "$@" >> {calls}\n')
    systemctl.chmod(0o755)
    env = {**os.environ, "PATH": f"{tools}:{os.environ['PATH']}"}

    not_due = provision(tmp_path, "renew", "--restart", "siths-kiosk.service", env=env)
    assert not_due.returncode == 0 and not calls.exists()  # nothing new: no restart
    forced = provision(
        tmp_path, "renew", "--force", "--restart", "siths-kiosk.service", "--json", env=env
    )
    assert forced.returncode == 0, forced.stderr
    assert json.loads(forced.stdout)["restarted"] is True
    assert calls.read_text() == "try-restart siths-kiosk.service\n"

    systemctl.write_text("#!/bin/sh\necho 'Failed to connect to bus' >&2\nexit 1\n")
    failed = provision(tmp_path, "renew", "--force", "--restart", "siths-kiosk.service", env=env)
    assert failed.returncode == 1  # renewed, but the kiosk still uses the old certificate
    assert "was not restarted (Failed to connect to bus)" in failed.stdout
    assert "systemctl restart siths-kiosk.service" in failed.stdout
