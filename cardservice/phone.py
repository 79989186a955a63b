"""The simulated Mobilt SITHS phone's side of a login (reference service only).

Why in the service at all: so the whole unlock can be demonstrated and tested
without a real identity provider. A phone "scans" by sending the exact QR content,
which is checked as a real identity provider would (our prefix, the HMAC, the
frame's age), then approves or declines as the identity that scanned. A production
card service does not offer this; it shares the login records with
:class:`~cardservice.service.CardService` and nothing else.
"""

from __future__ import annotations

from cardservice import login_state as ls
from cardservice.problems import Problem, parse_request
from cardservice.service import CardService
from protocol import cardservice_api as api
from protocol.cardservice_values import HintCode, LoginStatusValue
from protocol.login_qr import frame_is_authentic, parse_qr_content
from protocol.problems import ProblemCode


class PhoneSimulator:
    """Scan, approve and decline, on the logins of one :class:`CardService`."""

    def __init__(self, service: CardService) -> None:
        self.service = service
        self.store = service.store

    def identities(self) -> api.PhoneIdentities:
        """The test identities a phone can log in as."""
        return api.PhoneIdentities(
            identities=tuple(
                api.PhoneIdentity(
                    personal_identity_number=row["personal_identity_number"],
                    name=row["name"],
                    hsa_id=row["hsa_id"],
                )
                for row in self.store.identities()
            )
        )

    def scan(self, body: object) -> api.PhoneScanResult:
        """The phone read a QR frame off the kiosk screen."""
        request = parse_request(api.PhoneScanRequest, body)
        config = self.service.config
        frame = parse_qr_content(request.qr_content)
        login = self.store.login_by_token(frame.token) if frame else None
        if frame is None or login is None or frame.prefix != config.qr_prefix:
            raise Problem(ProblemCode.QR_INVALID)
        if not frame_is_authentic(frame, login.qr_secret):
            raise Problem(ProblemCode.QR_INVALID, "the QR code's check value is wrong")
        now = self.service.clock()
        state = self.service.settle(login, now)
        if state.status == LoginStatusValue.FAILED and state.hint in ls.EXPIRED_HINTS:
            raise Problem(ProblemCode.LOGIN_EXPIRED)
        if state.status != LoginStatusValue.PENDING:
            raise Problem(ProblemCode.QR_INVALID, "this login is no longer waiting for a scan")
        if not ls.frame_is_fresh(
            frame.seconds, now - login.created, config.qr_max_age, config.qr_future_tolerance
        ):
            self.store.audit(now, "qr-stale", order_ref=login.order_ref)
            raise Problem(ProblemCode.QR_STALE)
        person = request.personal_identity_number
        if self.store.identity(person) is None:
            raise Problem(ProblemCode.UNKNOWN_IDENTITY)
        self.store.update_login(login.order_ref, scanned_by=person, hint=HintCode.USER_SIGN)
        self.store.audit(now, "login-scanned", order_ref=login.order_ref)
        return api.PhoneScanResult(order_ref=login.order_ref, hint_code=HintCode.USER_SIGN)

    def decide(self, order_ref: str, body: object, *, approve: bool) -> api.PhoneResult:
        """The person approved (with their app code) or declined on the phone."""
        person = parse_request(api.PhoneDecision, body).personal_identity_number
        login = self.store.login(order_ref)
        if login is None or login.scanned_by != person:
            raise Problem(ProblemCode.UNKNOWN_LOGIN, "no scanned login for this identity")
        now = self.service.clock()
        state = self.service.settle(login, now)
        if state.status != LoginStatusValue.PENDING:
            failed = state.status == LoginStatusValue.FAILED
            raise Problem(ProblemCode.LOGIN_EXPIRED if failed else ProblemCode.LOGIN_NOT_COMPLETE)
        if approve:
            self.store.update_login(
                order_ref, status=LoginStatusValue.COMPLETE, hint=None, completed_by=person
            )
            self.store.audit(now, "login-complete", order_ref=order_ref)
            return api.PhoneResult(order_ref=order_ref, status=LoginStatusValue.COMPLETE)
        self.store.update_login(
            order_ref, status=LoginStatusValue.FAILED, hint=HintCode.USER_CANCEL
        )
        self.store.audit(now, "login-declined", order_ref=order_ref)
        return api.PhoneResult(order_ref=order_ref, status=LoginStatusValue.FAILED)
