"""Colours and sizes: high contrast and large touch targets for 800x480 and up."""

from __future__ import annotations

BACKGROUND = (0.04, 0.12, 0.27, 1)  # deep blue
PANEL = (0.08, 0.2, 0.4, 1)
TEXT = (1, 1, 1, 1)
MUTED = (0.82, 0.88, 0.96, 1)
PRIMARY = (0.0, 0.55, 0.3, 1)  # green: the way forward
SECONDARY = (0.2, 0.35, 0.6, 1)
KEY = (0.16, 0.3, 0.52, 1)
DANGER = (0.72, 0.16, 0.16, 1)
WARNING_TEXT = (1, 0.85, 0.4, 1)

TITLE_SIZE = "30sp"
SUBTITLE_SIZE = "24sp"
BODY_SIZE = "20sp"
SMALL_SIZE = "18sp"
BUTTON_SIZE = "22sp"
KEY_SIZE = "28sp"
GAP = "8dp"
PADDING = "16dp"
BUTTON_HEIGHT = "72dp"
