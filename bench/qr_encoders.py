"""Benchmark: the QR encoders the kiosk could use, on the contents of one whole login.

Prints the median and spread of encoding each second's content (0-180 s) with:
libqrencode (``kiosk.ui.qr_encoder``, what the kiosk uses), ``qrcode`` and
``segno`` choosing the mask as the standard asks (all 8 tried) and with one
fixed mask; and the kiosk's step from modules to texture pixels. ``qrcode``
comes with the dev extras (the earlier revision used it); ``segno`` is measured
when installed (``.venv/bin/pip install segno``).

Run: .venv/bin/python bench/qr_encoders.py
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kiosk.ui.qr_encoder import encode, luminance_rows
from protocol.login_qr import qr_content

TOKEN = "0f3c2a9e-6b1d-4c55-9e0a-5d2f1b7c8e43"
SECRET = "a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5"


def candidates() -> list[tuple[str, Callable[[str], object]]]:
    found: list[tuple[str, Callable[[str], object]]] = [("libqrencode (the kiosk's)", encode)]
    try:
        import qrcode
    except ImportError:
        print("qrcode not installed: skipped")
    else:

        def with_qrcode(mask: int | None) -> Callable[[str], object]:
            def run(content: str) -> object:
                code = qrcode.QRCode(
                    error_correction=qrcode.constants.ERROR_CORRECT_L, border=4, mask_pattern=mask
                )
                code.add_data(content)
                code.make(fit=True)
                return code.get_matrix()

            return run

        found += [
            ("qrcode, best of 8 masks", with_qrcode(None)),
            ("qrcode, mask 0", with_qrcode(0)),
        ]
    try:
        import segno
    except ImportError:
        print("segno not installed: skipped (.venv/bin/pip install segno to include it)")
    else:
        found += [
            ("segno, best of 8 masks", lambda c: segno.make_qr(c, error="l", boost_error=False)),
            ("segno, mask 0", lambda c: segno.make_qr(c, error="l", mask=0, boost_error=False)),
        ]
    return found


def timed(work: Callable[[str], object], contents: list[str]) -> list[float]:
    work(contents[0])  # warm up
    times = []
    for content in contents:
        start = time.perf_counter()
        work(content)
        times.append((time.perf_counter() - start) * 1000)
    return times


def main() -> None:
    contents = [qr_content("mobiltsiths", TOKEN, SECRET, second) for second in range(181)]
    print(f"encoding the {len(contents)} frames of a 180 s login (ms a frame)")
    rows = [*candidates(), ("modules -> texture pixels", None)]
    for name, work in rows:
        if work is None:
            symbols = {c: encode(c) for c in contents}
            times = timed(lambda c, symbols=symbols: luminance_rows(symbols[c]), contents)
        else:
            times = timed(work, contents)
        print(
            f"  {name:28s} median {statistics.median(times):7.3f}"
            f"   (min {min(times):.3f}, max {max(times):.3f})"
        )


if __name__ == "__main__":
    main()
