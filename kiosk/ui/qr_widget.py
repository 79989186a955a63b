"""The login QR drawn from the QR module matrix as a texture (no image files)."""

from __future__ import annotations

import qrcode
from kivy.graphics import Color, Rectangle
from kivy.graphics.texture import Texture
from kivy.uix.widget import Widget

QUIET_ZONE = 4


def qr_matrix(content: str) -> list[list[bool]]:
    """The QR modules (True = dark), with the standard quiet zone."""
    code = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_L, border=QUIET_ZONE, box_size=1
    )
    code.add_data(content)
    code.make(fit=True)
    return code.get_matrix()


class QrWidget(Widget):
    """A square QR code; :meth:`show` redraws it (about a millisecond for a login frame)."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self._texture: Texture | None = None
        self.content = ""
        self.bind(pos=self._redraw, size=self._redraw)

    def show(self, content: str) -> None:
        """Draw ``content`` (skipped when unchanged)."""
        if content == self.content:
            return
        self.content = content
        matrix = qr_matrix(content)
        size = len(matrix)
        # Texture rows run bottom-up; dark modules black, light ones white.
        rows = [
            bytes(0 if dark else 255 for dark in row for _ in range(3)) for row in reversed(matrix)
        ]
        texture = Texture.create(size=(size, size), colorfmt="rgb")
        texture.mag_filter = "nearest"
        texture.min_filter = "nearest"
        texture.blit_buffer(b"".join(rows), colorfmt="rgb", bufferfmt="ubyte")
        self._texture = texture
        self._redraw()

    def _redraw(self, *_args: object) -> None:
        self.canvas.clear()
        if self._texture is None:
            return
        side = min(self.width, self.height)
        x = self.x + (self.width - side) / 2
        y = self.y + (self.height - side) / 2
        with self.canvas:
            Color(1, 1, 1, 1)
            Rectangle(texture=self._texture, pos=(x, y), size=(side, side))
