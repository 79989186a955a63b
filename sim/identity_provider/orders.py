"""The simulated provider's orders and identities, in memory (no HTTP).

An order is what ``auth`` starts: ``pending`` with hint ``outstandingTransaction`` until
a phone scans its QR (``userSign``), then ``complete`` when the phone approves, or
``failed`` (``userCancel``, ``cancelled``, ``startFailed`` or ``expiredTransaction``).
The QR is checked as a real provider checks it: our prefix, the HMAC with the order's
secret, and a frame at most ``qr_max_age`` seconds old.
"""

from __future__ import annotations

import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace

from protocol.cardservice_values import HintCode, LoginStatusValue
from protocol.login_qr import DEFAULT_PREFIX, frame_is_authentic, parse_qr_content
from sim.identity_provider.phone_api import PhoneProblemCode


class PhoneRefusal(Exception):
    """The simulator refuses the phone (or the relying party names no such order)."""

    def __init__(self, code: PhoneProblemCode, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else str(code))
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class Identity:
    """A test person the phone can log in as."""

    personal_number: str
    name: str
    hsa_id: str


@dataclass(frozen=True)
class Order:
    """One authentication."""

    order_ref: str
    qr_token: str
    qr_secret: str
    created: float
    status: LoginStatusValue = LoginStatusValue.PENDING
    hint: HintCode | None = HintCode.OUTSTANDING_TRANSACTION
    scanned_by: str | None = None
    completed_by: Identity | None = None


@dataclass(frozen=True)
class ProviderRules:
    """The simulator's timings."""

    order_ttl: float = 600.0
    qr_max_age: float = 5.0
    qr_future_tolerance: float = 2.0
    qr_prefix: str = DEFAULT_PREFIX


def frame_is_fresh(frame_seconds: int, elapsed: float, max_age: float, tolerance: float) -> bool:
    """Whether a QR frame for second ``frame_seconds`` may be scanned ``elapsed`` s in."""
    return elapsed - max_age <= frame_seconds <= elapsed + tolerance


class Orders:
    """Every order and identity of one simulated provider (thread-safe)."""

    def __init__(
        self, rules: ProviderRules | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self.rules = rules or ProviderRules()
        self.clock = clock
        self.identities: dict[str, Identity] = {}
        self._orders: dict[str, Order] = {}
        self._lock = threading.Lock()

    def add_identity(self, personal_number: str, name: str, hsa_id: str) -> None:
        """A person the phone can log in as."""
        with self._lock:
            self.identities[personal_number] = Identity(personal_number, name, hsa_id)

    def _current(self, order: Order) -> Order:
        """The order now, with an expiry nobody has written down yet."""
        if (
            order.status == LoginStatusValue.PENDING
            and self.clock() >= order.created + self.rules.order_ttl
        ):
            hint = HintCode.EXPIRED_TRANSACTION if order.scanned_by else HintCode.START_FAILED
            order = replace(order, status=LoginStatusValue.FAILED, hint=hint)
            self._orders[order.order_ref] = order
        return order

    def _get(self, order_ref: str) -> Order:
        order = self._orders.get(order_ref)
        if order is None:
            raise PhoneRefusal(PhoneProblemCode.UNKNOWN_ORDER)
        return self._current(order)

    # -- the relying party's side ------------------------------------------------------------

    def start(self) -> Order:
        """``auth``."""
        order = Order(str(uuid.uuid4()), str(uuid.uuid4()), secrets.token_hex(16), self.clock())
        with self._lock:
            self._orders[order.order_ref] = order
        return order

    def collect(self, order_ref: str) -> Order:
        """``collect``."""
        with self._lock:
            return self._get(order_ref)

    def cancel(self, order_ref: str) -> None:
        """``cancel``: a pending order fails with ``cancelled``."""
        with self._lock:
            order = self._get(order_ref)
            if order.status == LoginStatusValue.PENDING:
                self._orders[order_ref] = replace(
                    order, status=LoginStatusValue.FAILED, hint=HintCode.CANCELLED
                )

    # -- the phone's side -------------------------------------------------------------------------

    def scan(self, qr_content: str, person: str) -> Order:
        """The phone read a QR frame off the kiosk's screen."""
        frame = parse_qr_content(qr_content)
        with self._lock:
            found = next(
                (o for o in self._orders.values() if frame and o.qr_token == frame.token), None
            )
            if frame is None or found is None or frame.prefix != self.rules.qr_prefix:
                raise PhoneRefusal(PhoneProblemCode.QR_INVALID)
            if not frame_is_authentic(frame, found.qr_secret):
                raise PhoneRefusal(
                    PhoneProblemCode.QR_INVALID, "the QR code's check value is wrong"
                )
            order = self._current(found)
            if order.status == LoginStatusValue.FAILED and order.hint in (
                HintCode.START_FAILED,
                HintCode.EXPIRED_TRANSACTION,
            ):
                raise PhoneRefusal(PhoneProblemCode.LOGIN_EXPIRED)
            if order.status != LoginStatusValue.PENDING:
                raise PhoneRefusal(
                    PhoneProblemCode.QR_INVALID, "this order no longer waits for a scan"
                )
            elapsed = self.clock() - order.created
            rules = self.rules
            if not frame_is_fresh(
                frame.seconds, elapsed, rules.qr_max_age, rules.qr_future_tolerance
            ):
                raise PhoneRefusal(PhoneProblemCode.QR_STALE)
            if person not in self.identities:
                raise PhoneRefusal(PhoneProblemCode.UNKNOWN_IDENTITY)
            order = replace(order, scanned_by=person, hint=HintCode.USER_SIGN)
            self._orders[order.order_ref] = order
            return order

    def decide(self, order_ref: str, person: str, *, approve: bool) -> Order:
        """The person approved (with their app code) or declined on the phone."""
        with self._lock:
            order = self._orders.get(order_ref)
            if order is None or order.scanned_by != person:
                raise PhoneRefusal(
                    PhoneProblemCode.UNKNOWN_ORDER, "no scanned order for this identity"
                )
            order = self._current(order)
            if order.status != LoginStatusValue.PENDING:
                failed = order.status == LoginStatusValue.FAILED
                raise PhoneRefusal(
                    PhoneProblemCode.LOGIN_EXPIRED if failed else PhoneProblemCode.LOGIN_NOT_PENDING
                )
            if approve:
                order = replace(
                    order,
                    status=LoginStatusValue.COMPLETE,
                    hint=None,
                    completed_by=self.identities[person],
                )
            else:
                order = replace(order, status=LoginStatusValue.FAILED, hint=HintCode.USER_CANCEL)
            self._orders[order_ref] = order
            return order
