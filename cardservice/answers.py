"""Answers to kiosk calls, and running a kiosk ``POST`` once per Idempotency-Key.

Why the key's record is written in the same transaction as the work: after a crash
either both are there (a retry gets the first answer again, character for character,
so a credential's envelope still opens with the kiosk's key) or neither (the retry
does the work). The same key with another request is refused (422). A refusal is an
answer too: it is committed with whatever it recorded (an audit row, a counted
attempt), so a refusal is never rolled back out of the audit log.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError

from cardservice.problems import Problem
from cardservice.store import Records, Store
from protocol import cardservice_api as api
from protocol.problems import ProblemCode

#: Seconds an Idempotency-Key's answer is kept.
KEEP_ANSWERS = 24 * 3600.0
#: A concurrent twin with the same key loses the insert race; it then reads the winner's answer.
_RACE_RETRIES = 3


@dataclass(frozen=True)
class Answer:
    """An HTTP status and its JSON body (a problem document when the status is 400 or more)."""

    status: int
    body: dict[str, Any]

    @classmethod
    def of(cls, model: BaseModel, status: int = 200) -> Answer:
        """A success."""
        return cls(status, api.to_wire(model))

    @classmethod
    def refusal(cls, problem: Problem) -> Answer:
        """A refusal as a problem document."""
        return cls(problem.status, api.to_wire(problem.to_model()))

    @property
    def is_problem(self) -> bool:
        """Whether this is a refusal."""
        return self.status >= 400


#: The work of one call: reads and writes through the records, returns (status, body).
Work = Callable[[Records], tuple[int, BaseModel]]


def moment(epoch: float) -> dt.datetime:
    """An epoch time of the store as the aware datetime the API models carry."""
    return dt.datetime.fromtimestamp(epoch, dt.UTC)


def fingerprint(method: str, path: str, body: object) -> str:
    """What identifies a request for its key: method, path and the body's JSON value."""
    text = json.dumps(
        [method, path, body], sort_keys=True, ensure_ascii=True, separators=(",", ":")
    )
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Call:
    """Who asks what: the kiosk, its Idempotency-Key (if any) and the request's fingerprint."""

    kiosk_id: str
    key: str | None = None
    fingerprint: str = ""


class Once:
    """Runs work in one transaction with its Idempotency-Key record."""

    def __init__(self, store: Store, clock: Callable[[], float]) -> None:
        self.store = store
        self.clock = clock

    def earlier(self, records: Records, call: Call) -> Answer | None:
        """The first answer to this key; refuses the key if it was used for another request."""
        if call.key is None:
            return None
        seen = records.remembered(call.kiosk_id, call.key)
        if seen is None:
            return None
        if seen.fingerprint != call.fingerprint:
            return Answer.refusal(Problem(ProblemCode.IDEMPOTENCY_KEY_REUSED))
        return Answer(seen.status, json.loads(seen.body))

    def run(self, call: Call, work: Work) -> Answer:
        """Answer from the key's record, or do the work and keep its answer, atomically."""
        for attempt in range(_RACE_RETRIES):
            try:
                with self.store.transaction() as records:
                    earlier = self.earlier(records, call)
                    if earlier is not None:
                        return earlier
                    try:
                        status, model = work(records)
                        answer = Answer.of(model, status)
                    except Problem as problem:
                        answer = Answer.refusal(problem)
                    if call.key is not None and answer.status < 500:  # 503s are worth a retry
                        body = json.dumps(answer.body, separators=(",", ":"))
                        records.remember(
                            call.kiosk_id,
                            call.key,
                            call.fingerprint,
                            answer.status,
                            body,
                            self.clock(),
                        )
                    return answer
            except IntegrityError:
                if attempt == _RACE_RETRIES - 1:
                    raise
        raise AssertionError("unreachable")
