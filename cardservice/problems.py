"""The service's refusals as an exception, answered as RFC 9457 problem details.

The codes, their HTTP status and title come from :mod:`protocol.problems` (the
kiosk reads the same table); this module only carries one refusal from where it is
decided to where the HTTP server answers it.
"""

from __future__ import annotations

from protocol.problems import PROBLEMS, ProblemCode, problem_type


class Problem(Exception):
    """A refusal the API reports as ``application/problem+json``.

    ``detail`` is for people reading logs and answers: it names what was wrong,
    never a secret or a value the client sent.
    """

    def __init__(self, code: ProblemCode, detail: str | None = None) -> None:
        self.code = ProblemCode(code)
        kind = PROBLEMS[self.code]
        self.status, self.title = kind.status, kind.title
        self.detail = detail
        super().__init__(f"{self.code}: {detail or self.title}")

    def to_json(self) -> dict[str, object]:
        """The problem document."""
        body: dict[str, object] = {
            "type": problem_type(self.code),
            "title": self.title,
            "status": self.status,
            "code": self.code,
        }
        if self.detail:
            body["detail"] = self.detail
        return body
