"""Load shedding: when the intake queue cannot take messages, registration answers 429 with Retry-After rather
than hanging, and everything it did accept is stored once the queue recovers."""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from devstack.population import Person, PopulationGenerator
from devstack.stack import EmbeddedStack
from tests.e2e.conftest import Api


def key(person: Person) -> str:
    """The app's key for this registration: a retry after a 429 may find that the first try did land."""
    return f"shed-{person.nik}"


def test_a_stalled_queue_sheds_load_with_429_and_loses_nothing(api: Api, stack: EmbeddedStack) -> None:
    people = PopulationGenerator(seed=505).people(9)
    (sqs,) = [child for child in stack.children if child.name == "moto-sqs"]
    # Given the queue service stops answering (frozen, as an overloaded endpoint would be)
    os.killpg(sqs.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=9) as pool:
            answers = list(
                pool.map(lambda person: api.register_once(person, **{"Idempotency-Key": key(person)}), people)
            )
        waited = time.monotonic() - started
    finally:
        os.killpg(sqs.pid, signal.SIGCONT)
    # Then every request is answered promptly, 429 with Retry-After and the contract's error shape; no 5xx
    assert waited < 30
    assert {a.status_code for a in answers} == {429}
    for answer in answers:
        assert int(answer.headers["Retry-After"]) >= 1
        assert answer.json()["error"]["code"] == "BUSY"
    # And once it recovers, the clients' retries are accepted and every acceptance is stored
    retried = [api.register(person, **{"Idempotency-Key": key(person)}) for person in people]
    # (a 429'd send may have landed after all: the retry, with its key, is the same applicant, stored once)
    assert [answer.status_code for answer in retried] == [202] * len(people)
    accepted: list[dict[str, Any]] = [answer.json() for answer in retried]
    assert len({a["applicant_id"] for a in accepted}) == len(people)
    final = [api.wait_for_status(a["applicant_id"], a["access_token"], {"REGISTERED"}) for a in accepted]
    assert [f["status"] for f in final] == ["REGISTERED"] * len(people)
    assert requests.get(f"{stack.api_url}/waves/current", timeout=10).status_code == 200
