"""Files the tool writes: atomic, at their mode, owned like their folder, no symlink followed.

The technician runs ``kiosk-provision`` as root (``sudo``), but the kiosk runs as its own
user (``siths-kiosk``, systemd/siths-kiosk.service) and must read its device key,
certificate and configuration. A key written 0600 and owned by root would stop the kiosk,
so a file written as root is handed to the owner and group of the folder it is written
into: ``/var/lib/siths-kiosk`` (the kiosk's own, 0700) and ``/etc/siths-kiosk``
(root:siths-kiosk, 0750), as the install made them. Run as anyone else, files stay the
runner's own.

Because root writes into a folder the kiosk's user owns, nothing here may follow a link
that user could have planted (a fixed temporary name, or a ``chmod``/``chown`` by path,
would hand any file on the system to that user): the temporary file is made new with a
random name (``O_EXCL``), its mode and owner are set on the open file, and it is renamed
over the target, which replaces a link instead of following it.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path


def hand_over(descriptor: int, folder: Path) -> None:
    """Give the open file the owner and group of ``folder`` when run as root."""
    if os.geteuid() != 0:
        return
    info = folder.stat()
    os.fchown(descriptor, info.st_uid, info.st_gid)


def replace_file(path: Path, data: bytes, mode: int) -> None:
    """Replace ``path`` atomically with ``data``, at ``mode`` from the first byte."""
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True)
    descriptor, name = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.")
    partial = Path(name)
    try:
        with os.fdopen(descriptor, "wb") as file:
            os.fchmod(file.fileno(), mode)
            hand_over(file.fileno(), folder)
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def overwrite_and_remove(path: Path) -> None:
    """Overwrite a regular file with random bytes, then remove it; a link is only removed."""
    try:
        descriptor = os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return
    except OSError:  # a link (ELOOP) or something else that is not ours to write into
        path.unlink(missing_ok=True)
        return
    with os.fdopen(descriptor, "r+b") as file:
        info = os.fstat(file.fileno())
        if stat.S_ISREG(info.st_mode):
            file.write(os.urandom(info.st_size))
            file.flush()
            os.fsync(file.fileno())
    path.unlink(missing_ok=True)
