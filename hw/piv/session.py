"""A typed session with a PIV card application.

Reads the CHUID and certificates, reports PIN and PUK state, and verifies,
changes and unblocks the PIN. Outcomes are the types of :mod:`hw.pins`; the
PUK safety margin is enforced here, before any PUK byte reaches the card.
"""

from __future__ import annotations

import logging

from cryptography import x509

from hw.apdu import CommandApdu
from hw.apdu_processor import ApduProcessor
from hw.errors import UnexpectedResponse, UnsupportedCard
from hw.pins import PinStatus, check_piv_pin, check_piv_puk, pad_reference
from hw.piv import constants as c
from hw.piv import objects
from hw.reference_commands import (
    change_reference,
    check_puk_margin,
    reference_status,
    reset_retry_counter,
    verify,
)
from hw.status_words import (
    ApduError,
    ClassNotSupported,
    FunctionNotSupported,
    IncorrectParameters,
    InstructionNotSupported,
    NotFound,
    ReferenceNotFound,
)
from hw.unblocking import PinOutcome, unblock_pin

log = logging.getLogger(__name__)

PIN_NAME = "PIV PIN"
PUK_NAME = "PIV PUK"

_UNSUPPORTED = (
    InstructionNotSupported,
    ClassNotSupported,
    IncorrectParameters,
    FunctionNotSupported,
    ReferenceNotFound,
    NotFound,
)


