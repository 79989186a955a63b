"""The Kivy application: a top bar (title, language), and the view of the flow's state.

State changes arrive from the controller's thread; the newest one waits in
``_pending`` and a Clock trigger (which wakes Kivy's loop at once, see
:mod:`kiosk.ui.frame_pacing`) shows it on the main thread, where alone widgets
are touched. Only the newest state is drawn: a state that was overtaken before
its frame is never shown. "Reading the card" waits :data:`SHOW_READING_AFTER`
before it is drawn, so a card read in less time goes straight to its summary.
The window refuses to close, Escape does nothing and there is no settings
panel: a passer-by cannot leave the kiosk program.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from kivy.app import App
from kivy.clock import Clock
from kivy.core.window import Window
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.button import Button
from kivy.uix.label import Label
from kivy.uix.widget import Widget

from kiosk.flow import events as ev
from kiosk.flow.states import LoginQr, ReadingCard, State
from kiosk.ui import style, views
from kiosk.ui.frame_pacing import FramePacer
from kiosk.ui.i18n import LANGUAGES, text
from kiosk.ui.keypad import Keypad
from kiosk.ui.screen_memory import ScreenCollector, freeze_what_lives

#: How long a card read may take before "Reading the card" is drawn (a fast read shows
#: its summary at once, with no frame of a screen that is already out of date).
SHOW_READING_AFTER = 0.15


class KioskApp(App):
    """The kiosk's screen."""

    use_kivy_settings = False

    def __init__(
        self,
        *,
        initial: State,
        send: Callable[[ev.Event], None],
        language: str = "sv",
        scrambled: bool = False,
        on_started: Callable[[KioskApp], None] | None = None,
        closable: bool = False,
    ) -> None:
        super().__init__()
        self.closable = closable
        self.state = initial
        self.send = send
        self.language = language
        self.scrambled = scrambled
        self.on_started = on_started
        self.view: Widget | None = None
        self.title = text(language, "app.title")
        self.pacer: FramePacer | None = None
        self.collector: ScreenCollector | None = None
        self._pending: tuple[State, float] | None = None  # newest state not yet shown, arrival
        self._pending_lock = threading.Lock()
        self._show_pending = Clock.create_trigger(self._show_newest, 0)

    # -- Kivy -----------------------------------------------------------------------

    def build(self) -> Widget:
        """The window's widget tree."""
        freeze_what_lives()
        self.collector = ScreenCollector()
        Window.clearcolor = style.BACKGROUND
        # True = "handled": the close is refused (only the demo's window may be closed).
        Window.bind(on_request_close=lambda *_args, **_kw: not self.closable)
        self.pacer = FramePacer()
        for touch_event in ("on_touch_down", "on_touch_move", "on_touch_up", "on_key_down"):
            Window.bind(**{touch_event: self._someone_is_here})
        root = BoxLayout(orientation="vertical")
        bar = BoxLayout(
            orientation="horizontal", size_hint_y=None, height="52dp", padding=("12dp", "4dp")
        )
        self.bar_title = Label(
            text=text(self.language, "app.title"),
            font_size="20sp",
            color=style.MUTED,
            halign="left",
            valign="middle",
        )
        self.bar_title.bind(size=lambda w, s: setattr(w, "text_size", s))
        bar.add_widget(self.bar_title)
        self.language_button = Button(
            text=text(self.language, "app.language"),
            size_hint_x=None,
            width="150dp",
            font_size="18sp",
            background_normal="",
            background_color=style.PANEL,
        )
        self.language_button.name = "language"
        self.language_button.bind(on_release=lambda _b: self.toggle_language())
        bar.add_widget(self.language_button)
        root.add_widget(bar)
        self.content = BoxLayout()
        root.add_widget(self.content)
        self._render()
        if self.on_started is not None:
            Clock.schedule_once(lambda _dt: self.on_started(self), 0)
        return root

    def open_settings(self, *_args: object) -> bool:
        """No settings panel on a kiosk."""
        return False

    # -- state ----------------------------------------------------------------------

    def state_changed(self, state: State) -> None:
        """From any thread: show a new state on the main thread (the newest one wins)."""
        with self._pending_lock:
            self._pending = (state, time.monotonic())
        self._show_pending()

    def _show_newest(self, _dt: float = 0.0) -> None:
        with self._pending_lock:
            if self._pending is None:
                return
            state, arrived = self._pending
            wait = arrived + SHOW_READING_AFTER - time.monotonic()
            if isinstance(state, ReadingCard) and wait > 0:
                Clock.schedule_once(self._show_newest, wait)  # unless a newer state comes first
                return
            self._pending = None
        self.show(state)

    def show(self, state: State) -> None:
        """Main thread: render ``state`` (the QR view only updates its hint)."""
        previous, self.state = self.state, state
        if state == previous and self.view is not None:
            return  # the same screen (e.g. a repeated health report): nothing to draw
        if (
            isinstance(previous, LoginQr)
            and isinstance(state, LoginQr)
            and previous.login == state.login
            and isinstance(self.view, views.QrView)
        ):
            self.view.update(state)
            return
        self._render()

    def toggle_language(self) -> None:
        """Swedish <-> English."""
        self.language = LANGUAGES[(LANGUAGES.index(self.language) + 1) % len(LANGUAGES)]
        self.bar_title.text = text(self.language, "app.title")
        self.language_button.text = text(self.language, "app.language")
        self._render()

    def _render(self) -> None:
        if isinstance(self.view, views.QrView):
            self.view.close()
        if self.view is not None:
            for widget in self.view.walk():
                if isinstance(widget, Keypad):
                    widget.clear()  # digits typed on a screen that is going away are dropped
        self.content.clear_widgets()
        self.view = views.build(self.state, self.language, self.send, scrambled=self.scrambled)
        self.content.add_widget(self.view)
        if self.pacer is not None:
            self.pacer.animating(isinstance(self.view, views.QrView))
            self.pacer.wake()
        if self.collector is not None:
            self.collector.screen_changed()

    def _someone_is_here(self, *_args: object) -> None:
        """A touch or a key: full speed for a while (returns None: the touch goes on as usual)."""
        if self.pacer is not None:
            self.pacer.wake()

    # -- for tests and the scripted demo -------------------------------------------------

    def find(self, name: str) -> Widget | None:
        """The widget with ``name`` in the current view."""
        if self.root is None:
            return None
        for widget in self.root.walk():
            if getattr(widget, "name", None) == name:
                return widget
        return None
