"""The Kivy application: a top bar (title, language), and the view of the flow's state.

State changes arrive from the controller's thread and are handed to Kivy's
main thread with ``Clock.schedule_once``; widgets are only touched there.
The window refuses to close, Escape does nothing and there is no settings
panel: a passer-by cannot leave the kiosk program.
"""

from __future__ import annotations

from collections.abc import Callable

from kivy.app import App
from kivy.clock import Clock
from kivy.core.window import Window
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.button import Button
from kivy.uix.label import Label
from kivy.uix.widget import Widget

from kiosk.flow import events as ev
from kiosk.flow.states import LoginQr, State
from kiosk.ui import style, views
from kiosk.ui.i18n import LANGUAGES, text
from kiosk.ui.keypad import Keypad


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

    # -- Kivy -----------------------------------------------------------------------

    def build(self) -> Widget:
        """The window's widget tree."""
        Window.clearcolor = style.BACKGROUND
        # True = "handled": the close is refused (only the demo's window may be closed).
        Window.bind(on_request_close=lambda *_args, **_kw: not self.closable)
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
        """From any thread: show a new state on the main thread."""
        Clock.schedule_once(lambda _dt: self.show(state), 0)

    def show(self, state: State) -> None:
        """Main thread: render ``state`` (the QR view only updates its hint)."""
        previous, self.state = self.state, state
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

    # -- for tests and the scripted demo -------------------------------------------------

    def find(self, name: str) -> Widget | None:
        """The widget with ``name`` in the current view."""
        if self.root is None:
            return None
        for widget in self.root.walk():
            if getattr(widget, "name", None) == name:
                return widget
        return None
