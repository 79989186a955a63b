"""Swedish first, English on request: strings live in translations/*.json, not in code.

The screen's own strings are here; why something failed (``reason.*``) is worded
once for every part in :mod:`protocol.reasons`, and :func:`text` reads it there.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from protocol.reasons import LANGUAGES, reason_text

__all__ = ["LANGUAGES", "catalogue", "text"]

FOLDER = Path(__file__).parent / "translations"


@cache
def catalogue(language: str) -> dict[str, str]:
    """All strings of one language."""
    return json.loads((FOLDER / f"{language}.json").read_text(encoding="utf-8"))


def text(language: str, key: str, **values: object) -> str:
    """The string for ``key``; ``reason.<code>`` comes from the shared words (unknown: generic)."""
    if key.startswith("reason."):
        tries = values.get("tries")
        count = tries if isinstance(tries, int) else None
        return reason_text(language, key.removeprefix("reason."), tries=count)
    template = catalogue(language).get(key, key)
    try:
        return template.format(**values)
    except (KeyError, IndexError, ValueError):
        return template
