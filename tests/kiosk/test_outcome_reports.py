"""The kiosk's outcome queue against the reference card service over mutual TLS.

Which answers take a report off the queue (delivered, already final, refused for
good) and which keep it; a refused report does not block the ones behind it; a
queue that cannot be made or written is an error in the log, and the report is
still sent at once. The virtual-card tests (service down at the PIN reset, the
kiosk restarted) are in test_outcome_reports_kept.py.
"""

from __future__ import annotations

import logging

import pytest

from kiosk.cardservice_errors import (
    CardServiceFailure,
    CardServiceProblem,
    CardServiceProtocolError,
    CardServiceUnreachable,
)
from kiosk.outcome_reports import OutcomeReports, Report, Verdict, verdict
from protocol.credential import UnlockKey
from protocol.problems import ProblemCode
from protocol.reasons import Outcome, Reason
from sim.siths_pki import SithsHolder
from tests.cardservice.test_cardservice_records import approved_login
from tests.harness.small_disk import fill
from tests.harness.waiting import wait_for
from tests.kiosk.test_outcome_reports_kept import outcome_rows

HOLDER = SithsHolder()
PUK = b"12345678"
QUICK = (0.02, 0.1)


def credential(cardservice, client) -> str:
    """A real unlock id: a login the simulated phone approved, and its credential."""
    login = approved_login(cardservice, client)
    return client.request_unlock(
        login.order_ref, HOLDER.card_number, "identification", UnlockKey()
    ).unlock_id


@pytest.fixture
def service(cardservice):
    cardservice.register(HOLDER, secret=PUK)
    return cardservice


def sender(client):
    def send(report: Report) -> None:
        client.report_outcome(
            report.unlock_id, report.result, report.reason, idempotency_key=report.key
        )

    return send


def problem(code: ProblemCode, status: int) -> CardServiceProblem:
    return CardServiceProblem(code, status, "t", None)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (None, Verdict.DELIVERED),
        (problem(ProblemCode.OUTCOME_ALREADY_FINAL, 409), Verdict.DELIVERED),
        (problem(ProblemCode.UNKNOWN_UNLOCK, 404), Verdict.REFUSED),
        (problem(ProblemCode.INVALID_REQUEST, 400), Verdict.REFUSED),
        (problem(ProblemCode.IDEMPOTENCY_KEY_REUSED, 422), Verdict.REFUSED),
        (CardServiceFailure(404), Verdict.REFUSED),
        (problem(ProblemCode.STORAGE_UNAVAILABLE, 503), Verdict.RETRY),
        (problem(ProblemCode.TOO_MANY_ATTEMPTS, 429), Verdict.RETRY),
        (problem(ProblemCode.KIOSK_REVOKED, 403), Verdict.RETRY),
        (problem(ProblemCode.CLIENT_CERTIFICATE_REQUIRED, 401), Verdict.RETRY),
        (CardServiceFailure(502), Verdict.RETRY),
        (CardServiceUnreachable("down"), Verdict.RETRY),
        (CardServiceProtocolError("html"), Verdict.RETRY),
    ],
)
def test_what_each_answer_means_for_a_queued_report(error, expected):
    assert verdict(error) is expected


def test_a_report_refused_for_good_is_counted_and_does_not_block_the_next(
    service, tmp_path, caplog
):
    client = service.client()
    unlock_id = credential(service, client)
    reports = OutcomeReports(tmp_path / "outcomes.sqlite3", sender(client), backoff=QUICK)
    reports.report("no-such-unlock", Outcome.UNLOCKED, None)  # 404 unknown-unlock
    reports.report(unlock_id, Outcome.UNLOCKED, None)
    with caplog.at_level(logging.INFO):
        reports.start()
        try:
            wait_for(lambda: reports.depth() == 0, timeout=30, what="the queue to empty")
            assert reports.counter("refused") == 1
        finally:
            reports.stop()
    assert service.store.unlock(unlock_id).outcome == "unlocked"
    assert outcome_rows(service, unlock_id) == 1
    assert "unknown-unlock" in caplog.text
    assert HOLDER.card_number not in caplog.text


def test_an_outcome_already_final_leaves_the_queue_without_a_count(service, tmp_path):
    client = service.client()
    unlock_id = credential(service, client)
    reports = OutcomeReports(tmp_path / "outcomes.sqlite3", sender(client), backoff=QUICK)
    reports.report(unlock_id, Outcome.UNLOCKED, None)
    reports.report(unlock_id, Outcome.NOT_UNLOCKED, Reason.WRONG_PUK)  # 409: already final
    reports.start()
    try:
        wait_for(lambda: reports.depth() == 0, timeout=30, what="the queue to empty")
        assert reports.counter("refused") == 0
    finally:
        reports.stop()
    assert service.store.unlock(unlock_id).outcome == "unlocked"
    assert outcome_rows(service, unlock_id) == 1


def test_a_queue_that_cannot_be_made_is_an_error_and_the_report_still_goes(
    service, tmp_path, caplog
):
    client = service.client()
    unlock_id = credential(service, client)
    (tmp_path / "a-file").write_text("not a folder")
    with caplog.at_level(logging.ERROR):
        reports = OutcomeReports(tmp_path / "a-file" / "outcomes.sqlite3", sender(client))
        reports.start()
        reports.report(unlock_id, Outcome.UNLOCKED, None)
        reports.stop()
    assert "outcome reports cannot be kept on disk" in caplog.text
    assert reports.unkept == 1
    assert service.store.unlock(unlock_id).outcome == "unlocked"


def test_a_full_disk_is_an_error_and_the_report_still_goes(service, small_disk, tmp_path, caplog):
    client = service.client()
    unlock_id = credential(service, client)
    reports = OutcomeReports(small_disk / "outcomes.sqlite3", sender(client)).start()
    fill(small_disk)
    with caplog.at_level(logging.ERROR):
        reports.report(unlock_id, Outcome.UNLOCKED, None)
    reports.stop()
    assert "could not be kept on disk" in caplog.text
    assert "full" in caplog.text
    assert reports.unkept == 1
    assert service.store.unlock(unlock_id).outcome == "unlocked"
    assert outcome_rows(service, unlock_id) == 1
