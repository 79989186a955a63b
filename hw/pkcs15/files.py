"""Reading a PKCS#15 application's files: SELECT by AID or path, READ BINARY to the end.

Each file costs its SELECT (whose FCP gives the size) and as few READ BINARY as
the card allows: one, of the whole file, where the card takes an extended-length
Le (:mod:`hw.extended_length`: the ATR says so, or the first such read is answered
with the data), else one per 256 bytes. A card that refuses the extended read is
read in short pieces from the same offset, and is not asked again on this connection.
"""

from __future__ import annotations

from hw import tlv
from hw.apdu import SHORT_MAX_LE, CommandApdu, ResponseApdu
from hw.apdu_processor import ApduProcessor
from hw.errors import PcscFailure, TlvError, UnexpectedResponse, UnsupportedCard
from hw.pkcs15.model import Pkcs15Error, parse_dir
from hw.status_words import ApduError, NotFound

PKCS15_AID = bytes.fromhex("A000000063504B43532D3135")
EF_DIR = bytes.fromhex("2F00")
EF_ODF = bytes.fromhex("5031")
MF = bytes.fromhex("3F00")
INS_SELECT = 0xA4
INS_READ_BINARY = 0xB0
#: Files larger than this are refused (no PKCS#15 file is near it).
MAX_FILE = 32768


class Pkcs15Files:
    """File access within one card's PKCS#15 application."""

    def __init__(self, processor: ApduProcessor, app_path: bytes | None = None) -> None:
        self._processor = processor
        #: The application's path from the MF when EF.DIR led to it; ``None``: by its AID.
        self.app_path = app_path
        #: The application was the last DF selected by AID (a relative path needs no reselect).
        self._app_current = False

    def select_application(self) -> None:
        """Select by AID, else by the path in EF.DIR; :class:`UnsupportedCard` if neither.

        Any refusal of the SELECT (whatever its status word: cards answer 6A82,
        6A88, 6E00, 6999 ...) means "not here", so the probe goes on.
        """
        try:
            self._select_aid()
            return
        except ApduError:
            pass
        try:
            applications = parse_dir(self.read(MF + EF_DIR))
        except (ApduError, Pkcs15Error):
            raise UnsupportedCard("the card has no PKCS#15 application") from None
        for app in applications:
            if app.aid == PKCS15_AID and app.path:
                try:
                    self._select_path(app.path)
                except ApduError:
                    raise UnsupportedCard("the PKCS#15 application cannot be selected") from None
                self.app_path = app.path
                return
        raise UnsupportedCard("the card's EF.DIR lists no PKCS#15 application")

    def reselect(self) -> None:
        """Select the application again, the way it was found (the start of a transaction)."""
        if self.app_path is not None:
            self._select_path(self.app_path)
        else:
            self._select_aid()

    def _select_aid(self) -> None:
        self._app_current = False
        self._processor.send(CommandApdu(0x00, INS_SELECT, 0x04, 0x0C, PKCS15_AID))
        self._app_current = True

    def _select_path(self, path: bytes) -> bytes:
        """SELECT a path; return the FCP (may be empty)."""
        if path.startswith(MF):
            self._app_current = False  # the current DF is now the file's parent
            command = CommandApdu(0x00, INS_SELECT, 0x08, 0x04, path[2:] or MF, le=256)
        elif self.app_path is not None:
            return self._select_path(self.app_path + path)
        else:
            # Relative to the application selected by AID (still current after a
            # relative SELECT of one of its files).
            if not self._app_current:
                self._select_aid()
            command = CommandApdu(0x00, INS_SELECT, 0x09, 0x04, path, le=256)
        return self._processor.send(command)

    def read(self, path: bytes) -> bytes:
        """The whole content of the transparent EF at ``path``."""
        if not path or len(path) % 2:
            raise Pkcs15Error(f"invalid file path {path.hex()}")
        try:
            control = self._select_path(path)
        except NotFound:
            raise Pkcs15Error(f"file {path.hex().upper()} is missing on the card") from None
        size = _file_size(control)
        if size is not None and size > MAX_FILE:
            raise Pkcs15Error(f"file {path.hex().upper()} is implausibly large")
        data = bytearray()
        while size is None or len(data) < size:
            if len(data) >= MAX_FILE:
                raise Pkcs15Error(f"file {path.hex().upper()} is implausibly large")
            offset = len(data)
            remaining = None if size is None else size - offset
            response = None
            if remaining is not None and remaining > SHORT_MAX_LE:
                response = self._read_extended(offset, remaining)
            if response is None:
                want = SHORT_MAX_LE if remaining is None else min(SHORT_MAX_LE, remaining)
                response = self._processor.transmit(_read_binary(offset, want))
            if response.sw in (0x9000, 0x6282):
                data += response.data
                if response.sw == 0x6282 or not response.data:
                    break
                continue
            if response.sw == 0x6B00 and size is None:
                break
            raise Pkcs15Error(
                f"reading file {path.hex().upper()} failed with status {response.sw:04X}"
            )
        return bytes(data)

    def _read_extended(self, offset: int, remaining: int) -> ResponseApdu | None:
        """The rest of the file in one extended-length READ BINARY; ``None`` when refused.

        Asked only while the card has not refused it. A refusal (any status word
        but 9000/6282, a reader that cannot send it, an answer the processor cannot
        use) makes this connection read in short pieces from now on; an answer of
        at most 256 bytes (the card chose a short answer, or asked by 6Cxx for a
        short resend) is kept, but gains nothing, so it does too.
        """
        if self._processor.extended_length is False:
            return None
        try:
            response = self._processor.transmit(_read_binary(offset, remaining))
        except (PcscFailure, UnexpectedResponse):
            self._processor.extended_length = False
            return None
        if response.sw not in (0x9000, 0x6282) or not response.data:
            self._processor.extended_length = False
            return None
        self._processor.extended_length = len(response.data) > SHORT_MAX_LE
        return response


def _read_binary(offset: int, le: int) -> CommandApdu:
    """READ BINARY from ``offset`` of the current EF (short or extended, by ``le``)."""
    return CommandApdu(0x00, INS_READ_BINARY, offset >> 8, offset & 0xFF, le=le)


def _file_size(control: bytes) -> int | None:
    """File size from an FCP/FCI template (tag 80 or 81), if the card gave one."""
    if not control:
        return None
    try:
        outer, _ = tlv.parse_one(control)
        fields = tlv.to_dict(outer.children()) if outer.tag in (0x62, 0x6F) else {}
    except TlvError:
        return None
    raw = fields.get(0x80) or fields.get(0x81)
    if not raw or len(raw) > 3:
        return None
    return int.from_bytes(raw, "big")
