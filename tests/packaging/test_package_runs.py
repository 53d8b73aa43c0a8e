"""The package runs as Lambda would run it: unzipped alone, under the Python the template's Runtime names, with
nothing of the venv the other tests use. Each handler the template declares is invoked with a minimal event of its
kind where that needs no AWS, and the draw runs through the packaged code and gives byte for byte the venv's
result."""

from __future__ import annotations

import json
import pkgutil
import random
import shutil
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import registration_event, sqs_record
from tests.packaging import lambda_probe
from tests.packaging.conftest import Packaged

pytestmark = pytest.mark.packaging

PROBE = Path(lambda_probe.__file__)
REGION = "ap-southeast-3"
# The schedules' first step is reading the waves table: they cannot run a step without AWS. What they run (the
# draw) is run through the packaged code below instead.
NEEDS_AWS = {
    "functions.select.close_due_waves",
    "functions.select.publish_due_waves",
    "functions.select.catch_up_waves",
    "functions.membership.revoke_overdue_memberships",
    "functions.payouts.queue_due_incentives",
    "functions.payouts.reconcile_payments",
}


def _runtime_python(template: dict[str, Any], functions: dict[str, Any]) -> str:
    """The interpreter the template's Runtime names (python3.11 -> the python3.11 on PATH), resolved past shims."""
    runtimes = {function["Properties"].get("Runtime") for function in functions.values()}
    runtimes.add(template["Globals"]["Function"]["Runtime"])
    runtimes.discard(None)
    assert len(runtimes) == 1, f"the functions name several runtimes: {runtimes}"
    (runtime,) = runtimes
    assert runtime.startswith("python"), runtime
    command = shutil.which(runtime)
    assert command, f"{runtime} (the template's Runtime) is not on PATH: the package cannot be run as deployed"
    resolved = subprocess.run(
        [command, "-c", "import sys; print(sys.executable)"], capture_output=True, text=True, check=True
    )
    return resolved.stdout.strip()


def _stand_in(name: str, value: Any, parameters: dict[str, Any]) -> str:
    """A deployed value for a Globals variable: the logical id stands in for a resource's name or URL."""
    if isinstance(value, str):
        return value
    reference = value.get("Ref") or value.get("Fn::GetAtt", [""])[0]
    if reference in parameters:
        default = parameters[reference].get("Default")
        return str(default) if default is not None else f"https://{reference.lower()}.example.invalid"
    if name.endswith("_QUEUE_URL"):
        return f"https://sqs.{REGION}.amazonaws.com/123456789012/{reference}"
    return str(reference)


def _lambda_environment(template: dict[str, Any]) -> dict[str, str]:
    parameters = template.get("Parameters", {})
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    environment = {name: _stand_in(name, value, parameters) for name, value in variables.items()}
    return {
        **environment,
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_LAMBDA_FUNCTION_NAME": "probe",
        "AWS_ACCESS_KEY_ID": "probe",
        "AWS_SECRET_ACCESS_KEY": "probe",
        # Any AWS call fails at once on a closed loopback port instead of leaving the machine.
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_MAX_ATTEMPTS": "1",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "PATH": "/usr/bin:/bin",
    }


def _sqs_event(queue: str) -> dict[str, Any]:
    return {"Records": [sqs_record("not json", queue=queue)]}


def _api_event() -> dict[str, Any]:
    """API Gateway's proxy event for a registration whose NIK is too short: refused before any AWS call."""
    return registration_event(json.dumps({"nik": "12"}))


def _authorizer_event() -> dict[str, Any]:
    return {
        "type": "TOKEN",
        "authorizationToken": "Bearer not-a-token",
        "methodArn": f"arn:aws:execute-api:{REGION}:123456789012:probe/api/GET/admin/stats",
    }


def _event_for(function: dict[str, Any]) -> dict[str, Any] | None:
    handler = function["Properties"]["Handler"]
    if handler in NEEDS_AWS:
        return None
    if handler == "app.app":
        return _api_event()
    events = function["Properties"].get("Events", {}).values()
    if any(event["Type"] == "SQS" for event in events):
        return _sqs_event(handler.rpartition(".")[2])
    if handler == "functions.operators.admin_authorizer":
        return _authorizer_event()
    raise AssertionError(f"no minimal event for {handler}: add one, or say why it needs AWS")


