"""The API models write what the OpenAPI file promises and read nothing else."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import ValidationError

from cardservice.problems import Problem
from protocol import cardservice_api as api
from protocol.cardservice_values import HintCode, LoginStatusValue
from protocol.credential import UnlockKey
from protocol.problems import ProblemCode

STOCKHOLM_SUMMER = dt.timezone(dt.timedelta(hours=2))


def login_status(**changes: object) -> dict:
    wire = {
        "orderRef": "o",
        "status": "pending",
        "hintCode": "userSign",
        "expiresAt": "2030-06-01T10:00:00Z",
        "completion": None,
    }
    return {**wire, **changes}


def test_times_are_written_in_utc_with_z():
    status = api.LoginStatus(
        order_ref="o",
        status=LoginStatusValue.PENDING,
        hint_code=None,
        expires_at=dt.datetime(2030, 6, 1, 12, 0, 0, 999, tzinfo=STOCKHOLM_SUMMER),
        completion=None,
    )
    wire = api.to_wire(status)
    assert wire["expiresAt"] == "2030-06-01T10:00:00Z"
    assert wire["hintCode"] is None and wire["completion"] is None  # required, nullable


@pytest.mark.parametrize(
    "written", ["2030-06-01T10:00:00Z", "2030-06-01T12:00:00+02:00", "2030-06-01t10:00:00.5z"]
)
def test_rfc3339_times_with_a_zone_are_read(written):
    expires = api.from_wire(api.LoginStatus, login_status(expiresAt=written)).expires_at
    assert expires.replace(microsecond=0) == dt.datetime(2030, 6, 1, 10, tzinfo=dt.UTC)


@pytest.mark.parametrize("written", ["2030-06-01T10:00:00", "2030-06-01", 1906965600, "soon"])
def test_times_without_a_zone_or_not_rfc3339_are_refused(written):
    with pytest.raises(ValidationError, match="expiresAt"):
        api.from_wire(api.LoginStatus, login_status(expiresAt=written))


def test_optional_members_are_left_out_not_null():
    request = api.OutcomeRequest(result="unlocked")
    assert api.to_wire(request) == {"result": "unlocked"}
    unlock = api.UnlockRequest(
        order_ref="o",
        card_number="9752269885719985027",
        pin_role="signature",
        kiosk_public_key=UnlockKey().public_b64,
    )
    assert set(api.to_wire(unlock)) == {"orderRef", "cardNumber", "pinRole", "kioskPublicKey"}


def test_the_wire_takes_camel_case_names_only():
    assert api.from_wire(api.LoginStatus, login_status()).hint_code is HintCode.USER_SIGN
    with pytest.raises(ValidationError):
        api.from_wire(api.StartLoginRequest, {"card_number": "9752269885719985027"})


def test_answers_ignore_members_they_do_not_know_and_requests_refuse_them():
    assert api.from_wire(api.Health, {"status": "ok", "version": "2"}).status == "ok"
    with pytest.raises(ValidationError):
        api.from_wire(api.StartLoginRequest, {"cardNumber": "9752269885719985027", "pin": "1"})


def test_a_validation_report_names_members_never_values():
    secret_like = "SECRET-19800101"
    with pytest.raises(ValidationError) as refused:
        api.from_wire(api.OutcomeRequest, {"result": secret_like, "reason": secret_like})
    report = api.describe(refused.value)
    assert "result" in report and "reason" in report
    assert secret_like not in report


def test_the_qr_secret_is_not_in_a_login_start_repr():
    start = api.from_wire(
        api.LoginStart,
        {
            "orderRef": "o",
            "qrStartToken": "t",
            "qrStartSecret": "a1b2c3d4e5f6",
            "qrPrefix": "mobiltsiths",
            "expiresAt": "2030-06-01T10:00:00Z",
            "pollIntervalSeconds": 2,
        },
    )
    assert start.qr_start_secret == "a1b2c3d4e5f6"
    assert "a1b2c3d4e5f6" not in repr(start)


def test_a_service_refusal_is_a_problem_document_from_the_shared_table():
    document = api.to_wire(Problem(ProblemCode.NOT_CARD_OWNER).to_model())
    assert document == {
        "type": "https://siths-kiosk.example/problems/not-card-owner",
        "title": "The person who logged in does not own this card",
        "status": 403,
        "code": "not-card-owner",
    }
    assert api.from_wire(api.Problem, document).code is ProblemCode.NOT_CARD_OWNER


@pytest.mark.parametrize(
    ("model", "body", "member"),
    [
        (
            api.UnlockRequest,
            {
                "orderRef": "o",
                "cardNumber": "9752269885719985027",
                "pinRole": "identification",
                "kioskPublicKey": "AAAA",
                "challenge": None,
            },
            "challenge",
        ),
        (api.OutcomeRequest, {"result": "unlocked", "detail": None}, "detail"),
        (api.OutcomeRequest, {"result": "unknown", "reason": None}, "reason"),
    ],
)
def test_a_request_may_leave_an_optional_member_out_but_not_send_null(model, body, member):
    with pytest.raises(ValidationError, match=f"{member} must be left out, not null"):
        model.model_validate(body)


def test_an_outcome_is_one_of_three_and_its_reason_a_code():
    assert api.OutcomeRequest(result="unknown", reason="card-removed").result == "unknown"
    for bad in ({"result": "failed"}, {"result": "unlocked", "reason": "Card removed!"}):
        with pytest.raises(ValidationError):
            api.OutcomeRequest.model_validate(bad)
