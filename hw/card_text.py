r"""Text read from a card, made safe to show: control characters become visible escapes.

A label or a name on a card is data from outside: an escape sequence in a PIN's
label must not reach a technician's terminal (or a log) as a command. Printable
text passes unchanged; anything else is written as ``\xNN`` / ``\uNNNN``.
"""

from __future__ import annotations


def _escaped(character: str) -> str:
    return character.encode("unicode_escape").decode("ascii")


def shown(text: str) -> str:
    """``text`` with every unprintable character replaced by its escape."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _escaped(c) for c in text)
