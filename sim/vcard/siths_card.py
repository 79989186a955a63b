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
from cryptography.hazmat.primitives import constant_time, serialization

from hw.apdu import CommandApdu
from hw.pins import PAD, pad_reference
from hw.pkcs15 import model
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
from sim.vcard.iso_fs import DedicatedFile, ElementaryFile, FileSystem, fcp

PKCS15_AID = bytes.fromhex("A000000063504B43532D3135")
APP_DF = 0x5015
IDENTIFICATION_PIN_REF = 0x81
SIGNATURE_PIN_REF = 0x82
PUK_REF = 0x83
ADMIN_KEY_REF = 0x01

IDENTIFICATION_PIN_LABEL = "Identification PIN"
SIGNATURE_PIN_LABEL = "Signature PIN"
PUK_LABEL = "PUK"

INS_SELECT = 0xA4
INS_READ_BINARY = 0xB0
INS_VERIFY = 0x20
INS_CHANGE_REFERENCE = 0x24
INS_RESET_RETRY_COUNTER = 0x2C
INS_GET_CHALLENGE = 0x84
INS_EXTERNAL_AUTHENTICATE = 0x82


def _path(*fids: int) -> bytes:
    return b"".join(fid.to_bytes(2, "big") for fid in fids)


def pkcs15_tree(
    identification: x509.Certificate | None,
    signature: x509.Certificate | None,
    *,
    serial: bytes,
    label: str = "SITHS eID",
) -> DedicatedFile:
    """The card's file system: MF, EF.DIR, DF.PKCS15 with its directory files."""
    mf = DedicatedFile(0x3F00)
    app = DedicatedFile(APP_DF, aid=PKCS15_AID)
    mf.add(app)
    mf.add(
        ElementaryFile(
            0x2F00,
            model.build_dir([model.Application(PKCS15_AID, label, _path(0x3F00, APP_DF))]),
        )
    )
    pins = [
        model.Pkcs15Pin(
            IDENTIFICATION_PIN_LABEL,
            b"\x01",
            b"\x03",
            IDENTIFICATION_PIN_REF,
            frozenset({"local", "initialized", "needs-padding"}),
            "ascii-numeric",
            6,
            8,
            8,
            PAD,
        ),
        model.Pkcs15Pin(
            SIGNATURE_PIN_LABEL,
            b"\x02",
            b"\x03",
            SIGNATURE_PIN_REF,
            frozenset({"local", "initialized", "needs-padding"}),
            "ascii-numeric",
            6,
            8,
            8,
            PAD,
        ),
        model.Pkcs15Pin(
            PUK_LABEL,
            b"\x03",
            None,
            PUK_REF,
            frozenset({"local", "initialized", "unblockingPin", "soPin"}),
            "ascii-numeric",
            8,
            8,
            8,
            PAD,
        ),
    ]
    certificates: list[model.Pkcs15Certificate] = []
    keys: list[model.Pkcs15PrivateKey] = []
    for index, (cert, role, pin_id) in enumerate(
        [
            (identification, CertificateRole.IDENTIFICATION, b"\x01"),
            (signature, CertificateRole.SIGNATURE, b"\x02"),
        ]
    ):
        if cert is None:
            continue
        key_id = bytes([0x45 + index])
        cert_fid = 0x4301 + index
        name = "Identification" if role is CertificateRole.IDENTIFICATION else "Signature"
        der = cert.public_bytes(serialization.Encoding.DER)
        app.add(ElementaryFile(cert_fid, der))
        certificates.append(
            model.Pkcs15Certificate(f"{name} certificate", key_id, _path(0x3F00, APP_DF, cert_fid))
        )
        usage = (
            {"sign", "decrypt"} if role is CertificateRole.IDENTIFICATION else {"nonRepudiation"}
        )
        keys.append(
            model.Pkcs15PrivateKey(
                f"{name} key",
                key_id,
                pin_id,
                frozenset(usage),
                _path(0x3F00, APP_DF, 0x4B01 + index),
                cert.public_key().key_size,
            )
        )
    odf = {
        "private_keys": _path(0x3F00, APP_DF, 0x4401),
        "certificates": _path(0x3F00, APP_DF, 0x4402),
        "auth_objects": _path(0x3F00, APP_DF, 0x4403),
    }
    app.add(ElementaryFile(0x5031, model.build_odf(odf)))
    app.add(
        ElementaryFile(
            0x5032, model.build_token_info(model.TokenInfo(serial, "Kiosk virtual card", label))
        )
    )
    app.add(ElementaryFile(0x4401, model.build_prkdf(keys)))
    app.add(ElementaryFile(0x4402, model.build_cdf(certificates)))
    app.add(ElementaryFile(0x4403, model.build_aodf(pins)))
    return mf


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
    ) -> SithsCardState:
        """A freshly personalised card for ``holder`` with certificates from ``pki``.

        ``aid_selectable=False`` makes a card that only EF.DIR leads to (some
        older cards cannot SELECT the PKCS#15 application by its AID).
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
        )


class VirtualSithsCard(ApduCard):
    """The card logic."""

    def __init__(self, state: SithsCardState) -> None:
        self.state = state
        self.fs = FileSystem(state.files)
        super().__init__(b"SITHSeID")

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
            return data + sw(0x6282)
        return self.respond(data, command)

    # -- PINs -------------------------------------------------------------------

    def _verify(self, command: CommandApdu) -> bytes:
        counter = self.state.counter(command.p2)
        if counter is None:
            return sw(0x6A88)
        if command.p1 == 0xFF and not command.data:
            self.verified.discard(command.p2)
            return SW_OK
        if command.p1 != 0x00:
            return sw(0x6A86)
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
        if counter is None or command.p1 != 0x00:
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
        challenge, self.challenge = self.challenge, None
        if challenge is None:
            return sw(0x6985)  # no challenge outstanding (or already used)
        key = self.state.admin_key
        if key.blocked:
            return sw(0x6983)
        expected = admin_cryptogram(key.value, challenge)
        if constant_time.bytes_eq(command.data, expected):
            key.tries_left = key.max_tries
            self.admin_authenticated = True
            return SW_OK
        key.tries_left = max(0, key.tries_left - 1)
        return tries_sw(key.tries_left)


def puk_value(state: SithsCardState) -> str:
    """The PUK as printed on the PUK letter (for demos and tests)."""
    return state.puk.value.rstrip(bytes([PAD])).decode("ascii")
