"""The device key's permissions, checked at every start of ``kiosk run``.

Why at start and in the kiosk itself: a key others can read is a kiosk identity
anyone on the unit can copy, and a restore from a backup or a careless ``cp`` widens
permissions without anyone noticing. The kiosk refuses to start with such a key and
says which file and the fix, instead of serving with an identity it cannot vouch for.
"""

from __future__ import annotations

import stat
from pathlib import Path


def key_file_problem(path: Path) -> str | None:
    """``None`` when the key is missing (not provisioned yet) or its owner's alone."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return None
    except OSError as error:
        return f"the device key {path} cannot be checked ({error})"
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        return (
            f"the device key {path} can be read by other users (mode {stat.filemode(mode)});"
            f" the kiosk will not start with it. Fix: chmod 600 {path}"
        )
    return None
