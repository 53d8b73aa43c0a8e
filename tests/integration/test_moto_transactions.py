"""The local stack's moto fix: item-level rollback must keep TransactWriteItems all-or-nothing, as moto's is."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.dynamodb.models import DynamoDBBackend

from devstack import moto_server

ORIGINAL = DynamoDBBackend.transact_write_items


@pytest.fixture(params=["moto", "devstack"])
def dynamodb(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The same scenario against moto's own transactions and against the local stack's."""
    implementation = ORIGINAL if request.param == "moto" else moto_server.transact_write_items
    monkeypatch.setattr(DynamoDBBackend, "transact_write_items", implementation)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        client = boto3.client("dynamodb", region_name="ap-southeast-3")
        client.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        client.put_item(TableName="t", Item={"k": {"S": "held"}, "n": {"N": "1"}})
        client.put_item(TableName="t", Item={"k": {"S": "counter"}, "n": {"N": "10"}})
        yield client


def put_new(key: str) -> dict[str, Any]:
    return {"Put": {"TableName": "t", "Item": {"k": {"S": key}}, "ConditionExpression": "attribute_not_exists(k)"}}


def add_one() -> dict[str, Any]:
    return {
        "Update": {
            "TableName": "t",
            "Key": {"k": {"S": "counter"}},
            "UpdateExpression": "ADD n :one",
            "ExpressionAttributeValues": {":one": {"N": "1"}},
        }
    }


def state(client: Any) -> dict[str, str]:
    items = client.scan(TableName="t")["Items"]
    return {item["k"]["S"]: item.get("n", {}).get("N", "") for item in items}


def test_a_failed_condition_cancels_every_write(dynamodb: Any) -> None:
    before = state(dynamodb)
    with pytest.raises(ClientError) as caught:
        dynamodb.transact_write_items(TransactItems=[put_new("fresh"), add_one(), put_new("held")])
    reasons = [r["Code"] for r in caught.value.response["CancellationReasons"]]
    assert reasons == ["None", "None", "ConditionalCheckFailed"]
    assert state(dynamodb) == before


def test_an_overwrite_is_rolled_back_to_the_old_item(dynamodb: Any) -> None:
    before = state(dynamodb)
    overwrite = {"Put": {"TableName": "t", "Item": {"k": {"S": "counter"}, "n": {"N": "99"}}}}
    with pytest.raises(ClientError):
        dynamodb.transact_write_items(TransactItems=[overwrite, put_new("held")])
    assert state(dynamodb) == before


def test_a_successful_transaction_applies_every_write(dynamodb: Any) -> None:
    dynamodb.transact_write_items(TransactItems=[put_new("fresh"), add_one()])
    assert state(dynamodb) == {"held": "1", "counter": "11", "fresh": ""}


def test_two_operations_on_one_item_are_refused(dynamodb: Any) -> None:
    before = state(dynamodb)
    with pytest.raises(ClientError):
        dynamodb.transact_write_items(TransactItems=[put_new("fresh"), put_new("fresh")])
    assert state(dynamodb) == before


def test_concurrent_conditional_updates_of_one_item_are_each_applied(dynamodb: Any) -> None:
    """In-process, moto's writes are isolated as DynamoDB's are: no increment is lost between threads."""
    from concurrent.futures import ThreadPoolExecutor

    def increments(_: int) -> int:
        for _ in range(40):
            dynamodb.update_item(
                TableName="t",
                Key={"k": {"S": "counter"}},
                UpdateExpression="ADD n :one",
                ConditionExpression="attribute_exists(k)",
                ExpressionAttributeValues={":one": {"N": "1"}},
            )
        return 40

    with ThreadPoolExecutor(max_workers=6) as pool:
        done = sum(pool.map(increments, range(6)))
    item = dynamodb.get_item(TableName="t", Key={"k": {"S": "counter"}}, ConsistentRead=True)["Item"]
    assert int(item["n"]["N"]) == 10 + done
