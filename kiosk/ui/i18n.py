"""Swedish first, English on request: strings live in translations/*.json, not in code."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

FOLDER = Path(__file__).parent / "translations"
LANGUAGES = ("sv", "en")


@cache
def catalogue(language: str) -> dict[str, str]:
    """All strings of one language."""
    return json.loads((FOLDER / f"{language}.json").read_text(encoding="utf-8"))


def text(language: str, key: str, **values: object) -> str:
    """The string for ``key``; an unknown reason falls back to the generic one."""
    strings = catalogue(language)
    template = strings.get(key)
    if template is None:
        template = strings["reason.unknown"] if key.startswith("reason.") else key
    try:
        return template.format(**values)
    except (KeyError, IndexError, ValueError):
        return template
