"""The fleet reads only what the contract allows (pure)."""

from __future__ import annotations

import json

import pytest

from fleet.reading import Reading, Rejected, Rejection, read
from protocol import telemetry as tm
from tests.fleet.messages import birth, event, health

EVENT_TOPIC = tm.topic("kiosk-1", tm.Channel.EVENT)


def good_event() -> dict:
    return json.loads(tm.encode(event("session-started")))


@pytest.mark.parametrize(
    ("topic", "payload", "why"),
    [
        ("siths-kiosk/v1/kiosk-1/other", b"{}", Rejection.UNKNOWN_TOPIC),
        ("siths-kiosk/v1/kiosk-1/cmd/rebirth", b"{}", Rejection.UNKNOWN_TOPIC),
        (EVENT_TOPIC, b"{not json", Rejection.NOT_JSON),
        (EVENT_TOPIC, b"\xff\xfe", Rejection.NOT_JSON),
        (EVENT_TOPIC, b"[1, 2]", Rejection.WRONG_SCHEMA),
        (EVENT_TOPIC, json.dumps({**good_event(), "v": 2}).encode(), Rejection.UNKNOWN_VERSION),
        (EVENT_TOPIC, json.dumps({**good_event(), "pin": "1234"}).encode(), Rejection.WRONG_SCHEMA),
        (
            EVENT_TOPIC,
            json.dumps({**good_event(), "kind": "coffee"}).encode(),
            Rejection.WRONG_SCHEMA,
        ),
        (EVENT_TOPIC, b" " * (tm.MAX_PAYLOAD + 1), Rejection.TOO_LARGE),
        (
            tm.topic("kiosk-2", tm.Channel.EVENT),
            tm.encode(event("session-started")),
            Rejection.WRONG_KIOSK,
        ),
        (
            tm.topic("kiosk-1", tm.Channel.HEALTH),
            tm.encode(event("session-started")),
            Rejection.WRONG_SCHEMA,
        ),
    ],
)
def test_what_breaks_the_contract_is_rejected_with_a_reason(topic, payload, why):
    result = read(topic, payload, 0.0)
    assert isinstance(result, Rejected) and result.why is why


def test_each_channel_reads_its_own_model():
    for message, channel in (
        (birth(), tm.Channel.STATE),
        (health(), tm.Channel.HEALTH),
        (event("card-read", card="ab" * 32), tm.Channel.EVENT),
    ):
        result = read(tm.topic("kiosk-1", channel), tm.encode(message), 5.0)
        assert isinstance(result, Reading) and result.message == message
