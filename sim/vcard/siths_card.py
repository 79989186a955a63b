"""A software SITHS card: a PKCS#15 card served over vpcd like the virtual PIV card.

MF with EF.DIR, the PKCS#15 application (by AID and as DF 5015) with EF.ODF,
EF.TokenInfo, PrKDF, CDF, AODF and the holder's identification and signature
certificates; an identification PIN and a signature PIN (3 tries each, 6-8
digits padded with FF), a PUK (8 digits, 10 tries) that unblocks both, and an
AES administration key for challenge/response unblocking. State survives
remove/insert; the challenge and verified PINs do not.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import constant_time

from hw.apdu import CommandApdu
from hw.pins import PAD, pad_reference
from hw.siths.certificates import CertificateRole
from protocol.admin_key import ADMIN_KEY_LENGTH, CHALLENGE_LENGTH, admin_cryptogram
from sim.siths_pki import SithsHolder, SithsTestPki
from sim.vcard.apdu_card import (
    SW_OK,
    ApduCard,
    Handler,
    PinCounter,
    sw,
    tries_sw,
    valid_pin_block,
)
from sim.vcard.card_os import Answers, CardOs
from sim.vcard.iso_fs import DedicatedFile, FileSystem, fcp
from sim.vcard.siths_files import (
    ADMIN_KEY_REF,
    APP_DF,
    IDENTIFICATION_PIN_LABEL,
    IDENTIFICATION_PIN_REF,
    PKCS15_AID,
    PUK_LABEL,
    PUK_REF,
    SIGNATURE_PIN_LABEL,
    SIGNATURE_PIN_REF,
    app_df,
    pkcs15_tree,
)

#: The file system's names, for the card's users (tests, the demo).
__all__ = [
    "IDENTIFICATION_PIN_LABEL",
    "PKCS15_AID",
    "PUK_LABEL",
    "SIGNATURE_PIN_LABEL",
    "SithsCardState",
    "VirtualSithsCard",
    "pkcs15_tree",
    "puk_value",
]

INS_SELECT = 0xA4
INS_READ_BINARY = 0xB0
INS_VERIFY = 0x20
INS_CHANGE_REFERENCE = 0x24
INS_RESET_RETRY_COUNTER = 0x2C
INS_GET_CHALLENGE = 0x84
INS_EXTERNAL_AUTHENTICATE = 0x82


@dataclass
class SithsCardState:
    """What the card remembers across power cycles (and remove/insert)."""

    identification_pin: PinCounter
    signature_pin: PinCounter
    puk: PinCounter
    admin_key: PinCounter
    files: DedicatedFile
    holder: SithsHolder | None = None
    extra: dict[str, object] = field(default_factory=dict)
    #: Where this card behaves like one real card system rather than another.
    card_os: CardOs = field(default_factory=CardOs)

    def counter(self, reference: int) -> PinCounter | None:
        """The counter behind a VERIFY reference."""
        return {
            IDENTIFICATION_PIN_REF: self.identification_pin,
            SIGNATURE_PIN_REF: self.signature_pin,
            PUK_REF: self.puk,
        }.get(reference)

    @classmethod
    def issue(
        cls,
        holder: SithsHolder,
        pki: SithsTestPki,
        *,
        identification_pin: str = "123456",
        signature_pin: str = "12345678",
        puk: str = "12345678",
        admin_key: bytes | None = None,
        identification_tries_left: int = 3,
        signature_tries_left: int = 3,
        puk_tries_left: int = 10,
        with_card_number: bool = True,
        certificates: tuple[x509.Certificate, x509.Certificate] | None = None,
        aid_selectable: bool = True,
        card_os: CardOs | None = None,
    ) -> SithsCardState:
        """A freshly personalised card for ``holder`` with certificates from ``pki``.

        ``aid_selectable=False`` makes a card that only EF.DIR leads to (some
        older cards cannot SELECT the PKCS#15 application by its AID);
        ``card_os`` picks a card system's behaviour (:mod:`sim.vcard.card_os`).
        """
        if certificates is None:
            ident, _ = pki.issue(
                holder, CertificateRole.IDENTIFICATION, with_card_number=with_card_number
            )
            sign, _ = pki.issue(
                holder, CertificateRole.SIGNATURE, with_card_number=with_card_number
            )
        else:
            ident, sign = certificates
        serial = holder.card_number.encode("ascii")
        files = pkcs15_tree(ident, sign, serial=serial)
        if not aid_selectable:
            app = files.children[APP_DF]
            assert isinstance(app, DedicatedFile)
            app.aid = None
        return cls(
            identification_pin=PinCounter(
                pad_reference(identification_pin), 3, identification_tries_left
            ),
            signature_pin=PinCounter(pad_reference(signature_pin), 3, signature_tries_left),
            puk=PinCounter(pad_reference(puk), 10, puk_tries_left),
            admin_key=PinCounter(admin_key or os.urandom(ADMIN_KEY_LENGTH), 10),
            files=files,
            holder=holder,
            card_os=card_os or CardOs(),
        )


class VirtualSithsCard(ApduCard):
    """The card logic."""

    def __init__(self, state: SithsCardState) -> None:
        self.state = state
        self.fs = FileSystem(state.files)
        self.answers_through_get_response = state.card_os.answers is Answers.T0
        self.extended_length_only = state.card_os.answers is Answers.EXTENDED
        self.takes_extended_apdus = state.card_os.extended_apdus
        super().__init__(historical_bytes(state.card_os))

    def _reachable(self, reference: int) -> bool:
        """Whether a PIN reference can be used now (local references: only in the app's DF)."""
        if not self.state.card_os.local_pin_references:
            return True
        return self.fs.current_df is app_df(self.state.files)

    def clear_volatile(self) -> None:
        """Forget verified PINs, the challenge and admin authentication; select the MF."""
        self.verified: set[int] = set()
        self.challenge: bytes | None = None
        self.admin_authenticated = False
        if hasattr(self, "fs"):
            self.fs.reset()

    def handlers(self) -> dict[int, Handler]:
        """ISO 7816-4 commands a PKCS#15 card answers."""
        return {
            INS_SELECT: self._select,
            INS_READ_BINARY: self._read_binary,
            INS_VERIFY: self._verify,
            INS_CHANGE_REFERENCE: self._change_reference,
            INS_RESET_RETRY_COUNTER: self._reset_retry_counter,
            INS_GET_CHALLENGE: self._get_challenge,
            INS_EXTERNAL_AUTHENTICATE: self._external_authenticate,
        }

    # -- files ------------------------------------------------------------------

    def _select(self, command: CommandApdu) -> bytes:
        target = self.fs.select(command.p1, command.data)
        if target is None:
            return sw(0x6A82)
        if command.p2 & 0x0C == 0x0C:
            return SW_OK
        return self.respond(fcp(target), command)

    def _read_binary(self, command: CommandApdu) -> bytes:
        if command.p1 & 0x80:
            return sw(0x6981)  # short EF identifiers are not supported
        ef = self.fs.current_ef
        if ef is None:
            return sw(0x6986)
        offset = (command.p1 << 8) | command.p2
        if offset > len(ef.data):
            return sw(0x6B00)
        wanted = command.le or 256
        data = ef.data[offset : offset + wanted]
        if len(data) < wanted:
            if self.answers_through_get_response:  # T=0: the exact length, or nothing left
                return sw(0x6C00 | len(data)) if data else sw(0x6B00)
            return data + sw(0x6282)
        return self.respond(data, command)

    # -- PINs -------------------------------------------------------------------

    def _verify(self, command: CommandApdu) -> bytes:
        counter = self.state.counter(command.p2)
        if counter is None or not self._reachable(command.p2):
            return sw(0x6A88)
        if command.p1 == 0xFF and not command.data:
            self.verified.discard(command.p2)
            return SW_OK
        if command.p1 != 0x00:
            return sw(0x6A86)
        if not command.data and command.p2 == PUK_REF and not self.state.card_os.puk_reports_tries:
            return sw(0x6A88)
        if not command.data:
            if counter.blocked:
                return sw(0x6983)
            if command.p2 in self.verified:
                return SW_OK
            return tries_sw(counter.tries_left)
        if counter.blocked:
            return sw(0x6983)
        if len(command.data) != len(counter.value):
            return sw(0x6700)
        if counter.check(command.data):
            self.verified.add(command.p2)
            return SW_OK
        self.verified.discard(command.p2)
        return tries_sw(counter.tries_left)

    def _change_reference(self, command: CommandApdu) -> bytes:
        counter = self.state.counter(command.p2)
        if counter is None or not self._reachable(command.p2):
            return sw(0x6A88)
        if command.p1 != 0x00:
            return sw(0x6A86)
        if counter.blocked:
            return sw(0x6983)
        if len(command.data) != 16:
            return sw(0x6700)
        old, new = command.data[:8], command.data[8:]
        if not counter.check(old):
            return tries_sw(counter.tries_left)
        if command.p2 != PUK_REF and not valid_pin_block(new):
            return sw(0x6A80)
        counter.set(new)
        return SW_OK

    def _reset_retry_counter(self, command: CommandApdu) -> bytes:
        if command.p2 not in (IDENTIFICATION_PIN_REF, SIGNATURE_PIN_REF):
            return sw(0x6A88)
        if not self._reachable(command.p2):
            return sw(0x6A88)
        pin = self.state.counter(command.p2)
        assert pin is not None
        if command.p1 == 0x02:
            # New PIN only: allowed once after EXTERNAL AUTHENTICATE with the admin key.
            if not self.admin_authenticated:
                return sw(0x6982)
            if len(command.data) != 8 or not valid_pin_block(command.data):
                return sw(0x6A80)
            self.admin_authenticated = False
            pin.set(command.data)
            self.verified.discard(command.p2)
            return SW_OK
        if command.p1 != 0x00:
            return sw(0x6A86)
        puk = self.state.puk
        if puk.blocked:
            return sw(0x6983)
        if len(command.data) != 16:
            return sw(0x6700)
        given_puk, new_pin = command.data[:8], command.data[8:]
        if not valid_pin_block(new_pin):
            return sw(0x6A80)
        if not puk.check(given_puk):
            return tries_sw(puk.tries_left)
        pin.set(new_pin)
        self.verified.discard(command.p2)
        if self.state.card_os.puk_verified_after_reset:
            self.verified.add(PUK_REF)
        return SW_OK

    # -- administration key -------------------------------------------------------

    def _get_challenge(self, command: CommandApdu) -> bytes:
        length = command.le or 0
        if length not in (8, CHALLENGE_LENGTH):
            return sw(0x6700)
        self.challenge = os.urandom(length)
        self.admin_authenticated = False
        return self.challenge + SW_OK

    def _external_authenticate(self, command: CommandApdu) -> bytes:
        if command.p2 != ADMIN_KEY_REF:
            return sw(0x6A88)
        key = self.state.admin_key
        if not command.data:  # like the empty VERIFY: the tries left, none spent
            return sw(0x6983) if key.blocked else tries_sw(key.tries_left)
        challenge, self.challenge = self.challenge, None
        if challenge is None:
            return sw(0x6985)  # no challenge outstanding (or already used)
        if key.blocked:
            return sw(0x6983)
        expected = admin_cryptogram(key.value, challenge)
        if constant_time.bytes_eq(command.data, expected):
            key.tries_left = key.max_tries
            self.admin_authenticated = True
            return SW_OK
        key.tries_left = max(0, key.tries_left - 1)
        return tries_sw(key.tries_left)


def historical_bytes(card_os: CardOs) -> bytes:
    """The ATR's historical bytes: proprietary, or compact-TLV with the card's capabilities.

    Compact-TLV (category 80): card capabilities (tag 7, three bytes; the third
    says whether extended Lc/Le are supported) and the card issuer's data (tag 5).
    """
    if not card_os.announces_capabilities:
        return b"SITHSeID"
    third = 0x40 if card_os.extended_apdus else 0x00
    return bytes((0x80, 0x73, 0x00, 0x00, third, 0x58)) + b"SITHSeID"


def puk_value(state: SithsCardState) -> str:
    """The PUK as printed on the PUK letter (for demos and tests)."""
    return state.puk.value.rstrip(bytes([PAD])).decode("ascii")
