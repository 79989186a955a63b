"""How the window turns states into frames: never a frame of a screen already out of date,
"Reading the card" only when a read takes a while, and the frame rate paced."""

from __future__ import annotations

import json

import pytest

from tests.kiosk.test_ui_unlock import kiosk_window, xvfb  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.ui, pytest.mark.pcsc]


def test_a_screen_overtaken_before_its_frame_is_never_drawn(kiosk_window):  # noqa: F811
    open_window, _holder = kiosk_window
    window = open_window()
    window.ask("wait Idle")
    window.ask("drawn Idle")
    # A card read quickly: "Reading the card" and the summary come back to back.
    window.ask("hand 03-reading-card 04-card-summary")
    shown = json.loads(window.ask("drawn CardSummary"))
    assert "ReadingCard" not in shown
    # Later states overtake earlier ones the same way, whichever they are.
    window.ask("hand 01-idle 02-out-of-service 01-idle 04-card-summary 11-done")
    shown = json.loads(window.ask("drawn Done"))
    assert set(shown) <= {"CardSummary", "Done"}


def test_a_slow_read_still_says_reading_the_card(kiosk_window):  # noqa: F811
    open_window, _holder = kiosk_window
    window = open_window()
    window.ask("wait Idle")
    window.ask("hand 03-reading-card")
    assert "ReadingCard" in json.loads(window.ask("drawn ReadingCard"))


def test_the_frame_rate_is_paced_and_a_new_screen_gets_full_speed(kiosk_window):  # noqa: F811
    from kiosk.ui.frame_pacing import ACTIVE_FPS

    open_window, _holder = kiosk_window
    window = open_window()
    window.ask("wait Idle")
    window.ask("hand 04-card-summary")
    window.ask("drawn CardSummary")
    assert window.ask("pacing") == f"True {float(ACTIVE_FPS)}"
