"""Files the tool writes belong to whoever owns their folder.

The technician runs ``kiosk-provision`` as root (``sudo``), but the kiosk runs as its own
user (``siths-kiosk``, systemd/siths-kiosk.service) and must read its device key,
certificate and configuration. A key written 0600 and owned by root would stop the kiosk,
so a file written as root is handed to the owner and group of the folder it is written
into: ``/var/lib/siths-kiosk`` (the kiosk's own, 0700) and ``/etc/siths-kiosk``
(root:siths-kiosk, 0750), as the install made them. Run as anyone else, files stay the
runner's own.
"""

from __future__ import annotations

import os
from pathlib import Path


def like_folder(path: Path, folder: Path | None = None) -> None:
    """Give ``path`` the owner and group of ``folder`` (its parent) when run as root."""
    if os.geteuid() != 0:
        return
    info = (folder or path.parent).stat()
    os.chown(path, info.st_uid, info.st_gid)
