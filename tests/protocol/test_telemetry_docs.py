"""docs/telemetry.md stays true: its examples are valid messages, its ACL is the one the code
makes (and the tests' broker uses), and every event kind is explained."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from protocol import telemetry as tm

DOC = (Path(__file__).resolve().parents[2] / "docs" / "telemetry.md").read_text(encoding="utf-8")
MODELS = (
    tm.StateMessage,
    tm.HealthMessage,
    tm.EventMessage,
    tm.CommandMessage,
    tm.SelftestMessage,
)


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC, re.DOTALL)


@pytest.mark.parametrize("example", blocks("json"))
def test_every_example_is_a_valid_message(example):
    payload = example.strip().encode()
    valid = _decoded(example)
    assert len(valid) == 1, f"not exactly one message kind: {example[:80]}"
    assert json.loads(tm.encode(valid[0])) == json.loads(payload)  # nothing left unsaid


def test_there_is_an_example_of_each_kind_of_message():
    kinds = {type(m).__name__ for e in blocks("json") for m in _decoded(e)}
    assert kinds == {model.__name__ for model in MODELS}


def _decoded(example: str) -> list:
    found = []
    for model in MODELS:
        try:
            found.append(tm.decode(model, example.strip().encode()))
        except ValueError:
            continue
    return found


def test_the_acl_is_the_one_the_code_makes():
    (acl,) = blocks("acl")
    assert acl == tm.mosquitto_acl(["fleet:server"])


def test_the_broker_configuration_has_every_setting_the_contract_needs():
    (config,) = blocks("mosquitto")
    for line in tm.BROKER_SETTINGS:
        assert line in config.splitlines()


@pytest.mark.parametrize("kind", list(tm.EventKind))
def test_every_event_kind_is_explained(kind):
    assert f"`{kind}`" in DOC