def _pool_request() -> dict[str, Any]:
    rng = random.Random(13)
    families = [f"{rng.getrandbits(256):064x}" for _ in range(60)]
    members = [
        {
            "draw_id": f"{rng.getrandbits(256):064x}",
            "tier": rng.choice((1, 2, 3, 4)),
            "province": rng.choice(("31", "32", "33", "35")),
            "family": rng.choice(families),
        }
        for _ in range(200)
    ]
    members.sort(key=lambda member: member["draw_id"])
    return {
        "members": members,
        "seed": bytes(range(32)).hex(),
        "wave_secret": bytes(range(32, 64)).hex(),
        "wave": 7,
        "rules": {"quota": 40, "kk_cap": 2, "province_quotas": {"31": 12}},
    }


@pytest.fixture(scope="module")
def probe(packaged: Packaged, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    functions = packaged.functions()
    layered = {name for name, function in functions.items() if function["Properties"].get("Layers")}
    # The package is the zip alone (infra/README.md); a layer added later must be unzipped here beside it.
    assert not layered, f"functions with layers this probe does not unzip: {layered}"
    task_root = tmp_path_factory.mktemp("var-task")
    with zipfile.ZipFile(packaged.zip_path) as archive:
        archive.extractall(task_root)
    handlers = {
        function["Properties"]["Handler"]: event
        for function in functions.values()
        if (event := _event_for(function)) is not None
    }
    request = {"handlers": handlers, "draw": _pool_request()}
    request_path = task_root.parent / "probe-request.json"
    request_path.write_text(json.dumps(request))
    report_path = task_root.parent / "probe-report.json"
    python = _runtime_python(packaged.template, functions)
    result = subprocess.run(
        [python, "-I", "-S", str(PROBE), str(task_root), str(request_path), str(report_path)],
        capture_output=True,
        text=True,
        env=_lambda_environment(packaged.template),
        cwd=task_root,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-5000:]
    report: dict[str, Any] = json.loads(report_path.read_text())
    report["task_root"] = str(task_root)
    report["request"] = request
    return report


def test_only_the_package_and_the_standard_library_are_importable(probe: dict[str, Any]) -> None:
    assert probe["sys_path"][0] == probe["task_root"]
    assert not [path for path in probe["sys_path"] if "site-packages" in path or ".venv" in path]
    assert probe["numpy"].startswith(probe["task_root"])


def test_the_app_and_every_module_under_functions_import(probe: dict[str, Any]) -> None:
    import functions

    expected = {"app", "functions"} | {
        module.name for module in pkgutil.walk_packages(functions.__path__, "functions.")
    }
    assert len(expected) > 40
    assert set(probe["modules"]) == expected


def test_every_declared_handler_without_aws_is_invoked(packaged: Packaged, probe: dict[str, Any]) -> None:
    declared = {function["Properties"]["Handler"] for function in packaged.functions().values()}
    assert declared - NEEDS_AWS == set(probe["handlers"])


def test_the_api_refuses_bad_input_in_the_contract_shape(probe: dict[str, Any]) -> None:
    outcome = probe["handlers"]["app.app"]
    assert "error" not in outcome, outcome.get("traceback")
    answer = outcome["answer"]
    assert answer["statusCode"] == 400
    assert json.loads(answer["body"])["error"]["field"] == "nik"


def test_each_consumer_parses_its_batch_and_refuses_an_unreadable_message(probe: dict[str, Any]) -> None:
    consumers = {handler: outcome for handler, outcome in probe["handlers"].items() if handler.endswith("_consumer")}
    assert len(consumers) == 10
    for handler, outcome in consumers.items():
        # Powertools' BatchProcessor: a batch whose every record failed raises, and Lambda retries it whole.
        assert outcome.get("error", "").startswith("BatchProcessingError: All records failed"), (handler, outcome)
        assert "json_invalid" in outcome["traceback"], handler


def test_the_admin_authorizer_denies_a_bad_token(probe: dict[str, Any]) -> None:
    outcome = probe["handlers"]["functions.operators.admin_authorizer"]
    assert "error" not in outcome, outcome.get("traceback")
    answer = outcome["answer"]
    statements = answer["policyDocument"]["Statement"]
    assert not [statement for statement in statements if statement["Effect"] == "Allow" and statement["Resource"]]


def test_the_packaged_draw_is_byte_for_byte_the_venvs(probe: dict[str, Any]) -> None:
    # The probe's own draw function, run here on the venv's packages.
    in_venv = json.loads(json.dumps(lambda_probe.draw(probe["request"]["draw"])))
    assert probe["draw"]["ranked_list"] == in_venv["ranked_list"]
    assert probe["draw"]["manifest"] == in_venv["manifest"]
    assert in_venv["manifest"]["selected_count"] == 40
