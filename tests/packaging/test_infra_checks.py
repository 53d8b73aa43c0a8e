"""Infrastructure checks on `template.yaml`, no AWS needed: throttling, the WAF, an alarm on every queue, the
results bucket, IAM's unscoped statements, and cfn-lint. What tests/unit/test_template_agrees_with_app.py
checks already (dead-letter queues, tables' recovery and protection, key rotation, no wildcard actions on tables
or queues) is not repeated; the packaged template's cfn-lint run is in test_package.py."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from devstack.provision import TEMPLATE, load_template

RESOURCES: dict[str, Any] = load_template()["Resources"]
OPENAPI = TEMPLATE.parent / "openapi.yaml"

# Actions that AWS does not let a policy scope to a resource, so "*" is the only Resource they take.
UNSCOPED_ACTIONS = {
    "xray:PutTraceSegments",  # X-Ray has no resource types
    "xray:PutTelemetryRecords",
    "sns:Publish",  # SMS straight to a phone number names no topic
}
# Main queues without an alarm on the age of their oldest message (none now; the test stays strict).
MAIN_QUEUES_WITHOUT_AN_AGE_ALARM: set[str] = set()


def of_type(resource_type: str) -> dict[str, dict[str, Any]]:
    return {name: resource for name, resource in RESOURCES.items() if resource["Type"] == resource_type}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def referenced(value: Any) -> str | None:
    """The logical id a !Ref, !GetAtt or single-variable !Sub points at."""
    if isinstance(value, dict):
        if "Ref" in value:
            return str(value["Ref"])
        if "Fn::GetAtt" in value:
            return str(value["Fn::GetAtt"][0])
        if "Fn::Sub" in value and isinstance(value["Fn::Sub"], str):
            found = re.fullmatch(r"\$\{(\w+)(?:\.\w+)?\}", value["Fn::Sub"])
            return found.group(1) if found else None
    return None


# --- API Gateway throttling ------------------------------------------------------------------------------------


def test_the_api_throttles_every_method() -> None:
    (api,) = of_type("AWS::Serverless::Api").values()
    settings = api["Properties"]["MethodSettings"]
    everything = [s for s in settings if s.get("ResourcePath") == "/*" and s.get("HttpMethod") == "*"]
    assert everything, settings
    for setting in everything:
        rate, burst = setting["ThrottlingRateLimit"], setting["ThrottlingBurstLimit"]
        assert isinstance(rate, int | float) and rate > 0
        assert isinstance(burst, int) and burst >= rate


def test_the_throttling_limits_are_the_ones_openapi_yaml_documents() -> None:
    (api,) = of_type("AWS::Serverless::Api").values()
    (setting,) = [s for s in api["Properties"]["MethodSettings"] if s.get("ResourcePath") == "/*"]
    documented = re.search(r"throttling beyond ([\d,]+) requests/s \(burst ([\d,]+)\)", OPENAPI.read_text())
    assert documented, "openapi.yaml no longer states the throttling limits"
    rate, burst = (int(number.replace(",", "")) for number in documented.groups())
    assert (setting["ThrottlingRateLimit"], setting["ThrottlingBurstLimit"]) == (rate, burst)


def test_a_throttled_request_gets_429_with_retry_after_in_the_error_shape() -> None:
    (api,) = of_type("AWS::Serverless::Api").values()
    throttled = api["Properties"]["GatewayResponses"]["THROTTLED"]
    assert throttled["StatusCode"] == "429"
    assert throttled["ResponseParameters"]["Headers"]["Retry-After"] == "'5'"
    assert '"error": {"code": "THROTTLED"' in throttled["ResponseTemplates"]["application/json"]


@pytest.mark.parametrize(("response_type", "status"), [("UNAUTHORIZED", 401), ("ACCESS_DENIED", 403)])
def test_the_authorizers_refusals_carry_the_codes_the_local_gateway_gives(response_type: str, status: int) -> None:
    from devstack.gateway import _GATEWAY_CODES

    (api,) = of_type("AWS::Serverless::Api").values()
    refusal = api["Properties"]["GatewayResponses"][response_type]
    assert refusal["StatusCode"] == str(status)
    assert f'"error": {{"code": "{_GATEWAY_CODES[status]}"' in refusal["ResponseTemplates"]["application/json"]


# --- The WAF -----------------------------------------------------------------------------------------------------


def test_a_waf_rate_based_rule_per_client_ip_blocks_with_429() -> None:
    (acl,) = of_type("AWS::WAFv2::WebACL").values()
    properties = acl["Properties"]
    assert properties["Scope"] == "REGIONAL"  # what an API Gateway stage takes
    rate_rules = [rule for rule in properties["Rules"] if "RateBasedStatement" in rule["Statement"]]
    assert rate_rules, properties["Rules"]
    for rule in rate_rules:
        statement = rule["Statement"]["RateBasedStatement"]
        assert statement["AggregateKeyType"] == "IP"
        assert statement["Limit"] >= 100  # WAF's minimum per 5 minutes
        assert rule["Action"]["Block"]["CustomResponse"]["ResponseCode"] == 429
        assert rule["VisibilityConfig"]["CloudWatchMetricsEnabled"] is True


def test_the_web_acl_is_associated_with_the_api_stage() -> None:
    ((acl_name, _),) = of_type("AWS::WAFv2::WebACL").items()
    ((api_name, api),) = of_type("AWS::Serverless::Api").items()
    stage = api["Properties"]["StageName"]
    (association,) = of_type("AWS::WAFv2::WebACLAssociation").values()
    assert association["Properties"]["WebACLArn"] == {"Fn::GetAtt": [acl_name, "Arn"]}
    resource_arn = association["Properties"]["ResourceArn"]["Fn::Sub"]
    assert resource_arn.endswith(f":apigateway:${{AWS::Region}}::/restapis/${{{api_name}}}/stages/{stage}")
    # SAM names the stage <api><stage>Stage; the association must wait for it.
    assert f"{api_name}{stage}Stage" in as_list(association["DependsOn"])


# --- An alarm on every queue -------------------------------------------------------------------------------------


def queue_alarms(queue: str) -> dict[str, dict[str, Any]]:
    """The alarms on an SQS metric of this queue, by metric name."""
    alarms = {}
    for alarm in of_type("AWS::CloudWatch::Alarm").values():
        properties = alarm["Properties"]
        dimensions = {d["Name"]: referenced(d["Value"]) for d in properties.get("Dimensions", [])}
        if properties.get("Namespace") == "AWS/SQS" and dimensions.get("QueueName") == queue:
            alarms[properties["MetricName"]] = properties
    return alarms


def dead_letter_queues() -> set[str]:
    return {
        referenced(queue["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]) or ""
        for queue in of_type("AWS::SQS::Queue").values()
        if "RedrivePolicy" in queue["Properties"]
    }


def main_queue_params() -> list[Any]:
    main_queues = sorted(set(of_type("AWS::SQS::Queue")) - dead_letter_queues())
    assert set(main_queues) >= MAIN_QUEUES_WITHOUT_AN_AGE_ALARM
    return [
        pytest.param(
            name,
            marks=pytest.mark.xfail(
                strict=True,
                reason=f"template.yaml declares no ApproximateAgeOfOldestMessage alarm on {name} (only on its DLQ)",
            ),
        )
        if name in MAIN_QUEUES_WITHOUT_AN_AGE_ALARM
        else name
        for name in main_queues
    ]


def alarms_to_the_topic(alarm: dict[str, Any]) -> bool:
    topics = set(of_type("AWS::SNS::Topic"))
    actions = [referenced(action) for action in alarm.get("AlarmActions", [])]
    return bool(actions) and all(action in topics for action in actions)


@pytest.mark.parametrize("queue", sorted(dead_letter_queues()))
def test_every_dead_letter_queue_alarms_on_its_first_message(queue: str) -> None:
    alarm = queue_alarms(queue).get("ApproximateNumberOfMessagesVisible")
    assert alarm, f"{queue} has no depth alarm"
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0)
    assert alarm["TreatMissingData"] == "notBreaching"
    assert alarms_to_the_topic(alarm)


@pytest.mark.parametrize("queue", main_queue_params())
def test_every_main_queue_alarms_on_the_age_of_its_oldest_message(queue: str) -> None:
    alarm = queue_alarms(queue).get("ApproximateAgeOfOldestMessage")
    assert alarm, f"{queue} has no backlog alarm"
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    retention = RESOURCES[queue]["Properties"]["MessageRetentionPeriod"]
    # Well before a message would expire unseen.
    assert 0 < alarm["Threshold"] < retention / 2
    assert alarms_to_the_topic(alarm)


def test_every_queue_is_covered_by_the_two_tests_above() -> None:
    queues = set(of_type("AWS::SQS::Queue"))
    assert queues
    assert dead_letter_queues() < queues


# --- The results bucket ------------------------------------------------------------------------------------------


def test_the_results_bucket_blocks_public_access() -> None:
    (bucket,) = of_type("AWS::S3::Bucket").values()
    assert bucket["Properties"]["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }


def test_the_results_bucket_refuses_requests_without_tls() -> None:
    ((bucket_name, _),) = of_type("AWS::S3::Bucket").items()
    (policy,) = of_type("AWS::S3::BucketPolicy").values()
    assert referenced(policy["Properties"]["Bucket"]) == bucket_name
    denials = [
        statement
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if statement["Effect"] == "Deny"
        and statement.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") in ("false", False)
    ]
    assert denials
    (tls_only,) = denials
    assert tls_only["Principal"] == "*"
    assert as_list(tls_only["Action"]) == ["s3:*"]
    resources = as_list(tls_only["Resource"])
    assert {"Fn::GetAtt": [bucket_name, "Arn"]} in resources  # the bucket
    assert {"Fn::Sub": f"${{{bucket_name}.Arn}}/*"} in resources  # and every object in it


# --- IAM: "*" only where AWS allows nothing narrower --------------------------------------------------------------


def iam_statements() -> list[tuple[str, dict[str, Any]]]:
    statements = []
    for name, resource in RESOURCES.items():
        properties = resource["Properties"]
        documents = []
        if resource["Type"] == "AWS::IAM::Role":
            documents = [policy["PolicyDocument"] for policy in properties.get("Policies", [])]
        elif resource["Type"] in {"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"}:
            documents = [properties["PolicyDocument"]]
        statements += [(name, statement) for document in documents for statement in document["Statement"]]
    return statements


def test_the_template_declares_iam_statements() -> None:
    assert len(iam_statements()) >= 5


def test_resource_star_is_only_for_actions_that_cannot_be_scoped() -> None:
    unscoped = [
        (role, statement.get("Sid"), action)
        for role, statement in iam_statements()
        if statement["Effect"] == "Allow" and "*" in as_list(statement["Resource"])
        for action in as_list(statement["Action"])
    ]
    assert unscoped, "no statement with Resource '*': update UNSCOPED_ACTIONS"
    assert [entry for entry in unscoped if entry[2] not in UNSCOPED_ACTIONS] == []
    # And each exception is still in use, so that the list stays exact.
    assert {entry[2] for entry in unscoped} == UNSCOPED_ACTIONS


def test_no_iam_statement_allows_every_action_or_uses_not_action() -> None:
    for role, statement in iam_statements():
        assert "NotAction" not in statement and "NotResource" not in statement, (role, statement.get("Sid"))
        assert "*" not in as_list(statement["Action"]), (role, statement.get("Sid"))


# --- cfn-lint ----------------------------------------------------------------------------------------------------


def test_cfn_lint_passes_on_template_yaml() -> None:
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    result = subprocess.run([str(cfn_lint), str(TEMPLATE)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
