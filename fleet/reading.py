"""What arrives from the broker, checked against the contract (pure: no I/O).

Every payload is validated with :mod:`protocol.telemetry`; anything else is a
:class:`Rejected` with a short reason code (counted in the metrics, logged) and
never reaches the database. A payload must also name the kiosk whose topic it came
on: the broker's ACL lets a kiosk write only its own topics, so a mismatch is a
broken or forged message.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass

from pydantic import ValidationError

from protocol import telemetry as tm

Message = tm.StateMessage | tm.HealthMessage | tm.EventMessage

_MODELS: dict[tm.Channel, type[Message]] = {
    tm.Channel.STATE: tm.StateMessage,
    tm.Channel.HEALTH: tm.HealthMessage,
    tm.Channel.EVENT: tm.EventMessage,
}


class Rejection(enum.StrEnum):
    """Why a message was refused (the ``reason`` label of the rejected-messages metric)."""

    UNKNOWN_TOPIC = "unknown-topic"
    TOO_LARGE = "too-large"
    NOT_JSON = "not-json"
    UNKNOWN_VERSION = "unknown-version"
    WRONG_SCHEMA = "wrong-schema"
    WRONG_KIOSK = "wrong-kiosk"


@dataclass(frozen=True)
class Reading:
    """One valid message, with when the fleet received it (epoch seconds)."""

    kiosk: str
    message: Message
    received: float


@dataclass(frozen=True)
class Rejected:
    """One refused message: where it came from and why (no payload: it may be anything)."""

    topic: str
    why: Rejection
    detail: str


def _why(topic: str, payload: bytes, error: ValidationError) -> Rejected:
    """Why a payload failed the contract (looked into only then: valid ones parse once)."""
    try:
        data = json.loads(payload)
    except (UnicodeDecodeError, ValueError) as problem:
        return Rejected(topic, Rejection.NOT_JSON, str(problem)[:200])
    if not isinstance(data, dict) or "v" not in data:
        return Rejected(topic, Rejection.WRONG_SCHEMA, "not a JSON object with a version 'v'")
    if data["v"] != tm.VERSION:
        return Rejected(topic, Rejection.UNKNOWN_VERSION, f"version {str(data['v'])[:20]}")
    first = error.errors(include_url=False)[0]
    where = ".".join(str(part) for part in first["loc"]) or "payload"
    return Rejected(topic, Rejection.WRONG_SCHEMA, f"{where}: {first['msg']}"[:200])


def read(topic: str, payload: bytes, received: float) -> Reading | Rejected:
    """Check one message against the contract."""
    parsed = tm.parse_topic(topic)
    if parsed is None or parsed[1] not in _MODELS:
        return Rejected(topic[:200], Rejection.UNKNOWN_TOPIC, "not a kiosk's state/health/event")
    kiosk, channel, _ = parsed
    if len(payload) > tm.MAX_PAYLOAD:
        return Rejected(
            topic, Rejection.TOO_LARGE, f"{len(payload)} bytes (at most {tm.MAX_PAYLOAD})"
        )
    try:
        message = tm.decode(_MODELS[channel], payload)
    except ValidationError as error:
        return _why(topic, payload, error)
    if message.kiosk != kiosk:
        return Rejected(topic, Rejection.WRONG_KIOSK, "the payload names another kiosk")
    return Reading(kiosk, message, received)
