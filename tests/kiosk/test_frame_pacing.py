"""When the screen runs at full speed and when it rests (the decision; the UI tests run it)."""

from __future__ import annotations

from kiosk.ui.frame_pacing import ACTIVE_FPS, HOLD_SECONDS, IDLE_FPS, wanted_fps


def test_a_still_screen_nobody_touches_rests():
    assert wanted_fps(now=100.0, active_until=0.0, animating=False) == IDLE_FPS


def test_a_touch_or_a_new_screen_gives_full_speed_for_a_while():
    touched = 100.0
    until = touched + HOLD_SECONDS
    assert wanted_fps(now=touched, active_until=until, animating=False) == ACTIVE_FPS
    assert wanted_fps(now=until - 0.01, active_until=until, animating=False) == ACTIVE_FPS
    assert wanted_fps(now=until, active_until=until, animating=False) == IDLE_FPS


def test_the_qr_gets_full_speed_for_as_long_as_it_is_on_the_screen():
    assert wanted_fps(now=1e6, active_until=0.0, animating=True) == ACTIVE_FPS


def test_resting_is_slower_than_working():
    assert IDLE_FPS < ACTIVE_FPS
