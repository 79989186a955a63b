"""The enrolment contract: every refusal code has its status, title and fix and is in the API
document; tokens round-trip; a bad token is named without repeating its secret."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from protocol import enrolment as en

DOC = Path(__file__).resolve().parents[2] / "docs" / "enrolment-api.md"


def test_every_code_has_words_and_is_documented():
    text = DOC.read_text()
    for code in en.EnrolProblem:
        kind = en.PROBLEMS[code]
        assert 400 <= kind.status < 600 and kind.title and kind.fix
        assert f"| `{code}` | {kind.status} |" in text, code


def test_a_token_round_trips_and_a_bad_one_is_named_without_its_secret():
    token = en.EnrolmentToken(
        fleet="https://fleet.example.org:9443",
        token="A" * 43,
        fleet_ca_sha256="ab" * 32,
        site="Sjukhuset",
        kiosk_id="kiosk-entre-a",
        expires=dt.datetime(2030, 1, 1, tzinfo=dt.UTC),
    )
    text = en.encode_token(token)
    assert '"fleetCaSha256":"abab' in text and '"expires":"2030-01-01T00:00:00Z"' in text
    assert en.parse_token(text) == token
    assert "AAAA" not in repr(token)
    secret = "S3cr3t" * 8
    with pytest.raises(en.TokenError) as error:
        en.parse_token(text.replace("A" * 43, secret))
    assert "token" in str(error.value) and secret not in str(error.value)
    with pytest.raises(en.TokenError, match="not JSON"):
        en.parse_token("hello")
