"""Both languages say everything the flow can say."""

from __future__ import annotations

import pytest

from kiosk.pin_policy import PinRejection
from kiosk.ui.i18n import LANGUAGES, catalogue, text


def test_both_languages_have_the_same_keys():
    assert set(catalogue("sv")) == set(catalogue("en"))


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_rejection_and_reason_has_words(language):
    strings = catalogue(language)
    for rejection in PinRejection:
        assert f"pin.error.{rejection.value}" in strings
    kiosk_facing = {
        "card-not-registered",
        "not-card-owner",
        "needs-id-administrator",
        "too-many-attempts",
        "login-expired",
        "maintenance",
        "card-removed",
        "wrong-puk",
        "puk-blocked",
        "puk-margin",
        "cryptogram-rejected",
        "card-service-unreachable",
        "card-service-timeout",
    }
    for code in kiosk_facing:
        assert f"reason.{code}" in strings, code


def test_unknown_reason_falls_back_to_a_sentence():
    assert text("sv", "reason.something-new") == catalogue("sv")["reason.unknown"]


def test_placeholders_fill_in():
    assert text("en", "reason.wrong-puk", tries=7) == "Wrong PUK. 7 tries left."
    assert "Identification PIN" in text("sv", "pin.title", name="Identification PIN")
