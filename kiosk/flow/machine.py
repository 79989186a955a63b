"""The transition function: (state, event, now) -> (state, effects). Pure."""

from __future__ import annotations

from dataclasses import dataclass, replace

from kiosk.flow import effects as fx
from kiosk.flow import events as ev
from kiosk.flow import put_back
from kiosk.flow.model import CardFacts, Session
from kiosk.flow.reports import card_number as _card_number
from kiosk.flow.reports import report as _report
from kiosk.flow.states import (
    ACTIVE,
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
from kiosk.pin_policy import check_new_pin
from protocol.card_rules import PUK_SAFETY_MARGIN, is_puk_format
from protocol.cardservice_values import HintCode, LoginStatusValue
from protocol.reasons import Outcome, Reason, UnlockMechanism, login_failure_reason


@dataclass(frozen=True)
class Timeouts:
    """Seconds each waiting screen waits; the names are the keys of ``[timeouts]`` in kiosk.toml."""

    read: float = 20.0
    summary: float = 90.0
    service: float = 30.0
    pin: float = 90.0
    unlock: float = 90.0
    session_ceiling: float = 600.0
    #: The card left mid-unlock: how long "put the card back" waits for it.
    put_back: float = 30.0
    #: A result shown after the card already left stays this long.
    result_shown: float = 10.0


@dataclass(frozen=True)
class FlowConfig:
    """Timeouts and the PUK safety margin."""

    timeouts: Timeouts = Timeouts()
    puk_margin: int = PUK_SAFETY_MARGIN


Result = tuple[State, tuple[fx.Effect, ...]]


def assess(card: CardFacts, config: FlowConfig) -> Reason | None:
    """``None`` if the card can be unlocked here, else why not (for the summary)."""
    if card.problems:
        return card.problems[0]
    if card.profile != "siths":
        return Reason.NOT_SITHS
    if not card.card_number:
        return Reason.NO_CARD_NUMBER
    if not card.blocked_pins:
        return Reason.NOT_BLOCKED
    puk = card.puk
    if puk is not None and puk.blocked:
        return Reason.PUK_BLOCKED
    if puk is not None and puk.tries_left is not None and puk.tries_left <= config.puk_margin:
        return Reason.PUK_MARGIN
    return None


def _cancel_login(state: State) -> tuple[fx.Effect, ...]:
    if isinstance(state, LoginQr):
        return (fx.CancelLogin(state.login.order_ref),)
    if isinstance(state, NewPin) and state.order_ref is not None:
        return (fx.CancelLogin(state.order_ref),)
    return ()


def _fail(
    state: State,
    session: Session,
    now: float,
    reason: Reason,
    tries: int | None = None,
    outcome: Outcome = Outcome.NOT_UNLOCKED,
    mechanism: UnlockMechanism | None = None,
) -> Result:
    return Failed(session, reason, tries, outcome), (
        *_cancel_login(state),
        _report(
            fx.ReportKind.UNLOCK_FAILED,
            session,
            now,
            reason=reason,
            outcome=outcome,
            tries_left=tries,
            mechanism=mechanism,
        ),
    )


def _health_reasons(event: ev.ServiceHealth) -> tuple[Reason, ...]:
    reasons = []
    if not event.reader_present:
        reasons.append(Reason.NO_READER)
    if not event.provisioned:
        reasons.append(Reason.NOT_PROVISIONED)
    if not event.card_service_up:
        reasons.append(Reason.CARD_SERVICE_DOWN)
    if event.maintenance:
        reasons.append(Reason.KIOSK_MAINTENANCE)
    return tuple(reasons)


def transition(state: State, event: ev.Event, now: float, config: FlowConfig) -> Result:
    """The next state and the effects to run, for one event at monotonic time ``now``."""
    # Service health: decides between Idle and OutOfService; never breaks a session.
    if isinstance(event, ev.ServiceHealth):
        reasons = _health_reasons(event)
        if isinstance(state, Idle | OutOfService):
            if reasons:
                changed = not isinstance(state, OutOfService) or state.reasons != reasons
                report = fx.Report(
                    fx.ReportKind.OUT_OF_SERVICE, reason=reasons[0], detail=",".join(reasons)
                )
                return OutOfService(reasons, state.last_session), (report,) if changed else ()
            if isinstance(state, OutOfService):
                return Idle(state.last_session), (fx.Report(fx.ReportKind.BACK_IN_SERVICE),)
        return state, ()

    session = getattr(state, "session", None)

    # Card removal ends any session at once (and with it any PIN or PUK held), unless
    # the card was being unlocked: then it is asked back, to settle what happened.
    if isinstance(event, ev.CardRemoved):
        if session is None or event.reader != session.reader:
            return state, ()
        if put_back.keeps_session(state):
            return put_back.card_left(state, session, now, config.timeouts)
        return Idle(session.session_id), (
            *_cancel_login(state),
            _report(fx.ReportKind.SESSION_ENDED, session, now, detail=type(state).__name__),
        )

    if isinstance(event, ev.CardInserted):
        if isinstance(state, PutCardBack) and session is not None:
            return put_back.card_back(state, session, event)
        if put_back.card_out(state) and session is not None:
            ended, effects = put_back.end(state, session, now)
            started, more = transition(ended, event, now, config)
            return started, (*effects, *more)
        if isinstance(state, Idle):
            new = Session(state.last_session + 1, event.reader, now)
            return ReadingCard(new, now + config.timeouts.read), (
                fx.ReadCard(new.session_id, event.reader),
                _report(fx.ReportKind.SESSION_STARTED, new, now, detail=event.reader),
            )
        return state, ()

    if session is None:
        return state, ()

    # Results that belong to an earlier session are stale: ignore them.
    event_session = getattr(event, "session_id", session.session_id)
    if event_session != session.session_id:
        return state, ()

    if isinstance(event, ev.Tick):
        return _on_tick(state, session, event.now, config)

    return _on_session_event(state, session, event, now, config)


def _on_tick(state: State, session: Session, now: float, config: FlowConfig) -> Result:
    if isinstance(state, PutCardBack) or put_back.card_out(state):
        return put_back.on_tick(state, session, now, config.timeouts)
    if not isinstance(state, ACTIVE):
        return state, ()
    if now - session.started >= config.timeouts.session_ceiling and not isinstance(
        state, Unlocking
    ):
        return _fail(state, session, now, Reason.SESSION_TIMEOUT)
    deadline = getattr(state, "deadline", None)
    if deadline is None or now < deadline:
        return state, ()
    if isinstance(state, LoginQr):
        return _fail(state, session, now, Reason.LOGIN_EXPIRED)
    if isinstance(state, ReadingCard):
        return _fail(state, session, now, Reason.CARD_UNREADABLE)
    if isinstance(state, StartingLogin):
        return _fail(state, session, now, Reason.CARD_SERVICE_TIMEOUT)
    if isinstance(state, Unlocking):
        # The card or the service never answered: what the card did is not known.
        return _fail(state, session, now, Reason.CARD_SERVICE_TIMEOUT, outcome=Outcome.UNKNOWN)
    return _fail(state, session, now, Reason.TIMEOUT)


def _on_session_event(
    state: State, session: Session, event: ev.Event, now: float, config: FlowConfig
) -> Result:
    if isinstance(state, PutCardBack):
        return put_back.on_event(state, session, event, now, config.timeouts)
    match state, event:
        case ReadingCard(), ev.CardRead(card=card):
            read = replace(session, card=card)
            verdict = assess(card, config)
            return CardSummary(read, verdict, now + config.timeouts.summary), (
                _report(fx.ReportKind.CARD_READ, read, now, reason=verdict),
            )
        case ReadingCard(), ev.CardReadFailed(reason=reason):
            return _fail(state, session, now, reason)
        case CardSummary(verdict=None), ev.StartMobileLogin():
            card_number = _card_number(session)
            if card_number is None:  # assess() refuses such cards; never reached
                return state, ()
            return StartingLogin(session, now + config.timeouts.service), (
                fx.StartLogin(session.session_id, card_number),
            )
        case CardSummary(verdict=None), ev.StartPukPath():
            return PukEntry(session, now + config.timeouts.pin), ()
        case CardSummary() | PukEntry() | LoginQr() | NewPin(), ev.Cancel():
            return _fail(state, session, now, Reason.CANCELLED)
        case StartingLogin(), ev.LoginStarted(login=login):
            return LoginQr(session, login, HintCode.OUTSTANDING_TRANSACTION, login.expires_at), (
                fx.PollLogin(session.session_id, login.order_ref, login.poll_interval),
                _report(fx.ReportKind.LOGIN_STARTED, session, now),
            )
        case StartingLogin() | LoginQr() | Unlocking(), ev.ServiceRefused(reason=reason):
            return _fail(state, session, now, reason)
        case LoginQr(login=login), ev.LoginUpdate(status=LoginStatusValue.PENDING, hint=hint):
            return replace(state, hint=hint), (
                fx.PollLogin(session.session_id, login.order_ref, login.poll_interval),
            )
        case LoginQr(login=login), ev.LoginUpdate(status=LoginStatusValue.COMPLETE):
            return _choose_pins(session, now, config, order_ref=login.order_ref), (
                _report(fx.ReportKind.LOGIN_COMPLETE, session, now),
            )
        case LoginQr(), ev.LoginUpdate(hint=hint):
            return _fail(state, session, now, login_failure_reason(hint))
        case PukEntry(), ev.PinEntered(value=puk):
            if not is_puk_format(puk):
                return replace(
                    state, error=Reason.PUK_FORMAT, deadline=now + config.timeouts.pin
                ), ()
            return _choose_pins(session, now, config, puk=puk), ()
        case NewPin(), ev.PinEntered(value=value):
            return _on_new_pin(state, session, value, now, config)
        case Unlocking(), ev.UnlockFinished(mechanism=mechanism):
            return Done(session), (
                _report(
                    fx.ReportKind.UNLOCK_SUCCEEDED,
                    session,
                    now,
                    outcome=Outcome.UNLOCKED,
                    mechanism=mechanism,
                ),
            )
        case Unlocking(), ev.UnlockFailed() as failed:
            failed_state, effects = _fail(
                state,
                session,
                now,
                failed.reason,
                failed.tries_left,
                failed.outcome,
                failed.mechanism,
            )
            # Outcome unknown with the card still in (it stopped answering): asked again
            # once it has been taken out and put back.
            return replace(failed_state, pending=failed.pending), effects
    return state, ()


def _choose_pins(
    session: Session,
    now: float,
    config: FlowConfig,
    *,
    order_ref: str | None = None,
    puk: str | None = None,
) -> NewPin:
    targets = tuple(p.name for p in session.card.blocked_pins) if session.card else ()
    return NewPin(session, targets, now + config.timeouts.pin, order_ref=order_ref, puk=puk)


def _on_new_pin(
    state: NewPin, session: Session, value: str, now: float, config: FlowConfig
) -> Result:
    deadline = now + config.timeouts.pin
    if state.first is None:
        return replace(state, first=value, error=None, deadline=deadline), ()
    card = session.card
    rejection = check_new_pin(
        state.first,
        value,
        personal_identity_number=card.personal_identity_number if card else None,
        other_new_pin=state.chosen[-1] if state.chosen else None,
    )
    if rejection is not None:
        return replace(state, first=None, error=rejection, deadline=deadline), ()
    chosen = (*state.chosen, value)
    if len(chosen) < len(state.targets):
        return replace(state, chosen=chosen, first=None, error=None, deadline=deadline), ()
    new_pins = tuple(zip(state.targets, chosen, strict=True))
    effect: fx.Effect
    if state.puk is not None:
        effect = fx.UnlockWithPuk(
            session.session_id, session.reader, _card_number(session), state.puk, new_pins
        )
    else:
        card_number = _card_number(session)
        if state.order_ref is None or card_number is None:  # cannot happen via transition()
            return _fail(state, session, now, Reason.INTERNAL)
        roles = tuple((p.name, p.role) for p in card.pins) if card else ()
        effect = fx.UnlockWithService(
            session.session_id, session.reader, state.order_ref, card_number, new_pins, roles
        )
    return Unlocking(session, now + config.timeouts.unlock), (effect,)
