"""Access tokens expire and can be ended; a new one is had by signing in with a code sent to the verified email."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest
from chalice.test import Client

from devstack.population import Person, PopulationGenerator
from functions.app import app
from tests.integration.conftest import run_consumers
from tests.integration.test_verification import JSON, FrozenClock, outbox, register, verified_applicant


@pytest.fixture
def client(aws: Any, registry_service: Any) -> Iterator[Any]:
    with Client(app) as test_client:
        yield test_client


@pytest.fixture
def frozen(client: Any, monkeypatch: pytest.MonkeyPatch) -> FrozenClock:
    return FrozenClock(monkeypatch)


@pytest.fixture
def person() -> Person:
    return PopulationGenerator(seed=57).person()


def own_record(client: Any, applicant_id: str, token: str) -> int:
    answer = client.http.get(f"/applicants/{applicant_id}", headers={"Authorization": f"Bearer {token}"})
    return int(answer.status_code)


def ask(client: Any, email: str) -> Any:
    return client.http.post("/sign-ins", headers=JSON, body=json.dumps({"email": email}))


def confirm(client: Any, email: str, code: str) -> Any:
    return client.http.post("/sign-ins/confirm", headers=JSON, body=json.dumps({"email": email, "code": code}))


def sign_in_codes(applicant_id: str | None = None) -> list[str]:
    run_consumers("email_code_consumer")
    return [
        m["code"]
        for m in outbox()
        if m["kind"] == "sign_in_code" and applicant_id in (None, m["applicant_id"]) and m["channel"] == "email"
    ]


def end_tokens(client: Any, applicant_id: str, token: str) -> Any:
    return client.http.post(f"/applicants/{applicant_id}/tokens/end", headers={"Authorization": f"Bearer {token}"})


def test_a_token_is_refused_once_its_30_days_are_over(client: Any, frozen: FrozenClock, person: Person) -> None:
    applicant = register(client, person)
    assert "expires_at" in applicant
    frozen.advance(days=30, seconds=-1)
    assert own_record(client, applicant["applicant_id"], applicant["access_token"]) == 200
    frozen.advance(seconds=1)
    assert own_record(client, applicant["applicant_id"], applicant["access_token"]) == 401


def test_a_code_to_the_verified_email_signs_in_once(client: Any, frozen: FrozenClock, person: Person) -> None:
    applicant = verified_applicant(client, person)
    frozen.advance(days=31)  # the registration's token has expired
    # When the applicant asks for a code with its email written another way (same mailbox)
    local, _, domain = person.email.partition("@")
    asked = ask(client, f"{local.upper()}+phone@{domain}")
    assert (asked.status_code, asked.json_body) == (202, {"code_expires_in_seconds": 600})
    (code,) = sign_in_codes(applicant["applicant_id"])
    # Then the code answers a new token, which opens the record for 30 days
    signed_in = confirm(client, person.email, code)
    assert signed_in.status_code == 200, signed_in.json_body
    assert signed_in.json_body["applicant_id"] == applicant["applicant_id"]
    token = signed_in.json_body["access_token"]
    assert own_record(client, applicant["applicant_id"], token) == 200
    assert own_record(client, applicant["applicant_id"], applicant["access_token"]) == 401
    # And the code is used up
    again = confirm(client, person.email, code)
    assert (again.status_code, again.json_body["error"]["code"]) == (400, "INVALID_CODE")


def test_a_sign_in_code_lives_ten_minutes(client: Any, frozen: FrozenClock, person: Person) -> None:
    verified_applicant(client, person)
    ask(client, person.email)
    (code,) = sign_in_codes()
    frozen.advance(minutes=10)
    late = confirm(client, person.email, code)
    assert (late.status_code, late.json_body["error"]["code"]) == (400, "CODE_EXPIRED")


def test_an_unknown_or_unverified_email_gets_the_same_202_and_no_code(
    client: Any, frozen: FrozenClock, person: Person
) -> None:
    verified_applicant(client, person)
    unverified = register(client, PopulationGenerator(seed=58).person())
    known = ask(client, person.email)
    for email in ("nobody@example.com", PopulationGenerator(seed=58).person().email):
        answer = ask(client, email)
        assert (answer.status_code, answer.body) == (known.status_code, known.body)
    codes = sign_in_codes()
    assert len(codes) == 1
    assert not [m for m in outbox() if m["kind"] == "sign_in_code" and m["applicant_id"] == unverified["applicant_id"]]


def test_five_wrong_codes_lock_the_code_for_known_and_unknown_emails_alike(
    client: Any, frozen: FrozenClock, person: Person
) -> None:
    verified_applicant(client, person)
    ask(client, person.email)
    (code,) = sign_in_codes()
    wrong = "000000" if code != "000000" else "111111"
    for email in (person.email, "nobody@example.com"):
        answers = [confirm(client, email, wrong).status_code for _ in range(5)]
        assert answers == [400] * 5
        locked = confirm(client, email, code)
        assert locked.status_code == 429 and locked.json_body["error"]["code"] == "CODE_LOCKED"
        assert int(locked.headers["Retry-After"]) > 0
    # And a new code starts afresh
    frozen.advance(minutes=1)
    ask(client, person.email)
    fresh = sign_in_codes()[-1]
    assert confirm(client, person.email, fresh).status_code == 200


def test_a_mailbox_gets_three_codes_an_hour_and_ten_a_day(client: Any, frozen: FrozenClock, person: Person) -> None:
    verified_applicant(client, person)
    frozen.now = (frozen.now + dt.timedelta(days=1)).replace(hour=0, minute=0, second=0)  # a fresh UTC day
    for email in (person.email, "nobody@example.com"):
        sent = []
        for _hour in range(4):
            answers = []
            for _ in range(4):
                answers.append(ask(client, email))
                sign_in_codes()  # each code sent before the next replaces it
            sent.append([a.status_code for a in answers])
            frozen.advance(hours=1)
        # three an hour, and the fourth hour stops at ten for the day
        assert sent == [[202, 202, 202, 429]] * 3 + [[202, 429, 429, 429]], sent
        refused = ask(client, email)
        assert refused.json_body["error"]["code"] == "CODE_LIMIT" and int(refused.headers["Retry-After"]) > 0
        frozen.advance(days=1)
    assert len(sign_in_codes()) == 10


def test_sign_in_codes_count_with_the_email_codes_the_mailbox_was_sent(
    client: Any, frozen: FrozenClock, person: Person
) -> None:
    # Given a mailbox whose registration code went to it this hour
    verified_applicant(client, person)
    # When sign-in codes are asked for it, then only two more go this hour: one count per mailbox, whichever code
    answers = [ask(client, person.email).status_code for _ in range(3)]
    assert answers == [202, 202, 429], answers
    frozen.advance(hours=1)
    assert ask(client, person.email).status_code == 202


def test_ending_the_tokens_refuses_every_earlier_one(client: Any, frozen: FrozenClock, person: Person) -> None:
    applicant = verified_applicant(client, person)
    ask(client, person.email)
    (code,) = sign_in_codes()
    laptop = confirm(client, person.email, code).json_body["access_token"]
    phone = applicant["access_token"]
    # Given two tokens that both work
    assert [own_record(client, applicant["applicant_id"], token) for token in (phone, laptop)] == [200, 200]
    # When the member ends its tokens with one of them
    ended = end_tokens(client, applicant["applicant_id"], laptop)
    assert ended.status_code == 200 and "ended_at" in ended.json_body
    # Then neither works, the one used included, and neither can end them again
    assert [own_record(client, applicant["applicant_id"], token) for token in (phone, laptop)] == [401, 401]
    assert end_tokens(client, applicant["applicant_id"], phone).status_code == 401
    # And signing in again gives a working token, even in the same instant
    ask(client, person.email)
    fresh = confirm(client, person.email, sign_in_codes()[-1]).json_body["access_token"]
    assert own_record(client, applicant["applicant_id"], fresh) == 200


def test_a_queued_registration_cannot_end_its_tokens_yet(client: Any) -> None:
    queued = client.http.post(
        "/registrations", headers=JSON, body=json.dumps(PopulationGenerator(seed=59).person().registration())
    ).json_body
    answer = end_tokens(client, queued["applicant_id"], queued["access_token"])
    assert (answer.status_code, answer.json_body["error"]["code"]) == (409, "NOT_YET_REGISTERED")
