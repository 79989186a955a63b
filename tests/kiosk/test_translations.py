"""Both languages say everything the kiosk, the command line and the e-mail can say."""

from __future__ import annotations

import re

import pytest

from hw.siths.trust import CardProblem
from kiosk.pin_policy import PinRejection
from kiosk.ui.i18n import LANGUAGES, catalogue, text
from protocol.reasons import Outcome, Reason, outcome_text, reason_text, words


def test_both_languages_have_the_same_screen_strings():
    assert set(catalogue("sv")) == set(catalogue("en"))


def test_both_languages_have_the_same_shared_words():
    assert set(words("sv")) == set(words("en"))


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("reason", list(Reason))
def test_every_reason_has_words_in_both_languages(language, reason):
    assert f"reason.{reason}" in words(language), f"{reason} has no {language} words"
    sentence = reason_text(language, reason, tries=2)
    assert sentence.endswith(".") and "{" not in sentence


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("outcome", list(Outcome))
def test_every_outcome_has_words_in_both_languages(language, outcome):
    assert f"outcome.{outcome}" in words(language)


def test_no_words_for_codes_that_do_not_exist():
    codes = {key.split(".", 1)[1] for key in words("en") if key.startswith("reason.")}
    assert codes - {"unknown"} == set(Reason)


def test_one_spelling_every_code_is_kebab_case():
    for code in [*Reason, *Outcome]:
        assert re.fullmatch(r"[a-z]+(-[a-z]+)*", code), code


@pytest.mark.parametrize("problem", list(CardProblem))
def test_every_certificate_problem_is_a_reason(problem):
    assert Reason(problem.value)


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_pin_rejection_has_screen_words(language):
    for rejection in PinRejection:
        assert f"pin.error.{rejection.value}" in catalogue(language)


def test_the_screen_takes_reasons_from_the_shared_words():
    assert text("sv", "reason.not-card-owner") == reason_text("sv", Reason.NOT_CARD_OWNER)
    assert not any(key.startswith("reason.") for key in catalogue("sv"))


def test_unknown_reason_falls_back_to_a_sentence():
    assert text("sv", "reason.something-new") == words("sv")["reason.unknown"]


def test_placeholders_fill_in():
    assert text("en", "reason.wrong-puk", tries=7) == "Wrong PUK. 7 tries left."
    assert text("en", "reason.wrong-puk") == "Wrong PUK. ? tries left."
    assert "Identification PIN" in text("sv", "pin.title", name="Identification PIN")
    assert outcome_text("sv", "no-such-outcome") == outcome_text("sv", Outcome.UNKNOWN)
