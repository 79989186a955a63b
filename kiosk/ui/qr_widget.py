"""The login QR drawn from its modules as a texture (no image files).

A new frame costs one encode (:mod:`kiosk.ui.qr_encoder`), one byte translation
and one texture upload of a few kilobytes, one byte a module: the texture and
the rectangle are kept and reused while the symbol's size stays the same.
The code is drawn at a whole number of pixels a module when there is room, so
every module is the same size on the screen (easier for a camera).
"""

from __future__ import annotations

from kivy.graphics import Color, Rectangle
from kivy.graphics.texture import Texture
from kivy.uix.widget import Widget

from kiosk.ui.qr_encoder import encode, luminance_rows


def drawn_side(available: float, modules: int) -> float:
    """The QR's side in pixels: whole pixels a module when it fits, else all the room."""
    per_module = int(available // modules)
    return float(per_module * modules) if per_module >= 1 else available


class QrWidget(Widget):
    """A square QR code; :meth:`show` puts new content on it."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self._texture: Texture | None = None
        self._rectangle: Rectangle | None = None
        self.content = ""
        self.bind(pos=self._place, size=self._place)

    def show(self, content: str) -> None:
        """Draw ``content`` (skipped when unchanged)."""
        if content == self.content:
            return
        self.content = content
        side, pixels = luminance_rows(encode(content))
        texture = self._texture
        if texture is None or texture.size != (side, side):
            texture = Texture.create(size=(side, side), colorfmt="luminance")
            texture.mag_filter = "nearest"
            texture.min_filter = "nearest"
            texture.flip_vertical()  # the rows come top first; a texture's first row is its bottom
            self._texture = texture
        texture.blit_buffer(pixels, colorfmt="luminance", bufferfmt="ubyte")
        if self._rectangle is None:
            with self.canvas:
                Color(1, 1, 1, 1)
                self._rectangle = Rectangle(texture=texture)
        else:
            self._rectangle.texture = texture
            self.canvas.ask_update()  # the same texture, new pixels: draw the frame again
        self._place()

    def _place(self, *_args: object) -> None:
        if self._rectangle is None or self._texture is None:
            return
        side = drawn_side(min(self.width, self.height), self._texture.width)
        self._rectangle.pos = (
            round(self.x + (self.width - side) / 2),
            round(self.y + (self.height - side) / 2),
        )
        self._rectangle.size = (side, side)
