"""Email codes and the NIK check on moto, with the local civil registry as a real HTTP service."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from chalice.test import Client

from devstack.population import Person, PopulationGenerator, registry_row
from devstack.registry import RegistryServer, write_csv
from functions import clock
from functions.app import app
from functions.settings import settings
from functions.store import applicants
from ops.redrive import redrive
from tests.helpers import counted
from tests.integration.conftest import run_consumers

JSON = {"Content-Type": "application/json"}


@pytest.fixture
def client(aws: Any, registry_service: RegistryServer) -> Iterator[Any]:
    with Client(app) as test_client:
        yield test_client


@pytest.fixture
def people() -> PopulationGenerator:
    return PopulationGenerator(seed=33)


class FrozenClock:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.now = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)
        monkeypatch.setattr(clock, "now", lambda: self.now)

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch) -> FrozenClock:
    return FrozenClock(monkeypatch)


def outbox() -> list[dict[str, Any]]:
    path = Path(settings().outbox_path)
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def codes_for(applicant_id: str) -> list[str]:
    return [m["code"] for m in outbox() if m["applicant_id"] == applicant_id and m["kind"] == "email_code"]


def register(client: Any, person: Person) -> dict[str, Any]:
    answer = client.http.post("/registrations", headers=JSON, body=json.dumps(person.registration()))
    assert answer.status_code == 202
    run_consumers("intake_consumer", "email_code_consumer")
    return dict(answer.json_body)


def verify(client: Any, applicant: dict[str, Any], code: str) -> Any:
    """The applicant enters a code, with its own token."""
    return client.http.post(
        "/verifications/email",
        headers={**JSON, "Authorization": f"Bearer {applicant['access_token']}"},
        body=json.dumps({"applicant_id": applicant["applicant_id"], "code": code}),
    )


def resend(client: Any, applicant: dict[str, Any]) -> Any:
    return client.http.post(
        "/verifications/email/resend",
        headers={**JSON, "Authorization": f"Bearer {applicant['access_token']}"},
        body=json.dumps({"applicant_id": applicant["applicant_id"]}),
    )


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def test_a_registered_applicant_is_sent_a_code_and_verifies_with_it(client: Any, people: PopulationGenerator) -> None:
    person = people.person()
    applicant = register(client, person)
    (message,) = [m for m in outbox() if m["applicant_id"] == applicant["applicant_id"]]
    assert (message["kind"], message["channel"], message["to"]) == ("email_code", "email", person.email)
    assert len(message["code"]) == 6
    answer = verify(client, applicant, message["code"])
    assert (answer.status_code, answer.json_body["status"]) == (200, "EMAIL_VERIFIED")
    stored = applicants.find(applicant["applicant_id"])
    assert stored is not None and stored.email_code and message["code"] not in stored.email_code.code_hash


def test_five_wrong_codes_are_400_the_sixth_is_429_and_locks(client: Any, people: PopulationGenerator) -> None:
    applicant = register(client, people.person())
    (code,) = codes_for(applicant["applicant_id"])
    answers = [verify(client, applicant, wrong(code)) for _ in range(6)]
    assert [a.status_code for a in answers] == [400] * 5 + [429]
    assert answers[0].json_body["error"] == {
        "code": "INVALID_CODE",
        "message": "the code is not right",
        "field": "code",
    }
    assert answers[5].json_body["error"]["code"] == "CODE_LOCKED"
    assert int(answers[5].headers["Retry-After"]) >= 1
    locked = verify(client, applicant, code)
    assert locked.status_code == 429


def test_a_code_needs_the_applicants_token_and_a_stranger_spends_none_of_its_tries(
    client: Any, people: PopulationGenerator
) -> None:
    applicant = register(client, people.person())
    (code,) = codes_for(applicant["applicant_id"])
    stranger = {**applicant, "access_token": "x" * 43}
    unknown = {"applicant_id": "f" * 32, "access_token": "x" * 43}
    body = json.dumps({"applicant_id": applicant["applicant_id"], "code": wrong(code)})
    # Without a token, with a wrong one, or for an unknown id: the same 401, before any try is counted
    tokenless = client.http.post("/verifications/email", headers=JSON, body=body)
    guesses = [verify(client, stranger, wrong(code)) for _ in range(5)]
    assert tokenless.status_code == 401
    assert [(a.status_code, a.json_body) for a in guesses] == [(401, tokenless.json_body)] * 5
    assert verify(client, unknown, wrong(code)).json_body == tokenless.json_body
    stored = applicants.find(applicant["applicant_id"])
    assert stored is not None and stored.email_code_tries == 0
    # And the owner still verifies with its code
    assert verify(client, applicant, code).status_code == 200


def test_a_code_expires_after_24_hours(client: Any, people: PopulationGenerator, frozen: FrozenClock) -> None:
    applicant = register(client, people.person())
    (code,) = codes_for(applicant["applicant_id"])
    frozen.advance(hours=24, seconds=1)
    answer = verify(client, applicant, code)
    assert (answer.status_code, answer.json_body["error"]["code"]) == (400, "CODE_EXPIRED")


def test_resend_once_a_minute_five_times_a_day(client: Any, people: PopulationGenerator, frozen: FrozenClock) -> None:
    applicant = register(client, people.person())
    (first,) = codes_for(applicant["applicant_id"])
    # The code sent a moment ago is reused: 202, nothing new issued or queued.
    too_soon = resend(client, applicant)
    assert too_soon.status_code == 202 and too_soon.json_body["code_sent_at"] is not None
    assert codes_for(applicant["applicant_id"]) == [first]
    for _ in range(5):
        frozen.advance(minutes=20, seconds=1)  # within the mailbox's three code emails an hour
        assert resend(client, applicant).status_code == 202
        run_consumers("email_code_consumer")
    frozen.advance(minutes=20, seconds=1)
    sixth = resend(client, applicant)
    assert sixth.status_code == 429
    assert int(sixth.headers["Retry-After"]) > 3600  # the day's five are used up
    codes = codes_for(applicant["applicant_id"])
    assert len(codes) == 6
    # only the newest code works
    if first != codes[-1]:
        assert verify(client, applicant, first).status_code == 400
    assert verify(client, applicant, codes[-1]).status_code == 200


def test_resend_needs_the_applicants_own_token(client: Any, people: PopulationGenerator) -> None:
    applicant = register(client, people.person())
    other = register(client, people.person())
    forged = {**applicant, "access_token": other["access_token"]}
    assert resend(client, forged).status_code == 401


def test_a_notification_delivered_twice_is_sent_once(client: Any, people: PopulationGenerator) -> None:
    applicant = register(client, people.person())
    (code,) = codes_for(applicant["applicant_id"])
    from functions.domain.notices import EmailCode
    from functions.services.notifications import SEND_NOW

    request = EmailCode(applicant_id=applicant["applicant_id"])
    SEND_NOW.send([request, request])
    run_consumers("email_code_consumer")
    assert codes_for(applicant["applicant_id"]) == [code]


def test_a_batch_of_notices_reads_its_applicants_in_one_call_and_a_repeated_notice_goes_once(
    client: Any, people: PopulationGenerator, monkeypatch: pytest.MonkeyPatch
) -> None:
    from functions.domain.notices import NikResult
    from functions.services.notifications import SEND_NOW

    # Given three stored applicants with a notice each, one of them queued twice in the same batch
    answers = [register(client, person) for person in people.people(3)]
    notices = [NikResult(applicant_id=answer["applicant_id"], status="ELIGIBLE") for answer in answers]
    SEND_NOW.send([*notices, notices[0]])
    reads: list[str] = []
    for name in ("find", "find_many"):
        monkeypatch.setattr(applicants, name, counted(getattr(applicants, name), name, reads))
    # When one consumer takes the batch
    run_consumers("notification_consumer")
    # Then one call read the batch's applicants, only the repeated notice read its applicant again, and it saw
    # the first one noted: each applicant is told once
    assert sorted(reads) == ["find", "find_many"]
    told = [m["applicant_id"] for m in outbox() if m["kind"] == "nik_result"]
    assert sorted(told) == sorted(answer["applicant_id"] for answer in answers)


def registered_without_its_code(client: Any, person: Person) -> dict[str, Any]:
    """Stored, its code message queued and not yet taken (a backlog on the code queue)."""
    answer = client.http.post("/registrations", headers=JSON, body=json.dumps(person.registration()))
    assert answer.status_code == 202
    run_consumers("intake_consumer")
    return dict(answer.json_body)


def code_queue_depth() -> int:
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=settings().email_codes_queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


def test_a_resend_during_a_backlog_issues_no_code_and_queues_nothing(
    client: Any, people: PopulationGenerator, frozen: FrozenClock
) -> None:
    applicant = registered_without_its_code(client, people.person())
    before = applicants.find(applicant["applicant_id"])
    assert before is not None and before.email_code is not None and before.email_code.sent_at is None
    assert code_queue_depth() == 1
    for _ in range(3):
        frozen.advance(seconds=61)  # however long the wait, and however often the applicant asks
        answer = resend(client, applicant)
        assert answer.status_code == 202 and answer.json_body["code_sent_at"] is None
    after = applicants.find(applicant["applicant_id"])
    assert after is not None and after.email_code is not None
    assert after.email_code.code_id == before.email_code.code_id and after.email_code_resent_at == ()
    assert code_queue_depth() == 1
    run_consumers("email_code_consumer")
    (code,) = codes_for(applicant["applicant_id"])
    sent = resend(client, applicant)  # sent a moment ago: reused, still nothing new
    assert sent.status_code == 202 and sent.json_body["code_sent_at"] == frozen.now.isoformat()
    assert code_queue_depth() == 0
    assert verify(client, applicant, code).status_code == 200


def test_a_stale_message_sends_the_current_code(client: Any, people: PopulationGenerator, frozen: FrozenClock) -> None:
    from functions.services import email_codes

    applicant = registered_without_its_code(client, people.person())
    stored = applicants.find(applicant["applicant_id"])
    assert stored is not None and stored.email_code is not None
    # The code is replaced before its message is taken (the replacement's own message lost on the way).
    replacement = email_codes.issue(stored.email_hash, frozen.now)
    assert applicants.replace_email_code(applicant["applicant_id"], stored.email_code.code_id, replacement, [])
    run_consumers("email_code_consumer")
    (code,) = codes_for(applicant["applicant_id"])
    current = applicants.find(applicant["applicant_id"])
    assert current is not None and current.email_code is not None
    assert current.email_code.code_id == replacement.code_id and current.email_code.sent_at == frozen.now
    assert current.email_code.sealed is None  # once sent, only its keyed hash stays
    assert verify(client, applicant, code).status_code == 200


def test_a_registration_whose_code_message_was_lost_gets_its_code_when_redelivered(
    client: Any, people: PopulationGenerator
) -> None:
    from tests.integration.conftest import queue_messages

    answer = client.http.post("/registrations", headers=JSON, body=json.dumps(people.person().registration()))
    applicant = dict(answer.json_body)
    (registration,) = queue_messages(settings().intake_queue_url)
    sqs = boto3.client("sqs")
    sqs.send_message(QueueUrl=settings().intake_queue_url, MessageBody=registration["Body"])
    run_consumers("intake_consumer")
    assert len(queue_messages(settings().email_codes_queue_url)) == 1  # lost (the consumer stopped, say)
    # The registration comes back (its deletion never happened): its code message goes again, at any age.
    sqs.send_message(QueueUrl=settings().intake_queue_url, MessageBody=registration["Body"])
    run_consumers("intake_consumer", "email_code_consumer")
    (code,) = codes_for(applicant["applicant_id"])
    assert verify(client, applicant, code).status_code == 200


def test_a_code_the_mail_service_refused_stays_unsent_and_goes_out_later(
    client: Any, people: PopulationGenerator, monkeypatch: pytest.MonkeyPatch
) -> None:
    from functions.domain.notices import EmailCode
    from functions.services import notifications

    applicant = registered_without_its_code(client, people.person())
    with monkeypatch.context() as throttled:

        def refuse(_: Any) -> None:
            raise RuntimeError("SES: Maximum sending rate exceeded")

        throttled.setattr(notifications, "deliver", refuse)
        run_consumers("email_code_consumer", rounds=1)
    stored = applicants.find(applicant["applicant_id"])
    assert stored is not None and stored.email_code is not None
    assert stored.email_code.sent_at is None and stored.email_code.sealed  # given back, still to send
    assert codes_for(applicant["applicant_id"]) == []
    notifications.SEND_NOW.send([EmailCode(applicant_id=applicant["applicant_id"])])  # SQS's retry
    run_consumers("email_code_consumer")
    (code,) = codes_for(applicant["applicant_id"])
    assert verify(client, applicant, code).status_code == 200


def test_codes_are_delivered_ahead_of_a_backlog_of_other_notices(client: Any, people: PopulationGenerator) -> None:
    from functions.domain.notices import NotSelected
    from functions.services.notifications import SEND_NOW

    other = register(client, people.person())
    SEND_NOW.send([NotSelected(applicant_id=other["applicant_id"], wave=n) for n in range(200)])
    applicant = registered_without_its_code(client, people.person())
    # Both consumers take one batch a round, as their pollers would side by side.
    run_consumers("notification_consumer", "email_code_consumer", rounds=1)
    kinds = [m["kind"] for m in outbox() if m["applicant_id"] in (applicant["applicant_id"], other["applicant_id"])]
    assert kinds.count("not_selected") <= 10 and codes_for(applicant["applicant_id"])
    run_consumers("notification_consumer", "email_code_consumer")
    assert [m["kind"] for m in outbox()].count("not_selected") == 200


# --- the NIK check ---------------------------------------------------------------------------------------------


def verified_applicant(client: Any, person: Person) -> dict[str, Any]:
    applicant = register(client, person)
    (code,) = codes_for(applicant["applicant_id"])
    assert verify(client, applicant, code).status_code == 200
    return applicant


def status_of(applicant: dict[str, Any]) -> tuple[str, str | None]:
    stored = applicants.find(applicant["applicant_id"])
    assert stored is not None
    return stored.status, stored.reason


@pytest.mark.parametrize(
    ("registry_changes", "status", "reason"),
    [
        ({}, "ELIGIBLE", None),
        ({"full_name": "Someone Else"}, "NIK_REJECTED", "MISMATCH"),
        ({"birth_date": "1970-01-01"}, "NIK_REJECTED", "MISMATCH"),
        (None, "NIK_REJECTED", "NOT_FOUND"),
        ({"occupation": "POLRI"}, "INELIGIBLE", "BARRED_OCCUPATION"),
        ({"student": True}, "INELIGIBLE", "STUDENT"),
        ({"past_recipient": True}, "INELIGIBLE", "PAST_RECIPIENT"),
    ],
)
def test_the_nik_check_decides_and_tells_the_applicant(
    client: Any,
    people: PopulationGenerator,
    registry_service: RegistryServer,
    registry_changes: dict[str, Any] | None,
    status: str,
    reason: str | None,
) -> None:
    person = people.person()
    write_csv(
        registry_service.registry.csv_path,
        [] if registry_changes is None else [registry_row(person, **registry_changes)],
    )
    applicant = verified_applicant(client, person)
    run_consumers("nik_check_consumer", "notification_consumer")
    assert status_of(applicant) == (status, reason)
    (told,) = [m for m in outbox() if m["applicant_id"] == applicant["applicant_id"] and m["kind"] == "nik_result"]
    assert (told["status"], told["reason"]) == (status, reason)


def test_a_batch_is_looked_up_one_at_a_time_while_its_decisions_are_stored(
    client: Any, people: PopulationGenerator, registry_service: RegistryServer
) -> None:
    # Given five verified applicants in the registry, which answers each look-up in 50 ms
    persons = people.people(5)
    write_csv(registry_service.registry.csv_path, [registry_row(person) for person in persons])
    verified = [verified_applicant(client, person) for person in persons]
    registry_service.registry.latency_seconds = 0.05
    # When one consumer takes their checks
    run_consumers("nik_check_consumer")
    # Then every one is decided, each looked up once, and never more than one look-up at a time from it
    assert [status_of(applicant) for applicant in verified] == [("ELIGIBLE", None)] * 5
    assert registry_service.registry.requests == 5
    assert registry_service.registry.max_in_flight == 1


@pytest.mark.parametrize("fault", ["hang", "error", "down", "unreachable"])
def test_a_failing_registry_loses_no_applicant_and_the_dlq_redrives(
    client: Any,
    people: PopulationGenerator,
    registry_service: RegistryServer,
    monkeypatch: pytest.MonkeyPatch,
    fault: str,
) -> None:
    from devstack import poller
    from tests.helpers import reset_app_state

    monkeypatch.setattr(poller, "RETRY_DELAY_SECONDS", 0)
    person = people.person()
    write_csv(registry_service.registry.csv_path, [registry_row(person)])
    applicant = verified_applicant(client, person)
    # Given a registry that hangs, errors, drops connections, or is not there at all
    if fault == "unreachable":
        monkeypatch.setenv("PRAKERJA_REGISTRY_URL", "http://127.0.0.1:9")
        reset_app_state()
    else:
        registry_service.registry.mode = fault
    before = registry_service.registry.requests
    # When the consumer keeps trying until SQS gives up
    run_consumers("nik_check_consumer", rounds=10)
    # Then the applicant is untouched, the check waits in the DLQ, and each delivery tried a bounded number of times
    assert status_of(applicant) == ("EMAIL_VERIFIED", None)
    sqs = boto3.client("sqs")
    dlq = sqs.get_queue_url(QueueName="prakerja-nik-checks-dlq")["QueueUrl"]
    depth = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
    assert depth["ApproximateNumberOfMessages"] == "1"
    attempts = registry_service.registry.requests - before
    assert attempts <= 5 * (settings().registry_retries + 1)
    # And once the registry is back, the documented redrive finishes the job
    registry_service.registry.mode = "up"
    monkeypatch.setenv("PRAKERJA_REGISTRY_URL", f"http://127.0.0.1:{registry_service.server_address[1]}")
    reset_app_state()
    assert redrive(sqs, "prakerja-nik-checks") == 1
    run_consumers("nik_check_consumer")
    assert status_of(applicant) == ("ELIGIBLE", None)


def test_the_circuit_opens_after_repeated_failures(
    client: Any, people: PopulationGenerator, registry_service: RegistryServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from functions.adapters.civil_registry import HttpCivilRegistry, RegistryUnavailable

    client_under_test = HttpCivilRegistry(
        f"http://127.0.0.1:{registry_service.server_address[1]}",
        timeout_seconds=0.5,
        retries=0,
        requests_per_second=1000,
        breaker_failures=3,
        breaker_reset_seconds=60,
    )
    registry_service.registry.mode = "error"
    before = registry_service.registry.requests
    for _ in range(10):
        with pytest.raises(RegistryUnavailable):
            client_under_test.lookup("3171015708950001")
    assert registry_service.registry.requests - before == 3  # then the breaker stops calling


# --- identity claims (DESIGN "Security rules"): nobody can block, out-guess or flood --------------------------


def nik_checked(client: Any, applicant: dict[str, Any]) -> tuple[str, str | None]:
    run_consumers("nik_check_consumer", "notification_consumer")
    return status_of(applicant)


def registration_answer(client: Any, person: Person) -> Any:
    return client.http.post("/registrations", headers=JSON, body=json.dumps(person.registration()))


def test_a_nik_rejected_by_the_registry_blocks_nobody(
    client: Any, people: PopulationGenerator, registry_service: RegistryServer
) -> None:
    # Given an agent who registers the owner's NIK under another name, with its own email and phone
    owner = people.person()
    write_csv(registry_service.registry.csv_path, [registry_row(owner)])
    impostor = people.person().but(nik=owner.nik, birth_date=owner.birth_date, gender=owner.gender)
    attempt = verified_applicant(client, impostor)
    assert nik_checked(client, attempt) == ("NIK_REJECTED", "MISMATCH")
    # When the owner registers
    mine = verified_applicant(client, owner)
    # Then the owner is confirmed and eligible: the unconfirmed registration claimed nothing
    assert nik_checked(client, mine) == ("ELIGIBLE", None)


def test_the_first_confirmed_registration_of_a_nik_takes_it(
    client: Any, people: PopulationGenerator, registry_service: RegistryServer
) -> None:
    # Given two registrations of the same person's details, with two mailboxes, both verified
    person = people.person()
    write_csv(registry_service.registry.csv_path, [registry_row(person)])
    first = verified_applicant(client, person)
    second = verified_applicant(client, person.but(email="other." + person.email, phone=people.person().phone))
    # When the registry confirms both, one after the other
    run_consumers("nik_check_consumer", "notification_consumer")
    # Then the one confirmed first holds the NIK and the other ends REJECTED, told why
    assert sorted([status_of(first), status_of(second)]) == [("ELIGIBLE", None), ("REJECTED", "DUPLICATE_NIK")]
    refused = next(a for a in (first, second) if status_of(a)[0] == "REJECTED")
    (told,) = [m for m in outbox() if m["applicant_id"] == refused["applicant_id"] and m["kind"] == "nik_result"]
    assert (told["status"], told["reason"]) == ("REJECTED", "DUPLICATE_NIK")
    # And a new registration of that NIK, confirmed too, ends REJECTED the same way
    third = verified_applicant(client, person.but(email="third." + person.email, phone=people.person().phone))
    assert nik_checked(client, third) == ("REJECTED", "DUPLICATE_NIK")


def status_page(client: Any, applicant: dict[str, Any]) -> tuple[str, str | None]:
    seen = client.http.get(
        f"/applicants/{applicant['applicant_id']}", headers={"Authorization": f"Bearer {applicant['access_token']}"}
    ).json_body
    return seen["status"], seen["reason"]


def attempts_told(holder: dict[str, Any]) -> list[tuple[str, str, list[str]]]:
    return [
        (m["channel"], m["to"], m["named"])
        for m in outbox()
        if m["kind"] == "registration_attempt" and m["applicant_id"] == holder["applicant_id"]
    ]


@pytest.mark.parametrize(
    ("field", "reason"), [("nik", "DUPLICATE_NIK"), ("email", "DUPLICATE_EMAIL"), ("phone", "DUPLICATE_PHONE")]
)
def test_a_held_identity_is_answered_like_a_free_one_then_rejected_on_its_own_status_page(
    client: Any, people: PopulationGenerator, registry_service: RegistryServer, field: str, reason: str
) -> None:
    # Given a registration the registry confirmed: its NIK, email and phone are claimed
    owner = people.person()
    free = people.person()
    write_csv(registry_service.registry.csv_path, [registry_row(owner), registry_row(free)])
    holder = verified_applicant(client, owner)
    assert nik_checked(client, holder) == ("ELIGIBLE", None)
    clash = people.person().but(**{field: getattr(owner, field)})
    if field == "nik":  # a duplicate NIK is found only when the registry confirms the owner's details
        clash = owner.but(email=clash.email, phone=clash.phone)
    # When the held identity and a free one register
    held_answer, free_answer = registration_answer(client, clash), registration_answer(client, free)
    # Then both get the same answer: nothing tells who is in the programme
    assert (held_answer.status_code, sorted(held_answer.json_body), held_answer.json_body["status"]) == (
        free_answer.status_code,
        sorted(free_answer.json_body),
        free_answer.json_body["status"],
    )
    assert (held_answer.status_code, held_answer.json_body["status"]) == (202, "PENDING")
    # And the duplicate ends REJECTED with its reason once its email is verified (with the code its mailbox got)
    attempt = dict(held_answer.json_body)
    run_consumers("intake_consumer", "email_code_consumer")
    code = mailbox_emails(clash.email)[-1]
    assert verify(client, attempt, code).status_code == 200
    run_consumers("nik_check_consumer", "notification_consumer")
    assert status_page(client, attempt) == ("REJECTED", reason)
    # And the holder of a claimed email or phone is told, once, where it was named; a NIK's holder is not
    assert verify(client, attempt, code).status_code == 200  # the same code again tells nobody twice
    run_consumers("notification_consumer")
    from functions.domain.identity import normalise_phone

    told = {
        "nik": [],
        "email": [("email", owner.email, ["email"])],
        "phone": [("email", owner.email, ["phone"]), ("sms", normalise_phone(owner.phone), ["phone"])],
    }
    assert attempts_told(holder) == told[field]
    assert status_of(holder) == ("ELIGIBLE", None)


@pytest.mark.parametrize("alias", ["{local}+prakerja@{domain}", "{LOCAL}@{domain}"])
def test_an_email_is_claimed_by_the_first_to_verify_it_one_mailbox_whatever_its_tag(
    client: Any, people: PopulationGenerator, alias: str
) -> None:
    # Given two registrations naming one mailbox (a +tag, or another case), neither verified
    first = people.person()
    local, _, domain = first.email.partition("@")
    second = people.person().but(email=alias.format(local=local, LOCAL=local.upper(), domain=domain))
    one, other = register(client, first), register(client, second)
    # Then the mailbox was sent one code, which the second registration was given too
    (code,) = codes_for(one["applicant_id"])
    assert codes_for(other["applicant_id"]) == []
    # When the second enters it, it verifies the second only; the first, verifying later, is refused
    assert verify(client, other, code).json_body["status"] == "EMAIL_VERIFIED"
    assert status_of(one) == ("REGISTERED", None)
    refused = verify(client, one, code)
    assert (refused.status_code, refused.json_body["status"], refused.json_body["reason"]) == (
        200,
        "REJECTED",
        "DUPLICATE_EMAIL",
    )


def mailbox_emails(email: str) -> list[str]:
    return [m["code"] for m in outbox() if m["kind"] == "email_code" and m["to"] == email]


def test_registrations_naming_one_mailbox_send_it_one_code_then_three_an_hour_and_ten_a_day(
    client: Any, people: PopulationGenerator, frozen: FrozenClock
) -> None:
    # Given six registrations naming one mailbox within seconds
    owner = people.person()
    named = [owner, *(people.person().but(email=owner.email) for _ in range(5))]
    answers = [registration_answer(client, person) for person in named]
    assert [answer.status_code for answer in answers] == [202] * 6
    registered = [dict(answer.json_body) for answer in answers]
    run_consumers("intake_consumer", "email_code_consumer")
    # Then the mailbox got one code email
    assert len(mailbox_emails(owner.email)) == 1

    def resends(applicants_asking: list[dict[str, Any]]) -> list[Any]:
        answered = [resend(client, applicant) for applicant in applicants_asking]
        run_consumers("email_code_consumer")
        return answered

    # When the registrations ask again a minute later: the mailbox has three code emails in the hour, no more
    frozen.advance(seconds=61)
    answered = resends(registered[1:])
    assert [answer.status_code for answer in answered] == [202, 202, 429, 429, 429]
    assert answered[2].json_body["error"]["code"] == "RESEND_LIMIT"
    assert 3500 <= int(answered[2].headers["Retry-After"]) <= 3600 - 61
    assert len(mailbox_emails(owner.email)) == 3
    # And ten in a day: three more in each of the next hours, then none until a day after the first
    for hour, sent in ((1, 6), (2, 9), (3, 10)):
        frozen.advance(hours=1, seconds=1)
        before = len(mailbox_emails(owner.email))
        statuses = [answer.status_code for answer in resends([registered[(hour * 3 + i) % 6] for i in range(3)])]
        assert statuses == [202] * (sent - before) + [429] * (3 - sent + before)
        assert len(mailbox_emails(owner.email)) == sent
    refused = resends([registered[0]])[0]
    assert (refused.status_code, refused.json_body["error"]["code"]) == (429, "RESEND_LIMIT")
    assert int(refused.headers["Retry-After"]) > 20 * 3600
    assert len(mailbox_emails(owner.email)) == 10


def test_gmail_dots_are_one_mailbox() -> None:
    from functions.domain.identity import mailbox

    assert mailbox("Siti.Aminah+x@gmail.com") == mailbox("sitiaminah@googlemail.com") == "sitiaminah@gmail.com"
    assert mailbox("siti.aminah@example.co.id") != mailbox("sitiaminah@example.co.id")


def test_a_rejected_nik_gives_back_the_email_and_phone_it_claimed(
    client: Any, people: PopulationGenerator, registry_service: RegistryServer
) -> None:
    # Given an agent's registration with the owner's email and phone that the registry does not confirm
    owner = people.person()
    agent = people.person().but(email=owner.email, phone=owner.phone)
    write_csv(registry_service.registry.csv_path, [registry_row(owner)])
    assert nik_checked(client, verified_applicant(client, agent)) == ("NIK_REJECTED", "NOT_FOUND")
    # Then the owner's own registration with them goes through
    assert registration_answer(client, owner).status_code == 202
    run_consumers("intake_consumer", "email_code_consumer")


def test_concurrent_guesses_are_each_counted_and_the_sixth_try_is_locked(
    client: Any, people: PopulationGenerator
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from functions.services import email_codes

    applicant = register(client, people.person())
    (code,) = codes_for(applicant["applicant_id"])

    def guess(_: int) -> str:
        body = json.dumps({"applicant_id": applicant["applicant_id"], "code": wrong(code)}).encode()
        try:
            email_codes.check_code(body, applicant["access_token"])
        except Exception as refusal:
            return str(getattr(refusal, "code", refusal))
        return "VERIFIED"

    # When five wrong guesses arrive at once
    with ThreadPoolExecutor(max_workers=5) as pool:
        answers = list(pool.map(guess, range(5)))
    # Then each was counted before it was compared
    stored = applicants.find(applicant["applicant_id"])
    assert stored is not None and stored.email_code_tries == 5
    assert answers == ["INVALID_CODE"] * 5
    # And the sixth try is 429 even with the right code, until a resend starts a new count
    assert verify(client, applicant, code).status_code == 429
    with ThreadPoolExecutor(max_workers=8) as pool:
        assert set(pool.map(guess, range(8))) == {"CODE_LOCKED"}


def test_a_resend_starts_a_new_count(client: Any, people: PopulationGenerator, frozen: FrozenClock) -> None:
    applicant = register(client, people.person())
    (code,) = codes_for(applicant["applicant_id"])
    assert [verify(client, applicant, wrong(code)).status_code for _ in range(6)] == [400] * 5 + [429]
    frozen.advance(seconds=61)
    assert resend(client, applicant).status_code == 202
    run_consumers("email_code_consumer")
    newest = codes_for(applicant["applicant_id"])[-1]
    assert verify(client, applicant, newest).status_code == 200


def test_repeated_verifications_queue_one_nik_check(client: Any, people: PopulationGenerator) -> None:
    from tests.integration.conftest import queue_messages

    applicant = register(client, people.person())
    (code,) = codes_for(applicant["applicant_id"])
    answers = [verify(client, applicant, code) for _ in range(5)]
    assert {(a.status_code, a.json_body["status"]) for a in answers} == {(200, "EMAIL_VERIFIED")}
    assert len(queue_messages(settings().nik_check_queue_url)) == 1


def test_an_operator_releases_a_nik_an_agent_had_confirmed(
    client: Any, people: PopulationGenerator, registry_service: RegistryServer
) -> None:
    import boto3

    from functions.services import admin

    # Given an agent who knew the owner's details and had the NIK confirmed with its own email and phone
    owner = people.person()
    write_csv(registry_service.registry.csv_path, [registry_row(owner)])
    agents = owner.but(email="agent." + owner.email, phone=people.person().phone)
    agent = verified_applicant(client, agents)
    assert nik_checked(client, agent) == ("ELIGIBLE", None)
    tried = verified_applicant(client, owner.but(email="own." + owner.email, phone=people.person().phone))
    assert nik_checked(client, tried) == ("REJECTED", "DUPLICATE_NIK")
    token = admin.mint("ops@kemnaker.go.id", 1)
    release = {"nik": owner.nik, "reason": "owner proved identity at the Disnaker office"}
    # Then nobody but an admin may release it, and a bad body names its field
    assert client.http.post("/admin/claims/release", headers=JSON, body=json.dumps(release)).status_code == 401
    bad = client.http.post(
        "/admin/claims/release",
        headers={**JSON, "Authorization": f"Bearer {token}"},
        body=json.dumps({**release, "nik": "123"}),
    )
    assert (bad.status_code, bad.json_body["error"]["field"]) == (400, "nik")
    # When an operator releases the claim
    answer = client.http.post(
        "/admin/claims/release", headers={**JSON, "Authorization": f"Bearer {token}"}, body=json.dumps(release)
    )
    assert answer.status_code == 200, answer.json_body
    assert (answer.json_body["applicant_id"], answer.json_body["released_by"]) == (
        agent["applicant_id"],
        "ops@kemnaker.go.id",
    )
    # Then the agent's registration ends REJECTED (CLAIM_RELEASED), the release is recorded with who and why
    assert status_of(agent) == ("REJECTED", "CLAIM_RELEASED")
    items = boto3.client("dynamodb").scan(TableName=settings().identity_guards_table)["Items"]
    (record,) = [item for item in items if item["guard"]["S"].startswith("release#")]
    assert (record["released_by"]["S"], record["release_reason"]["S"]) == ("ops@kemnaker.go.id", release["reason"])
    # And the agent's registration is told, by email and SMS (the text: tests/unit/test_notices.py)
    run_consumers("notification_consumer")
    told = [m for m in outbox() if m["kind"] == "claim_released"]
    assert sorted(m["channel"] for m in told) == ["email", "sms"]
    assert {m["applicant_id"] for m in told} == {agent["applicant_id"]}
    assert agents.email in {m["to"] for m in told}
    # And the owner registers, verifies and becomes ELIGIBLE
    mine = verified_applicant(client, owner)
    assert nik_checked(client, mine) == ("ELIGIBLE", None)
    # And releasing a NIK nobody holds now is 404
    again = client.http.post(
        "/admin/claims/release",
        headers={**JSON, "Authorization": f"Bearer {token}"},
        body=json.dumps({**release, "nik": people.person().nik}),
    )
    assert (again.status_code, again.json_body["error"]["code"]) == (404, "CLAIM_NOT_FOUND")


def test_a_code_email_throttled_by_ses_comes_back_in_seconds_not_after_the_visibility_timeout(
    aws: Any, registry_service: RegistryServer, people: PopulationGenerator, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
    from botocore.exceptions import ClientError

    from devstack import poller
    from functions.services import notifications
    from functions.verify import email_code_consumer

    # Given SES refusing for the moment (its sending rate exceeded)
    ses_throttles = [True]
    deliver = notifications.deliver_email_code

    def throttled_once(*args: Any) -> None:
        if ses_throttles:
            ses_throttles.pop()
            raise ClientError({"Error": {"Code": "Throttling", "Message": "Maximum sending rate exceeded."}}, "X")
        deliver(*args)

    monkeypatch.setattr(notifications, "deliver_email_code", throttled_once)
    person = people.people(1)[0]
    write_csv(registry_service.registry.csv_path, [registry_row(person)])
    with Client(app) as client:
        answer = client.http.post("/registrations", headers=JSON, body=json.dumps(person.registration()))
    run_consumers("intake_consumer")
    sqs, queue = boto3.client("sqs"), settings().email_codes_queue_url
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    def receive() -> list[dict[str, Any]]:
        # As Lambda's event source takes a batch: invisible for the queue's whole visibility timeout (six minutes)
        found: list[dict[str, Any]] = sqs.receive_message(
            QueueUrl=queue, VisibilityTimeout=360, MessageSystemAttributeNames=["All"]
        ).get("Messages", [])
        return found

    # When the code consumer takes its message and SES throttles the email
    taken = receive()
    with pytest.raises(BatchProcessingError):  # the whole batch (of one) failed: Lambda gives it back
        email_code_consumer(poller.lambda_event(taken, arn, settings().region), None)
    # Then the code is unsent again; its message is not back at once, but within the first delay (5 s), not 360 s
    stored = applicants.find(answer.json_body["applicant_id"])
    assert stored is not None and stored.email_code is not None and stored.email_code.sent_at is None
    assert receive() == []
    time.sleep(5.5)
    again = receive()
    assert [m["MessageId"] for m in again] == [taken[0]["MessageId"]]
    assert email_code_consumer(poller.lambda_event(again, arn, settings().region), None) == {"batchItemFailures": []}
    assert len(codes_for(answer.json_body["applicant_id"])) == 1
