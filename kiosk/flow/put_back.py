"""The card left while it was being unlocked: "put the card back", then settle what happened.

Pure, like the rest of the flow. When the card leaves (or stops answering)
after its PIN may have been reset, the kiosk does not know yet whether it was
unlocked. Rather than end the session, it keeps it for a short grace period
(``timeouts.put_back``) and asks for the card back. The unlock's own result may
still say the outcome is known (the card left before the reset was sent, or
after the new PIN verified); if not, a ResolveUnlock effect reads the PIN's
state from the card once it is back, and the unknown becomes unlocked or not
unlocked: on the screen, in an ``unlock-resolved`` report, and (by the card
work) at the card service. A result the holder can no longer read in the
reader stays on the screen for ``timeouts.result_shown`` seconds.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Protocol

from kiosk.flow import effects as fx
from kiosk.flow import events as ev
from kiosk.flow.model import Session
from kiosk.flow.reports import card_number, report
from kiosk.flow.states import Done, Failed, Idle, PutCardBack, State, Unlocking
from protocol.reasons import Outcome, Reason

Result = tuple[State, tuple[fx.Effect, ...]]


class _Timeouts(Protocol):
    """The two fields of :class:`kiosk.flow.machine.Timeouts` used here."""

    @property
    def put_back(self) -> float:
        """Seconds to wait for the card to come back."""
        ...

    @property
    def result_shown(self) -> float:
        """Seconds a result stays on screen once the card is out."""
        ...


def keeps_session(state: State) -> bool:
    """Whether the card leaving now keeps the session: what it did may yet be settled."""
    if isinstance(state, Unlocking | PutCardBack):
        return True
    return isinstance(state, Failed) and state.pending is not None and state.until is None


def card_out(state: State) -> bool:
    """Whether this is a result shown after the card already left."""
    return isinstance(state, Done | Failed) and state.until is not None


def card_left(state: State, session: Session, now: float, timeouts: _Timeouts) -> Result:
    """The card left mid-unlock (or after it stopped answering): ask for it back."""
    if isinstance(state, PutCardBack):
        return replace(state, card_in=False, checking=False), ()
    if isinstance(state, Failed):  # it had stopped answering; now it is out
        grace = PutCardBack(
            session, now + timeouts.put_back, state.pending, running=False, note=state.reason
        )
        return grace, ()
    return PutCardBack(session, now + timeouts.put_back), ()


def card_back(state: PutCardBack, session: Session, event: ev.CardInserted) -> Result:
    """A card went into the session's reader: look at it once there is something to ask."""
    if event.reader != session.reader:
        return state, ()
    return _check_when_ready(replace(state, card_in=True, note=None), session)


def _check_when_ready(state: PutCardBack, session: Session) -> Result:
    if not state.card_in or state.running or state.checking or state.pending is None:
        return state, ()
    check = fx.ResolveUnlock(
        session.session_id, session.reader, card_number(session), state.pending
    )
    return replace(state, checking=True), (check,)


def _until(state: PutCardBack, now: float, timeouts: _Timeouts) -> float | None:
    """A result waits for the card to be taken out, or, with the card out, for the clock."""
    return None if state.card_in else now + timeouts.result_shown


def on_event(
    state: PutCardBack, session: Session, event: ev.Event, now: float, timeouts: _Timeouts
) -> Result:
    """The unlock's own result, or the returned card's answer, while waiting for the card."""
    until = _until(state, now, timeouts)
    match event:
        case ev.UnlockFinished(mechanism=mechanism):
            done = report(
                fx.ReportKind.UNLOCK_SUCCEEDED,
                session,
                now,
                outcome=Outcome.UNLOCKED,
                mechanism=mechanism,
            )
            return Done(session, until), (done,)
        case ev.ServiceRefused(reason=reason):  # refused before any reset: nothing changed
            refused = report(
                fx.ReportKind.UNLOCK_FAILED,
                session,
                now,
                reason=reason,
                outcome=Outcome.NOT_UNLOCKED,
            )
            return Failed(session, reason, until=until), (refused,)
        case ev.UnlockFailed(pending=None) as failed:
            failed_report = report(
                fx.ReportKind.UNLOCK_FAILED,
                session,
                now,
                reason=failed.reason,
                outcome=failed.outcome,
                tries_left=failed.tries_left,
                mechanism=failed.mechanism,
            )
            shown = Failed(session, failed.reason, failed.tries_left, failed.outcome, until=until)
            return shown, (failed_report,)
        case ev.UnlockFailed(pending=pending) as failed:
            unknown = report(
                fx.ReportKind.UNLOCK_FAILED,
                session,
                now,
                reason=failed.reason,
                outcome=Outcome.UNKNOWN,
                mechanism=failed.mechanism,
            )
            waiting = replace(state, pending=pending, running=False, note=failed.reason)
            checked, effects = _check_when_ready(waiting, session)
            return checked, (unknown, *effects)
        case ev.UnlockResolved(outcome=Outcome.UNKNOWN, reason=reason):
            return replace(state, checking=False, note=reason), ()
        case ev.UnlockResolved() as resolved:
            return _settled(state, session, resolved, now, until)
    return state, ()


def _settled(
    state: PutCardBack,
    session: Session,
    resolved: ev.UnlockResolved,
    now: float,
    until: float | None,
) -> Result:
    """The card said what became of the unlock: show it, report it."""
    settled = report(
        fx.ReportKind.UNLOCK_RESOLVED,
        session,
        now,
        outcome=resolved.outcome,
        reason=resolved.reason,
        mechanism=resolved.mechanism,
    )
    if resolved.outcome is Outcome.UNLOCKED and resolved.reason is None:
        return Done(session, until), (settled,)
    reason = resolved.reason or (state.pending.reason if state.pending else Reason.CARD_REMOVED)
    return Failed(session, reason, None, resolved.outcome, until=until), (settled,)


def on_tick(state: State, session: Session, now: float, timeouts: _Timeouts) -> Result:
    """The grace period, or a result shown with the card out, running out."""
    if isinstance(state, PutCardBack):
        if now < state.deadline or state.checking:
            return state, ()
        # No card, or no answer from it, in time: the outcome stays unknown.
        reason = state.note or Reason.CARD_REMOVED
        effects: tuple[fx.Effect, ...] = ()
        if state.running:  # the unlock never said; say now what is known
            effects = (
                report(
                    fx.ReportKind.UNLOCK_FAILED,
                    session,
                    now,
                    reason=reason,
                    outcome=Outcome.UNKNOWN,
                ),
            )
        until = None if state.card_in else now + timeouts.result_shown
        return Failed(session, reason, None, Outcome.UNKNOWN, until=until), effects
    if isinstance(state, Done | Failed) and state.until is not None and now >= state.until:
        return end(state, session, now)
    return state, ()


def end(state: State, session: Session, now: float) -> Result:
    """The session is over (its result was shown with the card out)."""
    ended = report(fx.ReportKind.SESSION_ENDED, session, now, detail=type(state).__name__)
    return Idle(session.session_id), (ended,)
