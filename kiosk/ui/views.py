"""One view per flow state: state in, widgets out. No hardware, no network.

Buttons call ``send(event)``; the app forwards that to the controller. Every
actionable widget gets a ``name`` so tests (and people reading the code) can
find it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from kivy.clock import Clock
from kivy.uix.anchorlayout import AnchorLayout
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.button import Button
from kivy.uix.label import Label
from kivy.uix.widget import Widget

from kiosk.flow import events as ev
from kiosk.flow.states import (
    CardSummary,
    Done,
    Failed,
    Idle,
    LoginQr,
    NewPin,
    OutOfService,
    PukEntry,
    PutCardBack,
    ReadingCard,
    StartingLogin,
    State,
    Unlocking,
)
from kiosk.ui import style
from kiosk.ui.i18n import text
from kiosk.ui.keypad import Keypad
from kiosk.ui.qr_widget import QrWidget
from protocol.card_rules import PIN_MAX_LENGTH, PUK_LENGTH
from protocol.login_qr import QrAnimation
from protocol.reasons import Outcome

Send = Callable[[ev.Event], None]

#: The failure screen's title says what is known of the card, not only that it failed.
FAILED_TITLES = {
    Outcome.NOT_UNLOCKED: "failed.title",
    Outcome.UNKNOWN: "failed.title_unknown",
    Outcome.UNLOCKED: "failed.title_partly",
}


def label(
    value: str, size: str = style.BODY_SIZE, color: tuple = style.TEXT, **kw: object
) -> Label:
    """A wrapping label that sizes itself to its text."""
    widget = Label(text=value, font_size=size, color=color, halign="center", valign="middle", **kw)
    widget.bind(size=lambda w, s: setattr(w, "text_size", (s[0], None)))
    return widget


def button(value: str, name: str, on_press: Callable[[], None], *, primary: bool = False) -> Button:
    """A large touch target."""
    widget = Button(
        text=value,
        font_size=style.BUTTON_SIZE,
        size_hint_y=None,
        height=style.BUTTON_HEIGHT,
        background_normal="",
        background_color=style.PRIMARY if primary else style.SECONDARY,
        color=style.TEXT,
    )
    widget.name = name
    widget.bind(on_release=lambda _w: on_press())
    return widget


def _page(title: str, *children: Widget) -> BoxLayout:
    page = BoxLayout(orientation="vertical", padding=style.PADDING, spacing=style.GAP)
    page.add_widget(label(title, style.TITLE_SIZE, size_hint_y=0.22, bold=True))
    for child in children:
        page.add_widget(child)
    return page


def _message(lang: str, title_key: str, body: str, extra: Widget | None = None) -> BoxLayout:
    children: list[Widget] = [label(body)]
    if extra is not None:
        children.append(extra)
    return _page(text(lang, title_key), *children)


def _reason(lang: str, reason: str, tries: int | None = None) -> str:
    return text(lang, f"reason.{reason}", tries=tries)


def pin_name(lang: str, state: State, name: str) -> str:
    """A PIN's name in the holder's language (by its role), else as the card labels it."""
    session = getattr(state, "session", None)
    card = session.card if session else None
    role = next((p.role for p in card.pins if p.name == name), None) if card else None
    return text(lang, f"pinname.{role}") if role in ("identification", "signature") else name


def _summary(state: CardSummary, lang: str, send: Send) -> BoxLayout:
    card = state.session.card
    page = BoxLayout(orientation="horizontal", padding=style.PADDING, spacing=style.GAP)
    facts_column = BoxLayout(orientation="vertical", spacing="4dp", size_hint_x=0.55)
    facts_column.add_widget(label(text(lang, "summary.title"), style.TITLE_SIZE, bold=True))
    if card is not None:
        facts = [
            (text(lang, "summary.card_number"), card.card_number or "?"),
            (text(lang, "summary.holder"), card.holder_name or "?"),
            (text(lang, "summary.organisation"), card.organisation or "?"),
            (text(lang, "summary.valid_to"), card.valid_to.isoformat() if card.valid_to else "?"),
        ]
        for name, value in facts:
            facts_column.add_widget(label(f"{name}: {value}", style.SMALL_SIZE, color=style.MUTED))
        for pin in card.pins:
            if pin.role == "puk":
                continue
            shown = pin_name(lang, state, pin.name)
            if pin.blocked:
                line = text(lang, "summary.pin_blocked", name=shown)
            elif pin.tries_left is None:
                line = text(lang, "summary.pin_ok_unknown", name=shown)
            else:
                line = text(lang, "summary.pin_ok", name=shown, tries=pin.tries_left)
            color = style.WARNING_TEXT if pin.blocked else style.TEXT
            facts_column.add_widget(label(line, style.SMALL_SIZE, color=color, bold=pin.blocked))
    page.add_widget(facts_column)
    actions = BoxLayout(orientation="vertical", spacing=style.GAP)
    if state.verdict is None:
        actions.add_widget(Widget())
        actions.add_widget(
            button(
                text(lang, "summary.unlock_mobile"),
                "unlock_mobile",
                lambda: send(ev.StartMobileLogin()),
                primary=True,
            )
        )
        actions.add_widget(
            button(text(lang, "summary.unlock_puk"), "unlock_puk", lambda: send(ev.StartPukPath()))
        )
        actions.add_widget(button(text(lang, "common.cancel"), "cancel", lambda: send(ev.Cancel())))
    else:
        actions.add_widget(label(_reason(lang, state.verdict), color=style.WARNING_TEXT, bold=True))
        actions.add_widget(label(text(lang, "common.remove_card")))
    page.add_widget(actions)
    return page


#: The QR's tick lands this long after a second begins (Kivy may run an event a little early).
QR_TICK_MARGIN = 0.005


class QrView(BoxLayout):
    """The QR screen: redraws the QR every second and counts down."""

    def __init__(self, state: LoginQr, lang: str, send: Send, **kwargs: object) -> None:
        super().__init__(
            orientation="horizontal", padding=style.PADDING, spacing=style.GAP, **kwargs
        )
        login = state.login
        self.animation = QrAnimation(login.qr_prefix, login.qr_start_token, login.qr_start_secret)
        self.expires_at = login.expires_at
        self.lang = lang
        self.qr = QrWidget(size_hint_x=0.5)
        self.qr.name = "qr"
        self.add_widget(self.qr)
        side = BoxLayout(orientation="vertical", spacing=style.GAP)
        side.add_widget(label(text(lang, "qr.title"), style.TITLE_SIZE, bold=True))
        side.add_widget(label(text(lang, "qr.body")))
        self.hint = label(
            text(lang, f"hint.{state.hint}") if state.hint else "", color=style.WARNING_TEXT
        )
        side.add_widget(self.hint)
        self.countdown = label("", color=style.MUTED)
        side.add_widget(self.countdown)
        side.add_widget(button(text(lang, "common.cancel"), "cancel", lambda: send(ev.Cancel())))
        self.add_widget(side)
        self._event = None
        self._next_second()

    def tick(self) -> None:
        """Redraw the current frame and the time left."""
        self.qr.show(self.animation.current())
        left = max(0, int(self.expires_at - time.monotonic()))
        self.countdown.text = text(self.lang, "qr.time_left", minutes=left // 60, seconds=left % 60)

    def _next_second(self) -> None:
        """Tick now, and again just after the next whole second of the login.

        A fixed 1 s interval drifts and would now and then skip a second's frame.
        """
        self.tick()
        into_second = (time.monotonic() - self.animation.started) % 1.0
        self._event = Clock.schedule_once(
            lambda _dt: self._next_second(), 1.0 - into_second + QR_TICK_MARGIN
        )

    def update(self, state: LoginQr) -> None:
        """A new hint from the poll."""
        self.hint.text = text(self.lang, f"hint.{state.hint}") if state.hint else ""

    def close(self) -> None:
        """Stop redrawing."""
        if self._event is not None:
            self._event.cancel()


def _keypad_page(
    title: str,
    note: str,
    error: str | None,
    send: Send,
    lang: str,
    scrambled: bool,
    max_digits: int,
) -> BoxLayout:
    page = BoxLayout(orientation="horizontal", padding=style.PADDING, spacing=style.GAP)
    info = BoxLayout(orientation="vertical", spacing=style.GAP, size_hint_x=0.45)
    info.add_widget(label(title, style.SUBTITLE_SIZE, bold=True))
    info.add_widget(label(note, color=style.MUTED))
    info.add_widget(label(error or "", color=style.WARNING_TEXT, bold=True))
    info.add_widget(button(text(lang, "common.cancel"), "cancel", lambda: send(ev.Cancel())))
    page.add_widget(info)
    keypad = Keypad(
        lambda value: send(ev.PinEntered(value)),
        ok_text=text(lang, "pin.ok"),
        erase_text=text(lang, "pin.erase"),
        scrambled=scrambled,
        max_digits=max_digits,
    )
    keypad.name = "keypad"
    page.add_widget(keypad)
    return page


def _card_out(key: str, until: float | None) -> str:
    """The variant of a result's words for a card that is already out of the reader."""
    return key if until is None else f"{key}_card_out"


