"""The flow test driver: feeds events through the pure machine and keeps every effect.

Shared by the flow's tests; the card facts, login and secrets here are test data.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from kiosk.flow import events as ev
from kiosk.flow.machine import FlowConfig, transition
from kiosk.flow.model import CardFacts, LoginInfo, PinFacts
from kiosk.flow.states import Idle

CONFIG = FlowConfig()
READER = "Reader 0"
PNR = "198507122389"
SECRET_PINS = ("48291573", "59302684")
PUK = "12345678"


def card(*, ident_blocked=True, sign_blocked=False, puk_left=10, problems=(), profile="siths"):
    return CardFacts(
        profile=profile,
        card_number="9752269885719985027",
        holder_name="Anna Andersson",
        organisation="Region Test",
        valid_to=dt.date(2031, 11, 20),
        personal_identity_number=PNR,
        pins=(
            PinFacts(
                "Identification PIN", "identification", 0 if ident_blocked else 3, ident_blocked
            ),
            PinFacts("Signature PIN", "signature", 0 if sign_blocked else 3, sign_blocked),
            PinFacts("PUK", "puk", puk_left, puk_left == 0),
        ),
        problems=problems,
    )


LOGIN = LoginInfo("order-1", "mobiltsiths", "token", "secret", expires_at=180.0, poll_interval=2.0)


class Driver:
    """Feeds events through the machine, keeping time and all effects."""

    def __init__(self, state=None, now=0.0):
        self.state = state or Idle()
        self.now = now
        self.effects: list = []

    def send(self, event, *, at=None):
        if at is not None:
            self.now = at
        self.state, effects = transition(self.state, event, self.now, CONFIG)
        self.effects.extend(effects)
        return effects

    @property
    def sid(self):
        return self.state.session.session_id


def to_summary(facts=None) -> Driver:
    d = Driver()
    d.send(ev.CardInserted(READER))
    d.send(ev.CardRead(d.sid, facts or card()))
    return d


def to_qr(facts=None) -> Driver:
    d = to_summary(facts)
    d.send(ev.StartMobileLogin())
    d.send(ev.LoginStarted(d.sid, LOGIN))
    return d


def to_new_pin(facts=None, typed_first=False) -> Driver:
    d = to_qr(facts)
    d.send(ev.LoginUpdate(d.sid, "complete", None))
    if typed_first:
        d.send(ev.PinEntered(SECRET_PINS[0]))
    return d


def to_puk_new_pin() -> Driver:
    d = to_summary()
    d.send(ev.StartPukPath())
    d.send(ev.PinEntered(PUK))
    return d


def to_unlocking() -> Driver:
    d = to_new_pin()
    d.send(ev.PinEntered(SECRET_PINS[0]))
    d.send(ev.PinEntered(SECRET_PINS[0]))
    return d


def has_secret(obj) -> bool:
    """Whether any PIN or the PUK is reachable from a state."""
    text = repr(obj)
    if any(s in text for s in (*SECRET_PINS, PUK)):
        return True
    if dataclasses.is_dataclass(obj):
        return any(has_secret(getattr(obj, f.name)) for f in dataclasses.fields(obj))
    if isinstance(obj, tuple):
        return any(has_secret(item) for item in obj)
    return isinstance(obj, str) and obj in (*SECRET_PINS, PUK)
