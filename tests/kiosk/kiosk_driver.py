"""The kiosk's real parts driven one step at a time: the pure flow, the real card work
(:class:`kiosk.card_actions.PcscCardAccess` on pcscd), the real card service client.

What the controller does on threads, done here in order, so a test can pull the
card at an exact APDU and then feed the flow what the reader watcher would
(card removed, card inserted). The login's polling runs at once instead of
after its interval. A recording wrapper shows what the kiosk told the service.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from kiosk.card_actions import PcscCardAccess
from kiosk.cardservice_client import CardServiceClient
from kiosk.flow import effects as fx
from kiosk.flow import events as ev
from kiosk.flow.machine import FlowConfig, transition
from kiosk.flow.model import LoginInfo
from kiosk.flow.states import Done, Failed, Idle, State
from protocol.login_qr import QrAnimation
from protocol.reasons import Outcome, Reason
from tests.harness.cardservice import CardServiceHarness

UNLOCK_REPORTS = ("unlock-succeeded", "unlock-failed", "unlock-resolved")


class RecordingService:
    """The real card service client, remembering every outcome the kiosk reported."""

    def __init__(self, client: CardServiceClient) -> None:
        self.client = client
        self.outcomes: list[tuple[str, Outcome, Reason | None]] = []
        self.issued: list[str] = []

    def __getattr__(self, name: str) -> object:
        return getattr(self.client, name)

    def request_unlock(self, *args: object, **kwargs: object) -> object:
        credential = self.client.request_unlock(*args, **kwargs)
        self.issued.append(credential.unlock_id)
        return credential

    def report_outcome(self, unlock_id: str, result: Outcome, reason: Reason | None = None) -> None:
        self.outcomes.append((unlock_id, result, reason))
        self.client.report_outcome(unlock_id, result, reason)

    def last_told(self, unlock_id: str) -> Outcome | None:
        """The last outcome the kiosk reported for a credential."""
        told = [result for uid, result, _reason in self.outcomes if uid == unlock_id]
        return told[-1] if told else None


@dataclass
class KioskDriver:
    """One kiosk with one reader; ``person`` is the holder who logs in on the phone."""

    reader: str
    card: PcscCardAccess
    service: RecordingService
    cardservice: CardServiceHarness
    person: str
    state: State = field(default_factory=Idle)
    reports: list[fx.Report] = field(default_factory=list)
    seen: list[State] = field(default_factory=list)
    config: FlowConfig = field(default_factory=FlowConfig)

    def send(self, event: ev.Event) -> list[fx.Effect]:
        """Feed one event; keep the reports; the other effects are returned."""
        self.state, effects = transition(self.state, event, time.monotonic(), self.config)
        self.seen.append(self.state)
        self.reports.extend(e for e in effects if isinstance(e, fx.Report))
        return [e for e in effects if not isinstance(e, fx.Report)]

    def run(self, effects: list[fx.Effect], *, stop_at_unlock: bool = False) -> list[fx.Effect]:
        """Run effects and feed back their results; an unlock is left to the caller if asked."""
        pending = list(effects)
        while pending:
            effect = pending.pop(0)
            if stop_at_unlock and isinstance(effect, fx.UnlockWithService):
                return [effect, *pending]
            result = self._run_one(effect)
            if result is not None:
                pending.extend(self.send(result))
        return []

    def _run_one(self, effect: fx.Effect) -> ev.Event | None:
        match effect:
            case fx.ReadCard(session_id=sid, reader=reader):
                return self.card.read_card(sid, reader)
            case fx.StartLogin(session_id=sid, card_number=number):
                start = self.service.start_login(number)
                frame = QrAnimation(start.qr_prefix, start.qr_start_token, start.qr_start_secret)
                self.cardservice.scan_and_approve(frame.current(), self.person)
                info = LoginInfo(
                    start.order_ref,
                    start.qr_prefix,
                    start.qr_start_token,
                    start.qr_start_secret,
                    time.monotonic() + 180,
                    start.poll_interval,
                )
                return ev.LoginStarted(sid, info)
            case fx.PollLogin(session_id=sid, order_ref=ref):
                status = self.service.poll_login(ref)
                return ev.LoginUpdate(sid, status.status, status.hint_code)
            case fx.CancelLogin(order_ref=ref):
                self.service.cancel_login(ref)
                return None
            case fx.UnlockWithService():
                return self.card.unlock_with_service(effect, self.service, safety_margin=3)
            case fx.ResolveUnlock():
                return self.card.resolve_unlock(effect, self.service)
        raise AssertionError(f"unexpected effect {effect!r}")

    def to_unlock(self, new_pin: str) -> fx.UnlockWithService:
        """A fresh session on the card in the reader, up to the unlock (not run)."""
        if not isinstance(self.state, Idle):
            self.state = Idle(self.state.session.session_id)  # type: ignore[union-attr]
        self.run(self.send(ev.CardInserted(self.reader)))
        self.run(self.send(ev.StartMobileLogin()))
        self.send(ev.PinEntered(new_pin))
        (unlock,) = self.run(self.send(ev.PinEntered(new_pin)), stop_at_unlock=True)
        assert isinstance(unlock, fx.UnlockWithService), self.state
        return unlock

    def unlock(self, new_pin: str) -> State:
        """A whole unlock, undisturbed."""
        unlock = self.to_unlock(new_pin)
        self.run([unlock])
        return self.state

    def last_result(self) -> State | None:
        """The last result screen (done or failed) of the session."""
        return next((s for s in reversed(self.seen) if isinstance(s, Done | Failed)), None)

    def last_unlock_report(self) -> fx.Report | None:
        """The last report on how the unlock went."""
        return next((r for r in reversed(self.reports) if r.kind in UNLOCK_REPORTS), None)


def shown_outcome(state: State | None) -> Outcome | None:
    """What a result screen says became of the card."""
    if isinstance(state, Done):
        return Outcome.UNLOCKED
    if isinstance(state, Failed):
        return state.outcome
    return None
