"""The telemetry contract: topics, payloads that refuse what is not in it, a keyed card hash."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from pydantic import ValidationError

from protocol import telemetry as tm

NOW = dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.UTC)


def test_topics_are_per_kiosk_and_parse_back():
    assert tm.topic("kiosk-a", tm.Channel.EVENT) == "siths-kiosk/v1/kiosk-a/event"
    command = tm.topic("kiosk-a", tm.Channel.COMMAND, tm.Command.MAINTENANCE)
    assert command == "siths-kiosk/v1/kiosk-a/cmd/maintenance"
    assert tm.parse_topic(command) == ("kiosk-a", tm.Channel.COMMAND, tm.Command.MAINTENANCE)
    for foreign in (
        "siths-kiosk/v2/kiosk-a/event",
        "siths-kiosk/v1/kiosk-a/cmd",
        "siths-kiosk/v1/kiosk-a/event/extra",
        "siths-kiosk/v1/kiosk-a/cmd/reboot",
        "other/v1/kiosk-a/event",
    ):
        assert tm.parse_topic(foreign) is None, foreign


def test_a_kiosk_has_a_self_test_topic_it_alone_may_write_and_read():
    name = tm.topic("kiosk-a", tm.Channel.SELFTEST)
    assert name == "siths-kiosk/v1/kiosk-a/selftest"
    assert tm.parse_topic(name) == ("kiosk-a", tm.Channel.SELFTEST, None)
    assert "pattern readwrite siths-kiosk/v1/%u/selftest" in tm.mosquitto_acl([]).splitlines()
    message = tm.SelftestMessage(kiosk="kiosk-a", nonce="ab" * 8, at=NOW)
    assert tm.decode(tm.SelftestMessage, tm.encode(message)) == message
    with pytest.raises(ValidationError):
        tm.SelftestMessage(kiosk="kiosk-a", nonce="not hex", at=NOW)


@pytest.mark.parametrize("bad", ["", "a/b", "+", "#"])
def test_a_kiosk_id_cannot_reach_into_other_topics(bad):
    with pytest.raises(ValueError, match="kiosk id"):
        tm.topic(bad, tm.Channel.STATE)


def event(**changes):
    fields = {
        "id": "e1",
        "kiosk": "kiosk-a",
        "incarnation": 3,
        "seq": 7,
        "at": NOW,
        "kind": "unlock-failed",
        "reason": "wrong-puk",
        "outcome": "not-unlocked",
        "tries_left": 6,
    } | changes
    return tm.EventMessage(**fields)


def test_an_event_round_trips_as_plain_json():
    payload = tm.encode(event())
    data = json.loads(payload)
    assert data["v"] == 1 and data["at"] == "2026-11-22T12:00:00.000Z"
    assert "card" not in data  # absent members are left out, not null
    assert tm.decode(tm.EventMessage, payload) == event()


STATE = '"kiosk": "kiosk-a", "state": "online", "incarnation": 1, "at": "2026-11-22T12:00:00Z"'


@pytest.mark.parametrize(
    "payload",
    [
        ("{" + '"v": 2, ' + STATE + "}").encode(),  # an unknown version
        ("{" + '"v": 1, ' + STATE + ', "pin": "1234"}').encode(),  # a member not in the contract
        ("{" + '"v": 1, ' + STATE.replace("kiosk-a", "kiosk a") + "}").encode(),
        ("{" + '"v": 1, ' + STATE.replace("online", "asleep") + "}").encode(),
        ("{" + '"v": 1, ' + STATE.replace("2026-11-22T12:00:00Z", "yesterday") + "}").encode(),
        b"not json",
        b"{" + b" " * tm.MAX_PAYLOAD + b"}",
    ],
)
def test_what_is_not_in_the_contract_is_refused(payload):
    with pytest.raises(ValueError):  # noqa: PT011  (pydantic's errors are ValueErrors)
        tm.decode(tm.StateMessage, payload)


def test_a_card_is_named_by_a_keyed_hash_only():
    number = "9752269885719985027"
    hashed = tm.card_hash(b"k" * 32, number)
    assert hashed == tm.card_hash(b"k" * 32, number)  # the fleet can search by it
    assert hashed != tm.card_hash(b"x" * 32, number)  # and only with the key
    assert number not in hashed and len(hashed) == 64
    with pytest.raises(ValidationError):
        event(card=number)


@pytest.mark.parametrize("schema", sorted(tm.json_schemas()))
def test_no_message_has_a_place_for_a_secret_or_a_name(schema):
    text = json.dumps(tm.json_schemas()[schema]).lower()
    for forbidden in ('pin"', 'puk"', "personal", "holder", 'name"', "email"):
        assert forbidden not in text, f"{schema} has {forbidden}"
