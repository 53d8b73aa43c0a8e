"""`ErrorCode` is every error code the API answers, and `openapi.yaml` agrees with it: each code is documented, each
documented code is one, and each is documented under the status it is answered with (`web.STATUSES` for a refusal,
Chalice's and the gateways' own statuses for theirs). Which code a place answers is read from the source."""

from __future__ import annotations

import ast
import json
import re
from collections import defaultdict
from pathlib import Path

import pytest

from devstack.provision import load_template
from functions import web
from functions.domain.errors import ErrorCode, InvalidField, NotAuthorised
from functions.domain.requests import _PYDANTIC_CODES
from tests.unit.test_openapi_routes import SPEC_PATH, operations, resolve

ROOT = Path(__file__).resolve().parents[2]
KINDS = {kind.__name__: kind for kind in web.STATUSES}
# Field problems reach the caller as InvalidField refusals (`domain.requests.first_problem`).
FIELD_PROBLEMS = ("FieldProblem", "PydanticCustomError")
BACKTICKED = re.compile(r"`(?:\d{3} )?([A-Z][A-Z0-9_]+)`")


def _member(node: ast.expr) -> ErrorCode | None:
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "ErrorCode":
        return ErrorCode[node.attr]
    return None


def _callee(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Name):
        return call.func.id
    return call.func.attr if isinstance(call.func, ast.Attribute) else None


def _named_tuples(tree: ast.Module) -> dict[str, ast.expr]:
    """The first item of each tuple a module names, such as `_WRONG_CODE = (ErrorCode.INVALID_CODE, ...)`."""
    return {
        target.id: node.value.elts[0]
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Tuple) and node.value.elts
        for target in node.targets
        if isinstance(target, ast.Name)
    }


def read_app() -> tuple[dict[ErrorCode, set[int]], set[ErrorCode], list[str]]:
    """What `functions/` answers: each code with the statuses it is answered with (from every refusal and field
    problem naming it, the request parser's codes and Chalice's own); every code the source names; and each place
    that gives a refusal a literal code."""
    answered: dict[ErrorCode, set[int]] = defaultdict(set)
    named: set[ErrorCode] = set()
    literals = []
    for path in sorted((ROOT / "functions").rglob("*.py")):
        tree = ast.parse(path.read_text())
        tuples = _named_tuples(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and (code := _member(node)) is not None:
                named.add(code)
            if not isinstance(node, ast.Call) or not node.args:
                continue
            first = node.args[0]
            if isinstance(first, ast.Starred) and isinstance(first.value, ast.Name):
                first = tuples.get(first.value.id, first)
            kind, code = _callee(node), _member(first)
            if (kind in KINDS or kind in FIELD_PROBLEMS) and isinstance(first, ast.Constant):
                literals.append(f"{path.relative_to(ROOT)}:{node.lineno}")
            if code is not None and kind in KINDS:
                answered[code].add(web.STATUSES[KINDS[kind]])
            elif code is not None and kind in FIELD_PROBLEMS:
                answered[code].add(web.STATUSES[InvalidField])
    for code, _message in _PYDANTIC_CODES.values():
        answered[code].add(web.STATUSES[InvalidField])
    answered[ErrorCode(NotAuthorised().code)].add(web.STATUSES[NotAuthorised])
    for status, code in web.CHALICE_ERROR_CODES.items():
        answered[code].add(status)
    return answered, named, literals


def gateway_answers() -> dict[ErrorCode, set[int]]:
    """What API Gateway answers in the contract's own codes (`template.yaml`'s gateway responses)."""
    api = next(r for r in load_template()["Resources"].values() if r["Type"] == "AWS::Serverless::Api")
    answers: dict[ErrorCode, set[int]] = defaultdict(set)
    for response in api["Properties"]["GatewayResponses"].values():
        if "StatusCode" in response:
            body = json.loads(response["ResponseTemplates"]["application/json"])
            answers[ErrorCode(body["error"]["code"])].add(int(response["StatusCode"]))
    return answers


def documented() -> dict[ErrorCode | str, set[int]]:
    """Each error code `openapi.yaml` documents under a 4xx or 5xx answer of an operation, in an example or named
    in the answer's description, with those answers' statuses."""
    found: dict[ErrorCode | str, set[int]] = defaultdict(set)
    for operation in operations().values():
        for status, response in operation["responses"].items():
            if int(status) < 400:
                continue
            answer = resolve(response)
            for example in answer["content"]["application/json"].get("examples", {}).values():
                found[example["value"]["error"]["code"]].add(int(status))
            for name in BACKTICKED.findall(answer.get("description", "")):
                if name in ErrorCode.__members__:
                    found[ErrorCode[name]].add(int(status))
    return found


APP, NAMED, LITERALS = read_app()
GATEWAY = gateway_answers()
DOCUMENTED = documented()


def test_every_refusal_names_its_code_from_the_registry() -> None:
    assert LITERALS == []
    # ERROR is named as the fallback of Chalice's statuses, which it takes whichever they are.
    assert NAMED - set(APP) == {ErrorCode.ERROR}, "codes named in functions/ that this test cannot tell the status of"


def test_each_code_has_one_status_wherever_it_is_answered() -> None:
    answered = defaultdict(set, {code: set(statuses) for code, statuses in APP.items()})
    for code, statuses in GATEWAY.items():
        answered[code] |= statuses
    assert {code: statuses for code, statuses in answered.items() if len(statuses) != 1} == {}


def test_every_code_is_answered_by_someone() -> None:
    # ERROR: the status Chalice gave, for one `web.in_contract_shape` has no code of its own for.
    assert set(ErrorCode) - set(APP) - set(GATEWAY) == {ErrorCode.ERROR}


def test_every_code_in_openapi_examples_is_in_the_registry() -> None:
    assert {code for code in DOCUMENTED if code not in ErrorCode.__members__} == set()


def test_every_code_of_the_registry_is_documented_in_openapi() -> None:
    anywhere = set(BACKTICKED.findall(SPEC_PATH.read_text())) | set(DOCUMENTED)
    assert set(ErrorCode) - anywhere == set()


@pytest.mark.parametrize("code", sorted(set(APP) | set(GATEWAY)))
def test_openapi_documents_each_code_under_the_status_it_is_answered_with(code: ErrorCode) -> None:
    answered = APP.get(code, set()) | GATEWAY.get(code, set())
    assert DOCUMENTED.get(code, answered) <= answered, f"{code} is answered {answered}"
