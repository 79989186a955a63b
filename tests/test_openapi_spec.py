"""The OpenAPI file of the card service is valid and agrees with the prose contract."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from openapi_spec_validator import validate

from protocol.problems import PROBLEMS, ProblemCode

DOCS = Path(__file__).resolve().parent.parent / "docs"
SPEC_PATH = DOCS / "cardservice-api.yaml"
PROSE_PATH = DOCS / "cardservice-api.md"

HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
KIOSK_PREFIXES = ("/v1/logins", "/v1/unlocks")
OPEN_PATHS = ("/v1/health", "/v1/phone", "/phone")

EXPECTED_OPERATIONS = {
    ("post", "/v1/logins"): "startLogin",
    ("get", "/v1/logins/{orderRef}"): "getLogin",
    ("post", "/v1/logins/{orderRef}/cancel"): "cancelLogin",
    ("post", "/v1/unlocks"): "requestUnlock",
    ("post", "/v1/unlocks/{unlockId}/outcome"): "reportOutcome",
    ("get", "/v1/health"): "health",
    ("post", "/v1/phone/scan"): "phoneScan",
    ("post", "/v1/phone/{orderRef}/approve"): "phoneApprove",
    ("post", "/v1/phone/{orderRef}/decline"): "phoneDecline",
    ("get", "/v1/phone/identities"): "phoneIdentities",
    ("get", "/phone"): "phonePage",
}


@pytest.fixture(scope="module")
def spec() -> dict:
    return yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))


def operations(spec: dict) -> list[tuple[str, str, dict]]:
    return [
        (path, method, operation)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    ]


def prose_problem_codes() -> set[str]:
    codes: set[str] = set()
    for line in PROSE_PATH.read_text(encoding="utf-8").splitlines():
        if not line.startswith("|"):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if not cells[0].startswith("`"):
            continue
        for part in cells[0].split(" / "):
            match = re.fullmatch(r"`([a-z0-9-]+)`", part.strip())
            assert match, f"unexpected code cell {cells[0]!r}"
            codes.add(match.group(1))
    return codes


def test_spec_is_valid_openapi_3_1(spec: dict) -> None:
    assert spec["openapi"] == "3.1.0"
    validate(spec)


def test_problem_codes_match_the_prose_table(spec: dict) -> None:
    prose = prose_problem_codes()
    assert len(prose) >= 17, "the code table in the prose was not found"
    in_spec = spec["components"]["schemas"]["Problem"]["properties"]["code"]["enum"]
    assert len(in_spec) == len(set(in_spec))
    assert set(in_spec) == prose
    assert in_spec == list(ProblemCode)
    assert set(PROBLEMS) == set(ProblemCode)


def test_paths_and_operation_ids(spec: dict) -> None:
    found = {(method, path): op.get("operationId") for path, method, op in operations(spec)}
    assert found == EXPECTED_OPERATIONS


def test_kiosk_paths_need_mutual_tls_and_the_rest_is_open(spec: dict) -> None:
    schemes = spec["components"]["securitySchemes"]
    assert schemes["mutualTLS"]["type"] == "mutualTLS"
    for path, method, operation in operations(spec):
        assert operation.get("operationId"), f"{method.upper()} {path} has no operationId"
        security = operation.get("security", spec.get("security"))
        if path.startswith(KIOSK_PREFIXES):
            assert security == [{"mutualTLS": []}], f"{method.upper()} {path}"
        else:
            assert path.startswith(OPEN_PATHS), f"{path} is neither kiosk nor open"
            assert security == [], f"{method.upper()} {path}"


def test_error_responses_are_problem_details(spec: dict) -> None:
    problem_ref = "#/components/schemas/Problem"
    shared = spec["components"]["responses"]
    for path, method, operation in operations(spec):
        for status, response in operation["responses"].items():
            if int(status) < 400:
                continue
            if "$ref" in response:
                response = shared[response["$ref"].rsplit("/", 1)[1]]
            content = response["content"]
            assert list(content) == ["application/problem+json"], f"{method} {path} {status}"
            schema = content["application/problem+json"]["schema"]
            assert schema == {"$ref": problem_ref}, f"{method} {path} {status}"


def test_kiosk_posts_accept_an_idempotency_key(spec: dict) -> None:
    key_ref = {"$ref": "#/components/parameters/IdempotencyKey"}
    parameter = spec["components"]["parameters"]["IdempotencyKey"]
    assert parameter["in"] == "header"
    assert parameter["name"] == "Idempotency-Key"
    assert not parameter.get("required", False)
    assert parameter["schema"] == {"type": "string", "format": "uuid"}
    for path, method, operation in operations(spec):
        if method == "post" and path.startswith(KIOSK_PREFIXES):
            assert key_ref in operation.get("parameters", []), f"POST {path}"
