"""`template.yaml` and the Chalice app describe the same queues and event sources (no AWS needed)."""

from __future__ import annotations

from typing import Any

from chalice.app import SQSEventConfig

from devstack.provision import load_template
from functions.app import app

TEMPLATE = load_template()
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]


def logical_id(handler_name: str) -> str:
    """Chalice names a handler's function resource in CamelCase: intake_consumer -> IntakeConsumer."""
    return "".join(part.title() for part in handler_name.split("_"))


def queue_resource(queue_name: str) -> str:
    (found,) = [
        name
        for name, resource in RESOURCES.items()
        if resource["Type"] == "AWS::SQS::Queue" and resource["Properties"].get("QueueName") == queue_name
    ]
    return found


def test_every_sqs_handler_has_its_function_with_partial_batch_responses() -> None:
    sources = [s for s in app.event_sources if isinstance(s, SQSEventConfig)]
    assert sources
    for source in sources:
        function = RESOURCES[logical_id(source.name)]
        assert function["Properties"]["Handler"] == source.handler_string
        (event,) = function["Properties"]["Events"].values()
        properties = event["Properties"]
        assert properties["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert properties["BatchSize"] == source.batch_size
        assert properties.get("MaximumBatchingWindowInSeconds", 0) == source.maximum_batching_window_in_seconds
        assert properties["Queue"] == {"Fn::Sub": f"${{{queue_resource(source.queue)}.Arn}}"}
        if source.maximum_concurrency:
            assert properties["ScalingConfig"]["MaximumConcurrency"] == source.maximum_concurrency


def test_every_queue_has_a_dead_letter_queue_after_five_receives_and_an_alarm() -> None:
    queues = {name: r for name, r in RESOURCES.items() if r["Type"] == "AWS::SQS::Queue"}
    dead_letter_queues = {name for name, r in queues.items() if r["Properties"]["QueueName"].endswith("-dlq")}
    alarmed = {
        str(r["Properties"]["Dimensions"][0]["Value"]["Fn::GetAtt"][0])
        for r in RESOURCES.values()
        if r["Type"] == "AWS::CloudWatch::Alarm" and r["Properties"]["Namespace"] == "AWS/SQS"
    }
    for name, queue in queues.items():
        if name in dead_letter_queues:
            assert name in alarmed, f"{name} has no depth alarm"
            continue
        policy = queue["Properties"]["RedrivePolicy"]
        assert policy["maxReceiveCount"] == 5
        assert policy["deadLetterTargetArn"]["Fn::GetAtt"][0] in dead_letter_queues


def test_tables_are_on_demand_recoverable_and_protected() -> None:
    tables = [r["Properties"] for r in RESOURCES.values() if r["Type"] == "AWS::DynamoDB::Table"]
    assert tables
    for table in tables:
        assert table["BillingMode"] == "PAY_PER_REQUEST"
        assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        assert table["DeletionProtectionEnabled"] is True


def test_the_keys_rotate() -> None:
    keys = [r["Properties"] for r in RESOURCES.values() if r["Type"] == "AWS::KMS::Key"]
    assert keys and all(key["EnableKeyRotation"] is True for key in keys)


def test_no_wildcard_actions_on_tables_or_queues() -> None:
    statements = [
        statement
        for resource in RESOURCES.values()
        if resource["Type"] == "AWS::IAM::Role"
        for policy in resource["Properties"].get("Policies", [])
        for statement in policy["PolicyDocument"]["Statement"]
    ]
    assert statements
    for statement in statements:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert not any(a.endswith("*") for a in actions), statement["Sid"]
        if any(a.startswith(("dynamodb:", "sqs:")) for a in actions):
            assert statement["Resource"] != "*", statement["Sid"]


def test_reconciliation_differences_raise_an_alarm_on_the_metric_the_app_emits() -> None:
    from functions.observability import SERVICE

    alarm = RESOURCES["ReconciliationDifferencesAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("Prakerja", "ReconciliationDifferences")
    assert alarm["Dimensions"] == [{"Name": "service", "Value": SERVICE}]
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0, "GreaterThanThreshold")