class PivSession:
    """One selected PIV application on one card connection."""

    profile = "piv"

    def __init__(self, processor: ApduProcessor) -> None:
        self._processor = processor
        self.select()

    # -- reading ------------------------------------------------------------

    def select(self) -> None:
        """Select the PIV application by AID prefix; :class:`UnsupportedCard` if the card refuses.

        Whatever status word the refusal has, it means "no PIV application here".
        """
        try:
            self._processor.send(CommandApdu(0x00, c.INS_SELECT, 0x04, 0x00, c.PIV_AID_PREFIX))
        except ApduError:
            raise UnsupportedCard("the card has no PIV application") from None

    def _get_data(self, object_id: int) -> bytes | None:
        id_bytes = object_id.to_bytes((object_id.bit_length() + 7) // 8, "big")
        command = CommandApdu(
            0x00,
            c.INS_GET_DATA,
            0x3F,
            0xFF,
            bytes([c.TAG_OBJECT_ID, len(id_bytes)]) + id_bytes,
            le=256,
        )
        try:
            data = self._processor.send(command)
        except NotFound:
            return None
        return objects.unwrap_data_object(data)

    def read_chuid(self) -> objects.Chuid | None:
        """The Card Holder Unique Identifier, or ``None`` if the card has none."""
        content = self._get_data(c.OBJ_CHUID)
        return None if content is None else objects.parse_chuid(content)

    def identity(self) -> str | None:
        """The CHUID's GUID, to tell this card from another put in its place."""
        try:
            chuid = self.read_chuid()
        except UnexpectedResponse:
            return None
        return None if chuid is None else str(chuid.guid)

    def read_certificate(self, object_id: int = c.OBJ_AUTH_CERT) -> x509.Certificate | None:
        """A certificate object (default: PIV Authentication, slot 9A), or ``None``."""
        content = self._get_data(object_id)
        return None if content is None else objects.parse_certificate(content)

    # -- PIN state ----------------------------------------------------------

    def _metadata_retries(self, key_reference: int) -> tuple[int, int] | None:
        """YubiKey-style GET METADATA; ``None`` on cards without it."""
        try:
            data = self._processor.send(CommandApdu(0x00, c.INS_GET_METADATA, 0x00, key_reference))
        except _UNSUPPORTED:
            return None
        except ApduError as error:
            log.debug("GET METADATA answered %04X; treating as unsupported", error.sw)
            return None
        return objects.parse_retries_metadata(data)

    def pin_status(self) -> PinStatus:
        """The PIN's tries left via the empty VERIFY, which spends no try."""
        status = reference_status(self._processor, PIN_NAME, c.KEY_PIN)
        if status.tries_left is None:
            # Already verified in this session: ask the metadata for the count.
            retries = self._metadata_retries(c.KEY_PIN)
            if retries is not None:
                return PinStatus(PIN_NAME, retries[1], False)
        return status

    def puk_status(self) -> PinStatus | None:
        """The PUK's tries left where the card tells (YubiKey metadata), else ``None``."""
        retries = self._metadata_retries(c.KEY_PUK)
        if retries is None:
            return None
        return PinStatus(PUK_NAME, retries[1], retries[1] == 0)

    def pin_statuses(self) -> list[PinStatus]:
        """Every PIN-like reference the card reports on: the PIN, then the PUK if known."""
        statuses = [self.pin_status()]
        puk = self.puk_status()
        if puk is not None:
            statuses.append(puk)
        return statuses

    # -- PIN operations -----------------------------------------------------

    def verify_pin(self, pin: str) -> None:
        """Verify the PIN; raise :class:`WrongPin` or :class:`PinBlocked` on failure."""
        check_piv_pin(pin)
        verify(self._processor, c.KEY_PIN, pad_reference(pin))

    def logout(self) -> None:
        """Drop the PIN's verified state (VERIFY with P1=FF), so no one rides on it.

        Cards without this form of VERIFY are left as they are; removal clears it.
        """
        try:
            self._processor.send(CommandApdu(0x00, c.INS_VERIFY, 0xFF, c.KEY_PIN))
        except ApduError as error:
            log.debug("card does not support resetting the PIN state (%04X)", error.sw)

    def change_pin(self, old_pin: str, new_pin: str) -> None:
        """Change the PIN with CHANGE REFERENCE DATA (needs the current PIN)."""
        check_piv_pin(new_pin, what="new PIN")
        change_reference(self._processor, c.KEY_PIN, pad_reference(old_pin), pad_reference(new_pin))

    def reset(self, puk: str, new_pin: str, *, safety_margin: int) -> None:
        """RESET RETRY COUNTER with the PUK and ``new_pin``, outside the PUK safety margin.

        Refuses with :class:`PukSafetyMargin`, sending nothing, when the PUK has
        ``safety_margin`` or fewer tries left (or the card will not say and a
        margin is asked for).
        """
        check_piv_puk(puk)
        check_piv_pin(new_pin, what="new PIN")
        check_puk_margin(self.puk_status(), safety_margin)
        reset_retry_counter(
            self._processor, 0x00, c.KEY_PIN, pad_reference(puk) + pad_reference(new_pin)
        )

    def unblock(self, puk: str, new_pin: str, *, safety_margin: int) -> PinOutcome:
        """Unblock the PIN and verify ``new_pin``; what became of it, from the card."""
        return unblock_pin(
            self,
            PIN_NAME,
            new_pin,
            lambda: self.reset(puk, new_pin, safety_margin=safety_margin),
        )

    # -- the profile-neutral names (hw.profiles.CardSession) ------------------------------

    def _check_name(self, pin_name: str) -> None:
        if pin_name != PIN_NAME:
            raise UnsupportedCard(f"a PIV card has no PIN named {pin_name!r}")

    def unblockable_pins(self) -> list[str]:
        """PIV has one PIN."""
        return [PIN_NAME]

    def pin_roles(self) -> dict[str, str | None]:
        """PIV PINs have no SITHS role."""
        return {PIN_NAME: None}

    def pin_state(self, pin_name: str) -> PinStatus:
        """The PIN's state."""
        self._check_name(pin_name)
        return self.pin_status()

    def reset_pin(self, pin_name: str, puk: str, new_pin: str, *, safety_margin: int) -> None:
        """Reset the PIV PIN with the PUK."""
        self._check_name(pin_name)
        self.reset(puk, new_pin, safety_margin=safety_margin)

    def unblock_pin(
        self, pin_name: str, puk: str, new_pin: str, *, safety_margin: int
    ) -> PinOutcome:
        """Unblock the PIV PIN."""
        self._check_name(pin_name)
        return self.unblock(puk, new_pin, safety_margin=safety_margin)

    def verify(self, pin_name: str, pin: str) -> None:
        """Verify the PIV PIN."""
        self._check_name(pin_name)
        self.verify_pin(pin)
