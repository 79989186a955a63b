"""A PIN keypad with a masked display; the digits never leave it until OK."""

from __future__ import annotations

import random
from collections.abc import Callable

from kivy.uix.boxlayout import BoxLayout
from kivy.uix.button import Button
from kivy.uix.gridlayout import GridLayout
from kivy.uix.label import Label

from kiosk.ui import style

MAX_DIGITS = 8


class Keypad(BoxLayout):
    """Digits 0-9 (optionally scrambled), erase and OK; shows one dot per digit."""

    def __init__(
        self,
        on_ok: Callable[[str], None],
        *,
        ok_text: str,
        erase_text: str,
        scrambled: bool = False,
        max_digits: int = MAX_DIGITS,
        **kwargs: object,
    ) -> None:
        super().__init__(orientation="vertical", spacing=style.GAP, **kwargs)
        self._on_ok = on_ok
        self._digits: list[str] = []
        self.max_digits = max_digits
        self.display = Label(
            text="", font_size=style.TITLE_SIZE, size_hint_y=0.18, color=style.TEXT
        )
        self.add_widget(self.display)
        grid = GridLayout(cols=3, spacing=style.GAP)
        order = list("1234567890")
        if scrambled:
            random.SystemRandom().shuffle(order)
        keys = [*order[:9], "erase", order[9], "ok"]
        self.buttons: dict[str, Button] = {}
        for key in keys:
            label = {"erase": erase_text, "ok": ok_text}.get(key, key)
            button = Button(
                text=label,
                font_size=style.KEY_SIZE,
                background_normal="",
                background_color=style.PRIMARY if key == "ok" else style.KEY,
                color=style.TEXT,
            )
            button.bind(on_release=lambda _b, key=key: self.press(key))
            self.buttons[key] = button
            grid.add_widget(button)
        self.add_widget(grid)

    def press(self, key: str) -> None:
        """A key was tapped."""
        if key == "erase":
            if self._digits:
                self._digits.pop()
        elif key == "ok":
            value = "".join(self._digits)
            self.clear()
            self._on_ok(value)
            return
        elif len(self._digits) < self.max_digits:
            self._digits.append(key)
        self.display.text = "\u25cf " * len(self._digits)

    def clear(self) -> None:
        """Forget what was typed."""
        self._digits.clear()
        self.display.text = ""
