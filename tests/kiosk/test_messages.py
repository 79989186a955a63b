"""Every typed outcome and card problem has words for a person; none leaks a secret."""

from __future__ import annotations

import pytest

from hw.errors import CardRemoved, NoCard, PcscUnavailable, UnexpectedResponse, UnsupportedCard
from hw.pins import (
    AdminKeyBlocked,
    CryptogramRejected,
    PinBlocked,
    PinPolicyViolation,
    PukBlocked,
    PukSafetyMargin,
    WrongPin,
    WrongPuk,
)
from hw.siths.trust import CardProblem
from hw.status_words import error_for
from kiosk.messages import explain, explain_problem
from protocol.reasons import Reason, reason_text

OUTCOMES = [
    WrongPuk(4),
    PukBlocked(),
    PukSafetyMargin(2, 3),
    PukSafetyMargin(None, 1),
    WrongPin(1),
    PinBlocked(),
    PinPolicyViolation("the new PIN must be digits only"),
    CryptogramRejected(9),
    AdminKeyBlocked(),
    CardRemoved(),
    NoCard("Reader 1"),
    PcscUnavailable(),
    UnsupportedCard("not a supported card"),
    UnexpectedResponse("card answered 1 bytes"),
    error_for(0x6F00),
]


@pytest.mark.parametrize("error", OUTCOMES, ids=lambda e: type(e).__name__)
def test_every_outcome_has_a_sentence_that_says_what_to_do(error):
    text = explain(error)
    assert text.endswith(".")
    assert "Traceback" not in text and "0x" not in text


def test_wrong_puk_says_how_many_tries_remain():
    assert "4 tries left" in explain(WrongPuk(4))
    assert "4 försök kvar" in explain(WrongPuk(4), "sv")


def test_the_command_line_and_the_screen_use_the_same_sentence():
    assert explain(CardRemoved()) == reason_text("en", Reason.CARD_REMOVED)


def test_a_technician_gets_the_detail_the_card_layer_knows():
    text = explain(UnsupportedCard("this piv card has no PIN 'Signature PIN'"))
    assert "has no PIN 'Signature PIN'" in text


@pytest.mark.parametrize("problem", list(CardProblem))
def test_every_card_problem_is_worded_in_swedish_and_english(problem):
    swedish, english = explain_problem(problem, "sv"), explain_problem(problem, "en")
    assert swedish != english
    assert swedish.endswith(".") and english.endswith(".")
