"""`make package`: the one deployable template and zip that `chalice package --merge-template template.yaml` yields."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from devstack.provision import load_template
from infra.package import FUNCTIONS, TEMPLATE
from tests.packaging.conftest import FUNCTION, Packaged

pytestmark = pytest.mark.packaging

# Top-level packages the deployed code imports at runtime; `chalice` is the runtime Chalice injects itself.
THIRD_PARTY = [
    "pynamodb",
    "aws_lambda_powertools",
    "stdnum",
    "email_validator",
    "phonenumbers",
    "pydantic",
    "pydantic_settings",
    "cryptography",
    "jwt",
    "numpy",
    "chalice",
]
ROLE = "AWS::IAM::Role"
# Chalice merges its own parts into these, so they are checked piecemeal rather than for equality.
MERGED_TYPES = {FUNCTION, "AWS::Serverless::Api"}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_every_sqs_event_source_reports_batch_item_failures(packaged: Packaged) -> None:
    sqs_events = {
        f"{name}.{event_name}": event["Properties"]
        for name, function in packaged.functions().items()
        for event_name, event in function["Properties"].get("Events", {}).items()
        if event["Type"] == "SQS"
    }
    assert sqs_events, "no function consumes an SQS queue"
    for name, properties in sqs_events.items():
        assert properties.get("FunctionResponseTypes") == ["ReportBatchItemFailures"], name
        # The merge combines mappings key by key: two intrinsics side by side would be an invalid queue.
        queue = properties["Queue"]
        assert not isinstance(queue, dict) or len(queue) == 1, (name, queue)


def test_zip_holds_every_handlers_module(packaged: Packaged) -> None:
    assert "app.py" in packaged.zip_names
    handlers = {name: function["Properties"]["Handler"] for name, function in packaged.functions().items()}
    assert "app.app" in handlers.values()
    for name, handler in handlers.items():
        module = handler.rsplit(".", 1)[0].replace(".", "/")
        assert {f"{module}.py", f"{module}/__init__.py"} & packaged.zip_names, (name, handler)


def test_zip_holds_the_whole_functions_package_at_its_root(packaged: Packaged) -> None:
    expected = {
        path.relative_to(FUNCTIONS.parent).as_posix()
        for path in FUNCTIONS.rglob("*.py")
        if "__pycache__" not in path.parts
    }
    assert expected
    assert expected - packaged.zip_names == set()
    # The local stack is development tooling, kept apart from what is deployed.
    assert not {name for name in packaged.zip_names if name.startswith(("devstack/", "tests/", "vendor/"))}


@pytest.mark.parametrize("top_level", THIRD_PARTY)
def test_zip_holds_third_party_runtime_imports(packaged: Packaged, top_level: str) -> None:
    assert any(name.startswith(f"{top_level}/") for name in packaged.zip_names)


def test_cfn_lint_passes_on_the_merged_template(packaged: Packaged) -> None:
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    result = subprocess.run([str(cfn_lint), str(packaged.template_path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_merged_template_keeps_template_yaml(packaged: Packaged) -> None:
    ours = load_template(TEMPLATE)
    assert packaged.template["Globals"] == ours["Globals"]
    assert {"IntakeQueue", "IntakeDeadLetterQueue", "ApplicantsTable", "APIHandlerRole"} <= set(ours["Resources"])
    for name, resource in ours["Resources"].items():
        if resource["Type"] not in MERGED_TYPES:
            assert packaged.resources.get(name) == resource, name


def test_functions_run_as_the_least_privilege_role(packaged: Packaged) -> None:
    roles = sorted(name for name, resource in packaged.resources.items() if resource["Type"] == ROLE)
    statements = [
        statement
        for role in roles
        for policy in packaged.resources[role]["Properties"].get("Policies", [])
        for statement in policy["PolicyDocument"]["Statement"]
    ]
    data_statements = [
        statement
        for statement in statements
        if any(action.split(":")[0] in {"sqs", "dynamodb"} for action in _as_list(statement["Action"]))
    ]
    assert data_statements
    for statement in data_statements:
        assert "*" not in _as_list(statement["Resource"]), statement["Sid"]
        assert not any(action.endswith(":*") for action in _as_list(statement["Action"])), statement["Sid"]

    # One role per function, each exactly what it uses: test_least_privilege.py
    assert packaged.resources["IntakeConsumer"]["Properties"]["Role"] == {"Fn::GetAtt": ["IntakeConsumerRole", "Arn"]}
    # No function keeps a role Chalice generated (with its own, broader policy): each is one template.yaml declares.
    our_roles = {name for name, resource in load_template(TEMPLATE)["Resources"].items() if resource["Type"] == ROLE}
    for name, function in packaged.functions().items():
        role = function["Properties"]["Role"]
        assert isinstance(role, dict) and role.get("Fn::GetAtt", [None])[0] in our_roles, (name, role)
