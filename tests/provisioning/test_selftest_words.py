"""The self-test's pure parts: every failure carries a fix, the three outputs say the same
thing, and the board, unit and clock verdicts from readings (a Pi's files prepared here)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import fields

import pytest

from hw.board import RaspberryPiBoard, Throttling, decode_throttled
from provisioning.selftest import local_checks
from provisioning.selftest.report import SelfTestRun, as_json, checklist, ticket
from provisioning.selftest.results import CheckResult, Status, exit_code
from provisioning.selftest.service_checks import HttpsAnswer, judge_card_service, judge_clock, skew
from provisioning.selftest.target import parse
from tests.provisioning.conftest import pi_tree

AT = dt.datetime(2026, 11, 22, 8, 15, 3, tzinfo=dt.UTC)


def run_of(*results: CheckResult) -> SelfTestRun:
    return SelfTestRun("kiosk-entre-a", "Sjukhuset", "0.1.0", AT, results)


def test_a_failure_without_a_fix_cannot_be_made():
    with pytest.raises(ValueError, match="must say how to fix it"):
        CheckResult("x", "X", Status.FAILED, "broken")


def test_the_three_outputs_agree_and_only_a_failure_sets_the_exit_code():
    good = CheckResult.ok("disk", "Disk space", "900 MB free")
    bad = CheckResult.failed("clock", "Clock", "5 min ahead", "turn on NTP")
    skipped = CheckResult.skipped("units", "Kiosk service", "not under systemd")
    assert exit_code([good, skipped]) == 0 and exit_code([good, bad, skipped]) == 1
    run = run_of(good, bad, skipped)
    text = checklist(run)
    assert "✓ Disk space: 900 MB free" in text
    assert "✗ Clock: 5 min ahead\n    Fix: turn on NTP" in text
    assert "- Kiosk service: skipped: not under systemd" in text
    assert "1 passed, 1 failed, 1 skipped. NOT READY" in text
    assert ticket(run).splitlines() == [
        "SITHS kiosk self-test FAILED (1 of 3 checks)",
        "kiosk kiosk-entre-a | site Sjukhuset | software 0.1.0 | 2026-11-22 08:15:03 UTC",
        "[ok] disk: 900 MB free",
        "[FAILED] clock: 5 min ahead",
        "[skipped] units: not under systemd",
    ]
    data = json.loads(as_json(run))
    assert data["passed"] is False and data["at"] == "2026-11-22T08:15:03Z"
    assert data["checks"][1] == {
        "id": "clock",
        "title": "Clock",
        "status": "failed",
        "found": "5 min ahead",
        "fix": "turn on NTP",
    }
    assert "fix" not in data["checks"][0]


def test_every_throttling_flag_has_words():
    named = set(local_checks._FLAG_WORDS)
    assert {f.name for f in fields(Throttling)} == named | {f"{n}_since_boot" for n in named}


def test_a_hot_or_under_powered_pi_fails_and_says_what_to_do(tmp_path):
    reading = RaspberryPiBoard(pi_tree(tmp_path, celsius=83.5, throttled=0x50005)).read()
    disk, temperature, power = local_checks.board_checks(tmp_path, reading)
    assert temperature.status is Status.FAILED and "83.5 °C" in temperature.found
    assert "vents" in temperature.fix
    assert power.status is Status.FAILED
    assert power.found == "now: under-voltage, throttled; since boot: under-voltage, throttled"
    assert "official power supply" in power.fix and "cool the board" in power.fix
    assert disk.status is Status.OK


def test_under_voltage_since_boot_fails_other_past_flags_are_only_told():
    assert local_checks.judge_power(decode_throttled(0x10000)).status is Status.FAILED
    past = local_checks.judge_power(decode_throttled(0x80000))
    assert past.status is Status.OK and past.found.endswith("since boot: soft temperature limit")


def test_a_missing_state_folder_or_a_full_disk_fails(tmp_path):
    missing = local_checks.judge_disk(tmp_path / "nope", None)
    assert missing.status is Status.FAILED and "install -d" in missing.fix
    full = local_checks.judge_disk(tmp_path, 120.0)
    assert full.status is Status.FAILED and "120 MB free" in full.found


def test_the_kiosk_unit_verdicts(tmp_path):
    assert local_checks.check_units(tmp_path / "no-systemd").found == "not under systemd"
    assert local_checks.judge_unit("active").status is Status.OK
    failed = local_checks.judge_unit("failed")
    assert failed.found == "siths-kiosk.service is failed, not active"
    assert "journalctl -u siths-kiosk.service" in failed.fix


def test_the_display_is_skipped_off_the_kiosk_screen():
    assert local_checks.check_display(False).status is Status.SKIPPED
    assert "--on-screen" in local_checks.check_display(False).found


def answer(date: str | None, sent: float, received: float) -> HttpsAnswer:
    return HttpsAnswer(sent, received, 200, date)


def test_clock_skew_is_measured_from_the_middle_of_the_date_second():
    server = dt.datetime(2026, 11, 22, 8, 15, 3, tzinfo=dt.UTC).timestamp()
    date = "Sun, 22 Nov 2026 08:15:03 GMT"
    assert skew(answer(date, server + 0.4, server + 0.6)) == pytest.approx(0.0)
    behind = judge_clock(answer(date, server - 91, server - 90), 60, False)
    assert behind.status is Status.FAILED
    assert behind.found.startswith("clock skew: the kiosk's clock is 91 s behind")
    assert "NOT synchronised" in behind.found
    assert judge_clock(answer(date, server + 30, server + 31), 60, True).status is Status.OK
    unknown = judge_clock(answer(None, server, server), 60, None)
    assert unknown.status is Status.SKIPPED


SERVICE = parse(
    "[kiosk]\nid = 'kiosk-a'\n"
    "[card_service]\nurl = 'https://cs.example.org:8443'\nca_file = '/etc/ca.pem'\n"
    "client_cert = '/var/lib/device.pem'\nclient_key = '/var/lib/device.key'\n"
    "[cards]\ntrust_anchors = ['/etc/root.pem']\n"
)


@pytest.mark.parametrize(
    ("status", "body", "found"),
    [
        (503, b'{"code": "storage-unavailable"}', "the card service answered HTTP 503"),
        (200, b'{"status": "maintenance"}', "the card service is in maintenance mode"),
        (200, b"<html>", "did not answer like a card service"),
    ],
)
def test_the_card_service_answering_wrongly_is_told_apart(status, body, found):
    result = judge_card_service(SERVICE, HttpsAnswer(0.0, 0.1, status, None, body))
    assert result.status is Status.FAILED
    assert found in result.found
    ok = judge_card_service(SERVICE, HttpsAnswer(0.0, 0.1, 200, None, b'{"status": "ok"}'))
    assert ok.status is Status.OK and ok.found.startswith("cs.example.org:8443 answered 'ok'")
