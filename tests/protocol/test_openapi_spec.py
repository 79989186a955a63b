"""The OpenAPI file of the card service is valid and agrees with the prose and the models."""

from __future__ import annotations

import inspect
import re
from enum import StrEnum
from pathlib import Path

import pytest
import yaml
from openapi_spec_validator import validate
from pydantic import BaseModel

from protocol import cardservice_api, cardservice_values, problems, reasons

DOCS = Path(__file__).resolve().parents[2] / "docs"
SPEC_PATH = DOCS / "cardservice-api.yaml"
PROSE_PATH = DOCS / "cardservice-api.md"

HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
KIOSK_PREFIXES = ("/v1/logins", "/v1/unlocks")
OPEN_PATHS = ("/v1/health",)

EXPECTED_OPERATIONS = {
    ("post", "/v1/logins"): "startLogin",
    ("get", "/v1/logins/{orderRef}"): "getLogin",
    ("post", "/v1/logins/{orderRef}/cancel"): "cancelLogin",
    ("post", "/v1/unlocks"): "requestUnlock",
    ("post", "/v1/unlocks/{unlockId}/outcome"): "reportOutcome",
    ("get", "/v1/health"): "health",
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
    assert len(prose) >= 23, "the code table in the prose was not found"
    code = spec["components"]["schemas"]["Problem"]["properties"]["code"]
    assert code == {"$ref": "#/components/schemas/ProblemCode"}
    in_spec = spec["components"]["schemas"]["ProblemCode"]["enum"]
    assert len(in_spec) == len(set(in_spec))
    assert set(in_spec) == prose


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


# -- the models of protocol/cardservice_api.py against components/schemas ------------------

#: Constraints compared wherever either side states one.
FACETS = ("enum", "const", "pattern", "minimum", "maximum", "minLength", "maxLength")
YAML_REF = "#/components/schemas/"
MODEL_REF = "#/$defs/"


def defined_in(module: object, base: type) -> dict[str, type]:
    return {
        name: value
        for name, value in vars(module).items()
        if inspect.isclass(value)
        and issubclass(value, base)
        and value.__module__ == module.__name__  # type: ignore[attr-defined]
        and not name.startswith("_")
    }


MODELS: dict[str, type[BaseModel]] = defined_in(cardservice_api, BaseModel)
ENUMS: dict[str, type[StrEnum]] = {
    **defined_in(cardservice_values, StrEnum),
    **defined_in(problems, StrEnum),
    "Outcome": reasons.Outcome,  # shared with the kiosk's screen and reports
}


def shape(node: dict, definitions: dict, prefix: str) -> dict:
    """What a property promises: its constraints, and which named object or enum it is."""
    found: dict = {}

    def walk(part: dict) -> None:
        if "$ref" in part:
            name = part["$ref"].removeprefix(prefix)
            target = definitions[name]
            if target.get("type") == "object" or "enum" in target:
                found.setdefault("named", set()).add(name)
            if target.get("type") != "object":
                walk(target)
        for facet in FACETS:
            if facet in part:
                found[facet] = sorted(part[facet]) if facet == "enum" else part[facet]
        kinds = part.get("type", [])
        found.setdefault("type", set()).update([kinds] if isinstance(kinds, str) else kinds)
        for branch in part.get("anyOf", []) + part.get("oneOf", []):
            walk(branch)
        if "items" in part:
            found["items"] = shape(part["items"], definitions, prefix)

    walk(node)
    if not found["type"]:
        del found["type"]
    return found


def model_schema(model: type[BaseModel]) -> tuple[dict, dict]:
    schema = model.model_json_schema(by_alias=True)
    return schema, schema.get("$defs", {})


@pytest.fixture(scope="module")
def yaml_schemas(spec: dict) -> dict:
    return spec["components"]["schemas"]


def test_every_model_has_a_schema_and_every_object_schema_a_model(yaml_schemas: dict) -> None:
    objects = {name for name, schema in yaml_schemas.items() if schema.get("type") == "object"}
    assert len(MODELS) >= 11, "the models were not found"
    assert set(MODELS) == objects


def test_every_value_set_is_one_enum_on_both_sides(yaml_schemas: dict) -> None:
    enums = {name: schema["enum"] for name, schema in yaml_schemas.items() if "enum" in schema}
    assert enums == {name: [member.value for member in enum] for name, enum in ENUMS.items()}


def test_the_problem_codes_are_the_protocol_table(spec: dict, yaml_schemas: dict) -> None:
    assert yaml_schemas["ProblemCode"]["enum"] == list(problems.ProblemCode)
    assert set(problems.PROBLEMS) == set(problems.ProblemCode)
    examples = [
        example["value"]
        for example in spec["components"]["examples"].values()
        if "code" in example.get("value", {})
    ]
    responses = [r for _p, _m, op in operations(spec) for r in op["responses"].values()]
    for response in responses + list(spec["components"]["responses"].values()):
        for content in response.get("content", {}).values():
            for example in content.get("examples", {}).values():
                if "value" in example:
                    examples.append(example["value"])
    assert len(examples) >= 18
    for example in examples:
        kind = problems.PROBLEMS[problems.ProblemCode(example["code"])]
        assert (example["status"], example["title"]) == (kind.status, kind.title), example
        assert example["type"] == problems.problem_type(example["code"])


@pytest.mark.parametrize("name", sorted(MODELS))
def test_model_and_schema_agree(name: str, yaml_schemas: dict) -> None:
    schema, definitions = model_schema(MODELS[name])
    documented = yaml_schemas[name]
    assert set(schema["properties"]) == set(documented["properties"]), "property names"
    assert set(schema.get("required", [])) == set(documented.get("required", [])), "required"
    required = set(documented.get("required", []))
    for member in documented["properties"]:
        in_model = shape(schema["properties"][member], definitions, MODEL_REF)
        in_yaml = shape(documented["properties"][member], yaml_schemas, YAML_REF)
        if member not in required:
            # An optional member is left out rather than sent as null (refused by the models).
            in_model.get("type", set()).discard("null")
            if in_model.get("type") == set():
                del in_model["type"]
        assert in_model == in_yaml, f"{name}.{member}"


@pytest.mark.parametrize("name", sorted(MODELS))
def test_exactly_the_request_models_refuse_unknown_members(name: str, spec: dict) -> None:
    schema, _ = model_schema(MODELS[name])
    documented = spec["components"]["schemas"][name]
    request_bodies = {
        content["schema"]["$ref"].removeprefix(YAML_REF)
        for _path, _method, operation in operations(spec)
        for content in operation.get("requestBody", {}).get("content", {}).values()
    }
    is_request = name in request_bodies
    assert (MODELS[name].model_config.get("extra") == "forbid") is is_request
    assert ("additionalProperties" in schema) is is_request
    assert ("additionalProperties" in documented) is is_request
    if is_request:
        assert schema["additionalProperties"] is False
        assert documented["additionalProperties"] is False


def test_every_json_body_of_an_operation_is_a_model(spec: dict) -> None:
    used = set()
    for path, method, operation in operations(spec):
        bodies = list(operation.get("requestBody", {}).get("content", {}).items())
        for response in operation["responses"].values():
            if "$ref" in response:
                response = spec["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
            bodies += list(response.get("content", {}).items())
        for media_type, content in bodies:
            if "json" in media_type:
                name = content["schema"]["$ref"].removeprefix(YAML_REF)
                assert name in MODELS, f"{method.upper()} {path}: {name}"
                used.add(name)
    nested = {"LoginCompletion", "Envelope"}
    assert used | nested == set(MODELS)
