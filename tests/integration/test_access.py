"""Access: nobody without its token learns whether an applicant exists; tokens open only their own record; brute
force on tokens and email codes is throttled alike for known and unknown ids."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import botocore.session
import pytest
from chalice.test import Client

from devstack.population import PopulationGenerator
from functions.app import app
from functions.settings import settings
from tests.helpers import reset_app_state
from tests.integration.test_verification import codes_for, register

JSON = {"Content-Type": "application/json"}
UNKNOWN = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def client(aws: Any, registry_service: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("PRAKERJA_TOKEN_FAILURES_ALLOWED", "5")
    reset_app_state()
    with Client(app) as test_client:
        yield test_client


@pytest.fixture
def aws_calls(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """The AWS operations made from now on, by name (every client made after this fixture is counted)."""
    calls: Counter[str] = Counter()
    original = botocore.session.Session.create_client

    def create_client(self: Any, *args: Any, **kwargs: Any) -> Any:
        made = original(self, *args, **kwargs)
        made.meta.events.register("before-call", lambda model, **_: calls.update([model.name]))
        return made

    monkeypatch.setattr(botocore.session.Session, "create_client", create_client)
    reset_app_state()  # so the app's clients are made again, counted
    return calls


def get(client: Any, applicant_id: str, token: str) -> Any:
    return client.http.get(f"/applicants/{applicant_id}", headers={"Authorization": f"Bearer {token}"})


def test_a_wrong_token_and_an_unknown_id_cost_the_same_work(client: Any, aws_calls: Counter[str]) -> None:
    mine = register(client, PopulationGenerator(seed=61).person())
    aws_calls.clear()
    known = get(client, mine["applicant_id"], "x" * 43)
    known_calls = Counter(aws_calls)
    aws_calls.clear()
    unknown = get(client, UNKNOWN, "x" * 43)
    assert (known.status_code, known.json_body) == (unknown.status_code, unknown.json_body) == (401, unknown.json_body)
    # the same reads and writes, in kind and number (what timing would otherwise tell)
    assert known_calls == aws_calls


def test_brute_force_on_tokens_is_throttled_for_known_and_unknown_ids_alike(client: Any) -> None:
    mine = register(client, PopulationGenerator(seed=62).person())
    for applicant_id in (mine["applicant_id"], UNKNOWN):
        answers = [get(client, applicant_id, f"guess-{i:040d}").status_code for i in range(7)]
        assert answers == [401] * 5 + [429] * 2
    # the right token still opens its own record
    assert get(client, mine["applicant_id"], mine["access_token"]).status_code == 200


def test_a_token_opens_only_its_own_record(client: Any) -> None:
    first = register(client, PopulationGenerator(seed=63).person())
    second = register(client, PopulationGenerator(seed=64).person())
    assert get(client, first["applicant_id"], first["access_token"]).status_code == 200
    assert get(client, first["applicant_id"], second["access_token"]).status_code == 401


def test_email_code_guessing_without_the_token_gets_the_same_answers_for_known_and_unknown_ids(client: Any) -> None:
    mine = register(client, PopulationGenerator(seed=65).person())
    (code,) = codes_for(mine["applicant_id"])
    wrong = f"{(int(code) + 1) % 10**6:06d}"

    def guesses(applicant_id: str) -> list[tuple[int, str]]:
        body = json.dumps({"applicant_id": applicant_id, "code": wrong})
        headers = {**JSON, "Authorization": "Bearer " + "g" * 43}
        answers = [client.http.post("/verifications/email", headers=headers, body=body) for _ in range(7)]
        return [(a.status_code, a.json_body["error"]["code"]) for a in answers]

    # The token is checked (and wrong tokens throttled) before any try at the code is counted
    expected = [(401, "UNAUTHORISED")] * 5 + [(429, "TOO_MANY_ATTEMPTS")] * 2
    assert guesses(mine["applicant_id"]) == expected
    assert guesses(UNKNOWN) == expected


def test_the_throttle_counts_expire(client: Any) -> None:
    import boto3

    get(client, UNKNOWN, "x" * 43)
    items = boto3.client("dynamodb").scan(TableName=settings().counters_table)["Items"]
    throttles = [item for item in items if item["counter"]["S"].startswith("token#")]
    assert throttles and all("expires_at" in item for item in throttles)
    assert all(UNKNOWN not in item["counter"]["S"] for item in throttles)  # the subject is hashed
