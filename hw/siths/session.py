"""A typed session with a SITHS card (PKCS#15).

On opening, it selects the PKCS#15 application and reads the directory files
(ODF, AODF, CDF, PrKDF). It then reports each PIN's state, reads the holder's
certificates into a :class:`SithsCardInfo`, and unblocks a PIN in either of
the two ways card-management systems use: with the PUK (refused inside the PUK
safety margin), or with a cryptogram over the card's challenge computed from
the administration key (refused inside the administration key's own margin).
What became of the PIN is read from the card (:mod:`hw.unblocking`).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from cryptography import x509

from hw import tlv
from hw.apdu import CommandApdu
from hw.apdu_processor import ApduProcessor
from hw.errors import TlvError, UnexpectedResponse, UnreadableCertificate, UnsupportedCard
from hw.pins import (
    AdminKeyBlocked,
    AdminKeySafetyMargin,
    CryptogramRejected,
    PinStatus,
    check_piv_pin,
)
from hw.pkcs15 import model
from hw.pkcs15.files import EF_ODF, Pkcs15Files
from hw.reference_commands import (
    INS_VERIFY,
    check_puk_margin,
    reference_status,
    reset_retry_counter,
    verify,
)
from hw.siths.certificates import CertificateRole, HolderCertificate, describe
from hw.siths.trust import CardProblem, TrustStore, certificate_problems
from hw.status_words import (
    ApduError,
    AuthenticationBlocked,
    ConditionsNotSatisfied,
    SecurityStatusNotSatisfied,
    VerificationFailed,
)
from hw.unblocking import PinOutcome, unblock_pin
from protocol.admin_key import CHALLENGE_LENGTH
from protocol.card_rules import ADMIN_KEY_SAFETY_MARGIN

log = logging.getLogger(__name__)

INS_GET_CHALLENGE = 0x84
INS_EXTERNAL_AUTHENTICATE = 0x82
ADMIN_KEY_REFERENCE = 0x01

#: Asks the card service for the cryptogram for this challenge.
CryptogramSource = Callable[[bytes], bytes]


@dataclass(frozen=True)
class SithsCardInfo:
    """Which card this is, as the kiosk shows it, and whatever is wrong with it."""

    holder_name: str | None
    hsa_id: str | None
    organisation: str | None
    card_number: str | None
    personal_identity_number: str | None
    valid_to: dt.datetime | None
    certificates: list[HolderCertificate] = field(default_factory=list)
    problems: list[CardProblem] = field(default_factory=list)


def _first_der(data: bytes) -> bytes:
    """The certificate's own bytes, without filler a card may keep after it."""
    try:
        _item, end = tlv.parse_one(data)
    except TlvError as error:
        raise UnreadableCertificate(f"certificate file is not DER: {error}") from None
    return data[:end]


