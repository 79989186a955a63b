"""A software PIV card (NIST SP 800-73-4) that behaves like a real one.

PIN and PUK counters and blocking, VERIFY (including the empty form that
spends no try), CHANGE REFERENCE DATA, RESET RETRY COUNTER, data objects via
GET/PUT DATA with answers over 256 bytes chained through ``61xx``, command
chaining, management-key (3DES) mutual authentication, and the YubiKey
extensions (GET VERSION, GET SERIAL, GET METADATA) that yubico-piv-tool uses.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.ciphers import Cipher, modes

from hw import tlv
from hw.apdu import CommandApdu
from hw.pins import PAD, PIV_PIN_MIN, PIV_REFERENCE_LENGTH, pad_reference
from hw.piv import constants as c
from sim.vcard.apdu_card import SW_OK, ApduCard, Handler, tries_sw, valid_pin_block
from sim.vcard.apdu_card import sw as _sw

try:  # cryptography >= 43 keeps 3DES in the "decrepit" module
    from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
except ImportError:  # pragma: no cover - older cryptography
    from cryptography.hazmat.primitives.ciphers.algorithms import TripleDES

DEFAULT_MANAGEMENT_KEY = bytes.fromhex("010203040506070801020304050607080102030405060708")
DEFAULT_PIN = "123456"
DEFAULT_PUK = "12345678"


@dataclass
class PivCardState:
    """Everything the card remembers across power cycles (and remove/insert)."""

    pin: str = DEFAULT_PIN
    puk: str = DEFAULT_PUK
    pin_max_tries: int = 3
    puk_max_tries: int = 3
    pin_tries_left: int = 3
    puk_tries_left: int = 3
    management_key: bytes = DEFAULT_MANAGEMENT_KEY
    serial: int = 13371337
    version: tuple[int, int, int] = (5, 4, 3)
    #: Data objects by object id, each the value inside the ``53`` container.
    objects: dict[int, bytes] = field(default_factory=dict)

    @property
    def pin_blocked(self) -> bool:
        """Whether the PIN has no tries left."""
        return self.pin_tries_left == 0

    @property
    def puk_blocked(self) -> bool:
        """Whether the PUK has no tries left."""
        return self.puk_tries_left == 0


def _valid_puk_block(block: bytes) -> bool:
    return len(block) == PIV_REFERENCE_LENGTH and len(block.rstrip(bytes([PAD]))) >= PIV_PIN_MIN


class VirtualPivCard(ApduCard):
    """The card logic; the vpcd link calls :meth:`process` from its thread."""

    chainable = frozenset({c.INS_PUT_DATA})

    def __init__(self, state: PivCardState | None = None) -> None:
        self.state = state or PivCardState()
        super().__init__(b"KIOSKPIV")

    def clear_volatile(self) -> None:
        """Forget the verified PIN, management-key authentication and challenges."""
        self.pin_verified = False
        self.management_authenticated = False
        self._witness: bytes | None = None
        self._challenge: bytes | None = None

    def handlers(self) -> dict[int, Handler]:
        """PIV instructions and the YubiKey extensions."""
        return {
            c.INS_SELECT: self._select,
            c.INS_GET_DATA: self._get_data,
            c.INS_PUT_DATA: self._put_data,
            c.INS_VERIFY: self._verify,
            c.INS_CHANGE_REFERENCE: self._change_reference,
            c.INS_RESET_RETRY_COUNTER: self._reset_retry_counter,
            c.INS_GENERAL_AUTHENTICATE: self._general_authenticate,
            c.INS_GET_VERSION: self._get_version,
            c.INS_GET_SERIAL: self._get_serial,
            c.INS_GET_METADATA: self._get_metadata,
        }

    # -- application ------------------------------------------------------------

    def _select(self, command: CommandApdu) -> bytes:
        if command.p1 != 0x04:
            return _sw(0x6A82)
        aid = command.data
        if len(aid) < 5 or not c.PIV_AID.startswith(aid):
            return _sw(0x6A82)
        self.clear_volatile()
        template = tlv.encode_all(
            [
                (0x4F, c.PIV_AID[5:]),
                (0x79, tlv.encode_tlv(0x4F, c.PIV_AID[:5])),
            ]
        )
        return self.respond(tlv.encode_tlv(0x61, template), command)

    def _get_version(self, command: CommandApdu) -> bytes:
        return bytes(self.state.version) + SW_OK

    def _get_serial(self, command: CommandApdu) -> bytes:
        return self.state.serial.to_bytes(4, "big") + SW_OK

    def _get_metadata(self, command: CommandApdu) -> bytes:
        state = self.state
        if command.p2 == c.KEY_PIN:
            default = state.pin == DEFAULT_PIN
            retries = (state.pin_max_tries, state.pin_tries_left)
        elif command.p2 == c.KEY_PUK:
            default = state.puk == DEFAULT_PUK
            retries = (state.puk_max_tries, state.puk_tries_left)
        elif command.p2 == c.KEY_MANAGEMENT:
            default = state.management_key == DEFAULT_MANAGEMENT_KEY
            body = tlv.encode_all(
                [(0x01, bytes([c.ALG_3DES])), (0x02, b"\x00\x01"), (0x05, bytes([default]))]
            )
            return body + SW_OK
        else:
            return _sw(0x6A88)
        body = tlv.encode_all([(0x01, b"\xff"), (0x05, bytes([default])), (0x06, bytes(retries))])
        return body + SW_OK

    # -- data objects -----------------------------------------------------------

    def _get_data(self, command: CommandApdu) -> bytes:
        if (command.p1, command.p2) != (0x3F, 0xFF):
            return _sw(0x6A86)
        request = tlv.parse_single(command.data, c.TAG_OBJECT_ID)
        object_id = int.from_bytes(request.value, "big")
        content = self.state.objects.get(object_id)
        if content is None:
            return _sw(0x6A82)
        if object_id == c.OBJ_DISCOVERY:
            return self.respond(tlv.encode_tlv(c.OBJ_DISCOVERY, content), command)
        return self.respond(tlv.encode_tlv(c.TAG_DATA, content), command)

    def _put_data(self, command: CommandApdu) -> bytes:
        if (command.p1, command.p2) != (0x3F, 0xFF):
            return _sw(0x6A86)
        if not self.management_authenticated:
            return _sw(0x6982)
        items = tlv.parse_all(command.data)
        if len(items) != 2 or items[0].tag != c.TAG_OBJECT_ID or items[1].tag != c.TAG_DATA:
            return _sw(0x6A80)
        object_id = int.from_bytes(items[0].value, "big")
        if items[1].value:
            self.state.objects[object_id] = items[1].value
        else:
            self.state.objects.pop(object_id, None)
        return SW_OK

    # -- PIN and PUK --------------------------------------------------------------

    def _verify(self, command: CommandApdu) -> bytes:
        state = self.state
        if command.p1 == 0xFF and not command.data:
            self.pin_verified = False
            return SW_OK
        if command.p1 != 0x00:
            return _sw(0x6A86)
        if command.p2 != c.KEY_PIN:
            return _sw(0x6A88)
        if not command.data:
            if state.pin_blocked:
                return _sw(0x6983)
            if self.pin_verified:
                return SW_OK
            return tries_sw(state.pin_tries_left)
        if len(command.data) != PIV_REFERENCE_LENGTH:
            return _sw(0x6A80)
        if state.pin_blocked:
            return _sw(0x6983)
        if command.data == pad_reference(state.pin):
            state.pin_tries_left = state.pin_max_tries
            self.pin_verified = True
            return SW_OK
        state.pin_tries_left -= 1
        self.pin_verified = False
        return tries_sw(state.pin_tries_left)

    def _change_reference(self, command: CommandApdu) -> bytes:
        state = self.state
        if command.p1 != 0x00:
            return _sw(0x6A86)
        if command.p2 not in (c.KEY_PIN, c.KEY_PUK):
            return _sw(0x6A88)
        is_pin = command.p2 == c.KEY_PIN
        if state.pin_blocked if is_pin else state.puk_blocked:
            return _sw(0x6983)
        if len(command.data) != 2 * PIV_REFERENCE_LENGTH:
            return _sw(0x6A80)
        old, new = command.data[:8], command.data[8:]
        current = state.pin if is_pin else state.puk
        if old != pad_reference(current):
            if is_pin:
                state.pin_tries_left -= 1
                self.pin_verified = False
                return tries_sw(state.pin_tries_left)
            state.puk_tries_left -= 1
            return tries_sw(state.puk_tries_left)
        if not (valid_pin_block(new) if is_pin else _valid_puk_block(new)):
            return _sw(0x6A80)
        value = new.rstrip(bytes([PAD])).decode("ascii", "replace")
        if is_pin:
            state.pin, state.pin_tries_left = value, state.pin_max_tries
        else:
            state.puk, state.puk_tries_left = value, state.puk_max_tries
        return SW_OK

    def _reset_retry_counter(self, command: CommandApdu) -> bytes:
        state = self.state
        if command.p1 != 0x00:
            return _sw(0x6A86)
        if command.p2 != c.KEY_PIN:
            return _sw(0x6A88)
        if state.puk_blocked:
            return _sw(0x6983)
        if len(command.data) != 2 * PIV_REFERENCE_LENGTH:
            return _sw(0x6A80)
        puk, new_pin = command.data[:8], command.data[8:]
        if not valid_pin_block(new_pin):
            return _sw(0x6A80)
        if puk != pad_reference(state.puk):
            state.puk_tries_left -= 1
            return tries_sw(state.puk_tries_left)
        state.pin = new_pin.rstrip(bytes([PAD])).decode("ascii")
        state.pin_tries_left = state.pin_max_tries
        state.puk_tries_left = state.puk_max_tries
        self.pin_verified = False
        return SW_OK

    # -- management key ----------------------------------------------------------

    def _cipher(self) -> Cipher:
        return Cipher(TripleDES(self.state.management_key), modes.ECB())

    def _encrypt(self, block: bytes) -> bytes:
        encryptor = self._cipher().encryptor()
        return encryptor.update(block) + encryptor.finalize()

    def _general_authenticate(self, command: CommandApdu) -> bytes:
        if command.p2 != c.KEY_MANAGEMENT:
            return _sw(0x6A88)
        if command.p1 != c.ALG_3DES:
            return _sw(0x6A86)
        outer = tlv.parse_single(command.data, c.TAG_DYNAMIC_AUTH)
        fields = tlv.to_dict(outer.children())
        witness = fields.get(c.TAG_AUTH_WITNESS)
        challenge = fields.get(c.TAG_AUTH_CHALLENGE)
        response = fields.get(c.TAG_AUTH_RESPONSE)
        if witness == b"" and challenge is None:
            # Step 1 of mutual auth: hand out an encrypted witness.
            self._witness = os.urandom(8)
            self.management_authenticated = False
            body = tlv.encode_tlv(c.TAG_AUTH_WITNESS, self._encrypt(self._witness))
            return self.respond(tlv.encode_tlv(c.TAG_DYNAMIC_AUTH, body), command)
        if witness and challenge and len(challenge) == 8:
            # Step 2: the host proves it decrypted the witness; we answer its challenge.
            expected, self._witness = self._witness, None
            if expected is None or witness != expected:
                return _sw(0x6982)
            self.management_authenticated = True
            body = tlv.encode_tlv(c.TAG_AUTH_RESPONSE, self._encrypt(challenge))
            return self.respond(tlv.encode_tlv(c.TAG_DYNAMIC_AUTH, body), command)
        if challenge == b"" and witness is None:
            # One-way: card challenges, host answers with the encryption.
            self._challenge = os.urandom(8)
            body = tlv.encode_tlv(c.TAG_AUTH_CHALLENGE, self._challenge)
            return self.respond(tlv.encode_tlv(c.TAG_DYNAMIC_AUTH, body), command)
        if response and self._challenge is not None:
            expected_response = self._encrypt(self._challenge)
            self._challenge = None
            if response != expected_response:
                return _sw(0x6982)
            self.management_authenticated = True
            return SW_OK
        return _sw(0x6A80)
