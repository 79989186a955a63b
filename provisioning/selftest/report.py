"""The self-test's three outputs: the checklist, ``--json`` and the ticket report (pure).

The checklist is for the technician at the kiosk: a clear mark per check and, under each
failure, the fix. The ticket report is short enough to paste into a support ticket from a
phone: who, where, which software, when, and one line per check.
"""

from __future__ import annotations

import datetime as dt
import json
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

from provisioning.selftest.results import CheckResult, Status, passed

MARKS = {Status.OK: "✓", Status.FAILED: "✗", Status.SKIPPED: "-"}
#: The ticket report's words for each status: plain ASCII survives any ticket system.
TICKET_MARKS = {Status.OK: "ok", Status.FAILED: "FAILED", Status.SKIPPED: "skipped"}
WIDTH = 78


@dataclass(frozen=True)
class SelfTestRun:
    """One run of the self-test: which kiosk, when, and what every check found."""

    kiosk_id: str
    site: str
    software: str
    at: dt.datetime
    results: Sequence[CheckResult]

    @property
    def passed(self) -> bool:
        """Whether nothing failed."""
        return passed(self.results)

    def count(self, status: Status) -> int:
        """How many checks ended with ``status``."""
        return sum(1 for result in self.results if result.status is status)


def _when(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _wrap(text: str, first: str, rest: str) -> list[str]:
    """Lines of at most WIDTH; paths, addresses and commands are never split inside."""
    return textwrap.wrap(
        text,
        WIDTH,
        initial_indent=first,
        subsequent_indent=rest,
        break_long_words=False,
        break_on_hyphens=False,
    )


def _summary(run: SelfTestRun) -> str:
    counts = ", ".join(
        f"{run.count(status)} {word}"
        for status, word in (
            (Status.OK, "passed"),
            (Status.FAILED, "failed"),
            (Status.SKIPPED, "skipped"),
        )
    )
    verdict = "READY: every check passed" if run.passed else "NOT READY: fix what is marked ✗"
    return f"{counts}. {verdict}."


def checklist(run: SelfTestRun) -> str:
    """The technician's checklist: a mark per check, the fix indented under each failure."""
    site = f" at {run.site}" if run.site else ""
    lines = [
        f"Self-test of kiosk {run.kiosk_id}{site}",
        f"software {run.software}, {_when(run.at)}",
        "",
    ]
    for result in run.results:
        head = f"{MARKS[result.status]} {result.title}: "
        found = _one_line(result.found)
        if result.status is Status.SKIPPED:
            found = f"skipped: {found}"
        lines += _wrap(found, head, "    ")
        if result.status is Status.FAILED and result.fix:
            lines += _wrap(_one_line(result.fix), "    Fix: ", "         ")
    lines += ["", _summary(run)]
    return "\n".join(lines) + "\n"


def as_json(run: SelfTestRun) -> str:
    """``--json``: the same facts for automation, one object."""
    data = {
        "kiosk": run.kiosk_id,
        "site": run.site,
        "software": run.software,
        "at": run.at.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "passed": run.passed,
        "checks": [result.to_json() for result in run.results],
    }
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"


def ticket(run: SelfTestRun) -> str:
    """The short report for a ticket: a header line, then one line per check."""
    failed = run.count(Status.FAILED)
    verdict = "passed" if run.passed else f"FAILED ({failed} of {len(run.results)} checks)"
    lines = [
        f"SITHS kiosk self-test {verdict}",
        f"kiosk {run.kiosk_id} | site {run.site or '(none)'} | software {run.software}"
        f" | {_when(run.at)}",
    ]
    lines += [
        f"[{TICKET_MARKS[result.status]}] {result.id}: {_one_line(result.found)}"
        for result in run.results
    ]
    return "\n".join(lines) + "\n"
