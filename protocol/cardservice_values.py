"""The closed value sets of the card service API, one spelling each.

Why enums: the service writes these values and the kiosk branches on them; a typo
on either side would be a silent mismatch, while a ``StrEnum`` member is checked
when the module loads and still compares equal to its wire text. The OpenAPI file
names each set as a schema of the same name (checked by tests/protocol/test_openapi_spec.py).
The problem codes live in :mod:`protocol.problems` with their HTTP status and title.
"""

from __future__ import annotations

from enum import StrEnum


class HintCode(StrEnum):
    """What the holder is (or was last) doing in the login, as BankID names it."""

    OUTSTANDING_TRANSACTION = "outstandingTransaction"  # not scanned yet
    USER_SIGN = "userSign"  # scanned, waiting for the app code
    USER_CANCEL = "userCancel"  # declined on the phone
    EXPIRED_TRANSACTION = "expiredTransaction"  # scanned, not finished in time
    START_FAILED = "startFailed"  # never scanned in time
    CANCELLED = "cancelled"  # cancelled by the kiosk or by a newer login


class LoginStatusValue(StrEnum):
    """Where a login stands."""

    PENDING = "pending"
    FAILED = "failed"
    COMPLETE = "complete"


class PinRole(StrEnum):
    """Which of the card's PINs to unblock."""

    IDENTIFICATION = "identification"
    SIGNATURE = "signature"


class Mechanism(StrEnum):
    """How the card is unblocked: with its PUK, or with a cryptogram for its challenge."""

    PUK = "puk"
    ADMIN_KEY = "admin-key"


class HealthStatus(StrEnum):
    """Whether kiosks may start new work with the service."""

    OK = "ok"
    MAINTENANCE = "maintenance"
