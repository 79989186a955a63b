"""A typed session with a SITHS card (PKCS#15).

On opening, it selects the PKCS#15 application and reads the directory files
(ODF, AODF, CDF, PrKDF). It then reports each PIN's state, reads the holder's
certificates into a :class:`SithsCardInfo`, and unblocks a PIN in either of
the two ways card-management systems use: with the PUK (refused inside the PUK
safety margin), or with a cryptogram over the card's challenge computed from
the administration key (refused inside the administration key's own margin).
What became of the PIN is read from the card (:mod:`hw.unblocking`).

What a read learned (:class:`SithsLayout`: where the application is, its PIN
objects, each PIN's role) can open a later session on the same card with the
application SELECT alone, so an unlock sends only the commands of the unlock.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace

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
from hw.siths.card_info import SithsCardInfo, summarise
from hw.siths.certificates import CertificateRole, describe
from hw.siths.trust import TrustStore
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


def _first_der(data: bytes) -> bytes:
    """The certificate's own bytes, without filler a card may keep after it."""
    try:
        _item, end = tlv.parse_one(data)
    except TlvError as error:
        raise UnreadableCertificate(f"certificate file is not DER: {error}") from None
    return data[:end]


@dataclass(frozen=True)
class SithsLayout:
    """What a read of one SITHS card learned that a later session on it can reuse.

    Where the PKCS#15 application is (its path, when EF.DIR led to it; else its
    AID), its PIN objects (references, encodings, which PUK unblocks which), where
    its certificates and keys are, and each PIN's role as the certificates say.
    Valid for the card it was read from only: the caller makes sure the card has
    not left the reader since (:meth:`hw.pcsc.PcscConnection.card_events`).
    """

    app_path: bytes | None
    pins: tuple[model.Pkcs15Pin, ...]
    certificate_entries: tuple[model.Pkcs15Certificate, ...]
    keys: tuple[model.Pkcs15PrivateKey, ...]
    roles: tuple[tuple[str, str | None], ...]


class SithsSession:
    """One card with a PKCS#15 application, read and ready."""

    profile = "siths"

    def __init__(self, processor: ApduProcessor, layout: SithsLayout | None = None) -> None:
        """Select the application and read its directory, or, given ``layout``, select only."""
        self._processor = processor
        self._certificates: dict[bytes, x509.Certificate] | None = None
        #: References this session presented (VERIFY, RESET RETRY COUNTER): what logout drops.
        self._presented: set[int] = set()
        if layout is not None:
            self._files = Pkcs15Files(processor, layout.app_path)
            self._files.reselect()
            self.pins = list(layout.pins)
            self.certificate_entries = list(layout.certificate_entries)
            self.keys = list(layout.keys)
            self._roles: dict[str, str | None] | None = dict(layout.roles)
            return
        self._roles = None
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

    def layout(self) -> SithsLayout:
        """What this session learned, for a later session on the same card (reads roles once)."""
        return SithsLayout(
            app_path=self._files.app_path,
            pins=tuple(self.pins),
            certificate_entries=tuple(self.certificate_entries),
            keys=tuple(self.keys),
            roles=tuple(self.pin_roles().items()),
        )

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

        Without a trust store the chain is not checked (a technician's quick look).
        """
        certs = self.certificates()
        authorities = [c for e, c in certs.items() if self._is_authority(e)]
        return summarise(list(certs.values()), authorities, trust, now or dt.datetime.now(dt.UTC))

    def identity(self) -> str | None:
        """The card number, to tell this card from another put in its place."""
        return self.card_info(None).card_number

    def _is_authority(self, cert_id: bytes) -> bool:
        return any(e.id == cert_id and e.authority for e in self.certificate_entries)

    # -- PINs ---------------------------------------------------------------------

    def _role_of(self, pin: model.Pkcs15Pin) -> str | None:
        if pin.is_unblocking_pin:
            return "puk"
        if self._roles is not None and pin.label in self._roles:
            return self._roles[pin.label]
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
        self._presented.update((puk_object.reference, pin.reference))
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
        self._presented.add(pin.reference)
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
        encoded = pin.encode(pin_value)
        self._presented.add(pin.reference)
        verify(self._processor, pin.reference, encoded)

    def logout(self) -> None:
        """Drop the verified state this session may have made (VERIFY with P1=FF).

        Only for the PINs and PUK it presented (verified, or used in a reset: some
        cards leave the PUK verified after one): the others it never touched.
        """
        presented, self._presented = self._presented, set()
        for pin in self.pins:
            if pin.reference not in presented:
                continue
            try:
                self._processor.send(CommandApdu(0x00, INS_VERIFY, 0xFF, pin.reference))
            except ApduError as error:
                log.debug("card kept PIN %s verified (%04X)", pin.label, error.sw)
