"""The QR encoder (libqrencode): every frame of a whole login reads back, with zbar, as itself."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from cardservice.service import ServiceConfig
from kiosk.ui.qr_encoder import QUIET_ZONE, encode, luminance_rows
from protocol.login_qr import qr_content

TOKEN = "0f3c2a9e-6b1d-4c55-9e0a-5d2f1b7c8e43"
SECRET = "f3b1c1d2e3f4a5b6c7d8e9f0a1b2c3d4"
PIXELS_A_MODULE = 4


def as_pgm(content: str) -> bytes:
    """The kiosk's pixels for ``content``, each module 4x4 pixels, as a binary PGM image."""
    side, pixels = luminance_rows(encode(content))
    rows = (pixels[row * side : (row + 1) * side] for row in range(side))
    wide = [bytes(p for p in row for _ in range(PIXELS_A_MODULE)) for row in rows]
    image = b"".join(row for row in wide for _ in range(PIXELS_A_MODULE))
    size = side * PIXELS_A_MODULE
    return b"P5 %d %d 255\n" % (size, size) + image


def decode(paths: list[str]) -> list[str]:
    """What zbar reads in each image, in order (zbarimg from zbar-tools)."""
    if shutil.which("zbarimg") is None:
        pytest.fail("zbarimg is not installed (Debian package zbar-tools): run ./scripts/test")
    result = subprocess.run(
        ["zbarimg", "--raw", "-q", *paths], capture_output=True, text=True, timeout=120, check=False
    )
    return result.stdout.splitlines()


def test_every_frame_of_a_whole_login_decodes_to_its_content(tmp_path):
    seconds = int(ServiceConfig().login_ttl)  # the reference service's login lifetime
    contents = [qr_content("mobiltsiths", TOKEN, SECRET, second) for second in range(seconds + 1)]
    paths = []
    for second, content in enumerate(contents):
        path = tmp_path / f"{second:03d}.pgm"
        path.write_bytes(as_pgm(content))
        paths.append(str(path))
    decoded = decode(paths)
    missing = [c for c in contents if c not in decoded]
    assert not missing, f"{len(missing)} frames did not read back, first: {missing[0]}"
    assert decoded == contents


def test_the_symbol_has_its_quiet_zone_and_light_and_dark_modules():
    symbol = encode(qr_content("mobiltsiths", TOKEN, SECRET, 7))
    side, pixels = luminance_rows(symbol)
    assert side == symbol.width + 2 * QUIET_ZONE
    assert len(pixels) == side * side
    assert set(pixels) == {0, 255}
    assert set(pixels[: side * QUIET_ZONE]) == {255}  # the top rows are light
    assert set(pixels[-side * QUIET_ZONE :]) == {255}  # and the bottom ones
    assert pixels[side * QUIET_ZONE + QUIET_ZONE] == 0  # a finder pattern's dark corner


def test_content_that_cannot_be_a_qr_code_is_refused_clearly():
    with pytest.raises(ValueError, match="needs some content"):
        encode("")
    with pytest.raises(ValueError, match="do not fit in a QR code"):
        encode("x" * 3000)  # level L holds at most 2953 bytes
