"""The new-PIN rules, table-driven and property-based."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiosk.pin_policy import PinRejection, birth_date_forms, check_new_pin

R = PinRejection
PNR = "198507122389"


@pytest.mark.parametrize(
    ("pin", "confirmation", "other", "expected"),
    [
        ("482915", "482915", None, None),
        ("48291573", "48291573", None, None),
        ("4829a5", "4829a5", None, R.NOT_DIGITS),
        ("４８２９１５", "４８２９１５", None, R.NOT_DIGITS),
        ("48291", "48291", None, R.LENGTH),
        ("482915730", "482915730", None, R.LENGTH),
        ("482915", "482916", None, R.MISMATCH),
        ("777777", "777777", None, R.REPEATED_DIGIT),
        ("123456", "123456", None, R.STRAIGHT_RUN),
        ("876543", "876543", None, R.STRAIGHT_RUN),
        ("23456789", "23456789", None, R.STRAIGHT_RUN),
        ("850712", "850712", None, R.BIRTH_DATE),
        ("120785", "120785", None, R.BIRTH_DATE),
        ("19850712", "19850712", None, R.BIRTH_DATE),
        ("12071985", "12071985", None, R.BIRTH_DATE),
        ("85071299", "85071299", None, R.BIRTH_DATE),
        ("482915", "482915", "482915", R.SAME_AS_OTHER_PIN),
        ("482915", "482915", "915482", None),
    ],
)
def test_rules(pin, confirmation, other, expected):
    assert (
        check_new_pin(pin, confirmation, personal_identity_number=PNR, other_new_pin=other)
        == expected
    )


def test_coordination_number_day_is_understood():
    assert "850712" in birth_date_forms("198507722389")  # day 72 = 12 + 60


@given(st.text("0123456789", min_size=6, max_size=8))
def test_accepted_pins_obey_every_rule(pin):
    if check_new_pin(pin, pin, personal_identity_number=PNR) is None:
        assert len(set(pin)) > 1
        assert "850712" not in pin and "19850712" not in pin