def _put_back_body(state: PutCardBack, lang: str) -> str:
    """Put the card back; or it is being checked; or what the last look at it found."""
    if state.checking:
        return text(lang, "putback.checking")
    body = text(lang, "putback.body")
    if state.note is not None and state.note != "card-removed":
        body = f"{_reason(lang, state.note)}\n\n{body}"
    return body


def build(state: State, lang: str, send: Send, *, scrambled: bool = False) -> Widget:
    """The view for a state."""
    match state:
        case Idle():
            return _message(lang, "idle.title", text(lang, "idle.body"))
        case OutOfService(reasons=reasons):
            lines = [text(lang, f"reason.{r}") for r in reasons] + [text(lang, "oos.body")]
            return _message(lang, "oos.title", "\n".join(lines))
        case ReadingCard():
            return _message(lang, "reading.title", text(lang, "reading.body"))
        case CardSummary():
            return _summary(state, lang, send)
        case StartingLogin():
            return _message(lang, "qr.title", text(lang, "hint.started"))
        case LoginQr():
            return QrView(state, lang, send)
        case PukEntry(error=error):
            return _keypad_page(
                text(lang, "puk.title"),
                text(lang, "puk.body"),
                text(lang, f"reason.{error}") if error else None,
                send,
                lang,
                scrambled,
                PUK_LENGTH,
            )
        case NewPin():
            title = (
                text(lang, "pin.confirm")
                if state.confirming
                else text(lang, "pin.title", name=pin_name(lang, state, state.current_target))
            )
            error = text(lang, f"pin.error.{state.error.value}") if state.error else None
            return _keypad_page(
                title, text(lang, "pin.rules"), error, send, lang, scrambled, PIN_MAX_LENGTH
            )
        case Unlocking():
            return _message(lang, "unlocking.title", text(lang, "unlocking.body"))
        case PutCardBack():
            return _message(lang, "putback.title", _put_back_body(state, lang))
        case Done(until=until):
            return _message(lang, "done.title", text(lang, _card_out("done.body", until)))
        case Failed(reason=reason, tries_left=tries, outcome=outcome, until=until):
            body = _reason(lang, reason, tries)
            if until is None:
                body += f"\n\n{text(lang, 'common.remove_card')}"
            return _message(lang, FAILED_TITLES[outcome], body)
    return AnchorLayout()
