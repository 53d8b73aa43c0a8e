"""`POST /registrations` and `GET /applicants/{id}` through the Chalice app on moto."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from chalice.test import Client

from devstack.population import PopulationGenerator
from functions.app import app
from functions.settings import settings
from tests.helpers import FakeLambdaContext, reset_app_state, sqs_event
from tests.integration.conftest import queue_messages

JSON = {"Content-Type": "application/json"}


@pytest.fixture
def client(aws: Any) -> Any:
    with Client(app) as test_client:
        yield test_client


@pytest.fixture
def people() -> PopulationGenerator:
    return PopulationGenerator(seed=11)


def post(client: Any, body: dict[str, Any] | bytes, **headers: str) -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.http.post("/registrations", headers={**JSON, **headers}, body=raw)


def store_queued() -> None:
    from functions.register import intake_consumer

    bodies = [message["Body"] for message in queue_messages(settings().intake_queue_url)]
    assert intake_consumer(sqs_event(*bodies), FakeLambdaContext()) == {"batchItemFailures": []}


def test_accepted_registration_answers_202_pending_with_a_token(client: Any, people: PopulationGenerator) -> None:
    answer = post(client, people.person().registration())
    assert answer.status_code == 202
    assert set(answer.json_body) == {"applicant_id", "status", "access_token", "expires_at"}
    assert answer.json_body["status"] == "PENDING"
    assert len(queue_messages(settings().intake_queue_url)) == 1


def test_the_same_idempotency_key_and_body_returns_the_first_answer(client: Any, people: PopulationGenerator) -> None:
    body = people.person().registration()
    first = post(client, body, **{"Idempotency-Key": "retry-0001-abc"})
    again = post(client, body, **{"Idempotency-Key": "retry-0001-abc"})
    assert first.status_code == again.status_code == 202
    assert again.json_body == first.json_body
    assert len(queue_messages(settings().intake_queue_url)) == 1


def test_a_replay_after_the_idempotency_record_expired_is_a_new_applicant(
    client: Any, people: PopulationGenerator
) -> None:
    import boto3

    body = people.person().registration()
    first = post(client, body, **{"Idempotency-Key": "replayed-0001-abc"})
    # When DynamoDB's TTL has removed the idempotency record (24 h later) and the same request comes again
    table = settings().idempotency_table
    dynamodb = boto3.client("dynamodb")
    for item in dynamodb.scan(TableName=table)["Items"]:
        dynamodb.delete_item(TableName=table, Key={"id": item["id"]})
    again = post(client, body, **{"Idempotency-Key": "replayed-0001-abc"})
    # Then it is a new registration: ids and tokens are random, never derived from the request
    assert first.status_code == again.status_code == 202
    assert again.json_body["applicant_id"] != first.json_body["applicant_id"]
    assert again.json_body["access_token"] != first.json_body["access_token"]


def test_the_same_idempotency_key_with_another_body_is_422(client: Any, people: PopulationGenerator) -> None:
    post(client, people.person().registration(), **{"Idempotency-Key": "retry-0002-abc"})
    other = post(client, people.person().registration(), **{"Idempotency-Key": "retry-0002-abc"})
    assert other.status_code == 422
    assert other.json_body["error"] == {
        "code": "IDEMPOTENCY_KEY_REUSED",
        "message": "this Idempotency-Key was used with another body",
        "field": "Idempotency-Key",
    }


def test_the_idempotency_table_holds_no_token_in_clear(client: Any, people: PopulationGenerator) -> None:
    import boto3

    answer = post(client, people.person().registration(), **{"Idempotency-Key": "retry-0003-abc"}).json_body
    items = boto3.client("dynamodb").scan(TableName=settings().idempotency_table)["Items"]
    assert len(items) == 2  # the applicant it fixed, and the answer once queued
    assert answer["access_token"] not in json.dumps(items)


def test_a_retry_whose_first_answer_was_not_kept_is_the_same_applicant(
    client: Any, people: PopulationGenerator
) -> None:
    import boto3

    body = people.person().registration()
    first = post(client, body, **{"Idempotency-Key": "retry-0004-abc"}).json_body
    # Given the send landed but the record of its answer was not kept (its write failed, its hold expired)
    table, dynamodb = settings().idempotency_table, boto3.client("dynamodb")
    for item in dynamodb.scan(TableName=table)["Items"]:
        if not item["id"]["S"].startswith("registration-applicant#"):
            dynamodb.delete_item(TableName=table, Key={"id": item["id"]})
    # When the client retries with its key
    again = post(client, body, **{"Idempotency-Key": "retry-0004-abc"})
    # Then it is the same applicant, queued again, which the consumer stores once
    assert (again.status_code, again.json_body) == (202, first)
    messages = queue_messages(settings().intake_queue_url)
    assert {json.loads(m["Body"])["applicant_id"] for m in messages} == {first["applicant_id"]}


@pytest.mark.parametrize("key", ["short", "x" * 129, "has space here", "new\r\nline-inject", "ключ-ключ-ключ"])
def test_a_malformed_idempotency_key_is_400_naming_the_header(
    client: Any, people: PopulationGenerator, key: str
) -> None:
    answer = post(client, people.person().registration(), **{"Idempotency-Key": key})
    assert answer.status_code == 400
    assert answer.json_body["error"]["field"] == "Idempotency-Key"


def test_a_queue_that_cannot_take_the_message_gives_429_with_retry_after(
    client: Any, people: PopulationGenerator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRAKERJA_INTAKE_QUEUE_URL", settings().intake_queue_url + "-gone")
    reset_app_state()
    answer = post(client, people.person().registration())
    assert answer.status_code == 429
    assert answer.headers["Retry-After"] == str(settings().retry_after_seconds)
    assert answer.json_body["error"]["code"] == "BUSY"


def test_a_throttled_idempotency_table_gives_429_and_the_retry_is_accepted(
    client: Any, people: PopulationGenerator
) -> None:
    from functions.aws_clients import client as aws_client

    def throttled(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        # before-call answers instead of the service (in-process moto would still apply a before-send answer's write)
        error = {"Code": "ProvisionedThroughputExceededException", "Message": "throughput exceeded"}
        return AWSResponse("", 400, {}, None), {"Error": error, "ResponseMetadata": {"HTTPStatusCode": 400}}

    person = people.person().registration()
    # Given DynamoDB throttles the idempotency record's write (Powertools wraps the error in its own)
    events = aws_client("dynamodb").meta.events
    events.register_first("before-call.dynamodb.PutItem", throttled, unique_id="test-throttle")
    try:
        answer = post(client, person, **{"Idempotency-Key": "throttled-key-1"})
    finally:
        events.unregister("before-call.dynamodb.PutItem", unique_id="test-throttle")
    # Then the client is told to come back, not that we failed
    assert answer.status_code == 429, answer.body
    assert answer.headers["Retry-After"] == str(settings().retry_after_seconds)
    assert answer.json_body["error"]["code"] == "BUSY"
    # And once DynamoDB has capacity again, the same request is accepted
    retried = post(client, person, **{"Idempotency-Key": "throttled-key-1"})
    assert retried.status_code == 202, retried.body


def test_a_body_over_16_kib_is_413(client: Any, people: PopulationGenerator) -> None:
    body = json.dumps({**people.person().registration(), "full_name": "A" * 17_000}).encode()
    answer = post(client, body)
    assert answer.status_code == 413
    assert answer.json_body["error"]["code"] == "BODY_TOO_LARGE"


def test_a_wrong_content_type_is_415_in_the_contract_shape(client: Any, people: PopulationGenerator) -> None:
    answer = client.http.post(
        "/registrations", headers={"Content-Type": "text/plain"}, body=json.dumps(people.person().registration())
    )
    assert answer.status_code == 415
    assert answer.json_body["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE"


def test_the_applicant_reads_its_status_pending_then_registered(client: Any, people: PopulationGenerator) -> None:
    person = people.person()
    answer = post(client, person.registration()).json_body
    auth = {"Authorization": f"Bearer {answer['access_token']}"}
    pending = client.http.get(f"/applicants/{answer['applicant_id']}", headers=auth)
    assert (pending.status_code, pending.json_body["status"]) == (200, "PENDING")
    store_queued()
    stored = client.http.get(f"/applicants/{answer['applicant_id']}", headers=auth).json_body
    assert stored["status"] == "REGISTERED"
    assert stored["nik"] == "************" + person.nik[-4:]
    assert person.nik not in json.dumps(stored) and person.email not in json.dumps(stored)


def test_wrong_token_and_unknown_id_get_the_same_401(client: Any, people: PopulationGenerator) -> None:
    mine = post(client, people.person().registration()).json_body
    theirs = post(client, people.person().registration()).json_body
    store_queued()
    answers = [
        client.http.get(
            f"/applicants/{mine['applicant_id']}", headers={"Authorization": f"Bearer {theirs['access_token']}"}
        ),
        client.http.get(f"/applicants/{'0' * 32}", headers={"Authorization": f"Bearer {mine['access_token']}"}),
        client.http.get("/applicants/not-an-id", headers={"Authorization": f"Bearer {mine['access_token']}"}),
        client.http.get(f"/applicants/{mine['applicant_id']}", headers={"Authorization": "Bearer forged"}),
        client.http.get(f"/applicants/{mine['applicant_id']}"),
    ]
    assert {a.status_code for a in answers} == {401}
    assert {json.dumps(a.json_body) for a in answers} == {json.dumps(answers[0].json_body)}
