"""The service's refusals as an exception, answered as RFC 9457 problem details.

The codes, their HTTP status and title come from :mod:`protocol.problems` (the
kiosk reads the same table); this module only carries one refusal from where it is
decided to where the HTTP server answers it.
"""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel, ValidationError

from protocol import cardservice_api as api
from protocol.problems import PROBLEMS, ProblemCode, problem_type

Request = TypeVar("Request", bound=BaseModel)


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

    def to_model(self) -> api.Problem:
        """The problem document."""
        return api.Problem(
            type=problem_type(self.code),
            title=self.title,
            status=self.status,
            code=self.code,
            detail=self.detail or None,
        )


def parse_request(model: type[Request], body: object) -> Request:
    """``body`` as the API's ``model``, or ``invalid-request`` naming the wrong members.

    The detail names members and what is wrong with them, never a value sent
    (a value may be personal data, such as a personal identity number).
    """
    try:
        return api.from_wire(model, body)
    except ValidationError as error:
        raise Problem(ProblemCode.INVALID_REQUEST, api.describe(error)) from None
