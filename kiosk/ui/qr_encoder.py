"""The login QR's modules, encoded by libqrencode (C; Debian package ``libqrencode4``).

Why libqrencode, called with ctypes: a login frame is re-encoded every second,
on the thread that draws the screen. Measured on one machine (``bench/qr_encoders.py``,
see docs/performance.md): libqrencode encodes a frame in about 0.15 ms and
still chooses the best of the 8 mask patterns as the QR standard asks; the
pure-Python ``qrcode`` and ``segno`` take 6-7 ms because they try all 8 masks in
Python, and 1.2-1.5 ms given one fixed mask, which gives up the mask choice
that keeps a code easy for a camera. No maintained Python binding of libqrencode
exists, and the part we need is two C functions, so this module calls them.

Byte mode, error correction level L, smallest version that fits: the same
code the kiosk drew before with ``qrcode``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
from dataclasses import dataclass

#: ``QR_ECLEVEL_L`` in qrencode.h.
LEVEL_L = 0
#: Light modules around the code, as the QR standard asks.
QUIET_ZONE = 4
#: Bit 0 of each module byte is "dark"; the other bits say which part of the code it is.
_DARK_BIT = bytes(value & 1 for value in range(256))
#: Module value (1 dark, 0 light) -> luminance.
_LUMINANCE = bytes([255, 0]) + bytes(254)


class _QRcode(ctypes.Structure):
    """``QRcode`` in qrencode.h."""

    _fields_ = (
        ("version", ctypes.c_int),
        ("width", ctypes.c_int),
        ("data", ctypes.POINTER(ctypes.c_ubyte)),
    )


def _load() -> ctypes.CDLL:
    """The C library with its two functions declared; a clear error when it is missing."""
    name = ctypes.util.find_library("qrencode") or "libqrencode.so.4"
    try:
        library = ctypes.CDLL(name, use_errno=True)
    except OSError as error:
        raise ImportError(
            "libqrencode is not installed (Debian package libqrencode4);"
            " the kiosk cannot draw the login QR without it"
        ) from error
    library.QRcode_encodeData.restype = ctypes.POINTER(_QRcode)
    library.QRcode_encodeData.argtypes = (
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_int,
    )
    library.QRcode_free.restype = None
    library.QRcode_free.argtypes = (ctypes.POINTER(_QRcode),)
    return library


_LIBRARY = _load()


@dataclass(frozen=True)
class QrModules:
    """A QR symbol without its quiet zone: ``width`` x ``width`` modules, row by row from the top.

    ``dark`` holds one byte per module: 1 dark, 0 light.
    """

    version: int
    width: int
    dark: bytes


def encode(content: str) -> QrModules:
    """The QR symbol for ``content`` (UTF-8, byte mode, level L, smallest version)."""
    data = content.encode()
    if not data:
        raise ValueError("a QR code needs some content")
    result = _LIBRARY.QRcode_encodeData(len(data), data, 0, LEVEL_L)
    if not result:
        code = ctypes.get_errno()
        if code == errno.ERANGE:
            raise ValueError(f"{len(data)} bytes do not fit in a QR code")
        raise RuntimeError(f"libqrencode could not encode the QR ({errno.errorcode.get(code)})")
    try:
        symbol = result.contents
        width = symbol.width
        modules = ctypes.string_at(symbol.data, width * width).translate(_DARK_BIT)
        return QrModules(symbol.version, width, modules)
    finally:
        _LIBRARY.QRcode_free(result)


def luminance_rows(modules: QrModules, quiet_zone: int = QUIET_ZONE) -> tuple[int, bytes]:
    """The side in modules with the quiet zone, and its pixels, one byte each, top row first."""
    side = modules.width + 2 * quiet_zone
    light_rows = b"\xff" * (side * quiet_zone)
    margin = b"\xff" * quiet_zone
    width = modules.width
    dark = modules.dark.translate(_LUMINANCE)
    rows = [margin + dark[row : row + width] + margin for row in range(0, width * width, width)]
    return side, light_rows + b"".join(rows) + light_rows
