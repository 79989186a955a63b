"""What one check found, in words a technician acts on (pure data, no I/O)."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass


class Status(enum.StrEnum):
    """A check's verdict; ``skipped`` always says why in ``found``."""

    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class CheckResult:
    """One check's outcome.

    ``found`` says what was seen, in plain words (never a PIN, a PUK or a key). A failure
    always carries ``fix``: a step a technician can carry out on site, because a failure
    without a way forward only moves the problem to a phone call.
    """

    id: str
    title: str
    status: Status
    found: str
    fix: str | None = None

    def __post_init__(self) -> None:
        if self.status is Status.FAILED and not self.fix:
            raise ValueError(f"the failed check {self.id!r} must say how to fix it")

    @classmethod
    def ok(cls, id: str, title: str, found: str) -> CheckResult:
        """A passed check."""
        return cls(id, title, Status.OK, found)

    @classmethod
    def failed(cls, id: str, title: str, found: str, fix: str) -> CheckResult:
        """A failed check with its fix."""
        return cls(id, title, Status.FAILED, found, fix)

    @classmethod
    def skipped(cls, id: str, title: str, why: str) -> CheckResult:
        """A check that was not run, and why."""
        return cls(id, title, Status.SKIPPED, why)

    def to_json(self) -> dict[str, str]:
        """The shape of ``--json``: ``fix`` only on a failure."""
        data = {"id": self.id, "title": self.title, "status": str(self.status), "found": self.found}
        if self.fix:
            data["fix"] = self.fix
        return data


def passed(results: Iterable[CheckResult]) -> bool:
    """Whether nothing failed (a skipped check is not a failure: it says why it did not run)."""
    return all(result.status is not Status.FAILED for result in results)


def exit_code(results: Iterable[CheckResult]) -> int:
    """0 when nothing failed, 1 when anything did (scripts and the fleet read this)."""
    return 0 if passed(results) else 1
