"""A software PIV card (NIST SP 800-73-4) that behaves like a real one.

PIN and PUK counters and blocking, VERIFY (including the empty form that
spends no try), CHANGE REFERENCE DATA, RESET RETRY COUNTER, data objects via
GET/PUT DATA with answers over 256 bytes chained through ``61xx``, command
chaining, management-key (3DES) mutual authentication, and the YubiKey
extensions (GET VERSION, GET SERIAL, GET METADATA) that yubico-piv-tool uses.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.ciphers import Cipher, modes

from hw import tlv
from hw.apdu import SHORT_MAX_LE, CommandApdu, parse_command
from hw.errors import TlvError
from hw.pins import PAD, PIV_PIN_MAX, PIV_PIN_MIN, PIV_REFERENCE_LENGTH, pad_reference
from hw.piv import constants as c
from hw.vcard.card import make_atr

try:  # cryptography >= 43 keeps 3DES in the "decrepit" module
    from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
except ImportError:  # pragma: no cover - older cryptography
    from cryptography.hazmat.primitives.ciphers.algorithms import TripleDES

DEFAULT_MANAGEMENT_KEY = bytes.fromhex("010203040506070801020304050607080102030405060708")
DEFAULT_PIN = "123456"
DEFAULT_PUK = "12345678"

SW_OK = b"\x90\x00"


def _sw(value: int) -> bytes:
    return value.to_bytes(2, "big")


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


def valid_pin_block(block: bytes) -> bool:
    """Whether 8 bytes are 6-8 ASCII digits padded with ``FF`` (SP 800-73-4)."""
    if len(block) != PIV_REFERENCE_LENGTH:
        return False
    digits = block.rstrip(bytes([PAD]))
    return PIV_PIN_MIN <= len(digits) <= PIV_PIN_MAX and all(0x30 <= b <= 0x39 for b in digits)


def _valid_puk_block(block: bytes) -> bool:
    return len(block) == PIV_REFERENCE_LENGTH and len(block.rstrip(bytes([PAD]))) >= PIV_PIN_MIN


class VirtualPivCard:
    """The card logic; the vpcd link calls :meth:`process` from its thread."""

    def __init__(self, state: PivCardState | None = None) -> None:
        self.state = state or PivCardState()
        self.lock = threading.Lock()
        self._atr = make_atr(b"KIOSKPIV")
        self._clear_volatile()

    @property
    def atr(self) -> bytes:
        """Answer to reset."""
        return self._atr

    # -- power ----------------------------------------------------------------

    def _clear_volatile(self) -> None:
        self.pin_verified = False
        self.management_authenticated = False
        self._pending = b""
        self._chain = b""
        self._witness: bytes | None = None
        self._challenge: bytes | None = None

    def power_on(self) -> None:
        """Fresh session."""
        with self.lock:
            self._clear_volatile()

    def power_off(self) -> None:
        """Volatile state is lost."""
        with self.lock:
            self._clear_volatile()

    def reset(self) -> None:
        """Warm reset."""
        self.power_off()

    # -- dispatch -------------------------------------------------------------

    def process(self, raw: bytes) -> bytes:
        """Answer one command APDU."""
        with self.lock:
            try:
                command = parse_command(raw)
            except ValueError:
                return _sw(0x6700)
            if command.ins != c.INS_GET_RESPONSE:
                self._pending = b""
            if command.cla not in (0x00, 0x10):
                return _sw(0x6E00)
            if command.cla == 0x10:
                if command.ins != c.INS_PUT_DATA:
                    return _sw(0x6884)
                self._chain += command.data
                return SW_OK
            if self._chain:
                command = CommandApdu(
                    command.cla,
                    command.ins,
                    command.p1,
                    command.p2,
                    self._chain + command.data,
                    command.le,
                )
                self._chain = b""
            handler = self._handlers().get(command.ins)
            if handler is None:
                return _sw(0x6D00)
            try:
                return handler(command)
            except TlvError:
                return _sw(0x6A80)

    def _handlers(self) -> dict[int, object]:
        return {
            c.INS_SELECT: self._select,
            c.INS_GET_DATA: self._get_data,
            c.INS_PUT_DATA: self._put_data,
            c.INS_VERIFY: self._verify,
            c.INS_CHANGE_REFERENCE: self._change_reference,
            c.INS_RESET_RETRY_COUNTER: self._reset_retry_counter,
            c.INS_GENERAL_AUTHENTICATE: self._general_authenticate,
            c.INS_GET_RESPONSE: self._get_response,
            c.INS_GET_VERSION: self._get_version,
            c.INS_GET_SERIAL: self._get_serial,
            c.INS_GET_METADATA: self._get_metadata,
        }

    def _respond(self, data: bytes, command: CommandApdu) -> bytes:
        """Send up to 256 bytes (or Le for extended commands); chain the rest via 61xx."""
        chunk = (command.le or SHORT_MAX_LE) if command.extended else SHORT_MAX_LE
        head, rest = data[:chunk], data[chunk:]
        self._pending = rest
        if rest:
            return head + bytes([0x61, len(rest) if len(rest) < 256 else 0])
        return head + SW_OK

    def _get_response(self, command: CommandApdu) -> bytes:
        if not self._pending:
            return _sw(0x6985)
        data = self._pending
        return self._respond(data, CommandApdu(0, 0, 0, 0, le=command.le))

    # -- application ------------------------------------------------------------

    def _select(self, command: CommandApdu) -> bytes:
        if command.p1 != 0x04:
            return _sw(0x6A82)
        aid = command.data
        if len(aid) < 5 or not c.PIV_AID.startswith(aid):
            return _sw(0x6A82)
        self._clear_volatile()
        template = tlv.encode_all(
            [
                (0x4F, c.PIV_AID[5:]),
                (0x79, tlv.encode_tlv(0x4F, c.PIV_AID[:5])),
            ]
        )
        return self._respond(tlv.encode_tlv(0x61, template), command)

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
            return self._respond(tlv.encode_tlv(c.OBJ_DISCOVERY, content), command)
        return self._respond(tlv.encode_tlv(c.TAG_DATA, content), command)

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
            return _sw(0x63C0 | min(state.pin_tries_left, 15))
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
        return _sw(0x63C0 | min(state.pin_tries_left, 15))

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
                return _sw(0x63C0 | min(state.pin_tries_left, 15))
            state.puk_tries_left -= 1
            return _sw(0x63C0 | min(state.puk_tries_left, 15))
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
            return _sw(0x63C0 | min(state.puk_tries_left, 15))
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
            return self._respond(tlv.encode_tlv(c.TAG_DYNAMIC_AUTH, body), command)
        if witness and challenge and len(challenge) == 8:
            # Step 2: the host proves it decrypted the witness; we answer its challenge.
            expected, self._witness = self._witness, None
            if expected is None or witness != expected:
                return _sw(0x6982)
            self.management_authenticated = True
            body = tlv.encode_tlv(c.TAG_AUTH_RESPONSE, self._encrypt(challenge))
            return self._respond(tlv.encode_tlv(c.TAG_DYNAMIC_AUTH, body), command)
        if challenge == b"" and witness is None:
            # One-way: card challenges, host answers with the encryption.
            self._challenge = os.urandom(8)
            body = tlv.encode_tlv(c.TAG_AUTH_CHALLENGE, self._challenge)
            return self._respond(tlv.encode_tlv(c.TAG_DYNAMIC_AUTH, body), command)
        if response and self._challenge is not None:
            expected_response = self._encrypt(self._challenge)
            self._challenge = None
            if response != expected_response:
                return _sw(0x6982)
            self.management_authenticated = True
            return SW_OK
        return _sw(0x6A80)
