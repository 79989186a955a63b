"""Render every screen from example states into PNG files (docs/screenshots).

Run under a display (or Xvfb): ``python -m sim.gallery OUTDIR --size 800x480 --lang sv``.
The states come from the pure flow's types with made-up test data; no card or
network is needed. A developer tool: it lives in :mod:`sim`, not in the appliance.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

from kiosk.ui import kivy_setup


def example_states() -> list[tuple[str, object]]:
    """(file stem, state) for every screen."""
    from kiosk.flow.model import CardFacts, LoginInfo, PinFacts, Session
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
        Unlocking,
    )
    from kiosk.pin_policy import PinRejection
    from protocol.cardservice_values import HintCode
    from protocol.reasons import Outcome, Reason

    card = CardFacts(
        profile="siths",
        card_number="9752269885719985027",
        holder_name="Åsa Öberg",
        organisation="Region Skåne",
        valid_to=dt.date(2031, 3, 18),
        personal_identity_number="198507122389",
        pins=(
            PinFacts("Identification PIN", "identification", 0, True),
            PinFacts("Signature PIN", "signature", 3, False),
            PinFacts("PUK", "puk", 10, False),
        ),
    )
    session = Session(1, "Reader", time.monotonic(), card)
    login = LoginInfo(
        "o",
        "mobiltsiths",
        "0f3c2a9e-6b1d-4c55-9e0a-5d2f1b7c8e43",
        "secret",
        time.monotonic() + 161,
        2.0,
    )
    far = time.monotonic() + 1000
    return [
        ("01-idle", Idle()),
        ("02-out-of-service", OutOfService((Reason.CARD_SERVICE_DOWN,))),
        ("03-reading-card", ReadingCard(session, far)),
        ("04-card-summary", CardSummary(session, None, far)),
        ("05-card-needs-administrator", CardSummary(session, Reason.PUK_MARGIN, far)),
        ("06-login-qr", LoginQr(session, login, HintCode.USER_SIGN, login.expires_at)),
        ("07-new-pin", NewPin(session, ("Identification PIN",), far, order_ref="o")),
        (
            "08-new-pin-refused",
            NewPin(
                session, ("Identification PIN",), far, order_ref="o", error=PinRejection.BIRTH_DATE
            ),
        ),
        ("09-puk-entry", PukEntry(session, far)),
        ("10-unlocking", Unlocking(session, far)),
        ("11-done", Done(session)),
        ("12-failed", Failed(session, Reason.WRONG_PUK, 7)),
        (
            "13-failed-outcome-unknown",
            Failed(session, Reason.CARD_REMOVED, None, Outcome.UNKNOWN),
        ),
        ("14-partly-unlocked", Failed(session, Reason.PARTLY_UNLOCKED, None, Outcome.UNLOCKED)),
        ("15-put-card-back", PutCardBack(session, far)),
        ("16-put-card-back-other-card", PutCardBack(session, far, note=Reason.OTHER_CARD)),
        (
            "17-card-not-answering",
            Failed(session, Reason.CARD_NOT_ANSWERING, None, Outcome.UNKNOWN),
        ),
    ]


def overflowing_labels(root: object) -> list[str]:
    """Labels whose rendered text does not fit their box (would be cut off on screen)."""
    from kivy.uix.label import Label

    found = []
    for widget in root.walk():  # type: ignore[attr-defined]
        if isinstance(widget, Label) and widget.text:
            widget.texture_update()
            text_width, text_height = widget.texture_size
            if text_width > widget.width + 1 or text_height > widget.height + 1:
                found.append(
                    f"{widget.text[:40]!r} needs {text_width}x{text_height},"
                    f" has {int(widget.width)}x{int(widget.height)}"
                )
    return found


def save_screenshot(path: Path) -> Path:
    """The window's real framebuffer as PNG at ``path`` (main thread only)."""
    from kivy.core.window import Window

    saved = Window.screenshot(name=str(path.with_name("shot.png")))
    Path(saved).replace(path)
    return path


def main(argv: list[str] | None = None) -> int:
    """Render the gallery and exit."""
    parser = argparse.ArgumentParser(prog="python -m sim.gallery")
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--size", default="800x480")
    parser.add_argument("--lang", default="sv", choices=("sv", "en"))
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.split("x"))
    kivy_setup.configure(fullscreen=False, size=(width, height))
    from kivy.clock import Clock

    from kiosk.flow.states import Idle
    from kiosk.ui.app import KioskApp

    args.outdir.mkdir(parents=True, exist_ok=True)
    states = example_states()

    problems: list[str] = []

    def step(app: KioskApp, index: int) -> None:
        if index > 0:
            stem = states[index - 1][0]
            save_screenshot(args.outdir / f"{stem}-{args.lang}-{args.size}.png")
            problems.extend(f"{stem}: {p}" for p in overflowing_labels(app.root))
        if index == len(states):
            app.stop()
            return
        app.show(states[index][1])
        Clock.schedule_once(lambda _dt: step(app, index + 1), 0.3)

    app = KioskApp(
        initial=Idle(),
        send=lambda _event: None,
        language=args.lang,
        on_started=lambda app: step(app, 0),
    )
    app.run()
    for problem in problems:
        print(f"cut off: {problem}", flush=True)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