class SithsSession:
    """One card with a PKCS#15 application, read and ready."""

    profile = "siths"

    def __init__(self, processor: ApduProcessor) -> None:
        self._processor = processor
        self._files = Pkcs15Files(processor)
        self._files.select_application()
        odf = model.parse_odf(self._files.read(EF_ODF))
        if "auth_objects" not in odf:
            raise model.Pkcs15Error("the card lists no PINs (no AODF in EF.ODF)")
        self.pins = model.parse_aodf(self._files.read(odf["auth_objects"]))
        self.certificate_entries = (
            model.parse_cdf(self._files.read(odf["certificates"])) if "certificates" in odf else []
        )
        self.keys = (
            model.parse_prkdf(self._files.read(odf["private_keys"]))
            if "private_keys" in odf
            else []
        )
        self._certificates: dict[bytes, x509.Certificate] | None = None

    def select(self) -> None:
        """Select the application again: the first command of every transaction."""
        self._files.reselect()

    # -- certificates -------------------------------------------------------------

    def certificates(self) -> dict[bytes, x509.Certificate]:
        """Certificates by PKCS#15 id (read once per session)."""
        if self._certificates is None:
            found: dict[bytes, x509.Certificate] = {}
            for entry in self.certificate_entries:
                der = _first_der(self._files.read(entry.path))
                try:
                    found[entry.id] = x509.load_der_x509_certificate(der)
                except ValueError:
                    raise UnreadableCertificate(
                        f"certificate {entry.label!r} on the card is not a valid X.509 certificate"
                    ) from None
            self._certificates = found
        return self._certificates

    def card_info(
        self, trust: TrustStore | None, *, now: dt.datetime | None = None
    ) -> SithsCardInfo:
        """The holder and card facts, with every problem that stops an unlock here.

        Without a trust store the chain is not checked (a technician's quick look);
        the kiosk always passes its configured SITHS trust anchors.
        """
        now = now or dt.datetime.now(dt.UTC)
        certs = self.certificates()
        holders = [describe(cert) for cert in certs.values()]
        authorities = [c for e, c in certs.items() if self._is_authority(e)]
        holders = [h for h in holders if h.role is not CertificateRole.OTHER] or holders
        problems: list[CardProblem] = []
        if not holders:
            problems.append(CardProblem.NO_CERTIFICATES)
        for holder in holders:
            found = (
                certificate_problems(holder, now)
                if trust is None
                else trust.problems(holder, extra_intermediates=authorities, now=now)
            )
            for problem in found:
                if problem not in problems:
                    problems.append(problem)
        main = next((h for h in holders if h.role is CertificateRole.IDENTIFICATION), None)
        main = main or (holders[0] if holders else None)
        if main is not None and any(
            (h.card_number, h.hsa_id) != (main.card_number, main.hsa_id) for h in holders
        ):
            problems.append(CardProblem.INCONSISTENT)
        return SithsCardInfo(
            holder_name=main.holder_name if main else None,
            hsa_id=main.hsa_id if main else None,
            organisation=main.organisation if main else None,
            card_number=main.card_number if main else None,
            personal_identity_number=main.personal_identity_number if main else None,
            valid_to=min((h.valid_to for h in holders), default=None),
            certificates=holders,
            problems=problems,
        )

    def identity(self) -> str | None:
        """The card number, to tell this card from another put in its place."""
        return self.card_info(None).card_number

    def _is_authority(self, cert_id: bytes) -> bool:
        return any(e.id == cert_id and e.authority for e in self.certificate_entries)

    # -- PINs ---------------------------------------------------------------------

    def _role_of(self, pin: model.Pkcs15Pin) -> str | None:
        if pin.is_unblocking_pin:
            return "puk"
        key_ids = {key.id for key in self.keys if key.auth_id == pin.auth_id}
        try:
            certs = self.certificates()
            for key_id in key_ids:
                cert = certs.get(key_id)
                if cert is not None:
                    role = describe(cert).role
                    if role is not CertificateRole.OTHER:
                        return role.value
        except UnexpectedResponse:  # an unreadable certificate: the PIN's role is not known
            return None
        return None

    def _pin(self, name: str) -> model.Pkcs15Pin:
        for pin in self.pins:
            if pin.label == name and not pin.is_unblocking_pin:
                return pin
        raise UnsupportedCard(
            f"this SITHS card has no PIN {name!r}; it has: " + ", ".join(self.unblockable_pins())
        )

    def _puk_for(self, pin: model.Pkcs15Pin) -> model.Pkcs15Pin:
        unblocking = [p for p in self.pins if p.is_unblocking_pin]
        for candidate in unblocking:
            if pin.unblocked_by is not None and candidate.auth_id == pin.unblocked_by:
                return candidate
        if len(unblocking) == 1:
            return unblocking[0]
        raise UnsupportedCard(f"the card does not say which PUK unblocks {pin.label!r}")

    def status_of(self, pin: model.Pkcs15Pin) -> PinStatus:
        """One PIN's (or the PUK's) state via the empty VERIFY, with its role."""
        status = reference_status(self._processor, pin.label, pin.reference)
        return replace(status, role=self._role_of(pin))

    def pin_statuses(self) -> list[PinStatus]:
        """Every PIN and the PUK, in the card's order."""
        return [self.status_of(pin) for pin in self.pins]

    def pin_state(self, pin_name: str) -> PinStatus:
        """One PIN's state (no role: nothing but the empty VERIFY is sent)."""
        pin = self._pin(pin_name)
        return reference_status(self._processor, pin.label, pin.reference)

    def unblockable_pins(self) -> list[str]:
        """Labels of the PINs (not PUKs) on the card."""
        return [pin.label for pin in self.pins if not pin.is_unblocking_pin]

    def pin_roles(self) -> dict[str, str | None]:
        """Each PIN's role ("identification", "signature"), from the keys and certificates."""
        return {pin.label: self._role_of(pin) for pin in self.pins}

    def _new_pin_bytes(self, pin: model.Pkcs15Pin, new_pin: str) -> bytes:
        check_piv_pin(new_pin, what="new PIN")
        return pin.encode(new_pin, what="new PIN")

    def reset_pin(self, pin_name: str, puk: str, new_pin: str, *, safety_margin: int) -> None:
        """RESET RETRY COUNTER ``00 2C 00 <ref>`` with PUK and new PIN, outside the PUK margin."""
        pin = self._pin(pin_name)
        puk_object = self._puk_for(pin)
        data = puk_object.encode(puk, what="PUK") + self._new_pin_bytes(pin, new_pin)
        puk_state = reference_status(self._processor, puk_object.label, puk_object.reference)
        check_puk_margin(puk_state, safety_margin)
        reset_retry_counter(self._processor, 0x00, pin.reference, data)

    def unblock_pin(
        self, pin_name: str, puk: str, new_pin: str, *, safety_margin: int
    ) -> PinOutcome:
        """Unblock with the PUK and verify the new PIN; what became of it, from the card."""
        return unblock_pin(
            self,
            pin_name,
            new_pin,
            lambda: self.reset_pin(pin_name, puk, new_pin, safety_margin=safety_margin),
        )

    def admin_key_tries_left(self) -> int | None:
        """The administration key's tries left, by EXTERNAL AUTHENTICATE without data.

        The reference card answers it like the empty VERIFY (``63CX``, no try
        spent; ``6983`` when blocked); ``None`` when a card does not say.
        """
        response = self._processor.transmit(
            CommandApdu(0x00, INS_EXTERNAL_AUTHENTICATE, 0x00, ADMIN_KEY_REFERENCE)
        )
        if response.sw & 0xFFF0 == 0x63C0:
            return response.sw & 0x0F
        if response.sw == 0x6983:
            return 0
        return None

    def reset_pin_with_admin_key(
        self,
        pin_name: str,
        new_pin: str,
        cryptogram_for: CryptogramSource,
        *,
        safety_margin: int = ADMIN_KEY_SAFETY_MARGIN,
    ) -> None:
        """GET CHALLENGE, EXTERNAL AUTHENTICATE with the service's cryptogram, RRC (P1=02).

        ``cryptogram_for(challenge)`` asks the card service; the cryptogram is
        good for this challenge only, and only while the card stays in. The PUK
        is not used, so its margin does not apply: the administration key's own
        counter is kept out of its last ``safety_margin`` tries instead (a card
        that does not report that counter is tried: the card service limits
        attempts per card).
        """
        pin = self._pin(pin_name)
        encoded = self._new_pin_bytes(pin, new_pin)
        tries = self.admin_key_tries_left()
        if tries == 0:
            raise AdminKeyBlocked()
        if tries is not None and tries <= safety_margin:
            raise AdminKeySafetyMargin(tries, safety_margin)
        challenge = self._processor.send(
            CommandApdu(0x00, INS_GET_CHALLENGE, 0x00, 0x00, le=CHALLENGE_LENGTH)
        )
        if len(challenge) != CHALLENGE_LENGTH:
            raise UnexpectedResponse(f"the card gave a {len(challenge)}-byte challenge")
        cryptogram = cryptogram_for(challenge)
        try:
            self._processor.send(
                CommandApdu(
                    0x00,
                    INS_EXTERNAL_AUTHENTICATE,
                    0x00,
                    ADMIN_KEY_REFERENCE,
                    cryptogram,
                    sensitive=True,
                )
            )
        except VerificationFailed as error:
            if error.tries_left == 0:
                raise AdminKeyBlocked() from None
            raise CryptogramRejected(error.tries_left) from None
        except AuthenticationBlocked:
            raise AdminKeyBlocked() from None
        except (ConditionsNotSatisfied, SecurityStatusNotSatisfied):
            raise CryptogramRejected() from None
        reset_retry_counter(self._processor, 0x02, pin.reference, encoded)

    def unblock_pin_with_admin_key(
        self,
        pin_name: str,
        new_pin: str,
        cryptogram_for: CryptogramSource,
        *,
        safety_margin: int = ADMIN_KEY_SAFETY_MARGIN,
    ) -> PinOutcome:
        """Unblock with the card service's cryptogram and verify the new PIN."""
        return unblock_pin(
            self,
            pin_name,
            new_pin,
            lambda: self.reset_pin_with_admin_key(
                pin_name, new_pin, cryptogram_for, safety_margin=safety_margin
            ),
        )

    def verify(self, pin_name: str, pin_value: str) -> None:
        """Verify a PIN by its label."""
        pin = self._pin(pin_name)
        verify(self._processor, pin.reference, pin.encode(pin_value))

    def logout(self) -> None:
        """Reset the verified state of every PIN (VERIFY with P1=FF) where the card allows."""
        for pin in self.pins:
            try:
                self._processor.send(CommandApdu(0x00, INS_VERIFY, 0xFF, pin.reference))
            except ApduError as error:
                log.debug("card kept PIN %s verified (%04X)", pin.label, error.sw)
