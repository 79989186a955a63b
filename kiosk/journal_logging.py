"""Where ``kiosk run`` logs: the journal, with fields to search by, when systemd runs it.

Under systemd (``JOURNAL_STREAM`` is set, or ``kiosk run --journal``) every
record goes to the journal through systemd-python's ``JournalHandler`` with three
fields of the kiosk's own beside journald's: ``KIOSK_DEVICE`` (the kiosk's id),
``KIOSK_SESSION`` (``<incarnation>-<session number>``, the key the session
reports and telemetry use; empty between sessions) and ``KIOSK_STATE`` (the
flow's state, e.g. ``login-qr``), so ``journalctl KIOSK_SESSION=...`` shows one
holder's visit. Otherwise records go to stderr as before.

Nothing here adds content: the fields are names and numbers, never a PIN; the
states that hold a PIN keep it out of ``repr`` and the fields carry only the
state's type.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Callable, Mapping

from kiosk.flow.states import OutOfService, State

#: The journal's SYSLOG_IDENTIFIER for the kiosk (``journalctl -t siths-kiosk``).
IDENTIFIER = "siths-kiosk"
STDERR_FORMAT = "%(levelname)s %(name)s: %(message)s"

#: (session key or "", state name or "") at the moment of logging.
Context = Callable[[], tuple[str, str]]


def state_name(state: State) -> str:
    """``LoginQr`` -> ``login-qr``: the state's type, nothing it holds."""
    return re.sub(r"(?<!^)(?=[A-Z])", "-", type(state).__name__).lower()


def status_line(state: State) -> str:
    """One line for systemd's STATUS: the state, and why when out of service."""
    name = state_name(state)
    if isinstance(state, OutOfService) and state.reasons:
        return f"{name}: " + ", ".join(reason.value for reason in state.reasons)
    return name


def run_by_systemd(environ: Mapping[str, str] | None = None) -> bool:
    """Whether stderr is systemd's journal stream (systemd sets ``JOURNAL_STREAM``)."""
    env = os.environ if environ is None else environ
    return bool(env.get("JOURNAL_STREAM"))


class KioskFields(logging.Filter):
    """Puts the kiosk's id, the session and the state on every record (never drops one)."""

    def __init__(self, device: str, context: Context | None = None) -> None:
        super().__init__()
        self.device = device
        self.context = context

    def filter(self, record: logging.LogRecord) -> bool:
        """Add KIOSK_DEVICE, KIOSK_SESSION, KIOSK_STATE (journal field names)."""
        session, state = ("", "")
        if self.context is not None:
            try:
                session, state = self.context()
            except Exception:  # a log line must never fail for want of its fields
                session, state = ("", "")
        record.KIOSK_DEVICE = self.device
        record.KIOSK_SESSION = session
        record.KIOSK_STATE = state
        return True


def configure(
    level: int,
    *,
    journal: bool,
    device: str,
    sender: Callable[..., object] | None = None,
) -> KioskFields:
    """Send the root logger's records to the journal (or stderr); returns the fields filter.

    The caller gives the filter its context (``fields.context = ...``) once the
    controller exists. ``sender`` replaces ``journal.send`` (the tests read what
    would be sent).
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    handler: logging.Handler
    if journal:
        from systemd.journal import JournalHandler

        extra = {"sender_function": sender} if sender is not None else {}
        handler = JournalHandler(SYSLOG_IDENTIFIER=IDENTIFIER, **extra)
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(STDERR_FORMAT))
    fields = KioskFields(device)
    handler.addFilter(fields)
    root.addHandler(handler)
    root.setLevel(level)
    return fields
