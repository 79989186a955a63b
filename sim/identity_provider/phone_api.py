"""The simulated phone's API bodies (the simulator's own, not part of any production contract)."""

from __future__ import annotations

import enum

from protocol.cardservice_api import (
    PersonalIdentityNumber,
    RequestText,
    _Body,
    _Request,
)
from protocol.cardservice_values import HintCode, LoginStatusValue


class PhoneProblemCode(enum.StrEnum):
    """Why the simulator refused the phone."""

    INVALID_REQUEST = "invalid-request"
    QR_INVALID = "qr-invalid"
    QR_STALE = "qr-stale"
    LOGIN_EXPIRED = "login-expired"
    LOGIN_NOT_PENDING = "login-not-pending"
    UNKNOWN_IDENTITY = "unknown-identity"
    UNKNOWN_ORDER = "unknown-order"
    NOT_FOUND = "not-found"


#: The HTTP status of each refusal.
PHONE_STATUS = {
    PhoneProblemCode.INVALID_REQUEST: 400,
    PhoneProblemCode.QR_INVALID: 400,
    PhoneProblemCode.QR_STALE: 400,
    PhoneProblemCode.LOGIN_EXPIRED: 410,
    PhoneProblemCode.LOGIN_NOT_PENDING: 409,
    PhoneProblemCode.UNKNOWN_IDENTITY: 404,
    PhoneProblemCode.UNKNOWN_ORDER: 404,
    PhoneProblemCode.NOT_FOUND: 404,
}


class PhoneScanRequest(_Request):
    """The phone read a QR frame off the kiosk's screen."""

    qr_content: RequestText
    personal_identity_number: PersonalIdentityNumber


class PhoneScanResult(_Body):
    """The scanned order, now waiting for approve or decline."""

    order_ref: str
    hint_code: HintCode


class PhoneDecision(_Request):
    """Approve or decline, as the identity that scanned."""

    personal_identity_number: PersonalIdentityNumber


class PhoneResult(_Body):
    """The order after the phone's decision."""

    order_ref: str
    status: LoginStatusValue


class PhoneIdentity(_Body):
    """A test identity the phone can log in as."""

    personal_identity_number: PersonalIdentityNumber
    name: str
    hsa_id: str


class PhoneIdentities(_Body):
    """The test identities."""

    identities: tuple[PhoneIdentity, ...]
