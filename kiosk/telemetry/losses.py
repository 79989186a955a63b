"""A count of events the outbox could not keep, that survives a restart and a full disk.

The file is made at start, at its full size, while the disk still has room; counting
then rewrites its bytes in place, which needs no new space, so it works on the full
disk that lost the events. At the next start (or as soon as the outbox works again)
the count is told to the fleet and set back to zero.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

SIZE = 512  # bytes: the count and the last fault, as JSON, padded with spaces


class LossLedger:
    """The unsaid losses: ``unsaid`` events, the last ``fault``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.unsaid = 0
        self.fault = ""
        try:
            data = json.loads(path.read_bytes() or b"{}")
            self.unsaid, self.fault = int(data.get("unsaid", 0)), str(data.get("fault", ""))
        except (OSError, ValueError, AttributeError):
            pass  # none yet, or unreadable: nothing known to be unsaid
        self._write()  # made (or kept) at full size now, while there is room

    def add(self, count: int, fault: str) -> None:
        """Count lost events (in memory always; on disk if the file can be written)."""
        self.unsaid += count
        self.fault = fault[:300]
        self._write()

    def said(self) -> None:
        """The fleet has the count now (durably): start again from zero."""
        self.unsaid, self.fault = 0, ""
        self._write()

    def _write(self) -> None:
        text = json.dumps({"unsaid": self.unsaid, "fault": self.fault}).encode()
        data = text[:SIZE].ljust(SIZE, b" ")
        try:
            descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as error:
            log.error("telemetry: the loss count cannot be kept on disk: %s", error)
            return
        try:
            os.pwrite(descriptor, data, 0)  # in place: no new blocks needed
            with contextlib.suppress(OSError):
                os.fsync(descriptor)
        except OSError as error:
            log.error("telemetry: the loss count cannot be kept on disk: %s", error)
        finally:
            os.close(descriptor)
