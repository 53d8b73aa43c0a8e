"""`openapi.yaml` and the Chalice app describe the same routes, and the document is valid OpenAPI (no AWS needed)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, get_args

import pytest
import yaml
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from functions.app import app
from functions.domain.lifecycle import FunnelStage, Status
from functions.domain.messages import ApplicantIdRequest, EmailCodeRequest
from functions.domain.registration import EmploymentStatus, RegistrationForm, parse_registration
from functions.domain.wave import WaveState

SPEC_PATH = Path(__file__).resolve().parents[2] / "openapi.yaml"
SPEC: dict[str, Any] = yaml.safe_load(SPEC_PATH.read_text())
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
ERROR_REF = "#/components/schemas/Error"


def resolve(node: Any) -> Any:
    """`node` with every local `$ref` replaced by what it points to (the document has no cycles)."""
    if isinstance(node, list):
        return [resolve(item) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target: Any = SPEC
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        siblings = {key: value for key, value in node.items() if key != "$ref"}
        return resolve({**target, **siblings})
    return {key: resolve(value) for key, value in node.items()}


def operations() -> dict[tuple[str, str], dict[str, Any]]:
    """Every documented operation by (path, METHOD)."""
    return {
        (path, method.upper()): operation
        for path, item in SPEC["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    }


def app_routes() -> dict[tuple[str, str], Any]:
    return {(path, method): entry for path, methods in app.routes.items() for method, entry in methods.items()}


def validator(schema: dict[str, Any]) -> Draft202012Validator:
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def test_the_document_is_valid_openapi() -> None:
    validate(SPEC)
    assert SPEC["openapi"].startswith(("3.0.", "3.1."))


def test_every_route_of_the_app_is_documented_and_nothing_else() -> None:
    documented, implemented = set(operations()), set(app_routes())
    assert implemented - documented == set(), "routes missing from openapi.yaml"
    assert documented - implemented == set(), "openapi.yaml documents routes the app does not have"


def test_path_parameters_agree_with_the_routes() -> None:
    routes = app_routes()
    for (path, method), operation in operations().items():
        templated = re.findall(r"{([^}]+)}", path)
        declared = [
            p["name"]
            for p in resolve([*SPEC["paths"][path].get("parameters", []), *operation.get("parameters", [])])
            if p["in"] == "path"
        ]
        assert sorted(declared) == sorted(templated), f"{method} {path}"
        assert routes[(path, method)].view_args == templated, f"{method} {path}"


def test_routes_behind_the_admin_authorizer_declare_admin_auth_and_only_they_do() -> None:
    routes = app_routes()
    schemes = SPEC["components"]["securitySchemes"]
    assert schemes["adminAuth"] == {**schemes["adminAuth"], "type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    assert schemes["bearerAuth"] == {**schemes["bearerAuth"], "type": "http", "scheme": "bearer"}
    for (path, method), operation in operations().items():
        declared = {name for requirement in operation.get("security", SPEC.get("security", [])) for name in requirement}
        guarded = routes[(path, method)].authorizer is not None
        assert ("adminAuth" in declared) == guarded, f"{method} {path}"
        if guarded:
            assert {"401", "403"} <= set(operation["responses"]), f"{method} {path}"
        if "bearerAuth" in declared:
            assert "401" in operation["responses"], f"{method} {path}"


def test_operation_ids_are_unique_and_every_operation_is_described() -> None:
    ids = [operation["operationId"] for operation in operations().values()]
    assert len(ids) == len(set(ids))
    for operation in operations().values():
        assert operation.get("summary") and operation.get("description")


def test_every_4xx_answer_is_the_shared_error_and_every_429_says_when_to_retry() -> None:
    for (path, method), operation in operations().items():
        for status, response in operation["responses"].items():
            if not status.startswith("4"):
                continue
            unresolved = response
            if "$ref" in unresolved:
                unresolved = SPEC["components"]["responses"][unresolved["$ref"].rsplit("/", 1)[1]]
            assert unresolved["content"]["application/json"]["schema"] == {"$ref": ERROR_REF}, f"{method} {path}"
            if status == "429":
                assert resolve(unresolved)["headers"]["Retry-After"]["required"] is True, f"{method} {path}"


def test_the_error_schema_is_closed_at_both_levels() -> None:
    error = SPEC["components"]["schemas"]["Error"]
    assert (error["additionalProperties"], error["required"]) == (False, ["error"])
    inner = error["properties"]["error"]
    assert inner["additionalProperties"] is False
    assert inner["required"] == ["code", "message"]
    assert set(inner["properties"]) == {"code", "message", "field"}
    assert {inner["properties"][name]["type"] for name in ("code", "message", "field")} == {"string"}


def media_examples() -> list[tuple[str, dict[str, Any], Any]]:
    """(where, schema, value) for every example given for a request or response body."""
    found = []
    for (path, method), operation in operations().items():
        bodies = [("request", operation.get("requestBody", {}))]
        bodies += [(status, response) for status, response in operation["responses"].items()]
        for label, body in bodies:
            media = resolve(body).get("content", {}).get("application/json")
            if not media:
                continue
            for name, example in media.get("examples", {}).items():
                found.append((f"{method} {path} {label} {name}", media["schema"], example["value"]))
    return found


@pytest.mark.parametrize(("where", "schema", "value"), media_examples(), ids=[e[0] for e in media_examples()])
def test_every_example_matches_its_schema(where: str, schema: dict[str, Any], value: Any) -> None:
    problems = [error.message for error in validator(schema).iter_errors(value)]
    assert problems == [], where


def test_every_operation_has_examples_for_its_bodies() -> None:
    for (path, method), operation in operations().items():
        request = resolve(operation.get("requestBody", {})).get("content", {}).get("application/json")
        if request:
            assert request.get("examples"), f"{method} {path} request"
        for status, response in operation["responses"].items():
            media = resolve(response)["content"]["application/json"]
            assert media.get("examples"), f"{method} {path} {status}"


def test_the_registration_example_is_accepted_by_the_form() -> None:
    operation = SPEC["paths"]["/registrations"]["post"]
    for example in operation["requestBody"]["content"]["application/json"]["examples"].values():
        parse_registration(json.dumps(example["value"]).encode())


def test_request_schemas_match_the_request_models() -> None:
    schemas = SPEC["components"]["schemas"]
    for name, model in [
        ("RegistrationRequest", RegistrationForm),
        ("EmailCodeRequest", EmailCodeRequest),
        ("ApplicantIdRequest", ApplicantIdRequest),
    ]:
        schema = schemas[name]
        assert schema["additionalProperties"] is False, name
        assert list(schema["properties"]) == list(model.model_fields), name
        required = [field for field, info in model.model_fields.items() if info.is_required()]
        assert sorted(schema["required"]) == sorted(required), name
    form = schemas["RegistrationRequest"]["properties"]
    assert form["gender"]["enum"] == list(get_args(RegistrationForm.model_fields["gender"].annotation))
    assert form["employment_status"]["enum"] == [status.value for status in EmploymentStatus]
    assert form["receives_social_aid"]["type"] == "boolean"
    assert {form[name]["type"] for name in form if name != "receives_social_aid"} == {"string"}


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        ("081234567890", True),
        ("+6281234567890", True),
        ("0812-3456-7890", True),
        ("+62 812 3456 7890", True),
        ("0812345", False),
        ("021234567890", False),
        ("62812345678", False),
        ("0812345678901234", False),
    ],
)
def test_the_phone_pattern_is_the_codes_shape_check(value: str, accepted: bool) -> None:
    pattern = SPEC["components"]["schemas"]["RegistrationRequest"]["properties"]["phone"]["pattern"]
    compact = re.sub(r"[ \-]", "", value)
    assert bool(re.fullmatch(r"(?:\+62|0)8\d{7,11}", compact)) is accepted
    assert bool(re.search(pattern, value)) is accepted


def test_enumerations_match_the_domain() -> None:
    schemas = SPEC["components"]["schemas"]
    assert schemas["Status"]["enum"] == [status.value for status in Status]
    assert schemas["Wave"]["properties"]["state"]["enum"] == [state.value for state in WaveState]
    stages = schemas["Funnel"]["properties"]["funnel"]["items"]["properties"]["stage"]["enum"]
    assert stages == [stage.value for stage in FunnelStage]
