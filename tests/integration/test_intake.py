"""The intake consumer on moto: exactly one applicant per registration, races settled, partial batch failures."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from chalice.test import Client

from devstack.population import Person, PopulationGenerator
from functions.adapters import personal_data, queues
from functions.app import app
from functions.domain.lifecycle import FunnelStage
from functions.register import intake_consumer
from functions.services import access
from functions.settings import settings
from functions.store import applicants, claims
from functions.store.models import CounterRecord, bind
from tests.helpers import FakeLambdaContext, sqs_event, sqs_record
from tests.integration.conftest import queue_messages


def submit(client: Client, person: Person) -> dict[str, Any]:
    answer = client.http.post(
        "/registrations", headers={"Content-Type": "application/json"}, body=json.dumps(person.registration())
    )
    assert answer.status_code == 202, answer.body
    return dict(answer.json_body)


def queued_bodies() -> list[str]:
    return [message["Body"] for message in queue_messages(settings().intake_queue_url)]


def consume(*bodies: str) -> dict[str, Any]:
    result: dict[str, Any] = intake_consumer(sqs_event(*bodies), FakeLambdaContext())
    return result


def funnel_total(stage: FunnelStage) -> int:
    bind()
    keys = [f"{stage.value}#{shard}" for shard in range(settings().counter_shards)]
    return sum(int(record.total) for record in CounterRecord.batch_get(keys))


@pytest.fixture
def people() -> PopulationGenerator:
    return PopulationGenerator(seed=7)


def test_a_registration_becomes_one_registered_applicant_claiming_nothing(
    aws: Any, people: PopulationGenerator
) -> None:
    # Given a registration the API accepted
    with Client(app) as client:
        answer = submit(client, people.person())
    (body,) = queued_bodies()
    # When the consumer takes its message
    result = consume(body)
    # Then one applicant is REGISTERED, counted once in the funnel, and claims nothing until it is verified
    # (its email and phone when the email is, its NIK when the registry confirms it): nobody blocks anybody
    assert result == {"batchItemFailures": []}
    record = applicants.find(answer["applicant_id"])
    assert record is not None and record.status == "REGISTERED" and record.reason is None
    assert claims.held_identity_keys(record.identity_hashes()) == []
    assert funnel_total(FunnelStage.REGISTERED) == 1


def test_a_message_delivered_again_stores_nothing_more(aws: Any, people: PopulationGenerator) -> None:
    with Client(app) as client:
        answer = submit(client, people.person())
    (body,) = queued_bodies()
    # At-least-once: the same message twice in one batch, then again in a later batch
    assert consume(body, body) == {"batchItemFailures": []}
    assert consume(body) == {"batchItemFailures": []}
    record = applicants.find(answer["applicant_id"])
    assert record is not None and record.status == "REGISTERED"
    assert funnel_total(FunnelStage.REGISTERED) == 1


@pytest.mark.parametrize("shared", ["nik", "email", "phone"])
def test_two_submissions_that_raced_past_the_409_are_both_stored_unclaimed(
    aws: Any, people: PopulationGenerator, shared: str
) -> None:
    first = people.person()
    second = people.person()
    # the email clash differs only in case: one account per mailbox
    second = second.but(**{shared: getattr(first, shared).upper() if shared == "email" else getattr(first, shared)})
    if shared == "nik":
        second = second.but(birth_date=first.birth_date, gender=first.gender)
    with Client(app) as client:
        # Given both were accepted before either was stored
        first_answer, second_answer = submit(client, first), submit(client, second)
        bodies = queued_bodies()
        # When the consumer stores them in one batch
        assert consume(*bodies) == {"batchItemFailures": []}
    # Then both are REGISTERED: the one verified first will claim the key, and the other will be refused then
    # (tests/integration/test_verification.py, "identity claims")
    for answer in (first_answer, second_answer):
        stored = applicants.find(answer["applicant_id"])
        assert stored is not None and (stored.status, stored.reason) == ("REGISTERED", None)
    assert funnel_total(FunnelStage.REGISTERED) == 2


def test_a_keyed_retry_after_a_429_whose_send_landed_is_the_same_applicant(
    aws: Any, people: PopulationGenerator, monkeypatch: pytest.MonkeyPatch
) -> None:
    person = people.person()
    headers = {"Content-Type": "application/json", "Idempotency-Key": "retry-after-lost-answer-1"}
    body = json.dumps(person.registration())
    sent = queues.send_now

    def send_then_time_out(queue_url: str, message: str) -> None:
        sent(queue_url, message)
        raise queues.QueueUnavailable("ReadTimeoutError")

    with Client(app) as client:
        # Given the queue took the message but the answer timed out: the client saw a 429
        monkeypatch.setattr(queues, "send_now", send_then_time_out)
        assert client.http.post("/registrations", headers=headers, body=body).status_code == 429
        monkeypatch.setattr(queues, "send_now", sent)
        # And the consumer stored that message
        assert consume(*queued_bodies()) == {"batchItemFailures": []}
        # When the client retries with its key
        retried = client.http.post("/registrations", headers=headers, body=body)
    # Then it is accepted as the applicant already stored, not refused as a duplicate of itself
    assert retried.status_code == 202, retried.body
    stored = applicants.find(retried.json_body["applicant_id"])
    assert stored is not None and stored.status == "REGISTERED"
    assert access.admitted(retried.json_body["access_token"], stored.applicant_id, stored)
    # And the re-queued message stores nothing more
    assert consume(*queued_bodies()) == {"batchItemFailures": []}
    assert funnel_total(FunnelStage.REGISTERED) == 1


def test_a_batch_reports_only_its_failed_records(aws: Any, people: PopulationGenerator) -> None:
    with Client(app) as client:
        first, second = submit(client, people.person()), submit(client, people.person())
    good_one, good_two = queued_bodies()
    poison = sqs_record('{"applicant_id": "not a registration"}')
    event = {"Records": [sqs_record(good_one), poison, sqs_record(good_two)]}
    result = intake_consumer(event, FakeLambdaContext())
    assert result == {"batchItemFailures": [{"itemIdentifier": poison["messageId"]}]}
    for answer in (first, second):
        stored = applicants.find(answer["applicant_id"])
        assert stored is not None and stored.status == "REGISTERED"


def test_a_store_failure_fails_only_that_record_and_it_is_stored_on_retry(
    aws: Any, people: PopulationGenerator, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Client(app) as client:
        doomed, fine = submit(client, people.person()), submit(client, people.person())
    bodies = queued_bodies()
    real_store = applicants.register

    def throttled(message: Any, *args: Any, **kwargs: Any) -> Any:
        if message.applicant_id == doomed["applicant_id"]:
            raise RuntimeError("ProvisionedThroughputExceededException")
        return real_store(message, *args, **kwargs)

    monkeypatch.setattr(applicants, "register", throttled)
    event = sqs_event(*bodies)
    result = intake_consumer(event, FakeLambdaContext())
    failed = [item["itemIdentifier"] for item in result["batchItemFailures"]]
    doomed_record = next(r for r in event["Records"] if doomed["applicant_id"] in r["body"])
    assert failed == [doomed_record["messageId"]]
    assert applicants.find(doomed["applicant_id"]) is None
    assert applicants.find(fine["applicant_id"]) is not None
    # When SQS delivers it again and the store has recovered
    monkeypatch.setattr(applicants, "register", real_store)
    assert consume(doomed_record["body"]) == {"batchItemFailures": []}
    assert applicants.find(doomed["applicant_id"]) is not None


def test_personal_data_is_stored_only_sealed(aws: Any, people: PopulationGenerator) -> None:
    person = people.person()
    with Client(app) as client:
        answer = submit(client, person)
    bodies = queued_bodies()
    for body in bodies:  # the queue message carries no personal data in clear either
        for secret in (person.nik, person.kk_number, person.email, person.full_name, person.phone[1:]):
            assert secret not in body
    consume(*bodies)
    dynamodb = boto3.client("dynamodb")
    dumped = ""
    for table in dynamodb.list_tables()["TableNames"]:
        dumped += json.dumps(dynamodb.scan(TableName=table)["Items"], default=str)
    for secret in (person.nik, person.kk_number, person.email, person.full_name, person.phone[1:], person.birth_date):
        assert secret not in dumped
    record = applicants.find(answer["applicant_id"])
    assert record is not None
    opened = personal_data.open_json(record.personal_data, record.applicant_id)
    assert (opened["nik"], opened["full_name"], opened["phone"]) == (
        person.nik,
        person.full_name,
        "+62" + person.phone[1:],
    )
    with pytest.raises(Exception):  # noqa: B017 - any failure will do: sealed data is bound to its owner
        personal_data.open_json(record.personal_data, "someone-else")
